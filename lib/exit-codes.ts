/**
 * Exit codes (README "Exit codes"): 0 success with the proof complete; 1 failed (or a lost write,
 * or checksums differ); 2 bad input, nothing changed; 3 aborted on purpose (gate, timeout, lock
 * held) with the source writable; 4 finished, but the proof is incomplete (checksums not
 * verified); 130 interrupted (SIGINT/SIGTERM), stopped at a step boundary.
 *
 * A leaf on purpose (no imports): the command line answers bad input with `usage` before it
 * loads anything else. lib/report.ts turns a report into one of these (exitCodeOf).
 */
export const EXIT_CODES = { ok: 0, failed: 1, usage: 2, aborted: 3, unverified: 4, interrupted: 130 } as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];
