import { dialectFor, type MysqlDialect } from '../../engines/mysql/dialect';
import type { MysqlFlowSettings } from '../../flows/mysql-encrypt';
import { silentLogger } from '../../util/log';
import { REDACTED } from '../../util/secrets';
import { detachedContext, type Facts, type StepContext } from '../../runbook/step';
import type { MysqlPlatform } from '../mysql-platform';
import { formatCall, type AwsGateway, type RecordedCall } from './gateway';
import { auroraPreflight, awsPreflight } from './preflight';
import { PLANNED_RUN_ID, type AwsMysqlPlatform } from './aws-mysql-platform';
import type { AwsAuroraMysqlPlatform } from './aws-aurora-mysql-platform';

/** What the plan needs of an AWS MySQL-family platform (RDS instance or Aurora cluster source). */
export interface PlannableMysqlPlatform extends MysqlPlatform {
  /** Facts the operations run with in a plan (no run exists yet). */
  plannedFacts(): Facts;
  /** Present where the platform reads the start coordinates itself (Aurora), after cloneTarget. */
  startCoordinates?(context: StepContext): Promise<{ file: string; position: number }>;
}

/** The AWS preflight of either platform. */
export function preflightOf(platform: AwsMysqlPlatform | AwsAuroraMysqlPlatform, aws: AwsGateway): (context: Pick<StepContext, 'log'>) => Promise<Facts> {
  return 'sourceClusterId' in platform.settings ? (context) => auroraPreflight(platform as AwsAuroraMysqlPlatform, aws, context) : (context) => awsPreflight(platform as AwsMysqlPlatform, aws, context);
}

/**
 * Every AWS call a run would make, in order: the platform's own operations run against a
 * planning gateway (writes and waits recorded, never sent; reads sent only with read-only
 * credentials). A check that fails with real state ends the list with the reason.
 */
export async function planAwsCalls(platform: AwsMysqlPlatform | AwsAuroraMysqlPlatform, aws: AwsGateway): Promise<{ calls: RecordedCall[]; stoppedAt?: string }> {
  if (!aws.planning) throw new Error('planAwsCalls needs a gateway in plan mode');
  const plannable: PlannableMysqlPlatform = platform;
  const context: StepContext = detachedContext({
    runId: PLANNED_RUN_ID,
    dryRun: true,
    log: silentLogger,
    facts: plannable.plannedFacts(),
    runtime: new Map(),
  });
  const preflight = preflightOf(platform, aws);
  const operations: Array<[string, () => Promise<unknown>]> = [
    ['aws.preflight', () => preflight(context)],
    ['mysql.replica.create', () => plannable.createReplica(context)],
    ['mysql.target.clone', async () => {
      await plannable.cloneTarget(context);
      await plannable.startCoordinates?.(context);
    }],
    ['mysql.switch', async () => {
      await platform.prepareSwitch(context);
      await platform.switchEndpoint(context);
      await platform.recycleClients(context);
    }],
    ['mysql.source.fence', () => platform.fenceSource(context)],
    ['mysql.replica.remove', () => platform.removeReplica(context)],
  ];
  for (const [step, operation] of operations) {
    try {
      await operation();
    } catch (error) {
      // The preflight's problems are reported by the checks; the plan goes on.
      if (step === 'aws.preflight' && (error as Error).name === 'PreconditionFailed') continue;
      return { calls: aws.calls, stoppedAt: `${step}: ${(error as Error).message}` };
    }
  }
  return { calls: aws.calls };
}

/** What the plan says about the TLS of the scripts' own connections to the databases. */
export function tlsPlanLines(aws: { tlsCaFile?: string }): string[] {
  return aws.tlsCaFile
    ? [`Administrator connections: TLS required, certificates verified against ${aws.tlsCaFile} (aws.tlsCaFile).`]
    : [
        "Administrator connections: TLS required, certificates verified against Node's built-in CAs, which lack the RDS CAs:",
        '  download https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem and set aws.tlsCaFile (or NODE_EXTRA_CA_CERTS) before --execute.',
      ];
}

/** The call list as plan lines, grouped by step and numbered in order. */
export function awsCallLines(calls: RecordedCall[]): string[] {
  const lines: string[] = [];
  let step = '';
  calls.forEach((call, index) => {
    if (call.step !== step) {
      step = call.step;
      lines.push(`  ${step}`);
    }
    const mark = call.kind === 'write' ? 'CHANGE' : call.kind === 'wait' ? 'wait  ' : 'read  ';
    lines.push(`    ${String(index + 1).padStart(2)}. ${mark} ${formatCall(call)}`);
  });
  return lines;
}

/**
 * The SQL the run sends, in order, with the statements the RDS dialect produces (passwords
 * masked). The dialect comes from the source's EngineVersion when it was read, else MySQL 8.0
 * (Aurora MySQL 3: 8.0, with its procedure names).
 */
export function sqlPlanLines(platform: AwsMysqlPlatform | AwsAuroraMysqlPlatform, settings: MysqlFlowSettings, engineVersion: string | undefined, sourceAddress: string | undefined): string[] {
  const aurora = 'sourceClusterId' in platform.settings;
  const sourceId = 'sourceClusterId' in platform.settings ? platform.settings.sourceClusterId : platform.settings.sourceInstanceId;
  const version = aurora ? '8.0' : engineVersion ?? '8.0';
  const detected: MysqlDialect = dialectFor(/mariadb/i.test(engineVersion ?? '') ? engineVersion! : version, { rdsProcedures: true });
  const dialect = (platform as { dialect?: (d: MysqlDialect) => MysqlDialect }).dialect?.(detected) ?? detected;
  const dialectLine = aurora
    ? `  dialect ${dialect.name}, Aurora MySQL 3 procedure names (rds_set_external_source, rds_reset_external_source)${engineVersion ? ` (source EngineVersion ${engineVersion})` : ''}`
    : `  dialect ${dialect.name} (${engineVersion ? `source EngineVersion ${engineVersion}` : 'assumed: MySQL 8.0; chosen from SELECT VERSION() at run time, 8.4 uses rds_set_external_source'})`;
  const account = `'${settings.replicationUser}'@'${platform.replicationAccountHost()}'`;
  const appAccount = (user: string) => `'${user}'@'<host>'`;
  const configure = dialect.configureReplication({
    host: sourceAddress ?? (aurora ? `<${sourceId}.Endpoint>` : `<${sourceId}.Endpoint.Address>`),
    port: 3306,
    user: settings.replicationUser,
    password: REDACTED,
    logFile: '<startBinlogFile>',
    logPosition: '<startBinlogPosition>' as unknown as number,
    ssl: platform.replicationTls(),
  });
  return [
    dialectLine,
    '  mysql.preflight, on the source:',
    '    CALL mysql.rds_show_configuration',
    ...(aurora
      ? []
      : ['  mysql.replica.stop, on the replica:', `    ${dialect.stopReplication()}`, `    ${dialect.showReplicaStatus()}`]),
    '  mysql.replication.start, on the source:',
    `    CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY '${REDACTED}'`,
    `    GRANT REPLICATION SLAVE ON *.* TO ${account}`,
    '  mysql.replication.start, on the target:',
    ...configure.map((statement) => `    ${statement}`),
    `    ${dialect.startReplication()}`,
    '  mysql.switch, on the source (freeze):',
    ...settings.appUsers.map((user) => `    ALTER USER ${appAccount(user)} ACCOUNT LOCK`),
    `    ${dialect.killSession(12345).replace('12345', '<id>')}  -- each session of ${settings.appUsers.join(', ')}`,
    `    ${dialect.showPrimaryStatus()}`,
    '  mysql.switch, on the target (promote):',
    `    ${dialect.waitForPosition('<final file>', '<final position>' as unknown as number, 10)}`,
    `    ${dialect.stopReplication()}`,
    ...settings.appUsers.map((user) => `    ALTER USER ${appAccount(user)} ACCOUNT UNLOCK`),
    `    ${dialect.resetReplication()}`,
  ];
}
