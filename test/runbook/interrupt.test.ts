import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runRunbook } from '../../lib/runbook/engine';
import { Journal, statusFromJournal } from '../../lib/runbook/journal';
import type { Runbook, Step } from '../../lib/runbook/step';
import { silentLogger } from '../../lib/util/log';
import { statusLines } from '../../lib/cli/cutover';
import { exitCodeOf, reportFromRun, summaryText } from '../../lib/report';
import { tempDirsRemovedAfterAll } from '../support/temp-dirs';

/** Steps that log what ran; `signalDuring` sends SIGINT (to this process's listeners) inside that step. */
function runbook(calls: string[], signalDuring: string, extra: Partial<Record<string, Partial<Step>>> = {}): Runbook {
  const step = (id: string, options: Partial<Step> = {}): Step => ({
    id,
    kind: 'action',
    describe: () => [id],
    async apply() {
      calls.push(id);
      if (id === signalDuring) process.emit('SIGINT', 'SIGINT');
      return {};
    },
    ...options,
    ...extra[id],
  });
  return { flow: 'test.flow', summary: [], steps: [step('test.copy'), step('test.switch', { irreversible: true }), step('test.verify', { runThroughInterrupt: true }), step('test.fence')] };
}

const stateDir = tempDirsRemovedAfterAll('rc-interrupt-');

describe('interrupts (SIGINT/SIGTERM) during an executed run', () => {
  test('before the switch: the step in progress finishes, the run stops at the boundary, and the journal ends with run-end "interrupted"', async () => {
    const calls: string[] = [];
    const dir = stateDir();
    const listenersBefore = process.listenerCount('SIGINT');
    const run = await runRunbook({ runbook: runbook(calls, 'test.copy'), environment: 'test', stateDir: dir, dryRun: false, log: silentLogger, handleSignals: true });
    expect(calls).toEqual(['test.copy']);
    expect(run.result).toBe('interrupted');
    expect(run.steps.map((s) => s.status)).toEqual(['done', 'not-run', 'not-run', 'not-run']);
    // the handlers are gone with the run
    expect(process.listenerCount('SIGINT')).toBe(listenersBefore);
    const status = statusFromJournal(new Journal(dir, run.runId).read());
    expect(status.result).toBe('interrupted');
    expect(status.interrupted).toEqual({ signal: 'SIGINT', step: 'test.copy', before: 'test.switch' });
    // status names the interruption and the exact next command
    const { lines, exitCode } = statusLines(dir, run.runId);
    expect(lines).toContain('interrupted by SIGINT during test.copy; stopped before test.switch');
    expect(lines).toContain(`next: resume with: npx zx scripts/cutover.mjs --env test --execute --resume ${run.runId}`);
    expect(exitCode).toBe(130);
  });

  test('during the switch: the switch finishes, verification that needs its in-memory state still runs, then the run stops before the fence', async () => {
    const calls: string[] = [];
    const run = await runRunbook({ runbook: runbook(calls, 'test.switch'), environment: 'test', stateDir: stateDir(), dryRun: false, log: silentLogger, handleSignals: true });
    expect(calls).toEqual(['test.copy', 'test.switch', 'test.verify']);
    expect(run.result).toBe('interrupted');
    const report = reportFromRun(run, { engine: 'mysql', startedAt: new Date() });
    expect(report.interrupted).toEqual({ before: 'test.fence' });
    expect(summaryText(report)).toContain('interrupted before test.fence: the run stopped at a step boundary and can be continued');
    expect(exitCodeOf(report)).toBe(130);
  });

  test('a local rehearsal interrupted: status says run it again, never "resume with"', async () => {
    const dir = stateDir();
    const run = await runRunbook({ runbook: runbook([], 'test.copy'), environment: 'local', stateDir: dir, dryRun: false, log: silentLogger, handleSignals: true, options: { rehearsal: true } });
    const { lines } = statusLines(dir, run.runId);
    expect(lines.some((l) => l.includes('resume with'))).toBe(false);
    expect(lines).toContain('next: a local rehearsal cannot be resumed (its sandbox is gone with the process); run it again: npx zx scripts/cutover.mjs --env local --execute');
  });

  // The command status gives must rehearse the same thing again: a --switch-back rehearsal (or one
  // with a --fault) run again without it rehearses another flow (usr11a: it left --switch-back out).
  test('a --switch-back rehearsal with a --fault interrupted: status\'s "run it again" keeps both flags', async () => {
    const dir = stateDir();
    const run = await runRunbook({ runbook: runbook([], 'test.copy'), environment: 'local', stateDir: dir, dryRun: false, log: silentLogger, handleSignals: true, options: { rehearsal: true, switchBack: true, fault: 'replication-stall' } });
    const { lines } = statusLines(dir, run.runId);
    expect(lines).toContain('next: a local rehearsal cannot be resumed (its sandbox is gone with the process); run it again: npx zx scripts/cutover.mjs --env local --execute --switch-back --fault replication-stall');
  });

  test('a rehearsal interrupted: its summary says to run it again, never that it "can be continued" (its sandbox is gone; status says the same)', async () => {
    const run = await runRunbook({ runbook: runbook([], 'test.copy'), environment: 'local', stateDir: stateDir(), dryRun: false, log: silentLogger, handleSignals: true, options: { rehearsal: true } });
    // a rehearsal's report carries its write load
    const report = reportFromRun(run, { engine: 'mysql', startedAt: new Date(), writes: { attempted: 10, acknowledged: 10, failed: 0, lost: 0 } as never, load: { connections: 1, ratePerSecond: 10 } });
    const text = summaryText(report).join('\n');
    expect(text).not.toContain('can be continued');
    expect(text).toContain('interrupted before test.switch: the run stopped at a step boundary; a rehearsal cannot be continued (its sandbox is gone with it): run it again');
  });
});

describe('a run that finished without verified checksums is not green', () => {
  test('summary says "checksums: NOT VERIFIED — <reason>", the report has it, the exit code is 4', async () => {
    const reason = 'the switch-time consistent snapshots were lost; compare the frozen source with a point-in-time restore';
    const steps: Runbook = { flow: 'test.flow', summary: [], steps: [{ id: 'test.verify', kind: 'action', describe: () => [], apply: async () => ({ checksumsVerified: false, checksumsNotVerifiedReason: reason }) }] };
    const run = await runRunbook({ runbook: steps, environment: 'test', stateDir: stateDir(), dryRun: false, log: silentLogger });
    const report = reportFromRun(run, { engine: 'mysql', startedAt: new Date() });
    expect(report.result).toBe('success');
    expect(report.checksumsVerified).toBe(false);
    expect(report.checksumsNotVerifiedReason).toBe(reason);
    expect(summaryText(report)).toContain(`checksums: NOT VERIFIED — ${reason}`);
    expect(exitCodeOf(report)).toBe(4);
    // verified checksums stay exit 0; differing ones stay 1
    expect(exitCodeOf({ ...report, checksumsVerified: true, checksums: { match: true, tables: [] } })).toBe(0);
    expect(exitCodeOf({ ...report, checksumsVerified: true, checksums: { match: false, tables: [] } })).toBe(1);
  });
});

/**
 * A terminal's Ctrl-C is a real signal: Node runs its listener only when the event loop polls,
 * not when `process.emit` is called. A run that goes from one step to the next on promises
 * alone saw a Ctrl-C that arrived at the end of a step only inside the next step (trial3 F1:
 * `complete --delete-old` deleted the old source although Ctrl-C came before that step).
 * Jest gives tests a copy of `process` that real signals never reach, so each case runs in a
 * process of its own (fixtures/real-signal-run.ts).
 */
describe('real signals (as a terminal sends them) are seen at the next step boundary, not one step late', () => {
  const runWithRealSignal = (mode: string) => {
    const output = execFileSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'real-signal-run.ts'), mode], { encoding: 'utf8' });
    return JSON.parse(output.trim().split('\n').pop()!);
  };

  test('Ctrl-C at the end of a step stops the run before the next (destructive) step: it never starts', () => {
    const outcome = runWithRealSignal('end-of-step');
    expect(outcome.calls).toEqual(['test.reverse.stop']);
    expect(outcome.result).toBe('interrupted');
    expect(outcome.statuses).toEqual(['done', 'not-run', 'not-run']);
  });

  test('a destructive step checks for a pending Ctrl-C immediately before acting (context.checkpoint): nothing is deleted', () => {
    const outcome = runWithRealSignal('checkpoint');
    expect(outcome.deleted).toEqual([]);
    expect(outcome.result).toBe('interrupted');
    expect(outcome.error).toContain('before deleting the old source');
    expect(outcome.statuses).toEqual(['done', 'not-run', 'not-run']);
  });

  test('Ctrl-C during the last step: the step finishes, yet the run is INTERRUPTED with exit 130 (never SUCCESS while the process exits 130)', () => {
    const outcome = runWithRealSignal('last-step');
    expect(outcome.calls).toEqual(['test.reverse.stop', 'test.source.delete', 'test.last']);
    expect(outcome.statuses).toEqual(['done', 'done', 'done']);
    expect(outcome.result).toBe('interrupted');
    expect(outcome.error).toContain('every step is done');
    expect(outcome.summary).toMatch(/^test\.complete on test: INTERRUPTED/);
    expect(outcome.exitCode).toBe(130);
    expect(outcome.journaled).toBe('interrupted');
  });
});
