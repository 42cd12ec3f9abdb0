import { silentLogger } from '../../util/log';
import { SqlRecorder } from '../../engines/mysql/recording-connection';
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
}): Promise<RecordedPlan> {
  const timeline = new PlanTimeline();
  const gateway = new AwsGateway({ mode: 'plan', clients: options.clients, log: silentLogger, waits: options.waits, timeline });
  const recorder = new SqlRecorder({
    record: (statement) => timeline.call({ channel: 'sql', on: statement.server, operation: statement.statement, effect: statement.effect, ...(statement.forEach ? { forEach: statement.forEach } : {}) }),
    values: timeline,
    version: options.version,
    binlogRetentionHours: options.binlogRetentionHours,
  });
  return recordPlan(options.runbook(gateway, recorder), timeline, { runId: PLANNED_RUN_ID, log: silentLogger });
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
