/**
 * Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group (the CLI, and
 * every child that did not start a group of its own), not to the CLI process alone. The CLI is
 * spawned detached so that it leads its own group, and the test signals that group
 * (`process.kill(-pid, 'SIGINT')`). Rules (issue 9 / 12, trial3 findings 1, 2 and 9):
 * - a Ctrl-C before a destructive step starts stops the run at that step's boundary: exit 130,
 *   nothing destroyed (`complete --delete-old` deleted the old source one step too late);
 * - summary, report.json and report page say INTERRUPTED whenever the process exits 130;
 * - a rehearsal's built-in load and `--load-command` workload are not killed by it: the report
 *   still counts the writes it measured and shows every window that happened.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Journal, statusFromJournal } from '../../lib/runbook/journal';
import { KILL_AT_ENV, PAUSE_AT_ENV, PAUSE_FILE_ENV } from '../../lib/runbook/kill-point';
import { readSandboxState, sandboxFolder, sandboxLiveness } from '../../lib/platforms/local/sandbox-state';
import { sandboxDown, sandboxUp } from '../../lib/cli/sandbox';
import { silentLogger } from '../../lib/util/log';

const ROOT = resolve(__dirname, '../..');
const ZX = join(ROOT, 'node_modules', '.bin', 'zx');

interface Cli {
  code: number | null;
  output: string;
  /** True once the test sent SIGINT to the CLI's process group. */
  signalled: boolean;
}

/**
 * Run the CLI as the leader of its own process group; `signalWhen` decides (on each output chunk,
 * and every 20 ms) when to send SIGINT to the whole group, as a terminal's Ctrl-C does.
 */
function runCli(args: string[], cwd: string, options: { env?: NodeJS.ProcessEnv; signalWhen?: (output: string) => boolean; afterSignal?: () => void } = {}): Promise<Cli> {
  return new Promise((done) => {
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_STATE_DIR: join(cwd, '.rds-cutover'), ...options.env };
    if (!options.env?.[KILL_AT_ENV]) delete env[KILL_AT_ENV];
    const child = spawn(ZX, [join(ROOT, 'scripts', 'cutover.mjs'), ...args], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const result: Cli = { code: null, output: '', signalled: false };
    const check = () => {
      if (result.signalled || !options.signalWhen?.(result.output)) return;
      result.signalled = true;
      process.kill(-child.pid!, 'SIGINT');
      options.afterSignal?.();
    };
    const poll = setInterval(check, 20);
    child.stdout.on('data', (chunk: Buffer) => ((result.output += chunk.toString()), check()));
    child.stderr.on('data', (chunk: Buffer) => ((result.output += chunk.toString()), check()));
    child.on('close', (code) => {
      clearInterval(poll);
      result.code = code;
      done(result);
    });
  });
}

function reportOf(stateDir: string, runId: string): { verdict: string; exitCode: number; [key: string]: unknown } {
  return JSON.parse(readFileSync(join(stateDir, 'runs', runId, 'report.json'), 'utf8'));
}

test('Ctrl-C (SIGINT to the process group) that lands as mysql.reverse-replication.stop ends: complete --delete-old stops before mysql.source.delete, the old source is kept, exit 130 and INTERRUPTED everywhere', async () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-cc-')); // short: HAProxy's socket path must fit in 108 bytes
  const stateDir = join(work, '.rds-cutover');
  try {
    // GIVEN a persistent sandbox cut over to the target by the CLI
    await sandboxUp(stateDir, 'mysql', silentLogger, 500);
    const forward = await runCli(['--env', 'sandbox', '--execute'], work);
    expect(forward.code).toBe(0);
    const [runId] = readdirSync(join(stateDir, 'runs'));

    // WHEN Ctrl-C reaches the whole group just as mysql.reverse-replication.stop is done, before
    // mysql.source.delete starts (the process is held there, as a busy machine holds it, and
    // released once the signal was sent)
    const pause = join(work, 'paused');
    const complete = await runCli(['complete', runId, '--execute', '--delete-old'], work, {
      env: { [PAUSE_AT_ENV]: 'step-done:mysql.reverse-replication.stop', [PAUSE_FILE_ENV]: pause },
      signalWhen: () => existsSync(pause),
      afterSignal: () => rmSync(pause, { force: true }),
    });
    expect(complete.signalled).toBe(true);

    // THEN the run stops at that boundary: exit 130, the delete never started, the old source lives
    const completeRunId = readdirSync(join(stateDir, 'runs')).find((id) => id !== runId)!;
    const entries = new Journal(stateDir, completeRunId).read();
    expect(entries.filter((e) => e.type === 'step-start').map((e) => (e as { step: string }).step)).toEqual(['mysql.complete.preflight', 'mysql.reverse-replication.stop']);
    expect(statusFromJournal(entries).result).toBe('interrupted');
    const sandbox = readSandboxState(sandboxFolder(stateDir, 'mysql'))!;
    expect(sandbox.state.servers.map((s) => s.name)).toContain('source');
    expect(sandboxLiveness(sandbox.state).alive).toContain('source');
    expect(complete.code).toBe(130);
    // and summary, report.json and the report page agree with the exit code
    expect(complete.output).toMatch(/mysql\.complete on sandbox: INTERRUPTED \(Interrupted by SIGINT before mysql\.source\.delete\)/);
    expect(reportOf(stateDir, completeRunId)).toMatchObject({ verdict: 'interrupted', exitCode: 130 });
    expect(readFileSync(join(stateDir, 'runs', completeRunId, 'report.html'), 'utf8')).toContain('id="result">INTERRUPTED');
  } finally {
    await sandboxDown(stateDir, 'mysql').catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}, 1_200_000);

test('Ctrl-C (SIGINT to the process group) during a PostgreSQL --switch-back rehearsal: the load and the workload survive it, the report counts the writes of both windows, verdict INTERRUPTED, exit 130', async () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-cc-pg-'));
  const reportPath = join(work, 'report.json');
  try {
    // GIVEN a rehearsal switching forward and back under the built-in load and a user workload
    // that ignores nothing (a terminal's SIGINT would end it at once if it reached it)
    const rehearsal = await runCli(['--env', 'local', '--execute', '--engine', 'postgres', '--switch-back', '--load-rate', '100', '--load-command', 'while true; do sleep 0.1; done', '--report', reportPath], work, {
      // WHEN Ctrl-C reaches the CLI's process group once the switch back started
      signalWhen: (output) => /postgres\.switch-back: /.test(output),
    });
    expect(rehearsal.signalled).toBe(true);
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    // THEN the switch back is in the report (it ran: traffic moved back), with its window
    expect(report.switchBack).toBeDefined();
    expect(report.windows?.back).toBeDefined();
    // and the load's proof is kept: writes counted, none lost, no dead load worker
    expect(report.load?.failure).toBeUndefined();
    expect(report.load?.command?.crashed).toBe(false);
    expect(report.writes.acknowledged).toBeGreaterThan(0);
    expect(report.writes.lost).toBe(0);
    expect(rehearsal.output).not.toContain('NO PROOF');
    // and summary, report.json and exit code agree: INTERRUPTED, 130
    expect(rehearsal.output).toMatch(/postgres\.logical on local: INTERRUPTED/);
    expect(report).toMatchObject({ verdict: 'interrupted', exitCode: 130 });
    expect(rehearsal.code).toBe(130);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 1_200_000);
