import { pauseIfAsked } from '../runbook/kill-point';
import type { ReservedRunLock } from '../runbook/lock';
import { WindDown } from '../rehearsal/rehearsal-load';
import type { CutoverReport } from '../report';
import { finishRun } from './finish';
import { withRehearsalLock, type FlowRunnerInput } from './settings';

/**
 * An executed local rehearsal (either engine), finished like every other run: locked before the
 * sandbox starts (a second rehearsal is refused before it starts anything), and from before the
 * lock to right before the report a first Ctrl-C ends in the report, INTERRUPTED (exit 130):
 * see WindDown. Returns the exit code.
 */
export async function rehearseAndFinish(input: FlowRunnerInput, rehearse: (lock: ReservedRunLock, windDown: WindDown) => Promise<CutoverReport>): Promise<number> {
  const { environment, args, stateDir, out } = input;
  const windDown = new WindDown(input.log, true, args.switchBack);
  windDown.open();
  let report: CutoverReport | undefined;
  try {
    report = await withRehearsalLock(environment, stateDir, (lock) => rehearse(lock, windDown));
    pauseIfAsked('rehearsal:report');
  } finally {
    await windDown.end(report);
  }
  return finishRun(report, { report: args.report, stateDir, out });
}
