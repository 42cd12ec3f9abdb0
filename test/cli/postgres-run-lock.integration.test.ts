/**
 * Rule: one executed run per environment at a time, for PostgreSQL too. A PostgreSQL rehearsal
 * (`--env local --engine postgres --execute`) and a run on the PostgreSQL sandbox take the
 * environment's run lock like the MySQL ones: a second run started meanwhile exits 3 naming the
 * holder and starts nothing; a killed run keeps the lock and its `--resume` takes it back.
 * Before this rule two PostgreSQL rehearsals on one environment ran side by side, each
 * believing it was alone. Both runs here go through the real CLI, as typed in a shell.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readSandboxState, sandboxFolder } from '../../lib/platforms/local/sandbox-state';
import { closePg, connectPg } from '../../lib/engines/postgres/connection';

jest.setTimeout(900_000);

const ROOT = resolve(__dirname, '..', '..');
const ZX = join(ROOT, 'node_modules', '.bin', 'zx');
const work = mkdtempSync(join(tmpdir(), 'rc-pg-lock-'));
const stateDir = join(work, '.rds-cutover');

function cli(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(ZX, [join(ROOT, 'scripts', script), ...args], { cwd: work, env: { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_STATE_DIR: stateDir, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

const runs = () => (existsSync(join(stateDir, 'runs')) ? readdirSync(join(stateDir, 'runs')).sort() : []);

afterAll(async () => {
  await cli('sandbox.mjs', ['down', '--engine', 'postgres']);
  rmSync(work, { recursive: true, force: true });
});

describe('PostgreSQL runs take the environment run lock', () => {
  test('a second PostgreSQL rehearsal started while one runs exits 3 naming the holder, starts nothing, and the first one finishes and gives the lock back', async () => {
    // GIVEN a PostgreSQL rehearsal whose before-switch hook starts a second rehearsal on the same environment
    const second = join(work, 'second');
    const hook = `${ZX} ${join(ROOT, 'scripts', 'cutover.mjs')} --env local --engine postgres --execute > ${second}.out 2>&1; echo $? > ${second}.code; exit 0`;
    // WHEN the first runs through the real CLI
    const first = await cli('cutover.mjs', ['--env', 'local', '--engine', 'postgres', '--execute', '--load-rate', '100', '--load-connections', '2', '--hook', `before-switch=${hook}`]);
    // THEN the second was refused while the first held the lock, naming it and how to go on
    expect(first.stderr).not.toMatch(/ error /);
    expect(first.code).toBe(0);
    const [runId] = runs();
    expect(runs()).toEqual([runId]); // the refused rehearsal started no run
    expect(readFileSync(`${second}.code`, 'utf8').trim()).toBe('3');
    const refusal = readFileSync(`${second}.out`, 'utf8');
    expect(refusal).toMatch(new RegExp(`Environment local is locked by run ${runId} \\(host [^,]+, pid \\d+, started [^;]+; lock: ${join(stateDir, 'locks', 'local.lock').replace(/[.]/g, '\\.')}\\)`));
    expect(refusal).toContain(`--break-lock ${runId}`);
    expect(refusal).not.toMatch(/sandbox: source PostgreSQL/); // refused before any server started
    // and the first gave the lock back at its end
    expect(existsSync(join(stateDir, 'locks', 'local.lock'))).toBe(false);
  });

  test('--env sandbox --engine postgres: a run killed by SIGKILL keeps the lock (a second run exits 3 naming it), its --resume takes it back and finishes; the target stays closed to the app role until the switch', async () => {
    // GIVEN a PostgreSQL sandbox brought up by a command that has exited
    const up = await cli('sandbox.mjs', ['up', '--engine', 'postgres', '--seed-rows', '300']);
    expect(up.code).toBe(0);
    const folder = sandboxFolder(stateDir, 'postgres');
    const before = runs();
    // WHEN the real CLI is killed outright right after the subscription exists
    const killed = await cli('cutover.mjs', ['--env', 'sandbox', '--engine', 'postgres', '--method', 'logical', '--execute'], { RDS_CUTOVER_KILL_AT: 'step-done:postgres.subscription.create' });
    expect(killed.signal).toBe('SIGKILL');
    const [runId] = runs().filter((r) => !before.includes(r));
    // THEN the target it created does not let the application role in
    const { state, secrets } = readSandboxState(folder)!;
    const target = state.servers.find((s) => s.name === 'target')!;
    const login = await connectPg({ name: 'target', host: '127.0.0.1', port: target.port, user: 'app', password: secrets.postgresAppPassword, database: 'app' }).then(
      async (client) => {
        await closePg(client);
        return 'logged in';
      },
      (error: { code?: string }) => String(error.code),
    );
    expect(login).toBe('28000');
    // AND another run on the environment refuses (exit 3), naming the killed run that holds the lock
    const refused = await cli('cutover.mjs', ['--env', 'sandbox', '--engine', 'postgres', '--method', 'logical', '--execute']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(new RegExp(`Environment sandbox is locked by run ${runId}`));
    expect(runs().filter((r) => !before.includes(r))).toEqual([runId]);

    // WHEN the killed run is resumed
    const resumed = await cli('cutover.mjs', ['--env', 'sandbox', '--engine', 'postgres', '--method', 'logical', '--execute', '--resume', runId]);
    // THEN it finishes and gives the lock back
    expect(resumed.stderr).not.toMatch(/ error /);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/postgres\.logical on sandbox: SUCCESS/);
    expect(resumed.stdout).toMatch(/checksums: match/);
    expect(existsSync(join(stateDir, 'locks', 'sandbox.lock'))).toBe(false);
  });
});
