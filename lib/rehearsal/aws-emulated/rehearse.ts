import { join } from 'node:path';
import type { CutoverEnvironment, CutoverEnvironmentInput } from '../../../config/cutover/schema';
import { parseEnvironment } from '../../../config/cutover';
import { newClients } from '../../platforms/aws/clients';
import { rows } from '../../engines/mysql/connection';
import { generatePassword, registerSecret } from '../../util/secrets';
import type { Logger } from '../../util/log';
import type { MotoServer } from './moto';
import { EmulatorSession, EMULATED_ENVIRONMENT, EMULATED_REGION, rehearseUnderLoad } from './emulator-session';
import { seedEmulatedAccount, type EmulatedAccount } from './emulated-account';
import { EmulatedDataPlane } from './emulated-data-plane';
import { EmulatedAuroraDataPlane, seedEmulatedAuroraAccount, type EmulatedAuroraAccount } from './emulated-aurora';
import { EMULATED_RDS_EVENTS_VAR } from './readiness';
import { seedEmulatedTargetAccount, type EmulatedTargetAccount } from './emulated-target-account';
export { emulatedClients } from './readiness';
export { EMULATED_ENVIRONMENT, EMULATED_REGION, MotoMissing } from './emulator-session';

export const EMULATED_PASSWORD_VARIABLE = 'EMULATED_ORDERS_ADMIN_PASSWORD';
export const EMULATED_IDS = { sourceInstanceId: 'orders', replicaInstanceId: 'orders-cutover-replica', targetInstanceId: 'orders-encrypted' } as const;
/** The stacks' RDS Proxy in an emulated account made with `switchPoint: 'proxy'`. */
export const EMULATED_PROXY_NAME = 'orders-proxy';

/** How an emulated RDS MySQL account switches: the Route 53 record (default) or the RDS Proxy, one way or with the way back. */
export interface EmulatedSwitchOptions {
  /** @default 'dns' */
  switchPoint?: 'dns' | 'proxy';
  /** aws.reverseReplication. @default false */
  reverseReplication?: boolean;
}
/** `--env aws-emulated-aurora`: the same with an Aurora MySQL 3 source cluster. */
export const EMULATED_AURORA_ENVIRONMENT = 'aws-emulated-aurora';
export const EMULATED_AURORA_IDS = { sourceClusterId: 'orders', sourceWriterInstanceId: 'orders-writer', targetClusterId: 'orders-encrypted', targetWriterInstanceId: 'orders-encrypted-writer' } as const;

/** What an emulated account's source is: an RDS MySQL instance, or an Aurora MySQL 3 cluster. */
export type EmulatedSource = 'rds-mysql' | 'aurora-mysql';
export const EMULATED_ENVIRONMENTS: Record<string, EmulatedSource> = { [EMULATED_ENVIRONMENT]: 'rds-mysql', [EMULATED_AURORA_ENVIRONMENT]: 'aurora-mysql' };

/** What the harness and the tests use of either data plane. */
export type EmulatedPlane = EmulatedDataPlane | EmulatedAuroraDataPlane;
const SHORT_WAITS = { instanceSeconds: 120, snapshotSeconds: 120, dnsSeconds: 60, servicesSeconds: 60, pollSeconds: 0.2, freezeSeconds: 10, coordinatesSeconds: 60 };
const emulatedMysql = () => ({ databases: ['app'], appUsers: ['app'], lagThresholdMs: 1000, switchTimeoutMs: 10000, catchUpTimeoutMs: 120000, minBinlogRetentionHours: 24 });

/**
 * What every emulated account's AWS settings share: what the stacks' outputs file would give
 * (key, fence, record, ECS service), the harness's tunnels and CA (TLS as strict as on AWS), the
 * admin password by environment variable, the outputs file, tags and the waits.
 */
export function emulatedAwsSettings(
  account: Pick<EmulatedAccount, 'kmsKeyArn' | 'fenceSecurityGroupId' | 'dns' | 'ecs'>,
  plane: { tunnelConfig(): Record<string, string>; readonly caFile: string },
  outputsFile: string,
  waits: typeof SHORT_WAITS = SHORT_WAITS,
) {
  return {
    region: EMULATED_REGION,
    kmsKeyId: account.kmsKeyArn,
    fenceSecurityGroupId: account.fenceSecurityGroupId,
    dns: account.dns,
    ecsServices: [account.ecs],
    tunnels: plane.tunnelConfig(),
    tlsCaFile: plane.caFile,
    adminPassword: { env: EMULATED_PASSWORD_VARIABLE },
    outputsFile,
    tags: { project: 'rds-cutover', environment: 'emulated' },
    waits,
  };
}

/**
 * The AWS environment of an emulated account: what the stacks' outputs file would give (key,
 * fence, record), the harness's tunnels and CA (TLS as strict as on AWS), short waits.
 */
export function emulatedEnvironmentInput(account: EmulatedAccount, plane: EmulatedDataPlane, stateDir: string, options: EmulatedSwitchOptions = {}): CutoverEnvironmentInput {
  return {
    name: EMULATED_ENVIRONMENT,
    platform: 'aws',
    mysql: emulatedMysql(),
    aws: {
      ...emulatedAwsSettings(account, plane, join(stateDir, 'outputs-aws-emulated.json')),
      source: { instanceId: EMULATED_IDS.sourceInstanceId },
      targetInstanceId: EMULATED_IDS.targetInstanceId,
      encryptedSnapshotId: 'orders-cutover-seed',
      ...(options.switchPoint === 'proxy' && account.proxy ? { switchPoint: 'proxy' as const, proxy: { name: account.proxy.name, endpoint: account.proxy.endpoint, targetGroupName: 'default', port: 3306 } } : {}),
      ...(options.reverseReplication ? { reverseReplication: true } : {}),
      // The target dials the source from loopback (in a VPC: the VPC range).
      replicationAccountHost: '127.0.0.1',
    },
  };
}

/** The Aurora MySQL 3 environment of an emulated account (no replica, no snapshot copy: the restore encrypts). */
export function emulatedAuroraEnvironmentInput(account: EmulatedAuroraAccount, plane: EmulatedAuroraDataPlane, stateDir: string, options: Pick<EmulatedSwitchOptions, 'reverseReplication'> = {}): CutoverEnvironmentInput {
  return {
    name: EMULATED_AURORA_ENVIRONMENT,
    platform: 'aws',
    mysql: emulatedMysql(),
    aws: {
      ...emulatedAwsSettings(account, plane, join(stateDir, 'outputs-aws-emulated-aurora.json')),
      source: { clusterId: EMULATED_AURORA_IDS.sourceClusterId },
      targetClusterId: EMULATED_AURORA_IDS.targetClusterId,
      targetWriterInstanceId: EMULATED_AURORA_IDS.targetWriterInstanceId,
      ...(options.reverseReplication ? { reverseReplication: true } : {}),
      replicationAccountHost: '127.0.0.1',
    },
  };
}

/** The emulated environment with its target in the second account (aws.targetAccount: AssumeRole into it). */
export function withTargetAccount(input: CutoverEnvironmentInput, target: EmulatedTargetAccount): CutoverEnvironmentInput {
  return {
    ...input,
    aws: {
      ...input.aws!,
      targetAccount: {
        accountId: target.accountId,
        assumeRole: { roleArn: target.roleArn },
        kmsKeyArn: target.kmsKeyArn,
        shareKeyArn: target.shareKeyArn,
        dbSubnetGroupName: target.dbSubnetGroupName,
        vpcSecurityGroupIds: [target.securityGroupId],
        parameterGroupName: target.parameterGroupName,
        optionGroupName: target.optionGroupName,
        instanceClass: 'db.t3.micro',
        multiAz: false,
        deletionProtection: false,
      },
    },
  };
}

/** An emulated account with its data plane, started; `stop()` ends every process. */
export class EmulatedWorld {
  /** With `targetAccount`: the second account the target is restored in. */
  target?: EmulatedTargetAccount;

  private constructor(
    private readonly session: EmulatorSession,
    readonly account: EmulatedAccount | EmulatedAuroraAccount,
    readonly plane: EmulatedPlane,
    readonly environmentInput: CutoverEnvironmentInput,
    readonly environment: CutoverEnvironment,
  ) {}

  get server(): MotoServer {
    return this.session.server;
  }

  /** Throws MotoMissing (with how to install it) when no moto is found. */
  static async start(options: { projectRoot: string; stateDir: string; log: Logger; source?: EmulatedSource; targetAccount?: boolean } & EmulatedSwitchOptions): Promise<EmulatedWorld> {
    const adminPassword = registerSecret(generatePassword());
    const session = await EmulatorSession.start({ projectRoot: options.projectRoot, log: options.log, crossAccountSnapshots: options.targetAccount === true, variables: { [EMULATED_PASSWORD_VARIABLE]: adminPassword } });
    let plane: EmulatedPlane | undefined;
    let target: EmulatedTargetAccount | undefined;
    try {
      const clients = newClients({ region: EMULATED_REGION });
      let account: EmulatedAccount | EmulatedAuroraAccount;
      let input: CutoverEnvironmentInput;
      if (options.source === 'aurora-mysql') {
        const aurora = await seedEmulatedAuroraAccount(clients, { region: EMULATED_REGION, ...EMULATED_AURORA_IDS, masterPassword: adminPassword });
        const auroraPlane = new EmulatedAuroraDataPlane({ log: options.log, adminPassword, ids: { ...EMULATED_AURORA_IDS, recordName: aurora.dns.recordName, zoneId: aurora.dns.zoneId } });
        plane = auroraPlane;
        // The processes this one starts (a killed and resumed flow) read the events from there too.
        session.set({ [EMULATED_RDS_EVENTS_VAR]: auroraPlane.eventsFile });
        await auroraPlane.start();
        account = aurora;
        input = emulatedAuroraEnvironmentInput(aurora, auroraPlane, options.stateDir, options);
      } else {
        const proxyName = options.switchPoint === 'proxy' ? EMULATED_PROXY_NAME : undefined;
        account = await seedEmulatedAccount(clients, { region: EMULATED_REGION, sourceInstanceId: EMULATED_IDS.sourceInstanceId, masterPassword: adminPassword, inSubnetGroup: options.targetAccount, proxyName });
        const instancePlane = new EmulatedDataPlane({ log: options.log, adminPassword, ids: { ...EMULATED_IDS, recordName: account.dns.recordName, zoneId: account.dns.zoneId, proxyName } });
        plane = instancePlane;
        await instancePlane.start();
        input = emulatedEnvironmentInput(account as EmulatedAccount, instancePlane, options.stateDir, options);
        if (options.targetAccount) {
          target = await seedEmulatedTargetAccount(clients, EMULATED_REGION);
          input = withTargetAccount(input, target);
        }
      }
      if (plane instanceof EmulatedDataPlane) plane.follow(clients, target?.clients);
      else plane.follow(clients);
      const world = new EmulatedWorld(session, account, plane, input, parseEnvironment(input, 'the emulated environment'));
      world.target = target;
      return world;
    } catch (error) {
      await plane?.stop();
      await session.end();
      throw error;
    }
  }

  pids(): number[] {
    return [...this.plane.pids(), ...this.session.pids()];
  }

  async stop(): Promise<void> {
    await this.plane.stop();
    if (this.target) for (const client of Object.values(this.target.clients)) client.destroy();
    await this.session.end();
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
  /** @default 'rds-mysql' */
  source?: EmulatedSource;
}): Promise<number> {
  const world = await EmulatedWorld.start({ projectRoot: options.projectRoot, stateDir: options.stateDir, log: options.log, source: options.source });
  const standIns = options.source === 'aurora-mysql' ? `the Aurora MySQL 3 clusters ${EMULATED_AURORA_IDS.sourceClusterId}, ${EMULATED_AURORA_IDS.targetClusterId}` : Object.values(EMULATED_IDS).join(', ');
  return rehearseUnderLoad({
    world,
    intro: `AWS emulator ${world.server.url} (${world.server.command.from}); local MariaDB servers stand in for ${standIns}; application endpoint 127.0.0.1:${world.plane.appEndpoint().port}`,
    application: { engine: 'mysql', ...world.plane.appEndpoint(), database: 'app' },
    stateDir: options.stateDir,
    out: options.out,
    load: options.load,
    reportFile: options.reportFile,
    run: () => options.runAws(world.environment),
    presentIds: async () => {
      const admin = await world.plane.rootConnection(world.plane.switched() ? world.plane.targetId : world.plane.sourceId);
      const present = new Set((await rows<{ id: string }>(admin, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
      await admin.end();
      return present;
    },
  });
}
