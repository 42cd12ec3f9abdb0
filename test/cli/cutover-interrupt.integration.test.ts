/**
 * Ctrl-C / SIGTERM of the real command (`zx scripts/cutover.mjs --env local --execute`), run as a
 * separate process: the run stops at a step boundary (never inside the switch), the journal ends
 * with run-end "interrupted", `status` names where it stopped and says to run the rehearsal again
 * (never "resume with"), and no process is left behind. A second signal (a double Ctrl-C) stops
 * the sandbox's servers at once: journal, exit code and summary still agree (interrupted, 130)
 * and the sandbox folder and the rehearsal's lock are removed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { processesUsing } from '../support/processes';
import { Journal, statusFromJournal } from '../../lib/runbook/journal';

const ROOT = resolve(__dirname, '..', '..');
const ZX = join(ROOT, 'node_modules', '.bin', 'zx');

function runCli(args: string[], cwd: string, onOutput?: (child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(ZX, [join(ROOT, 'scripts', 'cutover.mjs'), ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_STATE_DIR: join(cwd, '.rds-cutover') } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      onOutput?.(child);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      onOutput?.(child);
    });
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

function onlyRun(work: string): string {
  return readdirSync(join(work, '.rds-cutover', 'runs'))[0];
}

describe('interrupting the real command', () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-cli-interrupt-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('SIGINT before the freeze (from the before-switch hook): the run stops before mysql.switch, the source was never frozen, status says run it again, nothing is left running', async () => {
    const cwd = mkdtempSync(join(work, 'before-'));
    // GIVEN the orchestrator interrupted (as a Ctrl-C would) while its before-switch hook runs:
    // the hook marks the moment and waits a little; the test sends SIGINT to the command then
    const marker = join(cwd, 'before-switch');
    let poll: NodeJS.Timeout | undefined;
    let signalled = false;
    const result = await runCli(['--env', 'local', '--execute', '--load-rate', '200', '--hook', `before-switch=touch ${marker}; sleep 2`], cwd, (child) => {
      poll ??= setInterval(() => {
        if (signalled || !existsSync(marker)) return;
        signalled = true;
        child.kill('SIGINT');
      }, 10);
    });
    clearInterval(poll);
    expect(signalled).toBe(true);
    // THEN the command ends interrupted (130), with a summary
    expect(result.code).toBe(130);
    expect(result.stdout).toMatch(/mysql\.encrypt on local: INTERRUPTED/);
    expect(result.stdout).toContain('interrupted before mysql.switch');
    // and the journal ends with run-end "interrupted", before the switch, nothing frozen
    const runId = onlyRun(cwd);
    const status = statusFromJournal(new Journal(join(cwd, '.rds-cutover'), runId).read());
    expect(status.result).toBe('interrupted');
    expect(status.interrupted).toMatchObject({ signal: 'SIGINT', before: 'mysql.switch' });
    expect(status.facts.switchPhase).toBeUndefined();
    expect(status.lockHeld).toBeUndefined();
    // and status agrees with what --resume would do for a rehearsal: run it again
    const shown = await runCli(['status', runId, '--env', 'local'], cwd);
    expect(shown.stdout).toContain('interrupted by SIGINT');
    expect(shown.stdout).toContain('switch: not started (the source takes writes, traffic on the source)');
    expect(shown.stdout).toContain('next: a local rehearsal cannot be resumed');
    expect(shown.stdout).not.toContain('resume with');
    expect(shown.code).toBe(130);
    // and no sandbox process is left
    const sandboxDir = /files in (\S+)/.exec(result.stdout + result.stderr)?.[1];
    expect(sandboxDir).toBeDefined();
    expect(processesUsing(sandboxDir!)).toEqual([]);
    expect(existsSync(sandboxDir!)).toBe(false);
  });

  test('SIGTERM inside the switch: the switch finishes (never a frozen source with traffic on it), checksums still run, the run stops before the fence', async () => {
    const cwd = mkdtempSync(join(work, 'inside-'));
    let signalled = false;
    // GIVEN the command, signalled as soon as the journal shows the switch started (polled every few ms)
    let poll: NodeJS.Timeout | undefined;
    const result = await runCli(['--env', 'local', '--execute', '--load-rate', '200'], cwd, (child) => {
      poll ??= setInterval(() => {
        const runs = join(cwd, '.rds-cutover', 'runs');
        if (signalled || !existsSync(runs) || readdirSync(runs).length === 0) return;
        const journal = join(runs, readdirSync(runs)[0], 'journal.jsonl');
        if (existsSync(journal) && readFileSync(journal, 'utf8').includes('"switchPhase":"freezing"')) {
          signalled = true;
          child.kill('SIGTERM');
        }
      }, 3);
    });
    clearInterval(poll);
    const runId = onlyRun(cwd);
    const status = statusFromJournal(new Journal(join(cwd, '.rds-cutover'), runId).read());
    // THEN the switch completed or the run had already passed it; it never stopped frozen
    expect(signalled).toBe(true);
    if (status.result === 'failed') throw new Error(`run failed: ${JSON.stringify(status.failed)}\n${result.stdout}\n${result.stderr}`);
    // a finished switch ends once replication back into the old source runs (reverse-running)
    expect(['reverse-running', 'reopened']).toContain(status.facts.switchPhase);
    if (status.result === 'interrupted') {
      expect(result.code).toBe(130);
      expect(status.finished).toContain('mysql.switch');
      expect(status.finished).toContain('mysql.verify.checksums');
      expect(status.facts.checksumsVerified).toBe(true);
    } else {
      // the signal arrived after the last boundary: the run simply finished
      expect(status.result).toBe('success');
    }
    const sandboxDir = /files in (\S+)/.exec(result.stdout + result.stderr)?.[1];
    expect(processesUsing(sandboxDir!)).toEqual([]);
  });

  test('two SIGINTs in a row (a double Ctrl-C) before the freeze: the servers stop at once, yet journal, exit code and summary agree (interrupted, 130) and nothing is left in the temp dir', async () => {
    const cwd = mkdtempSync(join(work, 'twice-'));
    const marker = join(cwd, 'before-switch');
    let poll: NodeJS.Timeout | undefined;
    let signalled = false;
    // GIVEN the command interrupted twice, 40 ms apart, while its before-switch hook runs
    const result = await runCli(['--env', 'local', '--execute', '--load-rate', '200', '--hook', `before-switch=touch ${marker}; sleep 2`], cwd, (child) => {
      poll ??= setInterval(() => {
        if (signalled || !existsSync(marker)) return;
        signalled = true;
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGINT'), 40);
      }, 10);
    });
    clearInterval(poll);
    expect(signalled).toBe(true);
    const output = result.stdout + result.stderr;
    // THEN the command exits 130 and says the rehearsal was interrupted and is void
    expect(output).toMatch(/mysql\.encrypt on local: INTERRUPTED \(SIGINT twice: the sandbox's servers were stopped at once before mysql\.switch; this rehearsal is void, nothing to resume: run it again\)/);
    expect(result.code).toBe(130);
    // and the journal says the same: interrupted, nothing journaled as failed after it
    const entries = new Journal(join(cwd, '.rds-cutover'), onlyRun(cwd)).read();
    expect(statusFromJournal(entries).result).toBe('interrupted');
    expect(entries.filter((e) => e.type === 'step-failed' || (e.type === 'run-end' && e.result !== 'interrupted'))).toEqual([]);
    // and neither a sandbox process nor the sandbox folder is left
    const sandboxDir = /files in (\S+)/.exec(output)?.[1];
    expect(sandboxDir).toBeDefined();
    expect(processesUsing(sandboxDir!)).toEqual([]);
    expect(existsSync(sandboxDir!)).toBe(false);
    // and the void rehearsal leaves no lock behind (status said "run it again", which the lock then refused)
    expect(readdirSync(join(cwd, '.rds-cutover', 'locks'))).toEqual([]);
    // and nothing after the verdict says the run still finishes a step
    expect(output).not.toMatch(/SIGINT again: still finishing/);
  });
});
