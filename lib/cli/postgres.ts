import { tmpdir } from 'node:os';
import type { CutoverEnvironment } from '../../config/cutover';
import { EXIT, UsageError, finishRehearsal, rehearsalLoad, type CutoverArgs, type FlowRunnerInput } from './cutover';
import { planText } from '../runbook/engine';
import { parseHooks } from '../runbook/hooks';
import type { PostgresFlowSettings } from '../flows/postgres-common';
import { LocalPostgresPlatform } from '../platforms/local/local-postgres-platform';
import { postgresRunbook, rehearsePostgres, POSTGRES_REHEARSAL_FAULTS, type PostgresRehearsalFault } from '../rehearsal/postgres-rehearsal';

/** Flow settings from the environment's postgres section and the command line. */
export function postgresSettings(environment: CutoverEnvironment, args: CutoverArgs): PostgresFlowSettings {
  const config = environment.postgres;
  if (!config) throw new UsageError(`Environment ${environment.name} has no postgres section: add one to config/cutover/${environment.name}.ts (databases, appUsers)`);
  return {
    database: config.databases[0],
    appUsers: config.appUsers,
    replicationUser: config.replicationUser,
    workflow: config.workflow,
    lagThresholdMs: args.lagThresholdMs ?? config.lagThresholdMs,
    switchTimeoutMs: args.switchTimeoutMs ?? config.switchTimeoutMs,
    catchUpTimeoutMs: config.catchUpTimeoutMs,
    allowReplicaIdentityFull: args.allowReplicaIdentityFull,
    copyJobs: config.copyJobs,
    copyTimeoutMs: config.copyTimeoutMs,
    targetVersion: args.targetVersion ?? config.targetVersion,
    workDir: config.workDir ?? tmpdir(),
  };
}

/**
 * `--engine postgres`: the dry-run plan by default; on `--env local --execute` a full
 * rehearsal on real servers (PostgreSQL 15 source, pgbouncer, 15 or 17 target), with the
 * report written like the MySQL runner does. Returns the exit code.
 */
export async function runPostgres(input: FlowRunnerInput): Promise<number> {
  // Loaded lazily: a local rehearsal does not load the AWS SDK.
  if (input.environment.platform === 'aws') return (require('./aws-postgres') as typeof import('./aws-postgres')).runAwsPostgres(input);
  const { environment, args, stateDir, log, out } = input;
  const settings = postgresSettings(environment, args);
  if (args.fault !== undefined && !POSTGRES_REHEARSAL_FAULTS.includes(args.fault as PostgresRehearsalFault)) {
    throw new UsageError(`--fault ${args.fault} is not available for --engine postgres: expected one of ${POSTGRES_REHEARSAL_FAULTS.join(', ')}`);
  }
  if (!args.execute) {
    for (const line of planText(postgresRunbook(args.method, new LocalPostgresPlatform(), settings))) out(line);
    out('');
    out('Dry run: nothing was started or changed. The local sandbox (and its preconditions) exist only while a rehearsal runs:');
    out(`run it with --execute (npm run rehearse -- --engine postgres --method ${args.method}).`);
    return EXIT.ok;
  }
  if (args.resume) throw new UsageError('A local rehearsal cannot be resumed: its sandbox is gone. Run npm run rehearse -- --engine postgres again.');
  const report = await rehearsePostgres({
    environment: environment.name,
    method: args.method,
    settings: { ...settings, workDir: environment.postgres?.workDir },
    stateDir,
    log,
    hooks: parseHooks(args.hooks),
    seedRows: environment.rehearsal.seedRows,
    fault: args.fault as PostgresRehearsalFault | undefined,
    keepSandbox: args.keepSandbox,
    load: rehearsalLoad(environment, args),
  });
  return finishRehearsal(report, args, stateDir, out);
}
