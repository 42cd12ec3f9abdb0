import { mysqlEncryptRunbook } from '../flows/mysql-encrypt';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { rehearseMysql } from '../rehearsal/mysql-rehearsal';
import { checkRunArgs, LOCAL_DRY_RUN, mysqlSettings, rehearsalOptions, withRehearsalLock, type FlowRunnerInput } from './settings';
import { finishPlan, finishRun } from './finish';

/**
 * `--env local` (MySQL): the plan by default; with --execute a full rehearsal on real servers
 * started for the run and thrown away after it (npm run rehearse). Returns the exit code.
 */
export async function runLocalMysql(input: FlowRunnerInput): Promise<number> {
  const { environment, args, stateDir, out } = input;
  checkRunArgs(environment, args);
  const settings = mysqlSettings(environment, args);
  if (!args.execute) return finishPlan(mysqlEncryptRunbook(new LocalMysqlPlatform(), settings), out, [LOCAL_DRY_RUN, 'run it with --execute (npm run rehearse).']);
  // Locked before the sandbox starts: a second rehearsal is refused before it starts anything.
  const report = await withRehearsalLock(environment, stateDir, (lock) =>
    rehearseMysql({
      ...rehearsalOptions(input),
      settings,
      lock,
      handleSignals: true,
      switchBack: args.switchBack,
    }),
  );
  return finishRun(report, { report: args.report, stateDir, out });
}
