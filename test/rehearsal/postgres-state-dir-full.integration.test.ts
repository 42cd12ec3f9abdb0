/**
 * The state folder full inside the PostgreSQL switch, both copy methods (issue 9, item 7), like
 * the MySQL one in state-dir-full.integration.test.ts: the real CLI (`--env sandbox --engine
 * postgres --method logical|dump --execute`) under write load lowers its own file size limit right after a
 * chosen journal entry (RDS_CUTOVER_FILE_LIMIT_AT), so the next journal line fails with EFBIG as
 * on a full disk. The rule: stop at a safe point — before the freeze refuse, after it undo it,
 * once the endpoint moved finish forward — never frozen with traffic held on the frozen side,
 * never both sides writable; the summary names the journal and the fix; `--resume` with room
 * again finishes with 0 lost writes.
 *
 * The logical switch's journal lines (step-progress:postgres.switch:N): 1 before the pause, 2 right
 * after the freeze, 3 just before the endpoint moves, 4 once clients resumed on the target, 5 the way back running.
 * The dump method is frozen from its own step (postgres.source.freeze) through the copy and the
 * verification to its switch: a stop between those steps must undo the freeze too.
 */
import { runFaultPoint } from '../../bench/fault-matrix';

jest.setTimeout(900_000);

const small = { engine: 'postgres' as const, seedRows: 500, load: { connections: 2, ratePerSecond: 100 } };
const JOURNAL_FULL = /[Tt]he run's journal \S+journal\.jsonl could not be written \(EFBIG/;
const FIX = /Fix: free space in \S+ \(or raise the file size limit\), then --resume/;

/** One point of one method: where the state folder fills, how that attempt must end, and what it must leave. */
interface FullPoint {
  method: 'logical' | 'dump';
  when: string;
  limitAt: string;
  summary: RegExp;
  code: number;
  left: 'source' | 'target';
}

// The dump method's journal: the freeze step (its line `sourceFrozenAt`), the copy (`copyStartedAt`),
// the verification, then the switch: 1 just before the endpoint moves, 2 once clients resumed on the target.
const points: FullPoint[] = [
  { method: 'logical', when: 'before the freeze', limitAt: 'step-start:postgres.switch', summary: /ABORTED \(Switch not started: the run's journal .*The source was never frozen and keeps taking writes; traffic never moved/, code: 3, left: 'source' },
  { method: 'logical', when: 'right after the freeze', limitAt: 'step-progress:postgres.switch:1', summary: /ABORTED \(Switch aborted: the run's journal .*The source was reopened for writes and traffic never moved/, code: 3, left: 'source' },
  // (the pooler's new ini is the first file refused: the repoint fails while pgbouncer still points at the source)
  {
    method: 'logical',
    when: 'at the endpoint move',
    limitAt: 'step-progress:postgres.switch:3',
    summary: /ABORTED \(Switch aborted: the endpoint change failed \(EFBIG.*\) and the endpoint still points at the source\. The target was closed again; the source was reopened for writes and traffic never moved/,
    code: 3,
    left: 'source',
  },
  { method: 'logical', when: 'right after the endpoint moved', limitAt: 'step-progress:postgres.switch:4', summary: /FAILED \(.*EFBIG.*The switch finished: traffic is on the target, the source stays frozen and fenced.*--resume finishes them/, code: 1, left: 'target' },
  { method: 'dump', when: 'before the freeze', limitAt: 'step-done:postgres.target.create', summary: /FAILED \(The run's journal .*: the run stopped before postgres\.source\.freeze \(nothing of it ran\)/, code: 1, left: 'source' },
  // (the freeze's own line is on disk, the step's end is not: the engine stops between steps, the flow undoes the freeze)
  { method: 'dump', when: 'right after the freeze', limitAt: 'step-progress:postgres.source.freeze:1', summary: /ABORTED \(The run's journal .*postgres\.source\.freeze finished but the journal does not say so.*The source was reopened for writes and traffic never moved/, code: 3, left: 'source' },
  {
    method: 'dump',
    when: 'at the endpoint move',
    limitAt: 'step-progress:postgres.switch:1',
    summary: /ABORTED \(Switch aborted: the endpoint change failed \(EFBIG.*\) and the endpoint still points at the source\. The target was closed again; the source was reopened for writes and traffic never moved/,
    code: 3,
    left: 'source',
  },
  // (the dump switch is the last step and the local fence writes no file: the first line refused is the switch's end)
  {
    method: 'dump',
    when: 'right after the endpoint moved',
    limitAt: 'step-progress:postgres.switch:2',
    summary: /FAILED \(The run's journal .*\(EFBIG.*: postgres\.switch finished but the journal does not say so; the run stopped after it \(a --resume runs it again, from the actual state\)/,
    code: 1,
    left: 'target',
  },
];

describe('the state folder full inside the PostgreSQL switch (real CLI on a sandbox under load)', () => {
  test.each(points.map((p) => [p.method, p.when, p] as const))(
    '%s method, full %s: the run stops at a safe point (never frozen with nobody running, never both writable), naming the journal and the fix; --resume finishes, 0 lost',
    async (method, _when, point) => {
      // GIVEN the journal line `limitAt` on disk and then no more room
      const outcome = await runFaultPoint({ ...small, method, fileLimitAt: point.limitAt });
      const faulted = outcome.faulted!;
      // THEN that attempt stopped by itself, saying why and what to do, with traffic on a writable side (the pooler not left paused)
      expect(faulted.output).toMatch(point.summary);
      expect(faulted.output).toMatch(/EFBIG/);
      expect(faulted.output).toMatch(JOURNAL_FULL);
      expect(faulted.output).toMatch(FIX);
      expect(faulted.signal).toBeNull();
      expect(faulted.code).toBe(point.code);
      expect(faulted.left).toEqual({ on: point.left, writable: true });
      // and with room again the run finishes: nothing lost, never both writable
      expect(outcome.note).not.toMatch(/harness error|never filled|died by/);
      expect(outcome.lost).toBe(0);
      expect(outcome.bothWritable).toBe(0);
      expect(outcome.outcome).toBe('recovered');
    },
  );
});
