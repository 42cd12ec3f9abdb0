import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import type { Journal, JournalEntry } from './journal';

/**
 * FAULT-INJECTION HOOK, for tests and `npm run bench:faults` only; off unless the environment
 * variable RDS_CUTOVER_KILL_AT is set. It names one journal entry:
 *   step-start:<step>          the step is about to run
 *   step-done:<step>           the step finished
 *   step-progress:<step>:<n>   the n-th sub-phase (context.record) of the step, counted from 1
 *                              in this process
 *   step-progress:<step>=<phase>  the sub-phase that journals switchPhase <phase> (a switch's
 *                              `frozen`, `promoted`, …), whichever attempt of this process reaches it
 * Right after that entry is written and fsynced, the process sends itself SIGKILL: no handler,
 * no clean-up, exactly like `kill -9` of the operator's process at that point. The fault matrix
 * then resumes the run and checks that nothing was lost.
 */
export const KILL_AT_ENV = 'RDS_CUTOVER_KILL_AT';

/**
 * FAULT-INJECTION HOOK, tests and `npm run bench:faults` only: the state folder "full". Names a
 * journal entry like RDS_CUTOVER_KILL_AT; right after it is on disk this process lowers its own
 * RLIMIT_FSIZE soft limit to 0 (`prlimit --pid <self> --fsize=0:`, no root needed). From then on
 * the kernel refuses every write that would grow a regular file — the journal's next line, the
 * report — with EFBIG, as a full disk refuses it with ENOSPC; pipes and sockets still work, so
 * the process can still talk to its servers and print its summary. Programs it starts later
 * inherit the limit. A resume in a new process has room again (the operator freed space).
 */
export const FILE_LIMIT_AT_ENV = 'RDS_CUTOVER_FILE_LIMIT_AT';

/**
 * FAULT-INJECTION HOOK, tests only: hold the process at a journal entry, the way a busy machine
 * does between a step's end and the next step's start. `RDS_CUTOVER_PAUSE_AT=<point>` (a name
 * as for RDS_CUTOVER_KILL_AT, or `run-start` / `run-end`: right after the run's first / last
 * journal line) and `RDS_CUTOVER_PAUSE_FILE=<path>`: right after that entry is on disk the
 * process creates the file and blocks its event loop (synchronously, like any other
 * synchronous work) until the file is removed. A test sends its signal meanwhile: the signal
 * reaches the process exactly where a late Ctrl-C lands, after the step, before the next one.
 * A few moments outside the journal are named too (`pauseIfAsked`): `rehearsal:sandbox-start`,
 * `rehearsal:load-start` and `rehearsal:report` (lib/rehearsal, lib/cli).
 */
export const PAUSE_AT_ENV = 'RDS_CUTOVER_PAUSE_AT';
export const PAUSE_FILE_ENV = 'RDS_CUTOVER_PAUSE_FILE';

function pauseUntilRemoved(file: string): void {
  writeFileSync(file, String(process.pid));
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (existsSync(file)) Atomics.wait(cell, 0, 0, 20);
}

/**
 * Hold here if the test hook names this moment (see PAUSE_AT_ENV): for the moments of a
 * rehearsal that no journal line marks (before its sandbox starts, before its load starts,
 * before its report is written). Does nothing unless both variables are set.
 */
export function pauseIfAsked(point: string, pauseAt = process.env[PAUSE_AT_ENV], pauseFile = process.env[PAUSE_FILE_ENV]): void {
  if (pauseAt === point && pauseFile) pauseUntilRemoved(pauseFile);
}

/** The kill-point name of a journal entry (undefined for entries that are no kill point). */
export function killPointOf(entry: JournalEntry, progressCount: number): string | undefined {
  if (entry.type === 'step-start' || entry.type === 'step-done') return `${entry.type}:${entry.step}`;
  if (entry.type === 'step-progress') return `step-progress:${entry.step}:${progressCount}`;
  return undefined;
}

/** Wraps the journal's append so that the named entry kills this process once it is on disk. */
export function withKillPoint(journal: Journal, killAt = process.env[KILL_AT_ENV], fileLimitAt = process.env[FILE_LIMIT_AT_ENV], pauseAt = process.env[PAUSE_AT_ENV], pauseFile = process.env[PAUSE_FILE_ENV]): Journal {
  if (!killAt && !fileLimitAt && !(pauseAt && pauseFile)) return journal;
  const progress = new Map<string, number>();
  const append = journal.append.bind(journal);
  journal.append = (entry: JournalEntry) => {
    append(entry);
    let count = 0;
    if (entry.type === 'step-progress') {
      count = (progress.get(entry.step) ?? 0) + 1;
      progress.set(entry.step, count);
    }
    // The run's first and last lines are pause points only (no kill point: the fault matrix is unchanged).
    if ((entry.type === 'run-start' || entry.type === 'run-end') && entry.type === pauseAt && pauseFile) pauseUntilRemoved(pauseFile);
    const point = killPointOf(entry, count);
    if (point === undefined) return;
    if (point === killAt || (entry.type === 'step-progress' && entry.facts.switchPhase !== undefined && `step-progress:${entry.step}=${String(entry.facts.switchPhase)}` === killAt)) process.kill(process.pid, 'SIGKILL');
    if (point === fileLimitAt) execFileSync('prlimit', ['--pid', String(process.pid), '--fsize=0:']);
    if (point === pauseAt && pauseFile) pauseUntilRemoved(pauseFile);
  };
  return journal;
}
