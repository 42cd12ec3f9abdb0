import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { loadEnvironment, type CutoverEnvironment } from '../../config/cutover';
import { createLogger, type Logger } from '../util/log';
import { redact } from '../util/secrets';
import { parseHooks } from '../runbook/hooks';
import { planText } from '../runbook/engine';
import { Journal, statusFromJournal } from '../runbook/journal';
import { mysqlEncryptRunbook, type MysqlFlowSettings } from '../flows/mysql-encrypt';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { rehearseMysql, REHEARSAL_FAULTS, type RehearsalFault } from '../rehearsal/mysql-rehearsal';
import { summaryText, writeReport, type CutoverReport } from '../report';
import { writeReportPage } from '../report-page/html';

export const EXIT = { ok: 0, failed: 1, usage: 2, aborted: 3 } as const;

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
  rehearsal only (--env local):
  --load-command CMD      also run your own workload; endpoint in CUTOVER_DB_HOST/PORT/USER/PASSWORD/NAME
  --load-rate N           built-in load, writes per second over all connections
  --load-connections N    built-in load connections
  --fault NAME            replication-stall: the target stops applying before the switch (it must abort);
                          replication-stopped: replication is stopped (the switch must refuse to start)
  --keep-sandbox          keep the sandbox's files after the run (servers are always stopped)
  --verbose               debug logging
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
    report: values.report,
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
    const environment = args.env ? loadEnvironment(args.env) : undefined;
    const stateDir = resolve(environment?.stateDir ?? '.rds-cutover');
    if (args.command === 'status') return printStatus(stateDir, args.statusRunId!, out);
    return await runFlow(environment!, args, stateDir, log, out);
  } catch (error) {
    log.error(redact((error as Error).message));
    return error instanceof UsageError || /Invalid|Unknown environment|expected/.test((error as Error).message) ? EXIT.usage : EXIT.failed;
  }
}

function printStatus(stateDir: string, runId: string, out: (line: string) => void): number {
  const status = statusFromJournal(new Journal(stateDir, runId).read());
  out(`run ${status.runId}: flow ${status.flow} on ${status.environment}, ${status.result}`);
  out(`last entry ${status.lastEntryAt}`);
  out(`finished steps: ${status.finished.length > 0 ? status.finished.join(', ') : 'none'}`);
  if (status.failed) out(`failed at ${status.failed.step}: ${status.failed.error}`);
  if (status.result !== 'success') out(`resume with: zx scripts/cutover.mjs --env ${status.environment} --execute --resume ${status.runId}`);
  return status.result === 'success' || status.result === 'planned' ? EXIT.ok : status.result === 'aborted' ? EXIT.aborted : EXIT.failed;
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
  });
  return finishRehearsal(report, args, stateDir, out);
}

/** The rehearsal's load settings: the environment's, overridden by the command line. */
export function rehearsalLoad(environment: CutoverEnvironment, args: CutoverArgs): { connections: number; ratePerSecond: number; tailMs: number; command?: string } {
  return {
    connections: args.loadConnections ?? environment.rehearsal.loadConnections,
    ratePerSecond: args.loadRate ?? environment.rehearsal.loadRatePerSecond,
    tailMs: environment.rehearsal.loadTailMs,
    command: args.loadCommand,
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
  // A lost write or a checksum difference is a failure whatever the runbook said.
  if (report.result === 'success' && ((report.writes?.lost ?? 0) > 0 || report.checksums?.match === false)) return EXIT.failed;
  return report.result === 'success' ? EXIT.ok : report.result === 'aborted' ? EXIT.aborted : EXIT.failed;
}
