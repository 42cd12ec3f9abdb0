/**
 * Rule: a local rehearsal holds the environment's run lock BEFORE it starts its sandbox and its
 * load (the README: "checked before the sandbox starts"). Two rehearsals started together: one
 * wins, the other exits 3 naming it without starting a server, a load or the user's workload.
 * Before this rule the lock was only read before the sandbox and taken by the run after it:
 * during a sandbox's start (many seconds on a busy machine) a second rehearsal saw no lock,
 * started its own servers and `--load-command`, and was refused only then (a new user's trial).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

jest.setTimeout(600_000);

const ROOT = resolve(__dirname, '..', '..');
const ZX = join(ROOT, 'node_modules', '.bin', 'zx');
const work = mkdtempSync(join(tmpdir(), 'rc-lock-first-'));
const stateDir = join(work, '.rds-cutover');
const lockFile = join(stateDir, 'locks', 'local.lock');

interface Run {
  child: ReturnType<typeof spawn>;
  output: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: Run[] = [];

function rehearse(name: string): Run {
  // The workload writes a marker file when it starts: a refused rehearsal must never start it.
  const marker = join(work, `${name}.workload-started`);
  const child = spawn(ZX, [join(ROOT, 'scripts', 'cutover.mjs'), '--env', 'local', '--execute', '--load-rate', '20', '--load-connections', '1', '--load-command', `touch ${marker}; sleep 600`], {
    cwd: work,
    env: { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_STATE_DIR: stateDir },
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((settle) => child.on('close', (code, signal) => settle({ code, signal })));
  const run = { child, output: () => output, done };
  started.push(run);
  return run;
}

/** Polls (no timing assumption) until the condition holds or the run ended. */
async function until(condition: () => boolean, run: Run): Promise<void> {
  let ended = false;
  void run.done.then(() => (ended = true));
  while (!condition()) {
    if (ended) throw new Error(`the run ended first:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  // A failed assertion must not leave a rehearsal running: Ctrl-C stops it at a step boundary and it cleans up.
  for (const run of started) if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGINT');
  await Promise.all(started.map((run) => run.done));
  rmSync(work, { recursive: true, force: true });
});

test('of two rehearsals started together, the one refused exits 3 naming the holder before it started a server or the workload; the other gives the lock back at its end', async () => {
  // GIVEN two rehearsals of one environment started at the same moment
  const runs = [rehearse('a'), rehearse('b')];
  // WHEN the first of them ends
  const first = await Promise.race(runs.map(async (run, index) => ({ index, ...(await run.done) })));
  const refused = runs[first.index];
  const winner = runs[1 - first.index];
  // THEN it is the refused one: exit 3, naming the lock and the holder's pid, how to go on
  expect(refused.output()).toMatch(/Environment local is locked by run \S+ \(host [^,]+, pid \d+/);
  expect(first.code).toBe(3);
  expect(refused.output()).toContain(`pid ${winner.child.pid}`);
  expect(refused.output()).toContain('--break-lock');
  // and it started nothing: no sandbox server, no load, no workload
  expect(refused.output()).not.toMatch(/sandbox: source MariaDB/);
  expect(existsSync(join(work, `${first.index === 0 ? 'a' : 'b'}.workload-started`))).toBe(false);
  // while the winner holds the lock; stopped by Ctrl-C (at a step boundary) it gives the lock back
  expect(existsSync(lockFile)).toBe(true);
  expect(JSON.parse(readFileSync(lockFile, 'utf8')).pid).toBe(winner.child.pid);
  await until(() => /: done in \d+ ms/.test(winner.output()), winner);
  winner.child.kill('SIGINT');
  const end = await winner.done;
  expect(end.code).toBe(130);
  expect(existsSync(lockFile)).toBe(false);
});
