import type { DBCluster, DBInstance } from '@aws-sdk/client-rds';
import { silentLogger } from '../../util/log';
import { SqlRecorder } from '../../engines/mysql/recording-connection';
import { PgRecorder } from '../../engines/postgres/recording-client';
import { PlanTimeline, recordPlan, type RecordedPlan } from '../../runbook/plan-recording';
import type { Runbook } from '../../runbook/step';
import { AwsGateway, type WaitSettings } from './gateway';
import type { AwsClients } from './clients';
import { PLANNED_RUN_ID } from './run-tags';

/**
 * The dry-run plan of an AWS MySQL-family run, recorded from the runbook's own steps: the
 * platform talks through a planning gateway (writes and waits recorded, never sent; reads sent
 * only with read-only credentials, none offline) and its SQL endpoints hand out recording
 * connections (nothing sent; reads answered as a healthy server would). What the steps tried
 * to do, in order, is the plan: it cannot drift from what --execute does.
 */
export async function recordAwsMysqlPlan(options: {
  /** The same runbook --execute runs, on a platform built on this gateway and recorder. */
  runbook: (gateway: AwsGateway, recorder: SqlRecorder) => Runbook;
  clients?: AwsClients;
  waits: WaitSettings;
  /** What SELECT VERSION() answers (decides the SQL dialect). */
  version: string;
  binlogRetentionHours: number;
  /** The databases the settings name: what the plan's schema list answers (without them the preflight's database check stops the step early). */
  databases: string[];
  /**
   * The servers that replicate when the plan starts, besides the read replica: where an earlier
   * run left replication (the way back: the old source after a forward switch, the target after
   * a switch-back). @default - none
   */
  replicating?: Array<'source' | 'target'>;
}): Promise<RecordedPlan> {
  const timeline = new PlanTimeline();
  const gateway = new AwsGateway({ mode: 'plan', clients: options.clients, log: silentLogger, waits: options.waits, timeline });
  const recorder = new SqlRecorder({
    record: (statement) => timeline.call({ channel: 'sql', on: statement.server, operation: statement.statement, effect: statement.effect, ...(statement.forEach ? { forEach: statement.forEach } : {}) }),
    values: timeline,
    version: options.version,
    binlogRetentionHours: options.binlogRetentionHours,
    databases: options.databases,
  });
  for (const server of options.replicating ?? []) recorder.setReplication(server, 'running');
  return recordPlan(options.runbook(gateway, recorder), timeline, { runId: PLANNED_RUN_ID, log: silentLogger });
}

/**
 * What a MySQL-family plan's SELECT VERSION() answers (the dialect comes from it at run time):
 * the RDS source's EngineVersion where it could be read, else MySQL 8.0; and the plan's note
 * saying which.
 */
export function rdsMysqlPlanVersion(source: DBInstance | undefined): { version: string; note: string } {
  const version = source?.EngineVersion ? (source.Engine === 'mariadb' ? `${source.EngineVersion}-MariaDB` : source.EngineVersion) : undefined;
  return version
    ? { version, note: `SQL dialect from the source's EngineVersion ${version} (SELECT VERSION() at run time).` }
    : { version: '8.0', note: 'SQL dialect assumed MySQL 8.0 (SELECT VERSION() at run time decides; 8.4 uses rds_set_external_source, MariaDB KILL USER).' };
}

/** The same for an Aurora MySQL source cluster: its EngineVersion, else Aurora MySQL 3 (8.0), with Aurora's procedure names. */
export function auroraMysqlPlanVersion(cluster: DBCluster | undefined): { version: string; note: string } {
  return {
    version: cluster?.EngineVersion ?? '8.0.mysql_aurora.3',
    note: `SQL dialect ${cluster?.EngineVersion ? `from the cluster's EngineVersion ${cluster.EngineVersion}` : 'assumed Aurora MySQL 3 (8.0)'} with Aurora's procedure names (rds_set_external_source, rds_reset_external_source).`,
  };
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

/**
 * The dry-run plan of an AWS PostgreSQL run, recorded from the runbook's own steps as the
 * MySQL one is: the platform talks through a planning gateway, its endpoints carry a recorder
 * (`connectPg` hands out recording clients, pg_dump/pg_restore/psql are recorded as command
 * lines), and reads are answered as healthy servers would answer them. The freeze's poll of
 * the server-wide setting is answered from the parameter-group change the step recorded, so
 * the loop ends at once, as it does once RDS applied the change.
 */
export async function recordAwsPostgresPlan(options: {
  /** The same runbook --execute runs, on a platform built on this gateway whose endpoints record. */
  runbook: (gateway: AwsGateway, recorder: PgRecorder) => Runbook;
  clients?: AwsClients;
  waits: WaitSettings;
  /** server_version_num the recording clients answer. */
  versionNum: number;
  /** What earlier runs journaled (the way back: the forward run's facts), seen by the steps as at run time. */
  facts?: Record<string, unknown>;
  /** Replication ways earlier runs left streaming (the way back's plan starts from them). */
  existingWays?: Parameters<PgRecorder['assumeWay']>[0][];
}): Promise<RecordedPlan> {
  const timeline = new PlanTimeline();
  const gateway = new AwsGateway({ mode: 'plan', clients: options.clients, log: silentLogger, waits: options.waits, timeline });
  const recorder = new PgRecorder({
    record: (call) => timeline.call({ channel: call.channel, on: call.server, operation: call.text, effect: call.effect, ...(call.forEach ? { forEach: call.forEach } : {}) }),
    values: timeline,
    versionNum: options.versionNum,
    // A server's freeze poll is answered from the last change of that parameter the steps
    // recorded: the forward freeze (source), and on the way back the target's freeze, then the
    // source's reopening, each polled right after its own change.
    settingOf: (_server, name) => recordedParameter(timeline, name),
  });
  for (const way of options.existingWays ?? []) recorder.assumeWay(way);
  return recordPlan(options.runbook(gateway, recorder), timeline, { runId: PLANNED_RUN_ID, log: silentLogger, facts: options.facts });
}

/** The value the last recorded parameter-group change gave `name` (`1` → `on`), if one did. */
function recordedParameter(timeline: PlanTimeline, name: string): string | undefined {
  for (const entry of [...timeline.entries].reverse()) {
    if (entry.type !== 'call' || entry.channel !== 'aws' || !/^ModifyDB(Cluster)?ParameterGroup$/.test(entry.operation)) continue;
    const parameter = ((entry.input as { Parameters?: Array<{ ParameterName?: string; ParameterValue?: string }> }).Parameters ?? []).find((p) => p.ParameterName === name);
    if (parameter) return parameter.ParameterValue === '1' ? 'on' : 'off';
  }
  return undefined;
}
