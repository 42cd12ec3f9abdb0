import { runAwsFlow, sourceTagLock, type AwsRunnerDependencies } from './aws';
import { postgresSettings, type FlowRunnerInput } from './settings';
import { postgresLogicalRunbook } from '../flows/postgres-logical';
import { postgresDumpRunbook } from '../flows/postgres-dump';
import { AwsPostgresPlatform } from '../platforms/aws/aws-postgres-platform';
import { awsPostgresRunbook } from '../platforms/aws/postgres-runbook';
import { recordAwsPostgresPlan } from '../platforms/aws/plan';
import { recordingPostgresPlatform } from '../platforms/recording-postgres-platform';
import { resolveAwsPostgresSettings } from '../platforms/aws/settings';
import { AwsGateway } from '../platforms/aws/gateway';
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
        // Recorded from the steps: the same runbook on a planning gateway, its endpoints recording.
        // The version the recording clients answer: the source's where it can be read, else the target's.
        const engineVersion = clients ? (await platformOn(new AwsGateway({ mode: 'plan', clients, log: silentLogger, waits })).describe_(resolved.source).catch(() => undefined))?.engineVersion : undefined;
        const major = Number((engineVersion ?? '').split('.')[0]) || settings.targetVersion || 15;
        const recorded = await recordAwsPostgresPlan({
          runbook: (gateway, recorder) => awsPostgresRunbook(flowOf, recordingPostgresPlatform(platformOn(gateway), recorder), gateway, settings),
          clients,
          waits,
          versionNum: major * 10000,
        });
        return { recorded, notes: [] };
      },
      cleanupLine: `Clean-up: this flow creates no temporary AWS resource${args.cleanup ? ' (--cleanup has nothing to delete)' : ''}; the old source is fenced, never deleted.`,
      runOptions: { platform: 'aws', engine: 'postgres', method: args.method, region: resolved.aws.region, source: resolved.source.id, target: resolved.target.id },
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
