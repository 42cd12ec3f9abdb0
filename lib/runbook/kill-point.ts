import type { Journal, JournalEntry } from './journal';

/**
 * FAULT-INJECTION HOOK, for tests and `npm run bench:faults` only; off unless the environment
 * variable RDS_CUTOVER_KILL_AT is set. It names one journal entry:
 *   step-start:<step>          the step is about to run
 *   step-done:<step>           the step finished
 *   step-progress:<step>:<n>   the n-th sub-phase (context.record) of the step, counted from 1
 * Right after that entry is written and fsynced, the process sends itself SIGKILL: no handler,
 * no clean-up, exactly like `kill -9` of the operator's process at that point. The fault matrix
 * then resumes the run and checks that nothing was lost.
 */
export const KILL_AT_ENV = 'RDS_CUTOVER_KILL_AT';

/** The kill-point name of a journal entry (undefined for entries that are no kill point). */
export function killPointOf(entry: JournalEntry, progressCount: number): string | undefined {
  if (entry.type === 'step-start' || entry.type === 'step-done') return `${entry.type}:${entry.step}`;
  if (entry.type === 'step-progress') return `step-progress:${entry.step}:${progressCount}`;
  return undefined;
}

/** Wraps the journal's append so that the named entry kills this process once it is on disk. */
export function withKillPoint(journal: Journal, killAt = process.env[KILL_AT_ENV]): Journal {
  if (!killAt) return journal;
  const progress = new Map<string, number>();
  const append = journal.append.bind(journal);
  journal.append = (entry: JournalEntry) => {
    append(entry);
    let count = 0;
    if (entry.type === 'step-progress') {
      count = (progress.get(entry.step) ?? 0) + 1;
      progress.set(entry.step, count);
    }
    if (killPointOf(entry, count) === killAt) process.kill(process.pid, 'SIGKILL');
  };
  return journal;
}
