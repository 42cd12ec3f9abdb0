/**
 * The real CLI (`zx scripts/cutover.mjs`) run as a terminal runs it: the leader of its own
 * process group, so that a test's Ctrl-C reaches the whole group (`process.kill(-pid, 'SIGINT')`),
 * the CLI and every child that did not start a group of its own.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KILL_AT_ENV, PAUSE_FILE_ENV } from '../../lib/runbook/kill-point';

const ROOT = resolve(__dirname, '../..');
const ZX = join(ROOT, 'node_modules', '.bin', 'zx');

export interface Cli {
  code: number | null;
  /** The signal that ended the CLI itself (null when it exited with a code). */
  signal: NodeJS.Signals | null;
  output: string;
  /** True once the test sent SIGINT to the CLI's process group. */
  signalled: boolean;
}

/**
 * Run the CLI as the leader of its own process group; `signalWhen` decides (on each output chunk,
 * and every 20 ms) when to send SIGINT to the whole group, as a terminal's Ctrl-C does. A pause
 * file (`releaseFile`, else RDS_CUTOVER_PAUSE_FILE in `env`) is removed once the signal was sent
 * (the held process goes on) and again whenever it reappears (the same point reached once more).
 */
export function runCli(args: string[], cwd: string, options: { env?: NodeJS.ProcessEnv; signalWhen?: (output: string) => boolean; afterSignal?: () => void; releaseFile?: string } = {}): Promise<Cli> {
  return new Promise((done) => {
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_STATE_DIR: join(cwd, '.rds-cutover'), ...options.env };
    if (!options.env?.[KILL_AT_ENV]) delete env[KILL_AT_ENV];
    const pauseFile = options.releaseFile ?? options.env?.[PAUSE_FILE_ENV];
    const child = spawn(ZX, [join(ROOT, 'scripts', 'cutover.mjs'), ...args], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const result: Cli = { code: null, signal: null, output: '', signalled: false };
    const check = () => {
      if (result.signalled) {
        if (pauseFile && existsSync(pauseFile)) rmSync(pauseFile, { force: true });
        return;
      }
      if (!options.signalWhen?.(result.output)) return;
      result.signalled = true;
      process.kill(-child.pid!, 'SIGINT');
      options.afterSignal?.();
    };
    const poll = setInterval(check, 20);
    child.stdout.on('data', (chunk: Buffer) => ((result.output += chunk.toString()), check()));
    child.stderr.on('data', (chunk: Buffer) => ((result.output += chunk.toString()), check()));
    child.on('close', (code, signal) => {
      clearInterval(poll);
      result.code = code;
      result.signal = signal;
      done(result);
    });
  });
}

/** The report.json a run wrote in its state folder (with its verdict and exit code). */
export function reportOf(stateDir: string, runId: string): { verdict: string; exitCode: number; [key: string]: unknown } {
  return JSON.parse(readFileSync(join(stateDir, 'runs', runId, 'report.json'), 'utf8'));
}
