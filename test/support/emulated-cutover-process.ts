/**
 * One `cutover --env <emulated environment> --execute …` in its own process (the exact CLI path,
 * test/support/run-emulated-cutover.ts), for tests that kill it and resume: `killAt` makes the
 * process SIGKILL itself the moment it logs a line containing that text, or (`{ journal }`)
 * right after that journal entry is on disk (RDS_CUTOVER_KILL_AT, lib/runbook/kill-point.ts:
 * `step-progress:mysql.switch-back:1` is the first sub-phase this process journals).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { KILL_AT_ENV } from '../../lib/runbook/kill-point';

export interface CutoverProcessResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Where a run meant to be killed kills itself: at a log line containing the text, or right after a journal entry. */
export type KillAt = string | { journal: string };

export function runEmulatedCutover(environmentFile: string, stateDir: string, argv: string[], killAt?: KillAt): Promise<CutoverProcessResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env[KILL_AT_ENV];
  if (typeof killAt === 'string') env.RDS_CUTOVER_TEST_KILL_AT = killAt;
  else if (killAt) env[KILL_AT_ENV] = killAt.journal;
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(__dirname, 'run-emulated-cutover.ts'), environmentFile, stateDir, ...argv], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** What a failed run printed last (a failure then shows why, not only the exit code). */
export function outputTail(result: CutoverProcessResult, lines = 25): string {
  return [...result.stdout.split('\n').slice(-lines), ...result.stderr.split('\n').slice(-lines)].join('\n');
}

/**
 * A way-back dry run's recorded calls (its "Calls, in order, recorded from the steps themselves"
 * list): `at(pattern)` fails naming a pattern no call matches, and returns where the first match
 * is, so a test can hold the calls' order.
 */
export function recordedCallsIn(stdout: string): (pattern: RegExp) => number {
  expect(stdout).toMatch(/Calls, in order, recorded from the steps themselves/);
  const calls = stdout.slice(stdout.indexOf('Calls, in order'));
  return (pattern) => {
    const index = calls.search(pattern);
    expect({ pattern: String(pattern), found: index >= 0 }).toEqual({ pattern: String(pattern), found: true });
    return index;
  };
}
