import { mysqlEncryptRunbook, type MysqlFlowSettings } from '../flows/mysql-encrypt';
import { recordLocalMysqlPlan, rehearseMysql } from '../rehearsal/mysql-rehearsal';
import { recordedPlanText } from '../plan/plan-document';
import { EXIT } from './args';
import { checkRunArgs, LOCAL_DRY_RUN, mysqlSettings, rehearsalOptions, type FlowRunnerInput } from './settings';
import { rehearseAndFinish } from './rehearse';

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
  const { environment, args, out } = input;
  checkRunArgs(environment, args);
  const settings = mysqlSettings(environment, args);
  if (!args.execute) {
    for (const line of await localMysqlPlanLines(environment.name, settings)) out(line);
    out('');
    out(LOCAL_DRY_RUN);
    out('run it with --execute (npm run rehearse).');
    return EXIT.ok;
  }
  return rehearseAndFinish(input, (lock, windDown) => rehearseMysql({ ...rehearsalOptions(input), settings, lock, handleSignals: true, windDown, switchBack: args.switchBack }));
}
