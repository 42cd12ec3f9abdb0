import { planText } from '../runbook/engine';
import { parseHooks } from '../runbook/hooks';
import { RunLockHeld } from '../runbook/lock';
import { mysqlEncryptRunbook } from '../flows/mysql-encrypt';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { rehearseMysql } from '../rehearsal/mysql-rehearsal';
import { EXIT } from './args';
import { checkRunArgs, mysqlSettings, rehearsalLoad, runLockFor, type FlowRunnerInput } from './settings';
import { finishRun } from './finish';

/**
 * `--env local` (MySQL): the plan by default; with --execute a full rehearsal on real servers
 * started for the run and thrown away after it (npm run rehearse). Returns the exit code.
 */
export async function runLocalMysql(input: FlowRunnerInput): Promise<number> {
  const { environment, args, stateDir, log, out } = input;
  checkRunArgs(environment, args);
  const settings = mysqlSettings(environment, args);
  if (!args.execute) {
    for (const line of planText(mysqlEncryptRunbook(new LocalMysqlPlatform(), settings))) out(line);
    out('');
    out('Dry run: nothing was started or changed. The local sandbox (and its preconditions) exist only while a rehearsal runs:');
    out('run it with --execute (npm run rehearse).');
    return EXIT.ok;
  }
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
  return finishRun(report, { report: args.report, stateDir, out });
}
