/**
 * Nothing left behind by a killed test run (issue 9, item 8): the next run's global setup
 * removes a temp root whose owning run is gone, with the processes it left, and never touches
 * the root of a run that is still going (another `npm test` on this machine).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { claimRoot, removeStaleTestRoots } = require('./stale-test-roots') as {
  claimRoot: (root: string, pid?: number) => void;
  removeStaleTestRoots: (tmp: string, options?: { minAgeMs?: number }) => { removed: string[]; killed: number[] };
};

const tmp = mkdtempSync(join(tmpdir(), 'rc-stale-roots-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

function root(name: string): string {
  const path = join(tmp, `rds-cutover-tests-${name}`);
  mkdirSync(path);
  writeFileSync(join(path, 'left.txt'), 'x');
  return path;
}

/** A process that exited: its pid names no process any more (or a different one, with another start time). */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

test('GIVEN a root whose owning run was killed, with a server it started still running, a live run\'s root and a fresh root of an older run WHEN the next run sweeps THEN only the dead run\'s root goes, its server killed', async () => {
  const killedRun = root('killed');
  claimRoot(killedRun, await deadPid());
  // a "server" the killed run started: its command line names the root
  const server = spawn('tail', ['-f', join(killedRun, 'left.txt')], { stdio: 'ignore' });
  children.push(server);
  const liveRun = root('live');
  claimRoot(liveRun, process.pid);
  const olderRunFresh = root('older-fresh'); // no owner file, just made: may be a run of the old code starting
  const olderRunStale = root('older-stale'); // no owner file, nobody mentions it, an hour old
  utimesSync(olderRunStale, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
  const olderRunInUse = root('older-in-use'); // no owner file, an hour old, but a process has it as TMPDIR
  utimesSync(olderRunInUse, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
  const user = spawn('sleep', ['300'], { env: { ...process.env, TMPDIR: olderRunInUse }, stdio: 'ignore' });
  children.push(user);
  await new Promise((resolve) => setTimeout(resolve, 200));

  const swept = removeStaleTestRoots(tmp);

  expect(swept.removed.sort()).toEqual([killedRun, olderRunStale].sort());
  expect(swept.killed).toEqual([server.pid]);
  expect(existsSync(killedRun)).toBe(false);
  expect(existsSync(olderRunStale)).toBe(false);
  for (const kept of [liveRun, olderRunFresh, olderRunInUse]) expect(existsSync(join(kept, 'left.txt'))).toBe(true);
  await new Promise((resolve) => server.exitCode !== null || server.signalCode !== null ? resolve(undefined) : server.once('exit', resolve));
  expect(server.signalCode).toBe('SIGKILL');
  expect(user.exitCode).toBeNull();
});
