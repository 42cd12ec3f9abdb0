import { PLAN_FORMATS, type PlanFormat } from '../plan/formats';
import { parseArgs } from 'node:util';
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EXIT_CODES } from '../exit-codes';
import { REHEARSAL_FAULTS, type RehearsalFault } from '../rehearsal/faults';
import { parseHooks } from '../runbook/hooks';
import { RUN_ID_PATTERN } from '../runbook/journal';
import { didYouMean } from './suggest';
import { isWayBackCommand, WAY_BACK_COMMANDS, type WayBackCommand } from '../runbook/way-back-command';

/**
 * The command line's words: usage text, the options, their parsing and the checks that need
 * nothing but the words themselves. A leaf of lib/cli: it loads no flow, platform, SDK or server
 * code, so that bad input is answered (exit 2) before anything starts.
 */

export const EXIT = EXIT_CODES;

export const USAGE = `Usage:
  npx zx scripts/cutover.mjs --env NAME [--engine mysql|postgres] [--execute] [options]   plan (default) or run a cutover
  npx zx scripts/cutover.mjs status RUN_ID [--env NAME]                                   where a run stands
  npm run cutover -- …                                                                    the same as npx zx scripts/cutover.mjs …
  npm run rehearse [-- options]                                                           full local rehearsal (= --env local --execute)

Without --execute nothing is changed: the plan is printed and preconditions are checked read-only.

Options:
  --env NAME              environment from config/cutover/NAME.ts (local = rehearsal sandbox)
  --engine mysql|postgres database engine of the flow (default: the engine the environment configures;
                          mysql when it configures both)
  --execute               perform the steps (otherwise: dry run)
  --resume RUN_ID         continue an executed run at its first unfinished step (with --execute)
  --break-lock RUN_ID     release the environment's run lock left by RUN_ID (killed run); only after
                          checking that run is not running any more (status RUN_ID names its host and pid)
  --report FILE           write the JSON report to FILE (its folder must exist and be writable)
  --hook PHASE=CMD        run CMD at PHASE (startup, validated, before-switch, after-switch, success, failure);
                          gets CUTOVER_* variables; a non-zero exit aborts the run (repeatable)
  --switch-timeout MS     freeze-to-switched budget; past it the switch aborts and the source reopens
  --lag-threshold MS      replication lag allowed before the switch starts
  --engine postgres       PostgreSQL flows:
    --method logical|dump         logical replication (seconds of downtime) or parallel dump/restore
    --target-version N            major version of the new server (e.g. 17: upgrade rehearsal)
    --allow-replica-identity-full tables without a primary key replicate with REPLICA IDENTITY FULL
  AWS environments:
  --flow share-snapshot   copy a snapshot of aws.source into another account and restore it there
                          (aws.shareSnapshot; with --execute, --resume, --cleanup, --offline, --hook, --report)
  --offline               plan from config and the stacks' outputs alone (no AWS reads; not with --execute)
  --plan-format F         text (default), markdown (md) or json: the dry-run plan as a document for review
                          (steps with their AWS calls and SQL, point of no return, rollback, expected downtime)
  --plan-out FILE         write that document to FILE instead of stdout
  --rehearsal-report FILE a rehearsal's report.json: its measured switch figures next to the expected downtime
  --outputs-file FILE     the stacks' outputs (cdktf output --outputs-file …) instead of aws.outputsFile /
                          .rds-cutover/outputs-<env>.json (e.g. the committed example, docs/plans/README.md)
  --cleanup               delete the temporary replica and intermediate snapshots at the end
  --env aws-emulated      with --execute: the RDS MySQL flow through the AWS code path against the
                          moto emulator and local servers (npm run rehearse -- --env aws-emulated)
  --env aws-emulated-aurora  the same with an Aurora MySQL 3 source cluster
  --env aws-emulated --engine postgres [--method logical|dump] [--target-version N]
                          the PostgreSQL flow on RDS for PostgreSQL (N: the target's major, an upgrade)
  --env aws-emulated-aurora --engine postgres  the same on Aurora PostgreSQL clusters
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

/** Bad input: said once, exit 2, nothing started or changed. */
export class UsageError extends Error {}

export const ENGINES = ['mysql', 'postgres'] as const;
export const POSTGRES_METHODS = ['logical', 'dump'] as const;
export const COMMANDS = ['status', ...WAY_BACK_COMMANDS] as const;
/** `--flow`: `cutover` (default: move the database with the engine's flow) or `share-snapshot` (seed 004, AWS). */
export const FLOWS = ['cutover', 'share-snapshot'] as const;

export type Engine = (typeof ENGINES)[number];

export interface CutoverArgs {
  command: 'run' | 'status' | 'help' | WayBackCommand;
  statusRunId?: string;
  /** switch-back / switch-forth / complete: the run whose switch built the way back. */
  forwardRunId?: string;
  /** Rehearsal: switch back after the switch, under the same load. */
  switchBack?: boolean;
  /** complete: also delete the old source. */
  deleteOld?: boolean;
  env?: string;
  /** The engine: --engine, else (once the environment is loaded) the one it configures; mysql until then. */
  engine: Engine;
  /** True when --engine was typed; otherwise the environment decides (lib/cli/settings.ts resolveEngine). */
  engineGiven: boolean;
  /** `share-snapshot`: copy a snapshot into another account and restore it there (AWS environments). */
  flow: (typeof FLOWS)[number];
  /** PostgreSQL: how data moves (logical replication, or a parallel dump/restore). */
  method: (typeof POSTGRES_METHODS)[number];
  /** True when --method was typed (it is a PostgreSQL option: refused for MySQL). */
  methodGiven: boolean;
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
  /** Dry run: how the plan is written (text on stdout, or a markdown/json document for review). */
  planFormat: PlanFormat;
  /** Write the markdown/json plan to this file instead of stdout. */
  planOut?: string;
  /** A rehearsal's report.json: its measured switch phases go next to the expected downtime. */
  rehearsalReport?: string;
  /** AWS: the stacks' outputs file to read instead of the environment's (aws.outputsFile or .rds-cutover/outputs-<env>.json). */
  outputsFile?: string;
}

/** Every option, with the word shown for its value ("needs a value: --resume RUN_ID"). */
const OPTIONS = {
  env: { type: 'string', value: 'NAME' },
  engine: { type: 'string', value: ENGINES.join('|') },
  flow: { type: 'string', value: FLOWS.join('|') },
  method: { type: 'string', value: POSTGRES_METHODS.join('|') },
  'target-version': { type: 'string', value: 'N' },
  'allow-replica-identity-full': { type: 'boolean' },
  offline: { type: 'boolean' },
  cleanup: { type: 'boolean' },
  execute: { type: 'boolean' },
  resume: { type: 'string', value: 'RUN_ID' },
  'break-lock': { type: 'string', value: 'RUN_ID' },
  report: { type: 'string', value: 'FILE' },
  hook: { type: 'string', value: 'PHASE=CMD', multiple: true },
  'switch-timeout': { type: 'string', value: 'MS' },
  'lag-threshold': { type: 'string', value: 'MS' },
  'load-command': { type: 'string', value: 'CMD' },
  'load-rate': { type: 'string', value: 'N' },
  'load-connections': { type: 'string', value: 'N' },
  fault: { type: 'string', value: REHEARSAL_FAULTS.join('|') },
  'keep-sandbox': { type: 'boolean' },
  'switch-back': { type: 'boolean' },
  'delete-old': { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  password: { type: 'string', value: 'X' },
  'plan-format': { type: 'string', value: PLAN_FORMATS.join('|') },
  'plan-out': { type: 'string', value: 'FILE' },
  'rehearsal-report': { type: 'string', value: 'FILE' },
  'outputs-file': { type: 'string', value: 'FILE' },
} as const satisfies Record<string, { type: 'string' | 'boolean'; value?: string; multiple?: boolean; short?: string }>;

type OptionName = keyof typeof OPTIONS;
const OPTION_NAMES = Object.keys(OPTIONS).filter((name) => name !== 'password') as OptionName[];

function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isInteger(number) || number <= 0) throw new UsageError(`${flag} expects a positive whole number, got "${value}"`);
  // Number() also reads 0x10, 1e3 and " 50": a typo there would run with a value nobody typed.
  if (!/^[0-9]+$/.test(value)) throw new UsageError(`${flag} expects a positive whole number (digits only), got "${value}"`);
  if (!Number.isSafeInteger(number)) throw new UsageError(`${flag} expects a positive whole number up to ${Number.MAX_SAFE_INTEGER}, got "${value}"`);
  return number;
}

/** A run id as the journal names its folder (20261122-010203-abcdef); anything else is refused before a path is built from it. */
export function checkRunId(flag: string, runId: string): string {
  if (!RUN_ID_PATTERN.test(runId)) {
    throw new UsageError(`${flag} "${runId}" is not a run id: use the id a run printed when it started (e.g. 20261122-010203-abcdef; the runs are the folders in .rds-cutover/runs)`);
  }
  return runId;
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
  if (existsSync(folder) && !statSync(folder).isDirectory()) throw new UsageError(`--report ${path}: ${folder} is a file, not a folder; pick a path inside a folder, e.g. --report ./report.json`);
  if (!existsSync(folder)) throw new UsageError(`--report ${path}: the folder ${folder} does not exist; create it first (mkdir -p ${folder}) or pick another path`);
  if (existsSync(absolute) && statSync(absolute).isDirectory()) throw new UsageError(`--report ${path} is a folder; give a file name, e.g. --report ${join(path, 'report.json')}`);
  try {
    accessSync(existsSync(absolute) ? absolute : folder, constants.W_OK);
  } catch {
    throw new UsageError(`--report ${path}: ${existsSync(absolute) ? absolute : folder} is not writable; pick a path you can write to`);
  }
  return absolute;
}

/**
 * Unknown and misspelt options, and options without their value, said in our words (node's
 * parseArgs would say "Unknown option" without a suggestion, or take the next flag as the value).
 */
function checkOptionWords(argv: string[]): string[] {
  const words = [...argv];
  for (let index = 0; index < words.length; index++) {
    const token = words[index];
    if (token === '--') break;
    if (/^-[^-]/.test(token) && token !== '-h') {
      throw new UsageError(`Unknown option '${token}': options are long, e.g. --execute.${didYouMean(token.replace(/^-+/, ''), OPTION_NAMES, (c) => `--${c}`)} See --help.`);
    }
    if (!token.startsWith('--')) continue;
    const [name, inline] = token.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!(name in OPTIONS)) {
      const suggestion = didYouMean(name, OPTION_NAMES, (c) => `--${c}`);
      throw new UsageError(`Unknown option '--${name}'.${suggestion || ' Options are listed by --help.'}${suggestion ? ' See --help.' : ''}`);
    }
    const option = OPTIONS[name as OptionName];
    if (option.type === 'boolean') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value (got "--${name}=${inline}"): write --${name} alone`);
      continue;
    }
    if (inline !== undefined) {
      if (inline === '') throw new UsageError(`--${name} needs a value: --${name} ${option.value}`);
      continue;
    }
    const next = words[index + 1];
    if (next === undefined || next.startsWith('--') || next === '') throw new UsageError(`--${name} needs a value: --${name} ${option.value}${next?.startsWith('--') ? ` (it was followed by ${next})` : ''}`);
    // A value that starts with '-' (a negative number): joined, so that the checks below name it.
    if (next.startsWith('-')) words.splice(index, 2, `--${name}=${next}`);
    else index++;
  }
  return words;
}

const HELP: CutoverArgs = { command: 'help', flow: 'cutover', engine: 'mysql', engineGiven: false, method: 'logical', methodGiven: false, allowReplicaIdentityFull: false, offline: false, cleanup: false, execute: false, hooks: [], keepSandbox: false, verbose: false, planFormat: 'text' };

export function parseCutoverArgs(argv: string[]): CutoverArgs {
  const words = checkOptionWords(argv);
  let parsed;
  try {
    parsed = parseArgs({
      args: words,
      allowPositionals: true,
      strict: true,
      tokens: true,
      options: Object.fromEntries(
        Object.entries(OPTIONS).map(([name, option]) => [name, { type: option.type, ...('multiple' in option ? { multiple: true } : {}), ...('short' in option ? { short: option.short } : {}) }]),
      ) as { [K in OptionName]: { type: (typeof OPTIONS)[K]['type']; multiple?: boolean; short?: string } },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split('\n')[0]}. See --help.`);
  }
  // A value option given twice: the parser keeps the last one silently (`--env local --env prod` ran prod).
  const given = new Map<string, string[]>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option' || 'multiple' in OPTIONS[token.name as OptionName]) continue;
    given.set(token.name, [...(given.get(token.name) ?? []), token.value ?? '']);
  }
  for (const [name, seen] of given) {
    if (seen.length > 1) throw new UsageError(`--${name} is given ${seen.length === 2 ? 'twice' : `${seen.length} times`}${seen.some((v) => v !== '') ? ` (${seen.map((v) => JSON.stringify(v)).join(', then ')})` : ''}: give it once`);
  }
  const values = parsed.values as Partial<Record<OptionName, string | boolean | string[]>>;
  const string = (name: OptionName) => values[name] as string | undefined;
  const flag = (name: OptionName) => values[name] === true;
  const { positionals } = parsed;
  if (values.password !== undefined) {
    throw new UsageError('Passwords are never taken from the command line (they would land in shell history and ps). Set them in the environment variables named in config/cutover/<env>.ts.');
  }
  if (flag('help')) return HELP;
  let command: CutoverArgs['command'] = 'run';
  let statusRunId: string | undefined;
  if (positionals[0] === 'status') {
    command = 'status';
    statusRunId = positionals[1];
    if (!statusRunId) throw new UsageError('status needs a run id: npx zx scripts/cutover.mjs status RUN_ID (the runs are the folders in .rds-cutover/runs)');
    checkRunId('status', statusRunId);
    if (positionals.length > 2) throw new UsageError(`status takes one run id, got also "${positionals[2]}": npx zx scripts/cutover.mjs status RUN_ID`);
  } else if (isWayBackCommand(positionals[0])) {
    command = positionals[0];
    statusRunId = undefined;
  } else if (positionals.length > 0) {
    throw new UsageError(`Unknown command "${positionals[0]}": expected no command (plan/run), "status RUN_ID", "switch-back RUN_ID", "switch-forth RUN_ID" or "complete RUN_ID".${didYouMean(positionals[0], COMMANDS)} See --help.`);
  }
  const flowName = string('flow') ?? 'cutover';
  if (!FLOWS.includes(flowName as CutoverArgs['flow'])) throw new UsageError(`--flow ${flowName} is unknown: expected one of ${FLOWS.join(', ')}.${didYouMean(flowName, FLOWS)}`);
  let forwardRunId: string | undefined;
  if (isWayBackCommand(command)) {
    forwardRunId = positionals[1];
    if (!forwardRunId) throw new UsageError(`${command} needs the run id of the cutover whose switch built the way back: npx zx scripts/cutover.mjs ${command} RUN_ID`);
    checkRunId(command, forwardRunId);
    if (positionals.length > 2) throw new UsageError(`${command} takes one run id, got: ${positionals.slice(1).join(' ')}`);
  }
  if (flag('delete-old') && command !== 'complete') throw new UsageError('--delete-old belongs to complete: npx zx scripts/cutover.mjs complete RUN_ID --execute --delete-old');
  if (flag('switch-back') && command !== 'run') throw new UsageError('--switch-back is a rehearsal option (npm run rehearse -- --switch-back); to switch a real run back: npx zx scripts/cutover.mjs switch-back RUN_ID');
  if (flag('switch-back') && string('engine') === 'postgres' && string('method') === 'dump') throw new UsageError('--switch-back needs --method logical: the dump method builds no way back (drop --method dump)');
  const engine = string('engine');
  if (engine !== undefined && !ENGINES.includes(engine as Engine)) throw new UsageError(`--engine ${engine} is unknown: expected one of ${ENGINES.join(', ')}.${didYouMean(engine, ENGINES)}`);
  const method = string('method');
  if (method !== undefined && !POSTGRES_METHODS.includes(method as CutoverArgs['method'])) throw new UsageError(`--method ${method} is unknown: expected one of ${POSTGRES_METHODS.join(', ')}.${didYouMean(method, POSTGRES_METHODS)}`);
  const fault = string('fault');
  if (fault !== undefined && !REHEARSAL_FAULTS.includes(fault as RehearsalFault)) {
    throw new UsageError(`--fault ${fault} is unknown: expected one of ${REHEARSAL_FAULTS.join(', ')}.${didYouMean(fault, REHEARSAL_FAULTS)}`);
  }
  if (command === 'run' && !string('env')) throw new UsageError('--env is required, e.g. --env local (the rehearsal sandbox); the environments are the files in config/cutover/');
  const hooks = (values.hook as string[] | undefined) ?? [];
  try {
    parseHooks(hooks); // validate early, before anything starts
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const lag = positiveInteger('--lag-threshold', string('lag-threshold'));
  const budget = positiveInteger('--switch-timeout', string('switch-timeout'));
  if (lag !== undefined && budget !== undefined && lag > budget) throw new UsageError(`--lag-threshold ${lag} is larger than --switch-timeout ${budget}: the switch would start with more lag than it may take to catch up; lower --lag-threshold or raise --switch-timeout`);
  const resume = string('resume');
  const breakLock = string('break-lock');
  if (resume !== undefined) checkRunId('--resume', resume);
  if (breakLock !== undefined) checkRunId('--break-lock', breakLock);
  const args: CutoverArgs = {
    command,
    statusRunId,
    forwardRunId,
    switchBack: flag('switch-back'),
    deleteOld: flag('delete-old'),
    env: string('env'),
    engine: (engine ?? 'mysql') as Engine,
    engineGiven: engine !== undefined,
    flow: flowName as CutoverArgs['flow'],
    method: (method ?? 'logical') as CutoverArgs['method'],
    methodGiven: method !== undefined,
    targetVersion: positiveInteger('--target-version', string('target-version')),
    allowReplicaIdentityFull: flag('allow-replica-identity-full'),
    offline: flag('offline'),
    cleanup: flag('cleanup'),
    execute: flag('execute'),
    resume,
    breakLock,
    report: string('report') === undefined ? undefined : (validateReportPath(string('report')!), string('report')),
    hooks,
    switchTimeoutMs: budget,
    lagThresholdMs: lag,
    loadCommand: string('load-command'),
    loadRate: positiveInteger('--load-rate', string('load-rate')),
    loadConnections: positiveInteger('--load-connections', string('load-connections')),
    fault: fault as RehearsalFault | undefined,
    keepSandbox: flag('keep-sandbox'),
    verbose: flag('verbose'),
    ...planOutput(string('plan-format'), string('plan-out'), string('rehearsal-report')),
    outputsFile: string('outputs-file') === undefined ? undefined : existingFile('--outputs-file', string('outputs-file')!, "the stacks' outputs, written by npx cdktf output 'rds-cutover-<env>-*' --outputs-file FILE"),
  };
  checkConflicts(args);
  return args;
}

/** A file the command reads: it must exist (checked before anything loads). */
function existingFile(flag: string, path: string, what: string): string {
  const absolute = resolve(path);
  if (!existsSync(absolute) || statSync(absolute).isDirectory()) throw new UsageError(`${flag} ${path}: no such file (${absolute}); give ${what}`);
  return path;
}

/** --plan-format (md = markdown), --plan-out only with a document format. */
function planOutput(format: string | undefined, out: string | undefined, rehearsalReport: string | undefined): Pick<CutoverArgs, 'planFormat' | 'planOut' | 'rehearsalReport'> {
  const planFormat = format === undefined ? 'text' : format === 'md' ? 'markdown' : format;
  if (!PLAN_FORMATS.includes(planFormat as PlanFormat)) throw new UsageError(`--plan-format ${format} is unknown: expected one of ${PLAN_FORMATS.join(', ')} (md = markdown).${didYouMean(String(format), PLAN_FORMATS)}`);
  if (out !== undefined && planFormat === 'text') throw new UsageError('--plan-out writes the markdown or json document: add --plan-format markdown (or json)');
  return { planFormat: planFormat as PlanFormat, planOut: out, rehearsalReport };
}

/** Options that cannot go together, whatever the environment. */
function checkConflicts(args: CutoverArgs): void {
  if (args.command === 'status') {
    const extra = [args.execute && '--execute', args.resume && '--resume', args.breakLock && '--break-lock', args.report && '--report', args.hooks.length > 0 && '--hook'].filter(Boolean);
    if (extra.length > 0) throw new UsageError(`status only reads a run's journal; it takes no ${extra.join(', ')}: npx zx scripts/cutover.mjs status RUN_ID`);
    return;
  }
  if (args.offline && args.execute) throw new UsageError("--offline plans from config and the stacks' outputs without reading AWS; it cannot be combined with --execute (drop --offline to run)");
  if (args.resume && !args.execute) throw new UsageError('--resume continues an executed run: add --execute');
  if (args.breakLock && (args.execute || args.resume)) {
    throw new UsageError(`--break-lock only releases the lock and runs nothing: run it alone (--env ${args.env} --break-lock ${args.breakLock}), then start or --resume the run with --execute`);
  }
}
