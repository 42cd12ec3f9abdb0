import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CutoverEnvironment, CutoverEnvironmentInput } from '../../../config/cutover/schema';
import { parseEnvironment } from '../../../config/cutover';
import { newClients } from '../../platforms/aws/clients';
import { WriteLoadProcess } from '../../load/write-load-process';
import { summariseWrites } from '../../load/write-load';
import { rows } from '../../engines/mysql/connection';
import { generatePassword, registerSecret } from '../../util/secrets';
import { sleep } from '../../util/time';
import type { Logger } from '../../util/log';
import { writeReport, type CutoverReport } from '../../report';
import { locateMoto, MotoServer, MOTO_INSTALL_HINT } from './moto';
import { seedEmulatedAccount, type EmulatedAccount } from './emulated-account';
import { EmulatedDataPlane } from './emulated-data-plane';
export { emulatedClients } from './readiness';

/** `--env aws-emulated`: not a config file, an account made in the emulator for the run. */
export const EMULATED_ENVIRONMENT = 'aws-emulated';
export const EMULATED_REGION = 'us-east-1';
export const EMULATED_PASSWORD_VARIABLE = 'EMULATED_ORDERS_ADMIN_PASSWORD';
export const EMULATED_IDS = { sourceInstanceId: 'orders', replicaInstanceId: 'orders-cutover-replica', targetInstanceId: 'orders-encrypted' } as const;

/**
 * The AWS environment of an emulated account: what the stacks' outputs file would give (key,
 * fence, record), the harness's tunnels and CA (TLS as strict as on AWS), short waits.
 */
export function emulatedEnvironmentInput(account: EmulatedAccount, plane: EmulatedDataPlane, stateDir: string): CutoverEnvironmentInput {
  return {
    name: EMULATED_ENVIRONMENT,
    platform: 'aws',
    mysql: { databases: ['app'], appUsers: ['app'], lagThresholdMs: 1000, switchTimeoutMs: 10000, catchUpTimeoutMs: 120000, minBinlogRetentionHours: 24 },
    aws: {
      region: EMULATED_REGION,
      source: { instanceId: EMULATED_IDS.sourceInstanceId },
      targetInstanceId: EMULATED_IDS.targetInstanceId,
      encryptedSnapshotId: 'orders-cutover-seed',
      kmsKeyId: account.kmsKeyArn,
      fenceSecurityGroupId: account.fenceSecurityGroupId,
      dns: account.dns,
      ecsServices: [account.ecs],
      tunnels: plane.tunnelConfig(),
      tlsCaFile: plane.caFile,
      adminPassword: { env: EMULATED_PASSWORD_VARIABLE },
      // The target dials the source from loopback (in a VPC: the VPC range).
      replicationAccountHost: '127.0.0.1',
      outputsFile: join(stateDir, 'outputs-aws-emulated.json'),
      tags: { project: 'rds-cutover', environment: 'emulated' },
      waits: { instanceSeconds: 120, snapshotSeconds: 120, dnsSeconds: 60, servicesSeconds: 60, pollSeconds: 0.2, freezeSeconds: 10, coordinatesSeconds: 60 },
    },
  };
}

/** An emulated account with its data plane, started; `stop()` ends every process. */
export class EmulatedWorld {
  private readonly savedEnvironment: Record<string, string | undefined> = {};

  private constructor(
    readonly server: MotoServer,
    readonly account: EmulatedAccount,
    readonly plane: EmulatedDataPlane,
    readonly environmentInput: CutoverEnvironmentInput,
    readonly environment: CutoverEnvironment,
  ) {}

  /** Throws MotoMissing (with how to install it) when no moto is found. */
  static async start(options: { projectRoot: string; stateDir: string; log: Logger }): Promise<EmulatedWorld> {
    const command = locateMoto(options.projectRoot);
    if (!command) throw new MotoMissing();
    options.log.info(`AWS emulator: ${command.from}`);
    const server = await MotoServer.start(command);
    const adminPassword = registerSecret(generatePassword());
    const saved: Record<string, string | undefined> = {};
    const set = { ...server.sdkEnvironment(EMULATED_REGION), [EMULATED_PASSWORD_VARIABLE]: adminPassword };
    for (const [key, value] of Object.entries(set)) {
      saved[key] = process.env[key];
      process.env[key] = value;
    }
    let plane: EmulatedDataPlane | undefined;
    try {
      const clients = newClients({ region: EMULATED_REGION });
      const account = await seedEmulatedAccount(clients, { region: EMULATED_REGION, sourceInstanceId: EMULATED_IDS.sourceInstanceId, masterPassword: adminPassword });
      plane = new EmulatedDataPlane({ log: options.log, adminPassword, ids: { ...EMULATED_IDS, recordName: account.dns.recordName, zoneId: account.dns.zoneId } });
      await plane.start();
      plane.follow(clients);
      const input = emulatedEnvironmentInput(account, plane, options.stateDir);
      const world = new EmulatedWorld(server, account, plane, input, parseEnvironment(input, 'the emulated environment'));
      Object.assign(world.savedEnvironment, saved);
      return world;
    } catch (error) {
      await plane?.stop();
      await server.stop();
      restore(saved);
      throw error;
    }
  }

  pids(): number[] {
    return [...this.plane.pids(), ...this.server.pids()];
  }

  async stop(): Promise<void> {
    await this.plane.stop();
    await this.server.stop();
    restore(this.savedEnvironment);
  }
}

function restore(saved: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
}

export class MotoMissing extends Error {
  constructor() {
    super(`--env ${EMULATED_ENVIRONMENT} needs ${MOTO_INSTALL_HINT}`);
    this.name = 'MotoMissing';
  }
}

/**
 * `npm run rehearse -- --env aws-emulated`: the RDS MySQL flow through the exact AWS code path
 * (`runAws`) against moto, local MariaDB servers as the data plane, under the built-in write
 * load through the application's endpoint; the usual report, with the writes added.
 * `runAws` is passed in by the CLI (the CLI module loads this one).
 */
export async function rehearseAwsEmulated(options: {
  projectRoot: string;
  stateDir: string;
  log: Logger;
  out: (line: string) => void;
  load: { connections: number; ratePerSecond: number; tailMs: number };
  /** `--report FILE`, where runAws writes the report. @default - the run's folder */
  reportFile?: string;
  runAws: (environment: CutoverEnvironment) => Promise<number>;
}): Promise<number> {
  const { log, out } = options;
  const world = await EmulatedWorld.start({ projectRoot: options.projectRoot, stateDir: options.stateDir, log });
  let load: WriteLoadProcess | undefined;
  try {
    out(`AWS emulator ${world.server.url} (${world.server.command.from}); local MariaDB servers stand in for ${Object.values(EMULATED_IDS).join(', ')}; application endpoint 127.0.0.1:${world.plane.appEndpoint().port}`);
    load = new WriteLoadProcess({ engine: 'mysql', ...world.plane.appEndpoint(), database: 'app', connections: options.load.connections, ratePerSecond: options.load.ratePerSecond });
    await load.start();
    const code = await options.runAws(world.environment);
    await sleep(options.load.tailMs);
    await load.stop();
    // Where the application writes now must hold every acknowledged write.
    const switched = world.plane.servers.has(EMULATED_IDS.targetInstanceId) && world.plane.events.includes('dns moved');
    const admin = await world.plane.rootConnection(switched ? EMULATED_IDS.targetInstanceId : EMULATED_IDS.sourceInstanceId);
    const present = new Set((await rows<{ id: string }>(admin, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
    await admin.end();
    const writes = summariseWrites(load.attempts, present);
    out(`writes (built-in load through the application endpoint): ${writes.attempted} attempted, ${writes.acknowledged} acknowledged, ${writes.failed} failed, ${writes.lost} lost`);
    const reportFile = options.reportFile ?? latestReport(options.stateDir);
    if (reportFile) {
      const report = JSON.parse(readFileSync(reportFile, 'utf8')) as CutoverReport;
      writeReport(reportFile, { ...report, writes: { attempted: writes.attempted, acknowledged: writes.acknowledged, failed: writes.failed, lost: writes.lost } });
    }
    if (world.plane.errors.length > 0) out(`emulated data plane problems: ${world.plane.errors.map((e) => e.message).join('; ')}`);
    return code === 0 && (writes.lost > 0 || world.plane.errors.length > 0) ? 1 : code;
  } finally {
    await load?.stop().catch(() => load?.kill());
    await world.stop();
  }
}

/** The report runAws wrote last (runs/<id>/report.json). */
function latestReport(stateDir: string): string | undefined {
  const runs = join(stateDir, 'runs');
  if (!existsSync(runs)) return undefined;
  const candidates = readdirSync(runs)
    .map((id) => join(runs, id, 'report.json'))
    .filter((file) => existsSync(file))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return candidates[0];
}
