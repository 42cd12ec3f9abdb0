import { join, resolve } from 'node:path';
import type { CutoverEnvironment } from '../../config/cutover';
import type { Logger } from '../util/log';
import { planText, runRunbook } from '../runbook/engine';
import { parseHooks } from '../runbook/hooks';
import { closeFlowConnections, mysqlEncryptRunbook, type MysqlFlowSettings } from '../flows/mysql-encrypt';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { MysqlSandbox } from '../platforms/local/mysql-sandbox';
import { readSandboxState, sandboxFolder, sandboxLiveness } from '../platforms/local/sandbox-state';
import { EXIT_CODES as EXIT, exitCodeOf, reportFromRun, summaryText, writeReport } from '../report';


/** What lib/cli/cutover.ts hands over (its FlowRunnerInput). */
export interface SandboxRunInput {
  environment: CutoverEnvironment;
  args: { engine: string; execute: boolean; resume?: string; report?: string; hooks: string[]; switchTimeoutMs?: number; lagThresholdMs?: number; loadCommand?: string; loadRate?: number; loadConnections?: number; fault?: string; keepSandbox: boolean };
  stateDir: string;
  log: Logger;
  out: (line: string) => void;
}

/** Bad input: said once, exit 2, nothing started. */
class UsageError extends Error {}

/**
 * `--env sandbox`: the real flow against the servers `npm run sandbox -- up` left running, as
 * against AWS: journal, `--resume RUN_ID` after a kill, hooks, report. No load is started: the
 * user's workload writes to the endpoint `npm run sandbox -- status` prints.
 */
export async function runOnSandbox(input: SandboxRunInput): Promise<number> {
  try {
    return await runFlowOnSandbox(input);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    input.log.error(error.message);
    return EXIT.usage;
  }
}

async function runFlowOnSandbox(input: SandboxRunInput): Promise<number> {
  const { environment, args, stateDir, log, out } = input;
  if (args.loadCommand || args.loadRate || args.loadConnections || args.fault || args.keepSandbox) {
    throw new UsageError('--load-*, --fault and --keep-sandbox are rehearsal options (--env local). With --env sandbox run your own workload against the endpoint `npm run sandbox -- status` prints.');
  }
  if (args.engine !== 'mysql') throw new UsageError(`--env sandbox runs the MySQL flow only so far; rehearse PostgreSQL with --env local --engine postgres`);
  if (args.resume && !args.execute) throw new UsageError('--resume continues an executed run: add --execute');
  if (!environment.mysql) throw new UsageError(`Environment ${environment.name} has no mysql section: add one to config/cutover/${environment.name}.ts`);
  const settings: MysqlFlowSettings = {
    ...environment.mysql,
    switchTimeoutMs: args.switchTimeoutMs ?? environment.mysql.switchTimeoutMs,
    lagThresholdMs: args.lagThresholdMs ?? environment.mysql.lagThresholdMs,
  };
  if (!args.execute) {
    for (const line of planText(mysqlEncryptRunbook(new LocalMysqlPlatform(), settings))) out(line);
    out('');
    out('Dry run: nothing was changed. Run it with --execute against the servers of npm run sandbox -- up --engine mysql.');
    return EXIT.ok;
  }
  const folder = sandboxFolder(stateDir, 'mysql');
  const recorded = readSandboxState(folder);
  if (!recorded) throw new UsageError(`No sandbox is up in ${folder}: start one with npm run sandbox -- up --engine mysql (from the folder that holds .rds-cutover)`);
  const { dead } = sandboxLiveness(recorded.state);
  if (dead.includes('source') || dead.includes('haproxy')) {
    throw new UsageError(`The sandbox in ${folder} is stale (${dead.join(', ')} not running): npm run sandbox -- down, then npm run sandbox -- up --engine mysql`);
  }
  const sandbox = MysqlSandbox.attach(folder, log);
  const runtime = new Map<string, unknown>();
  const runbook = mysqlEncryptRunbook(new LocalMysqlPlatform(sandbox), settings);
  try {
    for (const line of planText(runbook)) out(line);
    out('');
    const startedAt = new Date();
    const run = await runRunbook({
      runbook,
      environment: environment.name,
      stateDir,
      dryRun: false,
      resumeRunId: args.resume,
      hooks: parseHooks(args.hooks),
      log,
      runtime,
      options: { platform: 'sandbox', sandbox: folder },
    });
    const report = reportFromRun(run, { engine: 'mysql', startedAt });
    const reportPath = args.report ? resolve(args.report) : join(stateDir, 'runs', run.runId, 'report.json');
    writeReport(reportPath, report);
    out('');
    for (const line of summaryText(report)) out(line);
    out(`report: ${reportPath}`);
    if (run.result !== 'success') out(`status: zx scripts/cutover.mjs status ${run.runId} --env ${environment.name}; resume: zx scripts/cutover.mjs --env ${environment.name} --execute --resume ${run.runId}`);
    // The same rule as every other run: an unverified proof is exit 4, an interrupted run 130.
    return exitCodeOf(report);
  } finally {
    await closeFlowConnections(runtime);
    sandbox.detach();
  }
}
