import type { CutoverEnvironment } from '../../config/cutover';
import { loadEnvironment } from '../../config/cutover';
import type { Logger } from '../util/log';
import { planText, runRunbook } from '../runbook/engine';
import { parseHooks } from '../runbook/hooks';
import { Journal, statusFromJournal, type RunStatus } from '../runbook/journal';
import { closeFlowConnections, type MysqlFlowSettings } from '../flows/mysql-encrypt';
import { mysqlCompleteRunbook, mysqlSwitchBackRunbook } from '../flows/mysql-switch-back';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { MysqlSandbox } from '../platforms/local/mysql-sandbox';
import { readSandboxState, sandboxFolder } from '../platforms/local/sandbox-state';
import { reportFromRun } from '../report';
import { EXIT, UsageError, type CutoverArgs } from './args';
import { finishRun } from './finish';
import { mysqlSettings, stateDirFor } from './settings';

/**
 * `switch-back RUN_ID` / `complete RUN_ID`: on the platform the run RUN_ID moved (its journal
 * names the environment). A local rehearsal's servers are gone with its process: refused.
 */
export async function runWayBack(args: CutoverArgs, defaultStateDir: string, log: Logger, out: (line: string) => void): Promise<number> {
  const forwardRunId = args.forwardRunId!;
  const forward = statusFromJournal(new Journal(defaultStateDir, forwardRunId).read());
  if (forward.flow !== 'mysql.encrypt') throw new UsageError(`${args.command} is built for the MySQL-family flow only so far; run ${forwardRunId} is ${forward.flow}`);
  if (args.env && args.env !== forward.environment) throw new UsageError(`Run ${forwardRunId} ran on --env ${forward.environment}, not ${args.env}: drop --env or pass --env ${forward.environment}`);
  if (forward.options.rehearsal === true) {
    throw new UsageError(`Run ${forwardRunId} was a local rehearsal: its servers are gone with its process. Rehearse the way back with npm run rehearse -- --switch-back, or use the persistent sandbox (npm run sandbox -- up; --env sandbox).`);
  }
  const environment = loadEnvironment(forward.environment);
  if (environment.platform !== 'sandbox') {
    throw new UsageError(`${args.command} on ${environment.platform} environments is not built yet here (AWS: the RDS Proxy half of issue 12); run ${forwardRunId} is on ${environment.name}.`);
  }
  const stateDir = stateDirFor(environment);
  const settings = mysqlSettings(environment, args);
  return runWayBackOnSandbox({ environment, args, stateDir, log, out, settings, forwardRunId, forward });
}

/** What lib/cli/cutover.ts hands over for `switch-back RUN_ID` / `complete RUN_ID` on the sandbox. */
export interface WayBackInput {
  environment: CutoverEnvironment;
  args: { command: string; execute: boolean; resume?: string; report?: string; hooks: string[]; deleteOld?: boolean };
  stateDir: string;
  log: Logger;
  out: (line: string) => void;
  settings: MysqlFlowSettings;
  forwardRunId: string;
  forward: RunStatus;
}

/**
 * `switch-back RUN_ID` and `complete RUN_ID` against the persistent sandbox: plan and read-only
 * checks without --execute; with it, a journaled run of its own (`--resume` its id after a kill).
 */
export async function runWayBackOnSandbox(input: WayBackInput): Promise<number> {
  const { environment, args, stateDir, log, out, settings, forwardRunId, forward } = input;
  if (args.resume && !args.execute) {
    log.error('--resume continues an executed run: add --execute');
    return EXIT.usage;
  }
  const folder = typeof forward.options.sandbox === 'string' ? forward.options.sandbox : sandboxFolder(stateDir, 'mysql');
  const recorded = readSandboxState(folder);
  if (!recorded) {
    log.error(`No sandbox is up in ${folder} (run ${forwardRunId} ran there): it was taken down, so there is nothing to switch back to`);
    return EXIT.usage;
  }
  const sandbox = MysqlSandbox.attach(folder, log);
  const runtime = new Map<string, unknown>();
  const platform = new LocalMysqlPlatform(sandbox);
  const runbook = args.command === 'complete' ? mysqlCompleteRunbook(platform, settings, { deleteOld: Boolean(args.deleteOld) }) : mysqlSwitchBackRunbook(platform, settings);
  try {
    for (const line of planText(runbook)) out(line);
    out('');
    const startedAt = new Date();
    const run = await runRunbook({
      runbook,
      environment: environment.name,
      stateDir,
      dryRun: !args.execute,
      resumeRunId: args.resume,
      hooks: parseHooks(args.hooks),
      log,
      runtime,
      options: { platform: 'sandbox', sandbox: folder, forwardRunId },
    });
    if (!args.execute) {
      for (const problem of run.problems) out(`precondition: ${problem}`);
      out(run.problems.length > 0 ? `Dry run: ${args.command} would be refused (above). Nothing was changed.` : `Dry run: nothing was changed. Run it with: npx zx scripts/cutover.mjs ${args.command} ${forwardRunId} --execute${args.deleteOld ? ' --delete-old' : ''}`);
      return run.problems.length > 0 ? EXIT.failed : EXIT.ok;
    }
    // complete is idempotent: it is run again, never resumed.
    const resumable = args.command === 'switch-back' ? { environment: environment.name, engineFlags: '', command: `switch-back ${forwardRunId}` } : undefined;
    return finishRun(reportFromRun(run, { engine: 'mysql', startedAt }), { report: args.report, stateDir, out, resumable });
  } finally {
    await closeFlowConnections(runtime);
    sandbox.detach();
  }
}
