/**
 * `npm run sandbox -- up|status|down` and `--env sandbox`: servers that outlive the command that
 * started them (so the real CLI can be killed and resumed against them), secrets kept private,
 * and nothing left after `down`. Run as separate processes, exactly as from a shell.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readSandboxState, sandboxFolder } from '../../../lib/platforms/local/sandbox-state';
import { isAlive, processesMentioning } from '../../../lib/util/process-group';

const ROOT = resolve(__dirname, '..', '..', '..');
const ZX = join(ROOT, 'node_modules', '.bin', 'zx');
const work = mkdtempSync(join(tmpdir(), 'rc-sandbox-cli-'));
const stateDir = join(work, '.rds-cutover');
const folder = sandboxFolder(stateDir, 'mysql');

function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(ZX, [join(ROOT, 'scripts', script), ...args], { cwd: work, env: { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_STATE_DIR: stateDir, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

afterAll(async () => {
  await run('sandbox.mjs', ['down']);
  rmSync(work, { recursive: true, force: true });
});

describe('npm run sandbox -- up|status|down, and --env sandbox', () => {
  test('the servers outlive up, a run killed at a step boundary resumes against them, and down leaves nothing', async () => {
    // A dry run with no sandbox up cannot check its preconditions: it says so and exits 2 (it said
    // "nothing was changed", exit 0, having checked nothing)
    const early = await run('cutover.mjs', ['--env', 'sandbox']);
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(/No sandbox is up .*preconditions were not checked.*npm run sandbox -- up --engine mysql/);

    // GIVEN a sandbox brought up by a command that has exited
    const up = await run('sandbox.mjs', ['up', '--seed-rows', '500']);
    expect(up.code).toBe(0);
    // a dry run checks the preconditions on its servers, changes nothing, takes no lock
    const dry = await run('cutover.mjs', ['--env', 'sandbox']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/check mysql\.preflight: checked/);
    expect(dry.stdout).toMatch(/Dry run: preconditions checked on the sandbox's servers; nothing was changed/);
    expect(existsSync(join(stateDir, 'runs'))).toBe(false);
    const { state, secrets } = readSandboxState(folder)!;
    const pids = [...state.servers.map((s) => s.pid), state.endpoint.pid];
    for (const pid of pids) expect(isAlive(pid)).toBe(true);
    expect(up.stdout).toMatch(new RegExp(`application endpoint \\(haproxy\\): 127\\.0\\.0\\.1:${state.endpoint.port}, user app, database app`));
    // and its generated passwords are private and never printed
    expect(statSync(join(folder, 'secrets.json')).mode & 0o777).toBe(0o600);
    for (const secret of Object.values(secrets)) expect(up.stdout + up.stderr).not.toContain(secret);

    // WHEN the real CLI is killed outright right after the replica exists
    const killed = await run('cutover.mjs', ['--env', 'sandbox', '--execute'], { RDS_CUTOVER_KILL_AT: 'step-done:mysql.replica.create' });
    expect(killed.signal).toBe('SIGKILL');
    // THEN the sandbox's servers (also the replica it started) are still running
    const afterKill = readSandboxState(folder)!.state;
    expect(afterKill.servers.map((s) => s.name)).toEqual(['source', 'replica']);
    for (const server of afterKill.servers) expect(isAlive(server.pid)).toBe(true);
    // and status names them
    const status = await run('sandbox.mjs', ['status', '--engine', 'mysql']);
    expect(status.stdout).toMatch(/mysql sandbox: up/);
    expect(status.stdout).toMatch(/replica\s+127\.0\.0\.1:\d+\s+pid \d+/);

    // AND another run on the environment refuses (exit 3), naming the killed run that holds the lock
    const [runId] = readdirSync(join(stateDir, 'runs'));
    const second = await run('cutover.mjs', ['--env', 'sandbox', '--execute']);
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(new RegExp(`Environment sandbox is locked by run ${runId}`));
    expect(readdirSync(join(stateDir, 'runs'))).toEqual([runId]);

    // WHEN the run is resumed
    const resumed = await run('cutover.mjs', ['--env', 'sandbox', '--execute', '--resume', runId]);
    // THEN it finishes: switch, checksums, fence and replica removal
    expect(resumed.stderr).not.toMatch(/ error /);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/mysql\.encrypt on sandbox: SUCCESS/);
    expect(resumed.stdout).toMatch(/done-earlier\s+\d+ ms\s+mysql\.replica\.create/);
    expect(resumed.stdout).toMatch(/checksums: match/);
    expect(readSandboxState(folder)!.state.servers.map((s) => s.name)).toEqual(['source', 'target']);
    // and it writes the same report page as a rehearsal, and gives the lock back
    expect(resumed.stdout).toContain(`report page: ${join(stateDir, 'runs', runId, 'report.html')}`);
    expect(existsSync(join(stateDir, 'runs', runId, 'report.html'))).toBe(true);
    expect(existsSync(join(stateDir, 'locks', 'sandbox.lock'))).toBe(false);

    // WHEN the sandbox is taken down
    const down = await run('sandbox.mjs', ['down']);
    // THEN every process it ran is gone and so is its folder
    expect(down.code).toBe(0);
    expect(existsSync(folder)).toBe(false);
    expect(processesMentioning(folder)).toEqual([]);
    for (const pid of [...pids, ...afterKill.servers.map((s) => s.pid)]) expect(isAlive(pid)).toBe(false);
  });

  test('--env sandbox without a sandbox up refuses with exit 2 and names the command that fixes it', async () => {
    const runs = () => (existsSync(join(stateDir, 'runs')) ? readdirSync(join(stateDir, 'runs')) : []);
    const before = runs();
    const result = await run('cutover.mjs', ['--env', 'sandbox', '--execute']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/No sandbox is up .*npm run sandbox -- up --engine mysql/);
    // nothing started: no new run journal
    expect(runs()).toEqual(before);
  });

  test('up replaces a stale sandbox (its servers gone) with a fresh one', async () => {
    // GIVEN a sandbox whose source server was killed
    expect((await run('sandbox.mjs', ['up', '--seed-rows', '200'])).code).toBe(0);
    const stale = readSandboxState(folder)!.state;
    process.kill(stale.servers[0].pid, 'SIGKILL');
    for (let i = 0; i < 100 && isAlive(stale.servers[0].pid); i += 1) await new Promise((r) => setTimeout(r, 50));
    expect((await run('sandbox.mjs', ['status'])).stdout).toMatch(/mysql sandbox: STALE \(source not running\)/);
    // WHEN up runs again
    const up = await run('sandbox.mjs', ['up', '--seed-rows', '200']);
    // THEN the old HAProxy is gone and new servers run
    expect(up.code).toBe(0);
    expect(isAlive(stale.endpoint.pid)).toBe(false);
    const fresh = readSandboxState(folder)!.state;
    expect(fresh.createdAt).not.toBe(stale.createdAt);
    for (const pid of [...fresh.servers.map((s) => s.pid), fresh.endpoint.pid]) expect(isAlive(pid)).toBe(true);
  });
});
