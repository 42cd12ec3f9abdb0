import { resolve } from 'node:path';
import { JournalFactsRefused } from '../runbook/facts-schema';
import type { CutoverEnvironment } from '../../config/cutover';
import { createLogger } from '../util/log';
import { redact } from '../util/secrets';
import { RunLockHeld } from '../runbook/lock';
import { EXIT, USAGE, UsageError, parseCutoverArgs, type CutoverArgs } from './args';
import { checkEmulatedArgs, EMULATED_ENVIRONMENT_NAMES, checkRunArgs, environmentFor, resolveEngine, runLockFor, stateDirFor, withOutputsFile, type CliIo, type FlowRunnerInput } from './settings';
import { printStatus } from './status';
import { isWayBackCommand } from '../runbook/way-back-command';
import { Journal } from '../runbook/journal';
import { nodeVersionWarning } from './node-version';

/**
 * `npx zx scripts/cutover.mjs …`: words → environment → checks → one runner. Everything that can
 * be refused is refused (exit 2) before a runner is loaded: no flow, platform, SDK or server
 * code is loaded and nothing is written for bad input (test/cli/bad-input.test.ts holds that).
 *
 * The modules below form a tree, no cycle (test/architecture/walls.test.ts):
 *   cutover → args (words, usage, exit codes), settings (environment → flow settings, checks),
 *             status, and one runner from RUNNERS; every runner ends with finish.finishRun.
 */

// The command line's public face: callers (tests, bench, scripts) import these from here.
export { EXIT, USAGE, UsageError, ENGINES, POSTGRES_METHODS, parseCutoverArgs, validateReportPath, type CutoverArgs } from './args';
export { rehearsalLoad, runLockFor, type CliIo, type FlowRunnerInput } from './settings';
export { statusLines } from './status';

type Runner = (input: FlowRunnerInput) => Promise<number>;

/**
 * Which runner runs what, first match wins. Each is loaded only when chosen, so that a MySQL
 * rehearsal does not load the AWS SDK or pg, and bad input loads none of them.
 */
const RUNNERS: Array<{ when: (environment: CutoverEnvironment, args: CutoverArgs) => boolean; load: () => Runner }> = [
  { when: (_environment, args) => args.flow === 'share-snapshot', load: () => (input) => (require('./aws-share-snapshot') as typeof import('./aws-share-snapshot')).runShareSnapshot(input) },
  { when: (environment) => environment.platform === 'sandbox', load: () => (require('./sandbox-run') as typeof import('./sandbox-run')).runOnSandbox },
  { when: (_environment, args) => args.engine === 'postgres', load: () => (require('./postgres') as typeof import('./postgres')).runPostgres },
  { when: (environment) => environment.platform === 'aws', load: () => (input) => (require('./aws') as typeof import('./aws')).runAws(input) },
  { when: (environment) => environment.platform === 'local', load: () => (require('./local-mysql') as typeof import('./local-mysql')).runLocalMysql },
];

/** The whole command: returns the process exit code. */
export async function runCutoverCli(argv: string[], io?: Partial<CliIo>): Promise<number> {
  const out = io?.out ?? ((line: string) => process.stdout.write(redact(line) + '\n'));
  const warning = nodeVersionWarning();
  if (warning) process.stderr.write(`${warning}\n`);
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
    const emulated = (EMULATED_ENVIRONMENT_NAMES as readonly string[]).includes(args.env ?? '');
    if (emulated && args.command === 'run') {
      checkEmulatedArgs(args);
      return await (require('./aws-emulated') as typeof import('./aws-emulated')).rehearseEmulatedAws(args, log, out);
    }
    // An emulated rehearsal has no config file: it journals in the local environment's state folder (lib/cli/aws-emulated.ts).
    if (emulated && args.command === 'status') return printStatus(stateDirFor(environmentFor('local')), args.statusRunId!, out);
    const environment = args.env ? environmentFor(args.env) : undefined;
    const stateDir = stateDirFor(environment);
    if (args.command === 'status') return printStatus(stateDir, args.statusRunId!, out);
    if (isWayBackCommand(args.command)) {
      // An unknown run is bad input (exit 2, like status), answered before the way back's code is loaded.
      const forward = new Journal(stateDir, args.forwardRunId!);
      if (!forward.exists()) throw new UsageError(`${args.command}: no journal for run ${args.forwardRunId} at ${forward.path}: give the id the forward run printed when it started. List runs with: ls ${stateDir}/runs`);
      return await (require('./way-back') as typeof import('./way-back')).runWayBack(args, stateDir, log, out);
    }
    // The share flow moves a snapshot, not a database engine's data: no mysql/postgres section needed.
    if (args.flow !== 'share-snapshot') args = resolveEngine(environment!, args);
    checkRunArgs(environment!, args, stateDir);
    const configured = withOutputsFile(environment!, args);
    if (args.breakLock && environment!.platform !== 'aws') {
      const released = await runLockFor(environment!, stateDir).breakLock(args.breakLock);
      out(`released the lock on ${environment!.name} held by run ${released.runId} (host ${released.host}, pid ${released.pid}, started ${released.startedAt})`);
      return EXIT.ok;
    }
    const runner = RUNNERS.find((candidate) => candidate.when(environment!, args));
    if (!runner) throw new UsageError(`Nothing runs ${args.engine} on platform ${environment!.platform} (config/cutover/${environment!.name}.ts)`);
    const code = await runner.load()({ environment: configured, args, stateDir, log, out });
    // A dry run changes nothing, the file system included: the report comes from the executed run.
    if (!args.execute && args.report) out(`--report ${resolve(args.report)}: no report written (dry run); a report is written by the run with --execute`);
    return code;
  } catch (error) {
    log.error(redact((error as Error).message));
    return exitCodeOfError(error);
  }
}

/** The exit code of a run that ended with an error: a lock held by another run is a refusal (3), like an abort. */
export function exitCodeOfError(error: unknown): number {
  if (error instanceof RunLockHeld) return EXIT.aborted;
  // A journal whose facts a resume cannot trust is bad input: nothing started.
  return error instanceof UsageError || error instanceof JournalFactsRefused ? EXIT.usage : EXIT.failed;
}
