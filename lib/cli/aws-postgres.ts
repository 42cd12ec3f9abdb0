import { runAwsFlow, sourceTagLock, type AwsRunnerDependencies } from './aws';
import { postgresSettings, type FlowRunnerInput } from './settings';
import { closePostgresConnections } from '../flows/postgres-common';
import { postgresLogicalRunbook } from '../flows/postgres-logical';
import { postgresDumpRunbook } from '../flows/postgres-dump';
import { AwsPostgresPlatform, platformSqlPlanLines } from '../platforms/aws/aws-postgres-platform';
import { awsPostgresRunbook, planAwsPostgresCalls } from '../platforms/aws/postgres-runbook';
import { resolveAwsPostgresSettings } from '../platforms/aws/settings';
import { AwsGateway } from '../platforms/aws/gateway';
import { PlanTimeline, type RecordedPlan } from '../runbook/plan-recording';
import { silentLogger } from '../util/log';

/**
 * `--engine postgres` on an AWS environment: the same logical or dump runbook as the local
 * rehearsal, on RDS/Aurora (the AWS checks in front, the security-group fence at the end).
 * Dry run by default (plan, AWS call list, SQL); --offline sends nothing; --execute runs it
 * through runRunbook with journal, --resume, hooks and the report.
 */
export function runAwsPostgres(input: FlowRunnerInput, dependencies: AwsRunnerDependencies = {}): Promise<number> {
  const { environment, args } = input;
  const settings = postgresSettings(environment, args);
  const resolved = resolveAwsPostgresSettings(environment, { cleanup: args.cleanup, projectRoot: dependencies.projectRoot });
  const flowOf = args.method === 'logical' ? postgresLogicalRunbook : postgresDumpRunbook;
  const platformOn = (gateway: ConstructorParameters<typeof AwsPostgresPlatform>[1]) => new AwsPostgresPlatform(resolved, gateway, { method: args.method, appUsers: settings.appUsers });
  return runAwsFlow(
    input,
    {
      engine: 'postgres',
      resolved,
      runbook: (gateway) => awsPostgresRunbook(flowOf, platformOn(gateway), gateway, settings),
      async plan(clients, waits) {
        // Not recorded from the steps yet (PostgreSQL has no recording connection): the platform's
        // operations in the flows' order against a planning gateway, the SQL as described lines.
        const timeline = new PlanTimeline();
        const gateway = new AwsGateway({ mode: 'plan', clients, log: silentLogger, waits, timeline });
        const platform = platformOn(gateway);
        const { stoppedAt } = await planAwsPostgresCalls(platform, gateway, settings, args.method);
        const runbook = awsPostgresRunbook(flowOf, platform, gateway, settings);
        const recorded: RecordedPlan = {
          flow: runbook.flow,
          summary: runbook.summary,
          steps: runbook.steps.map((step) => ({ id: step.id, kind: step.kind, irreversible: Boolean(step.irreversible), hookBefore: step.hookBefore, hookAfter: step.hookAfter, describe: step.describe({}), status: 'recorded' })),
          entries: timeline.entries,
          runtimeValues: [],
          stoppedAt,
          recordedFromSteps: false,
        };
        return { recorded, notes: ["PostgreSQL on AWS: the AWS calls come from the platform's operations in the flow's order (not yet recorded from the steps); the SQL the platform sends (passwords masked):", ...platformSqlPlanLines(platform, settings.database)] };
      },
      cleanupLine: `Clean-up: this flow creates no temporary AWS resource${args.cleanup ? ' (--cleanup has nothing to delete)' : ''}; the old source is fenced, never deleted.`,
      runOptions: { platform: 'aws', engine: 'postgres', method: args.method, region: resolved.aws.region, source: resolved.source.id, target: resolved.target.id },
      closeConnections: closePostgresConnections,
      // One run per environment, visible to every operator: the same tag lock as the MySQL flows, on the source.
      lock: (gateway, settleMs) => sourceTagLock(gateway, resolved.source, settleMs),
      document: {
        copyTimeoutMs: settings.copyTimeoutMs,
        // Abandoning before the switch: what the flow's SQL added (not recorded as calls on AWS yet).
        abandon: [
          `on the target: DROP SUBSCRIPTION IF EXISTS ${settings.workflow}_sub   (also drops its slot on the source while the source is reachable)`,
          `on the source: SELECT pg_drop_replication_slot('${settings.workflow}_slot') WHERE EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '${settings.workflow}_slot')`,
          `on the source: DROP PUBLICATION IF EXISTS ${settings.workflow}_pub`,
          `on the source: DROP ROLE IF EXISTS ${settings.replicationUser}`,
          `on the target: DROP DATABASE ${settings.database}   (the target ${resolved.target.kind} ${resolved.target.id} itself belongs to the stacks)`,
        ].filter((line) => args.method === 'logical' || !/_sub|_slot|_pub|ROLE/.test(line)),
      },
    },
    dependencies,
  );
}
