/**
 * A rehearsal whose --load-command workload crashes (ends on its own with a non-zero code)
 * before the freeze stops there: aborted, the source never frozen, the report naming the crash
 * and the workload's last output. The proof the user asked for includes their workload; going on
 * to a switch without it would report a window nobody's workload saw (issue 9, trial4 F4).
 * Real MariaDB servers and HAProxy.
 */
import { rehearseMysqlWithWorkload } from '../support/mysql-workload-rehearsal';

jest.setTimeout(300000);

test.each([
  ['the move is rehearsed', false],
  ['the move is rehearsed with --switch-back', true],
])('GIVEN a workload that crashes 1 s in WHEN %s THEN the run stops before the freeze, aborted (exit 3, not failed), naming the crash and its output once', async (_when, switchBack) => {
  const report = await rehearseMysqlWithWorkload('sleep 1; echo "cannot reach $CUTOVER_DB_HOST: too many connections" >&2; exit 3', { seedRows: 500, connections: 2, ratePerSecond: 100, tailMs: 500 }, { switchBack });
  expect(report.error?.match(/too many connections/g)).toHaveLength(1);
  expect(report.switchBack).toBeUndefined();
  expect(report.result).toBe('aborted');
  expect(report.error).toMatch(/the load command crashed: it exited on its own \(code 3\) after \d+\.\d s, before it was asked to stop; output: cannot reach 127\.0\.0\.1: too many connections\. The run stopped before [\w.-]+: the source was never frozen/);
  expect(report.facts.switchStartedAt).toBeUndefined();
  expect(report.steps.find((s) => s.id === 'mysql.switch')?.status).not.toBe('done');
  expect(report.load?.command).toMatchObject({ ending: 'exited', exitCode: 3, crashed: true });
});
