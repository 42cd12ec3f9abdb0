/**
 * `status RUN_ID` says what the run's report said: a rehearsal whose runbook succeeded but whose
 * proof failed (here: the user's workload crashed after the switch; likewise a lost write or a
 * checksum difference) is FAILED with exit 1 in the summary, report.json and the exit code, and
 * `status` must not call it "success" with exit 0 afterwards (it read only the runbook's run-end).
 * Found by a user's workload that gave up at the switch (usr11a). Real MariaDB servers and HAProxy,
 * the CLI as a separate process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

jest.setTimeout(300000);

const ROOT = resolve(__dirname, '..', '..');
const ZX = join(ROOT, 'node_modules', '.bin', 'zx');

function runCli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(ZX, [join(ROOT, 'scripts', 'cutover.mjs'), ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_STATE_DIR: join(cwd, '.rds-cutover') } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

test('GIVEN a rehearsal whose workload crashed after the switch (FAILED, exit 1) WHEN status RUN_ID is asked THEN it says FAILED (the workload crashed) and exits 1, naming the report', async () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-status-verdict-'));
  try {
    // GIVEN a workload that gives up (exit 1) once traffic reached the new primary (another
    // server_id behind the endpoint), as a client that does not survive the switch
    const report = join(work, 'report.json');
    const workload = [
      'export MYSQL_PWD="$CUTOVER_DB_PASSWORD"',
      'ask() { mariadb -h "$CUTOVER_DB_HOST" -P "$CUTOVER_DB_PORT" -u "$CUTOVER_DB_USER" -N -B -e "SELECT @@server_id" 2>/dev/null; }',
      'first=$(ask)',
      'while true; do now=$(ask); if [ -n "$now" ] && [ "$now" != "$first" ]; then echo "lost my connection, giving up" >&2; exit 1; fi; sleep 0.1; done',
    ].join('\n');
    const rehearsal = await runCli(['--env', 'local', '--execute', '--load-rate', '100', '--load-connections', '2', '--report', report, '--load-command', workload], work);
    if (rehearsal.code !== 1) console.log(rehearsal.stdout, rehearsal.stderr.slice(-3000));
    expect(rehearsal.code).toBe(1);
    expect(rehearsal.stdout).toMatch(/mysql\.encrypt on local: FAILED/);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    expect(json).toMatchObject({ verdict: 'failed', exitCode: 1, load: { command: { crashed: true } } });
    // WHEN the user asks where the run stands
    const status = await runCli(['status', json.runId], work);
    // THEN status says what the report says, not the runbook's "success"
    expect(status.stdout).toContain(`run ${json.runId}: flow mysql.encrypt on local, FAILED`);
    expect(status.stdout).not.toMatch(/on local, success/);
    expect(status.stdout).toMatch(/load command CRASHED: it exited on its own \(code 1\)[^\n]*lost my connection, giving up/);
    expect(status.stdout).toContain(`report: ${report}`);
    expect(status.stdout).toContain('next: a local rehearsal cannot be resumed (its sandbox is gone with the process); run it again: npx zx scripts/cutover.mjs --env local --execute');
    expect(status.code).toBe(1);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
