/**
 * A subset of the fault matrix (npm run bench:faults runs every point): the real CLI killed
 * with SIGKILL at a journal entry, resumed until done, on a real sandbox under write load.
 * The invariants are the product's promise after an operator's process dies: the run
 * finishes (fence and clean-up reached), no acknowledged write is lost, both sides are never
 * writable at once, nothing is replicated twice.
 */
import { killPointsOf, matrixLines, runFaultPoint, withScenarioPoints } from '../../bench/fault-matrix';
import type { JournalEntry } from '../../lib/runbook/journal';

// A point is a whole run plus resumes on fresh servers: minutes on a busy 2-core machine (load 30+).
jest.setTimeout(900_000);

describe('fault matrix (subset)', () => {
  test('the points come from a journal: every step boundary and every sub-phase, in order, once', () => {
    const at = '';
    const journal: JournalEntry[] = [
      { type: 'run-start', at, runId: 'r', flow: 'f', environment: 'e', dryRun: false, options: {} },
      { type: 'step-start', at, step: 'a' },
      { type: 'step-done', at, step: 'a', durationMs: 1, facts: {} },
      { type: 'step-start', at, step: 'mysql.switch' },
      { type: 'step-progress', at, step: 'mysql.switch', facts: { frozen: true } },
      { type: 'step-progress', at, step: 'mysql.switch', facts: { promoted: true } },
      { type: 'step-done', at, step: 'mysql.switch', durationMs: 1, facts: {} },
      { type: 'run-end', at, result: 'success' },
    ];
    expect(killPointsOf(journal)).toEqual(['step-start:a', 'step-done:a', 'step-start:mysql.switch', 'step-progress:mysql.switch:1', 'step-progress:mysql.switch:2', 'step-done:mysql.switch']);
  });

  test('a sub-phase only a fault produces (the replica found stopped during its catch-up) is in the MySQL matrix even when the clean run never journaled it', () => {
    const clean = ['step-done:mysql.replica.create', 'step-start:mysql.replica.catch-up', 'step-done:mysql.replica.catch-up'];
    expect(withScenarioPoints(clean, 'mysql')).toEqual(['step-done:mysql.replica.create', 'step-start:mysql.replica.catch-up', 'step-progress:mysql.replica.catch-up:1', 'step-done:mysql.replica.catch-up']);
    // a baseline that did journal it (the IO thread caught "Connecting") lists it once
    expect(withScenarioPoints(withScenarioPoints(clean, 'mysql'), 'mysql')).toEqual(withScenarioPoints(clean, 'mysql'));
    expect(withScenarioPoints(clean, 'postgres')).toEqual(clean);
  });

  // Lean on purpose (npm run bench:faults runs every point): one point before the switch, one
  // inside it after traffic moved (the resume finishes forward, checksums honestly unverified),
  // and PostgreSQL killed after it began repointing the pooler.
  test.each([
    ['mysql', 'step-done:mysql.replication.start'],
    ['mysql', 'step-done:mysql.switch'],
    ['postgres', 'step-progress:postgres.switch:3'], // the line written just before the pooler is repointed
  ] as const)(
    '%s killed at %s, then resumed: the run finishes with 0 lost writes, never both sides writable, no replication replayed',
    async (engine, point) => {
      // GIVEN a fresh sandbox under write load, WHEN the CLI is SIGKILLed at the point and resumed
      const outcome = await runFaultPoint({ engine, point, seedRows: 500, load: { connections: 2, ratePerSecond: 100 } });
      // THEN every invariant holds
      expect(matrixLines([outcome])[1]).toContain(point);
      expect(outcome.note).not.toMatch(/harness error|point not reached/);
      expect(outcome.lost).toBe(0);
      expect(outcome.bothWritable).toBe(0);
      expect(outcome.outcome).toBe('recovered');
      expect(outcome.resumes).toBeGreaterThanOrEqual(1);
    },
  );
});
