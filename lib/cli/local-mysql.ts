import { mysqlEncryptRunbook, type MysqlFlowSettings } from '../flows/mysql-encrypt';
import { recordLocalMysqlPlan, rehearseMysql } from '../rehearsal/mysql-rehearsal';
import { recordedPlanText } from '../plan/plan-document';
import { EXIT } from './args';
import { checkRunArgs, LOCAL_DRY_RUN, mysqlSettings, rehearsalOptions, withRehearsalLock, type FlowRunnerInput } from './settings';
import { finishRun } from './finish';
import { pauseIfAsked } from '../runbook/kill-point';
import { WindDown } from '../rehearsal/rehearsal-load';
import type { CutoverReport } from '../report';

/**
 * The local dry-run plan as printed: the steps, then what they recorded against the sandbox's
 * recording stand-in and recording connections (nothing starts, connects or is written).
 */
export async function localMysqlPlanLines(environment: string, settings: MysqlFlowSettings): Promise<string[]> {
  const recorded = await recordLocalMysqlPlan({ runbook: (platform) => mysqlEncryptRunbook(platform, settings), databases: settings.databases });
  return recordedPlanText(recorded, { environment, switchTimeoutMs: settings.switchTimeoutMs, lagThresholdMs: settings.lagThresholdMs, command: 'npx zx scripts/cutover.mjs' });
}

/**
 * `--env local` (MySQL): the plan by default; with --execute a full rehearsal on real servers
 * started for the run and thrown away after it (npm run rehearse). Returns the exit code.
 */
export async function runLocalMysql(input: FlowRunnerInput): Promise<number> {
  const { environment, args, stateDir, out } = input;
  checkRunArgs(environment, args);
  const settings = mysqlSettings(environment, args);
  if (!args.execute) {
    for (const line of await localMysqlPlanLines(environment.name, settings)) out(line);
    out('');
    out(LOCAL_DRY_RUN);
    out('run it with --execute (npm run rehearse).');
    return EXIT.ok;
  }
  // Locked before the sandbox starts: a second rehearsal is refused before it starts anything.
  // From here to the report a first Ctrl-C ends in the report, INTERRUPTED (exit 130): see WindDown.
  const windDown = new WindDown(input.log, true, args.switchBack);
  windDown.open();
  let report: CutoverReport | undefined;
  try {
    report = await withRehearsalLock(environment, stateDir, (lock) =>
      rehearseMysql({
        ...rehearsalOptions(input),
        settings,
        lock,
        handleSignals: true,
        windDown,
        switchBack: args.switchBack,
      }),
    );
    pauseIfAsked('rehearsal:report');
  } finally {
    await windDown.end(report);
  }
  return finishRun(report, { report: args.report, stateDir, out });
}
