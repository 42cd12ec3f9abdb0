/**
 * The state folder full inside the PostgreSQL logical switch (issue 9, item 7), like the MySQL
 * one in state-dir-full.integration.test.ts: the real CLI (`--env sandbox --engine postgres
 * --method logical --execute`) under write load lowers its own file size limit right after a
 * chosen journal entry (RDS_CUTOVER_FILE_LIMIT_AT), so the next journal line fails with EFBIG as
 * on a full disk. The rule: stop at a safe point — before the freeze refuse, after it undo it,
 * once the endpoint moved finish forward — never frozen with traffic held on the frozen side,
 * never both sides writable; the summary names the journal and the fix; `--resume` with room
 * again finishes with 0 lost writes.
 *
 * The switch's journal lines (step-progress:postgres.switch:N): 1 before the pause, 2 right
 * after the freeze, 3 just before the endpoint moves, 4 once clients resumed on the target, 5 the way back running.
 */
import { runFaultPoint } from '../../bench/fault-matrix';

jest.setTimeout(900_000);

const small = { engine: 'postgres' as const, method: 'logical' as const, seedRows: 500, load: { connections: 2, ratePerSecond: 100 } };
const JOURNAL_FULL = /[Tt]he run's journal \S+journal\.jsonl could not be written \(EFBIG/;
const FIX = /Fix: free space in \S+ \(or raise the file size limit\), then --resume/;

describe('the state folder full inside the PostgreSQL switch (real CLI on a sandbox under load)', () => {
  test.each([
    ['before the freeze', 'step-start:postgres.switch', /ABORTED \(Switch not started: the run's journal .*The source was never frozen and keeps taking writes; traffic never moved/],
    ['right after the freeze', 'step-progress:postgres.switch:1', /ABORTED \(Switch aborted: the run's journal .*The source was reopened for writes and traffic never moved/],
    // (the pooler's new ini is the first file refused: the repoint fails while pgbouncer still points at the source)
    ['at the endpoint move', 'step-progress:postgres.switch:3', /ABORTED \(Switch aborted: the endpoint change failed \(EFBIG.*\) and the endpoint still points at the source\. The target was closed again; the source was reopened for writes and traffic never moved/],
  ])('full %s: the switch stops with the source writable and clients released, exit 3, naming the journal and the fix; --resume finishes, 0 lost, never both writable', async (_when, limitAt, summary) => {
    // GIVEN the journal line `limitAt` on disk and then no more room
    const outcome = await runFaultPoint({ ...small, fileLimitAt: limitAt });
    const faulted = outcome.faulted!;
    // THEN that attempt stopped by itself, with traffic on a writable source (pgbouncer not left paused)
    expect(faulted.output).toMatch(summary);
    expect(faulted.output).toMatch(/EFBIG/);
    expect(faulted.output).toMatch(FIX);
    expect(faulted.signal).toBeNull();
    expect(faulted.code).toBe(3);
    expect(faulted.left).toEqual({ on: 'source', writable: true });
    // and with room again the run finishes: nothing lost, never both writable
    expect(outcome.note).not.toMatch(/harness error|never filled|died by/);
    expect(outcome.lost).toBe(0);
    expect(outcome.bothWritable).toBe(0);
    expect(outcome.outcome).toBe('recovered');
  });

  test('full right after the endpoint moved: the switch completes on the target (source frozen and fenced), exit 1 naming what is done; --resume finishes, 0 lost, never both writable', async () => {
    const outcome = await runFaultPoint({ ...small, fileLimitAt: 'step-progress:postgres.switch:4' });
    const faulted = outcome.faulted!;
    expect(faulted.output).toMatch(/FAILED \(.*EFBIG.*The switch finished: traffic is on the target, the source stays frozen and fenced.*--resume finishes them/);
    expect(faulted.output).toMatch(JOURNAL_FULL);
    expect(faulted.output).toMatch(FIX);
    expect(faulted.signal).toBeNull();
    expect(faulted.code).toBe(1);
    expect(faulted.left).toEqual({ on: 'target', writable: true });
    expect(outcome.note).not.toMatch(/harness error|never filled|died by/);
    expect(outcome.lost).toBe(0);
    expect(outcome.bothWritable).toBe(0);
    expect(outcome.outcome).toBe('recovered');
  });
});
