import { planText } from '../runbook/engine';
import { parseHooks } from '../runbook/hooks';
import { LocalPostgresPlatform } from '../platforms/local/local-postgres-platform';
import { postgresRunbook, rehearsePostgres } from '../rehearsal/postgres-rehearsal';
import { EXIT } from './args';
import { checkRunArgs, postgresSettings, rehearsalLoad, type FlowRunnerInput } from './settings';
import { finishRun } from './finish';

/** The settings builder lives in ./settings (one for every runner); re-exported for its callers. */
export { postgresSettings } from './settings';

/**
 * `--engine postgres`: the dry-run plan by default; on `--env local --execute` a full
 * rehearsal on real servers (PostgreSQL 15 source, pgbouncer, 15 or 17 target), finished like
 * every other run (lib/cli/finish.ts). Returns the exit code.
 */
export async function runPostgres(input: FlowRunnerInput): Promise<number> {
  // Loaded lazily: a local rehearsal does not load the AWS SDK.
  if (input.environment.platform === 'aws') return (require('./aws-postgres') as typeof import('./aws-postgres')).runAwsPostgres(input);
  const { environment, args, stateDir, log, out } = input;
  checkRunArgs(environment, args);
  const settings = postgresSettings(environment, args);
  if (!args.execute) {
    for (const line of planText(postgresRunbook(args.method, new LocalPostgresPlatform(), settings))) out(line);
    out('');
    out('Dry run: nothing was started or changed. The local sandbox (and its preconditions) exist only while a rehearsal runs:');
    out(`run it with --execute (npm run rehearse -- --engine postgres --method ${args.method}).`);
    return EXIT.ok;
  }
  const report = await rehearsePostgres({
    environment: environment.name,
    method: args.method,
    settings: { ...settings, workDir: environment.postgres?.workDir },
    stateDir,
    log,
    hooks: parseHooks(args.hooks),
    seedRows: environment.rehearsal.seedRows,
    fault: args.fault,
    keepSandbox: args.keepSandbox,
    load: rehearsalLoad(environment, args),
  });
  return finishRun(report, { report: args.report, stateDir, out });
}
