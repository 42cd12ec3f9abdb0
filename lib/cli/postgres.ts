import { postgresRunbook, recordLocalPostgresPlan, rehearsePostgres } from '../rehearsal/postgres-rehearsal';
import { recordedPlanText } from '../plan/plan-document';
import { EXIT, type CutoverArgs } from './args';
import type { PostgresFlowSettings } from '../flows/postgres-common';
import { checkRunArgs, LOCAL_DRY_RUN, postgresSettings, rehearsalOptions, type FlowRunnerInput } from './settings';
import { rehearseAndFinish } from './rehearse';

/** The settings builder lives in ./settings (one for every runner); re-exported for its callers. */
export { postgresSettings } from './settings';

/**
 * The local dry-run plan as printed: the steps, then what they recorded against the sandbox's
 * recording stand-in and recording clients (nothing starts, connects or is written).
 */
export async function localPostgresPlanLines(environment: string, method: CutoverArgs['method'], settings: PostgresFlowSettings): Promise<string[]> {
  const recorded = await recordLocalPostgresPlan({ runbook: (platform) => postgresRunbook(method, platform, settings), appUsers: settings.appUsers });
  return recordedPlanText(recorded, { environment, switchTimeoutMs: settings.switchTimeoutMs, lagThresholdMs: settings.lagThresholdMs, command: 'npx zx scripts/cutover.mjs' });
}

/**
 * `--engine postgres`: the dry-run plan by default; on `--env local --execute` a full
 * rehearsal on real servers (PostgreSQL 15 source, pgbouncer, 15 or 17 target), finished like
 * every other run (lib/cli/finish.ts). Returns the exit code.
 */
export async function runPostgres(input: FlowRunnerInput): Promise<number> {
  // Loaded lazily: a local rehearsal does not load the AWS SDK.
  if (input.environment.platform === 'aws') return (require('./aws-postgres') as typeof import('./aws-postgres')).runAwsPostgres(input);
  const { environment, args, out } = input;
  checkRunArgs(environment, args);
  const settings = postgresSettings(environment, args);
  if (!args.execute) {
    for (const line of await localPostgresPlanLines(environment.name, args.method, settings)) out(line);
    out('');
    out(LOCAL_DRY_RUN);
    out(`run it with --execute (npm run rehearse -- --engine postgres --method ${args.method}).`);
    return EXIT.ok;
  }
  return rehearseAndFinish(input, (lock, windDown) =>
    rehearsePostgres({ ...rehearsalOptions(input), method: args.method, settings: { ...settings, workDir: environment.postgres?.workDir }, lock, handleSignals: true, windDown, switchBack: args.switchBack }),
  );
}
