/**
 * The summary names the write gap for what it is: around the switch when one started; the run's
 * longest gap, said as such, when the switch never started (a PostgreSQL run refused before the
 * freeze printed "write unavailability … around the switch" though traffic never moved).
 */
import { reportFromRun, summaryText } from '../../lib/report';
import type { RunResult } from '../../lib/runbook/engine';

function run(facts: Record<string, unknown>, result: RunResult['result']): RunResult {
  return { runId: 'r1', flow: 'postgres.logical', environment: 'local', result, dryRun: false, durationMs: 1000, steps: [], facts, problems: [] } as unknown as RunResult;
}

test('GIVEN a run aborted before the switch started WHEN summarised THEN the gap is not called the switch\'s write unavailability', () => {
  const report = reportFromRun(run({ abortedAt: 2000 }, 'aborted'), { engine: 'postgres', startedAt: new Date(0), writeUnavailableMs: 232.6 });
  const text = summaryText(report).join('\n');
  expect(text).not.toContain('around the switch');
  expect(text).toContain('longest gap between acknowledged writes: 232.6 ms (the switch never started: traffic never moved; not a switch\'s downtime)');
});

test('GIVEN a run whose switch started WHEN summarised THEN the gap is the write unavailability around the switch', () => {
  const report = reportFromRun(run({ switchStartedAt: 1000, switchEndedAt: 1100 }, 'success'), { engine: 'postgres', startedAt: new Date(0), writeUnavailableMs: 120 });
  expect(summaryText(report)).toContain('write unavailability: 120 ms (longest gap between acknowledged writes around the switch)');
});
