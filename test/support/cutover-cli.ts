import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { KILL_AT_ENV } from '../../lib/runbook/kill-point';

const ROOT = resolve(__dirname, '../..');
const ZX = join(ROOT, 'node_modules', '.bin', 'zx');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr as they came. */
  output: string;
}

/**
 * `zx scripts/cutover.mjs ARGS` as a user types it, in `cwd`, with its state folder at
 * `<cwd>/.rds-cutover`.
 * @param killAt - a kill point (RDS_CUTOVER_KILL_AT): the CLI SIGKILLs itself there. @default - none (one inherited from the test's environment is dropped)
 */
export function runCutoverCli(args: string[], cwd: string, killAt?: string): Promise<CliRun> {
  return new Promise((done) => {
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_STATE_DIR: join(cwd, '.rds-cutover') };
    delete env[KILL_AT_ENV];
    if (killAt) env[KILL_AT_ENV] = killAt;
    const child = spawn(ZX, [join(ROOT, 'scripts', 'cutover.mjs'), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code, signal) => done({ code, signal, output }));
  });
}
