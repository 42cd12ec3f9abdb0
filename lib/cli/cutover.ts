import { parseArgs } from 'node:util';
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadEnvironment, type CutoverEnvironment } from '../../config/cutover';
import { createLogger, type Logger } from '../util/log';
import { redact } from '../util/secrets';
import { parseHooks } from '../runbook/hooks';
import { planText } from '../runbook/engine';
import { Journal, statusFromJournal } from '../runbook/journal';
import { LocalRunLock, RunLockHeld, type RunLock } from '../runbook/lock';
import { mysqlEncryptRunbook, type MysqlFlowSettings } from '../flows/mysql-encrypt';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { rehearseMysql, REHEARSAL_FAULTS, type RehearsalFault } from '../rehearsal/mysql-rehearsal';
import { EXIT_CODES, exitCodeOf, summaryText, writeReport, type CutoverReport } from '../report';
import { writeReportPage } from '../report-page/html';

export const EXIT = EXIT_CODES;

export const USAGE = `Usage:
  zx scripts/cutover.mjs --env NAME [--engine mysql] [--execute] [options]   plan (default) or run a cutover
  zx scripts/cutover.mjs status RUN_ID [--env NAME]                           where a run stands
  npm run rehearse [-- options]                                               full local rehearsal (= --env local --execute)

Without --execute nothing is changed: the plan is printed and preconditions are checked read-only.

Options:
  --env NAME              environment from config/cutover/NAME.ts (local = rehearsal sandbox)
  --engine mysql          database engine of the flow (default mysql)
  --execute               perform the steps (otherwise: dry run)
  --resume RUN_ID         continue an executed run at its first unfinished step
  --break-lock RUN_ID     release the environment's run lock left by RUN_ID (killed run); only after
                          checking that run is not running any more (status RUN_ID names its host and pid)
  --report FILE           write the JSON report to FILE
  --hook PHASE=CMD        run CMD at PHASE (startup, validated, before-switch, after-switch, success, failure);
                          gets CUTOVER_* variables; a non-zero exit aborts the run (repeatable)
  --switch-timeout MS     freeze-to-switched budget; past it the switch aborts and the source reopens
  --lag-threshold MS      replication lag allowed before the switch starts
  --engine postgres       PostgreSQL flows:
    --method logical|dump         logical replication (seconds of downtime) or parallel dump/restore
    --target-version N            major version of the new server (e.g. 17: upgrade rehearsal)
    --allow-replica-identity-full tables without a primary key replicate with REPLICA IDENTITY FULL
  AWS environments:
  --offline               plan from config and the stacks' outputs alone (no AWS reads)
  --cleanup               delete the temporary replica and intermediate snapshots at the end
  --env aws-emulated      with --execute: the RDS MySQL flow through the AWS code path against the
                          moto emulator and local servers (npm run rehearse -- --env aws-emulated)
  rehearsal only (--env local):
  --load-command CMD      also run your own workload; endpoint in CUTOVER_DB_HOST/PORT/USER/PASSWORD/NAME
  --load-rate N           built-in load, writes per second over all connections
  --load-connections N    built-in load connections
  --fault NAME            replication-stall: the target stops applying before the switch (it must abort);
                          replication-stopped: replication is stopped (the switch must refuse to start)
  --keep-sandbox          keep the sandbox's files after the run (servers are always stopped)
  --verbose               debug logging

Exit codes: 0 success, proof complete; 1 failed (or a lost write, or checksums differ); 2 bad input,
nothing changed; 3 aborted on purpose (source writable) or the environment is locked by another run;
4 finished but the proof is incomplete (checksums NOT VERIFIED: see the summary for how to verify);
130 interrupted (SIGINT/SIGTERM) at a step boundary.
`;

export class UsageError extends Error {}

export const ENGINES = ['mysql', 'postgres'] as const;
export const POSTGRES_METHODS = ['logical', 'dump'] as const;

export interface CutoverArgs {
  command: 'run' | 'status' | 'help';
  statusRunId?: string;
  env?: string;
  engine: (typeof ENGINES)[number];
  /** PostgreSQL: how data moves (logical replication, or a parallel dump/restore). */
  method: (typeof POSTGRES_METHODS)[number];
  /** PostgreSQL: major version of the target (upgrade rehearsal), e.g. 17. */
  targetVersion?: number;
  /** PostgreSQL: opt in to REPLICA IDENTITY FULL for tables without a primary key. */
  allowReplicaIdentityFull: boolean;
  /** AWS: plan from config and the stacks' outputs alone, without reading AWS. */
  offline: boolean;
  /** AWS: delete the temporary replica and intermediate snapshots at the end. */
  cleanup: boolean;
  execute: boolean;
  resume?: string;
  /** Release the environment's run lock held by this run id (a person's explicit decision). */
  breakLock?: string;
  report?: string;
  hooks: string[];
  switchTimeoutMs?: number;
  lagThresholdMs?: number;
  loadCommand?: string;
  loadRate?: number;
  loadConnections?: number;
  fault?: RehearsalFault;
  keepSandbox: boolean;
  verbose: boolean;
}

function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) throw new UsageError(`${flag} expects a positive whole number, got "${value}"`);
  return number;
}

/**
 * `--report FILE` is checked before anything starts: a run must not fail its exit after a
 * successful switch because the report cannot be written (or spin on a path under /proc).
 */
export function validateReportPath(path: string): string {
  const absolute = resolve(path);
  const folder = dirname(absolute);
  const real = existsSync(folder) ? realpathSync(folder) : folder;
  if (/^\/(proc|sys|dev)(\/|$)/.test(real)) throw new UsageError(`--report ${path}: ${real} is a kernel file system; write the report to a normal folder, e.g. --report ./report.json`);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new UsageError(`--report ${path}: the folder ${folder} does not exist; create it first (mkdir -p ${folder}) or pick another path`);
  if (existsSync(absolute) && statSync(absolute).isDirectory()) throw new UsageError(`--report ${path} is a folder; give a file name, e.g. --report ${join(path, 'report.json')}`);
  try {
    accessSync(existsSync(absolute) ? absolute : folder, constants.W_OK);
  } catch {
    throw new UsageError(`--report ${path}: ${existsSync(absolute) ? absolute : folder} is not writable; pick a path you can write to`);
  }
  return absolute;
}

export function parseCutoverArgs(argv: string[]): CutoverArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        env: { type: 'string' },
        engine: { type: 'string', default: 'mysql' },
        method: { type: 'string', default: 'logical' },
        'target-version': { type: 'string' },
        'allow-replica-identity-full': { type: 'boolean', default: false },
        offline: { type: 'boolean', default: false },
        cleanup: { type: 'boolean', default: false },
        execute: { type: 'boolean', default: false },
        resume: { type: 'string' },
        'break-lock': { type: 'string' },
        report: { type: 'string' },
        hook: { type: 'string', multiple: true, default: [] },
        'switch-timeout': { type: 'string' },
        'lag-threshold': { type: 'string' },
        'load-command': { type: 'string' },
        'load-rate': { type: 'string' },
        'load-connections': { type: 'string' },
        fault: { type: 'string' },
        'keep-sandbox': { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        password: { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split('\n')[0]}. See --help.`);
  }
  const { values, positionals } = parsed;
  if (values.password !== undefined) {
    throw new UsageError('Passwords are never taken from the command line (they would land in shell history and ps). Set them in the environment variables named in config/cutover/<env>.ts.');
  }
  if (values.help) return { command: 'help', engine: 'mysql', method: 'logical', allowReplicaIdentityFull: false, offline: false, cleanup: false, execute: false, hooks: [], keepSandbox: false, verbose: false };
  let command: CutoverArgs['command'] = 'run';
  let statusRunId: string | undefined;
  if (positionals[0] === 'status') {
    command = 'status';
    statusRunId = positionals[1];
    if (!statusRunId) throw new UsageError('status needs a run id: zx scripts/cutover.mjs status RUN_ID');
  } else if (positionals.length > 0) {
    throw new UsageError(`Unknown command "${positionals[0]}": expected no command (plan/run) or "status RUN_ID"`);
  }
  if (!ENGINES.includes(values.engine as CutoverArgs['engine'])) throw new UsageError(`--engine ${values.engine} is unknown: expected one of ${ENGINES.join(', ')}`);
  if (!POSTGRES_METHODS.includes(values.method as CutoverArgs['method'])) throw new UsageError(`--method ${values.method} is unknown: expected one of ${POSTGRES_METHODS.join(', ')}`);
  if (values.fault !== undefined && !REHEARSAL_FAULTS.includes(values.fault as RehearsalFault)) {
    throw new UsageError(`--fault ${values.fault} is unknown: expected one of ${REHEARSAL_FAULTS.join(', ')}`);
  }
  if (command === 'run' && !values.env) throw new UsageError('--env is required, e.g. --env local (the rehearsal sandbox)');
  parseHooks(values.hook as string[]); // validate early, before anything starts
  const lag = positiveInteger('--lag-threshold', values['lag-threshold']);
  const budget = positiveInteger('--switch-timeout', values['switch-timeout']);
  if (lag !== undefined && budget !== undefined && lag > budget) throw new UsageError(`--lag-threshold ${lag} is larger than --switch-timeout ${budget}: the switch would start with more lag than it may take to catch up; lower --lag-threshold or raise --switch-timeout`);
  return {
    command,
    statusRunId,
    env: values.env,
    engine: values.engine as CutoverArgs['engine'],
    method: values.method as CutoverArgs['method'],
    targetVersion: positiveInteger('--target-version', values['target-version']),
    allowReplicaIdentityFull: values['allow-replica-identity-full'] as boolean,
    offline: values.offline as boolean,
    cleanup: values.cleanup as boolean,
    execute: values.execute as boolean,
    resume: values.resume,
    breakLock: values['break-lock'],
    report: values.report === undefined ? undefined : (validateReportPath(values.report), values.report),
    hooks: values.hook as string[],
    switchTimeoutMs: positiveInteger('--switch-timeout', values['switch-timeout']),
    lagThresholdMs: positiveInteger('--lag-threshold', values['lag-threshold']),
    loadCommand: values['load-command'],
    loadRate: positiveInteger('--load-rate', values['load-rate']),
    loadConnections: positiveInteger('--load-connections', values['load-connections']),
    fault: values.fault as RehearsalFault | undefined,
    keepSandbox: values['keep-sandbox'] as boolean,
    verbose: values.verbose as boolean,
  };
}

/** The environment's run lock: a file in the state folder (AWS environments add a tag lock on the source, see lib/cli/aws.ts). */
export function runLockFor(environment: CutoverEnvironment, stateDir: string): RunLock {
  return new LocalRunLock(stateDir, environment.name);
}

export interface CliIo {
  out(line: string): void;
  log: Logger;
}

function mysqlSettings(environment: CutoverEnvironment, args: CutoverArgs): MysqlFlowSettings {
  if (!environment.mysql) throw new UsageError(`Environment ${environment.name} has no mysql section: add one to config/cutover/${environment.name}.ts`);
  return {
    ...environment.mysql,
    switchTimeoutMs: args.switchTimeoutMs ?? environment.mysql.switchTimeoutMs,
    lagThresholdMs: args.lagThresholdMs ?? environment.mysql.lagThresholdMs,
  };
}

/** The whole command: returns the process exit code. */
export async function runCutoverCli(argv: string[], io?: Partial<CliIo>): Promise<number> {
  const out = io?.out ?? ((line: string) => process.stdout.write(redact(line) + '\n'));
  let args: CutoverArgs;
  try {
    args = parseCutoverArgs(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return EXIT.usage;
  }
  const log = io?.log ?? createLogger({ verbose: args.verbose });
  if (args.command === 'help') {
    out(USAGE);
    return EXIT.ok;
  }
  try {
    if (args.env === 'aws-emulated' && args.command === 'run') return await rehearseEmulatedAws(args, log, out);
    const environment = args.env ? loadEnvironment(args.env) : undefined;
    // RDS_CUTOVER_STATE_DIR: tests (and the fault matrix) keep journals out of the checkout's .rds-cutover.
    const stateDir = resolve(process.env.RDS_CUTOVER_STATE_DIR || environment?.stateDir || '.rds-cutover');
    if (args.command === 'status') return printStatus(stateDir, args.statusRunId!, out);
    if (args.breakLock && environment!.platform !== 'aws') {
      const released = await runLockFor(environment!, stateDir).breakLock(args.breakLock);
      out(`released the lock on ${environment!.name} held by run ${released.runId} (host ${released.host}, pid ${released.pid}, started ${released.startedAt})`);
      return EXIT.ok;
    }
    return await runFlow(environment!, args, stateDir, log, out);
  } catch (error) {
    log.error(redact((error as Error).message));
    if (error instanceof RunLockHeld) return EXIT.aborted;
    return error instanceof UsageError || /Invalid|Unknown environment|expected/.test((error as Error).message) ? EXIT.usage : EXIT.failed;
  }
}

/**
 * `--env aws-emulated --execute` (npm run rehearse -- --env aws-emulated): the RDS MySQL flow
 * through the AWS code path against moto, with local servers as the data plane.
 */
async function rehearseEmulatedAws(args: CutoverArgs, log: Logger, out: (line: string) => void): Promise<number> {
  if (!args.execute) throw new UsageError('--env aws-emulated starts an AWS emulator and local servers: run it with --execute (npm run rehearse -- --env aws-emulated)');
  if (args.engine === 'postgres') throw new UsageError('--env aws-emulated runs the RDS MySQL flow only so far; PostgreSQL on the emulator is not built yet (use --env local --engine postgres)');
  if (args.resume || args.offline || args.fault || args.loadCommand) throw new UsageError('--env aws-emulated takes --report, --load-rate, --load-connections, --switch-timeout, --lag-threshold and --hook; not --resume, --offline, --fault or --load-command');
  const emulated = require('../rehearsal/aws-emulated/rehearse') as typeof import('../rehearsal/aws-emulated/rehearse');
  const stateDir = resolve('.rds-cutover');
  const local = loadEnvironment('local');
  try {
    return await emulated.rehearseAwsEmulated({
      projectRoot: resolve(__dirname, '../..'),
      stateDir,
      log,
      out,
      load: rehearsalLoad(local, args),
      reportFile: args.report ? resolve(args.report) : undefined,
      runAws: (environment) =>
        (require('./aws') as typeof import('./aws')).runAws(
          { environment, args: { ...args, env: environment.name }, stateDir, log, out },
          { createClients: (env, clientOptions) => emulated.emulatedClients(env.aws!, clientOptions) },
        ),
    });
  } catch (error) {
    if (error instanceof emulated.MotoMissing) throw new UsageError(error.message);
    throw error;
  }
}

/** What each journaled switch sub-phase left behind (the MySQL flow's `switchPhase`). */
const SWITCH_PHASE_STATE: Record<string, string> = {
  freezing: 'the switch had started freezing the source: the source may be frozen (app accounts locked, read_only); target not promoted; endpoint on the source',
  frozen: 'source frozen (app accounts locked, read_only); target still a replica, not promoted; endpoint on the source',
  'caught-up': 'source frozen; target caught up with it but not promoted; endpoint on the source',
  promoted: 'source frozen; target PROMOTED (replication stopped, writable); endpoint NOT moved yet',
  'endpoint-moved': 'source frozen; target promoted; endpoint MOVED to the target (traffic on the target)',
  recycled: 'source frozen; target promoted; endpoint on the target; clients recycled (switch complete)',
  reopened: 'the switch aborted: source reopened for writes, traffic on the source, target still a replica',
};

/** `status RUN_ID`: where a run stands, what it left, and the exact next command. */
export function statusLines(stateDir: string, runId: string): { lines: string[]; exitCode: number } {
  const status = statusFromJournal(new Journal(stateDir, runId).read());
  const lines: string[] = [];
  const result = status.result === 'in-progress' ? 'IN PROGRESS OR KILLED (no run-end after the last start)' : status.result;
  lines.push(`run ${status.runId}: flow ${status.flow} on ${status.environment}, ${result}`);
  lines.push(`last entry ${status.lastEntryAt}`);
  lines.push(`finished steps: ${status.finished.length > 0 ? status.finished.join(', ') : 'none'}`);
  if (status.result === 'in-progress' && status.unfinishedStep) lines.push(`step in flight when it stopped (or now): ${status.unfinishedStep}`);
  if (status.interrupted) lines.push(`interrupted by ${status.interrupted.signal}${status.interrupted.step ? ` during ${status.interrupted.step}` : ''}${status.interrupted.before ? `; stopped before ${status.interrupted.before}` : ''}`);
  if (status.failed) lines.push(`failed at ${status.failed.step}: ${status.failed.error}`);
  const phase = typeof status.facts.switchPhase === 'string' ? status.facts.switchPhase : undefined;
  if (phase) lines.push(`switch: ${SWITCH_PHASE_STATE[phase] ?? phase} (last journaled sub-phase "${phase}"; --resume reads the servers' and the endpoint's actual state)`);
  else if (!status.finished.some((step) => /\.switch$/.test(step))) lines.push('switch: not started (the source takes writes, traffic on the source)');
  if (status.facts.checksumsVerified === false) lines.push(`checksums: NOT VERIFIED — ${String(status.facts.checksumsNotVerifiedReason)}`);
  if (status.lockHeld) lines.push(`lock: still held (${status.lockHeld})${status.result === 'in-progress' ? ': kept because the run is running or was killed' : ''}`);
  const rehearsal = status.options.rehearsal === true;
  const engine = status.flow.startsWith('postgres.') ? ` --engine postgres --method ${status.flow.split('.')[1]}` : '';
  if (status.result === 'success' || status.result === 'planned') {
    // nothing to do
  } else if (rehearsal) {
    // A local rehearsal's sandbox (servers and files) is gone with its process: it cannot be resumed.
    lines.push(`next: a local rehearsal cannot be resumed (its sandbox is gone with the process); run it again: zx scripts/cutover.mjs --env ${status.environment}${engine} --execute`);
    if (status.lockHeld && status.result === 'in-progress') lines.push(`      if no rehearsal is running any more, release the lock first: zx scripts/cutover.mjs --env ${status.environment} --break-lock ${status.runId}`);
  } else {
    const resume = `zx scripts/cutover.mjs --env ${status.environment}${engine} --execute --resume ${status.runId}`;
    lines.push(status.result === 'in-progress' ? `next: if this run is not running any more (killed), resume it with: ${resume}` : `next: resume with: ${resume}`);
  }
  const exitCode =
    status.result === 'success' ? (status.facts.checksumsVerified === false ? EXIT.unverified : EXIT.ok) : status.result === 'planned' ? EXIT.ok : status.result === 'aborted' ? EXIT.aborted : status.result === 'interrupted' ? EXIT.interrupted : EXIT.failed;
  return { lines, exitCode };
}

function printStatus(stateDir: string, runId: string, out: (line: string) => void): number {
  const { lines, exitCode } = statusLines(stateDir, runId);
  for (const line of lines) out(line);
  return exitCode;
}

/** What an engine- or platform-specific runner gets; each returns the exit code. */
export interface FlowRunnerInput {
  environment: CutoverEnvironment;
  args: CutoverArgs;
  stateDir: string;
  log: Logger;
  out: (line: string) => void;
}

async function runFlow(environment: CutoverEnvironment, args: CutoverArgs, stateDir: string, log: Logger, out: (line: string) => void): Promise<number> {
  // Loaded lazily so that a MySQL rehearsal does not load the AWS SDK or pg, and vice versa.
  if (environment.platform === 'sandbox') return (require('./sandbox-run') as typeof import('./sandbox-run')).runOnSandbox({ environment, args, stateDir, log, out });
  if (args.engine === 'postgres') return (require('./postgres') as typeof import('./postgres')).runPostgres({ environment, args, stateDir, log, out });
  if (environment.platform === 'aws') return (require('./aws') as typeof import('./aws')).runAws({ environment, args, stateDir, log, out });
  const settings = mysqlSettings(environment, args);
  const isRehearsalOption = args.loadCommand || args.loadRate || args.loadConnections || args.fault || args.keepSandbox;
  if (!args.execute) {
    for (const line of planText(mysqlEncryptRunbook(new LocalMysqlPlatform(), settings))) out(line);
    out('');
    out('Dry run: nothing was started or changed. The local sandbox (and its preconditions) exist only while a rehearsal runs:');
    out('run it with --execute (npm run rehearse).');
    return EXIT.ok;
  }
  if (args.resume) throw new UsageError('A local rehearsal cannot be resumed: its sandbox is gone. Run npm run rehearse again.');
  if (isRehearsalOption && environment.platform !== 'local') throw new UsageError('--load-*, --fault and --keep-sandbox are rehearsal options: use them with --env local');
  const lock = runLockFor(environment, stateDir);
  // Checked before the sandbox starts (the engine takes the lock atomically later).
  const holder = await lock.holder();
  if (holder) throw new RunLockHeld(holder, lock.where);
  const report = await rehearseMysql({
    environment: environment.name,
    settings,
    stateDir,
    log,
    hooks: parseHooks(args.hooks),
    seedRows: environment.rehearsal.seedRows,
    fault: args.fault,
    keepSandbox: args.keepSandbox,
    load: rehearsalLoad(environment, args),
    lock,
    handleSignals: true,
  });
  return finishRehearsal(report, args, stateDir, out);
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

/** Write the report, print the summary, and turn the outcome into the exit code. */
export function finishRehearsal(report: CutoverReport, args: CutoverArgs, stateDir: string, out: (line: string) => void): number {
  const reportPath = args.report ? resolve(args.report) : join(stateDir, 'runs', report.runId, 'report.json');
  writeReport(reportPath, report);
  const pagePath = report.dryRun ? undefined : writeReportPage(reportPath, report);
  out('');
  for (const line of summaryText(report)) out(line);
  out(`report: ${reportPath}`);
  if (pagePath) out(`report page: ${pagePath}`);
  return exitCodeOf(report);
}
