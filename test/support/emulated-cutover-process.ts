/**
 * One `cutover --env <emulated environment> --execute …` in its own process (the exact CLI path,
 * test/support/run-emulated-cutover.ts), for tests that kill it and resume: `killAt` makes the
 * process SIGKILL itself the moment it logs a line containing that text.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface CutoverProcessResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export function runEmulatedCutover(environmentFile: string, stateDir: string, argv: string[], killAt?: string): Promise<CutoverProcessResult> {
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(__dirname, 'run-emulated-cutover.ts'), environmentFile, stateDir, ...argv], {
    env: { ...process.env, ...(killAt ? { RDS_CUTOVER_TEST_KILL_AT: killAt } : {}) },
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
