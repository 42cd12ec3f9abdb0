/**
 * Ctrl-C (SIGINT) during `switch-back RUN_ID --execute` is handled like in every other executed
 * run: the run stops at the next step boundary, journals run-end `interrupted` and exits 130.
 * Before, the switch-back and complete runs installed no signal handler, so a SIGINT during the
 * switch back killed the process mid-switch (measured on a sandbox: target frozen, old source
 * not yet promoted, endpoint on the frozen target: no side took writes until --resume).
 * The interrupt comes from a before-switch hook (a real SIGINT to the CLI process), so it lands
 * at a known point: the run must stop before the switch back, traffic still on the target.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Journal, statusFromJournal } from '../../lib/runbook/journal';
import { KILL_AT_ENV } from '../../lib/runbook/kill-point';
import { sandboxFolder, readSandboxState } from '../../lib/platforms/local/sandbox-state';
import { sandboxDown, sandboxUp } from '../../lib/cli/sandbox';
import { silentLogger } from '../../lib/util/log';

const ROOT = resolve(__dirname, '../..');
const ZX = join(ROOT, 'node_modules', '.bin', 'zx');

function runCli(args: string[], cwd: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((done) => {
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_STATE_DIR: join(cwd, '.rds-cutover') };
    delete env[KILL_AT_ENV];
    const child = spawn(ZX, [join(ROOT, 'scripts', 'cutover.mjs'), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code, signal) => done({ code, signal, output }));
  });
}

test('SIGINT during switch-back --execute stops it at a step boundary (exit 130, run-end interrupted, traffic still on the target), and --resume then finishes it', async () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-sbi-')); // short: HAProxy's socket path must fit in 108 bytes
  const stateDir = join(work, '.rds-cutover');
  try {
    // GIVEN a persistent sandbox cut over to the target by the CLI
    await sandboxUp(stateDir, 'mysql', silentLogger, 500);
    const forward = await runCli(['--env', 'sandbox', '--execute'], work);
    expect(forward.code).toBe(0);
    const [runId] = readdirSync(join(stateDir, 'runs'));

    // WHEN the operator presses Ctrl-C while the switch-back runs (here: from its before-switch hook)
    const back = await runCli(['switch-back', runId, '--execute', '--hook', 'before-switch=kill -INT $PPID'], work);

    // THEN the run stops at the next step boundary, says so and exits 130, resumable
    expect(back.signal).toBeNull();
    expect(back.output).toMatch(/SIGINT received/);
    expect(back.code).toBe(130);
    const backRunId = readdirSync(join(stateDir, 'runs')).find((id) => id !== runId)!;
    const status = statusFromJournal(new Journal(stateDir, backRunId).read());
    expect(status.result).toBe('interrupted');
    expect(status.finished).not.toContain('mysql.switch-back');
    expect(status.facts.switchPhase).toBeUndefined();

    // AND --resume finishes the switch back
    const resumed = await runCli(['switch-back', runId, '--execute', '--resume', backRunId], work);
    expect(resumed.output).toMatch(/mysql\.switch-back on sandbox: SUCCESS/);
    expect(resumed.code).toBe(0);
    expect(readSandboxState(sandboxFolder(stateDir, 'mysql'))).toBeDefined();
  } finally {
    await sandboxDown(stateDir, 'mysql').catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
  // A sandbox, a full cutover and two switch-back processes: minutes on a busy 2-core machine.
}, 1_200_000);
