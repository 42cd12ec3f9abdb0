/**
 * `status RUN_ID` of a PostgreSQL run killed after its source was frozen must say the source is
 * frozen (application writes refused), never "switch: not started (the source takes writes)".
 * The dump method freezes in its own step before the copy; the logical switch freezes inside its
 * step; both journal `sourceFrozenAt` (and `sourceReopenedAt`, `endpointMoveStartedAt`,
 * `endpointMovedAt`) as reached. Found by kill -9 of a `--method dump` rehearsal during its copy
 * (usr11a): status said the source takes writes while it refused them.
 */
import { Journal, type JournalEntry } from '../../lib/runbook/journal';
import { statusLines } from '../../lib/cli/cutover';
import { tempDirsRemovedAfterAll } from '../support/temp-dirs';

const stateDir = tempDirsRemovedAfterAll('rc-pg-frozen-status-');
const at = '2026-12-03T05:55:06.000Z';

function journaled(flow: string, entries: JournalEntry[]): { dir: string; runId: string } {
  const dir = stateDir();
  const runId = '20261203-055459-880dd9';
  const journal = new Journal(dir, runId);
  journal.append({ type: 'run-start', at, runId, flow, environment: 'sandbox', dryRun: false, options: {} });
  for (const entry of entries) journal.append(entry);
  journal.close();
  return { dir, runId };
}

const done = (step: string, facts = {}): JournalEntry => ({ type: 'step-done', at, step, durationMs: 1, facts });
const progress = (step: string, facts: Record<string, unknown>): JournalEntry => ({ type: 'step-progress', at, step, facts });
const start = (step: string): JournalEntry => ({ type: 'step-start', at, step });

test('GIVEN a dump run killed during its copy, after its freeze step THEN status says the source is FROZEN, not that it takes writes', () => {
  const { dir, runId } = journaled('postgres.dump', [
    done('postgres.preflight'), done('postgres.target.create'),
    start('postgres.source.freeze'), progress('postgres.source.freeze', { sourceFrozenAt: 1, sourceReopenedAt: null }), done('postgres.source.freeze'),
    start('postgres.copy.dump'), progress('postgres.copy.dump', { copyStartedAt: 2 }),
  ]);
  const text = statusLines(dir, runId).lines.join('\n');
  expect(text).not.toContain('the source takes writes');
  expect(text).toContain('switch: not done: the source is FROZEN (application writes refused since the freeze); endpoint NOT moved (on the source)');
});

test('GIVEN a logical run killed inside its switch after the freeze, or after the endpoint moved THEN status says so', () => {
  const frozen = journaled('postgres.logical', [done('postgres.replication.catch-up'), start('postgres.switch'), progress('postgres.switch', { switchStartedAt: 1, sourceFrozenAt: 1, sourceReopenedAt: null })]);
  expect(statusLines(frozen.dir, frozen.runId).lines.join('\n')).toContain('switch: not done: the source is FROZEN (application writes refused since the freeze); endpoint NOT moved (on the source)');
  const moving = journaled('postgres.logical', [start('postgres.switch'), progress('postgres.switch', { sourceFrozenAt: 1, sourceReopenedAt: null }), progress('postgres.switch', { endpointMoveStartedAt: 3 })]);
  expect(statusLines(moving.dir, moving.runId).lines.join('\n')).toContain('switch: not done: the source is FROZEN; the endpoint move to the target had begun (a resume finishes forward if pgbouncer points at the target)');
  const moved = journaled('postgres.logical', [start('postgres.switch'), progress('postgres.switch', { sourceFrozenAt: 1, sourceReopenedAt: null }), progress('postgres.switch', { endpointMoveStartedAt: 3 }), progress('postgres.switch', { endpointMovedAt: 4 })]);
  expect(statusLines(moved.dir, moved.runId).lines.join('\n')).toContain('switch: the source is FROZEN; endpoint MOVED to the target (traffic on the target)');
  const reopened = journaled('postgres.dump', [done('postgres.source.freeze'), progress('postgres.source.freeze', { sourceFrozenAt: 1, sourceReopenedAt: null }), start('postgres.copy.dump'), progress('postgres.copy.dump', { sourceReopenedAt: 5 })]);
  expect(statusLines(reopened.dir, reopened.runId).lines.join('\n')).toContain('switch: not started: the source was reopened for writes after its freeze (traffic on the source)');
});
