/**
 * A child process this tool starts dies with it, even when no handler of ours runs (kill -9 of
 * the orchestrator, a crash): otherwise a client keeps loading a dump into a server, or a
 * compressor keeps a file open, after the run that owned it is gone (issue 9: "mariadb-backup
 * and hook commands survive a SIGKILL of the orchestrator"). The rule, checked on the source:
 * every asynchronous child started in lib/ goes through `dieWithParent` (directly, or through
 * ProcessGroup / runInOwnGroup / spawnGuardedShell, which use it), or is listed below with the
 * reason it may outlive us. Synchronous children (`execFileSync`) block this process until they
 * end and are not covered.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** Calls that may start a child without dieWithParent, and why (file: the call's text). */
const MAY_OUTLIVE: Record<string, { call: string; why: string }[]> = {
  'lib/util/process-group.ts': [
    { call: 'spawn(program, programArgs', why: 'program and programArgs come from dieWithParent two lines above' },
    { call: 'spawn(command, args, { ...options, detached: true, stdio: [\'ignore\', fd, fd] })', why: 'a persistent sandbox server (`npm run sandbox -- up`) is meant to outlive this process' },
    { call: 'spawn(program, args', why: 'program and args come from dieWithParent (runInOwnGroup, spawnGuardedShell)' },
  ],
  'lib/platforms/local/postgres-instance.ts': [{ call: 'await run(command, args)', why: 'pg_ctl stop -m fast: finishing the server\'s shutdown after we died is what we want' }],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Each asynchronous child-starting call in a file: spawn(, execFile(, and calls of a promisified execFile alias. */
function childCalls(text: string): string[] {
  if (!/from 'node:child_process'/.test(text)) return [];
  const aliases = [...text.matchAll(/const (\w+) = promisify\(execFile\)/g)].map((m) => m[1]);
  const names = ['spawn', 'execFile', ...aliases];
  const calls: string[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('//') || trimmed.startsWith('*') || trimmed.startsWith('import ')) continue;
    if (/promisify\(execFile\)/.test(trimmed)) continue;
    if (names.some((name) => new RegExp(`(^|[^\\w.])${name}\\(`).test(trimmed))) calls.push(trimmed);
  }
  return calls;
}

test('every asynchronous child process started in lib/ dies with this process (dieWithParent), or is listed with the reason it may outlive it', () => {
  const unguarded: string[] = [];
  for (const file of sources(join(ROOT, 'lib'))) {
    const name = relative(ROOT, file);
    const allowed = MAY_OUTLIVE[name] ?? [];
    for (const call of childCalls(readFileSync(file, 'utf8'))) {
      if (call.includes('dieWithParent(')) continue;
      if (allowed.some((entry) => call.includes(entry.call))) continue;
      unguarded.push(`${name}: ${call}`);
    }
  }
  expect(unguarded).toEqual([]);
});

test('the scan sees the calls it guards (a promisified execFile alias, spawn) and what is wrapped', () => {
  const text = ["import { execFile, spawn } from 'node:child_process';", 'const run = promisify(execFile);', "await run('sh', ['-c', 'x']);", "spawn(...dieWithParent('zstd', []));", '// spawn(in a comment)'].join('\n');
  expect(childCalls(text)).toEqual(["await run('sh', ['-c', 'x']);", "spawn(...dieWithParent('zstd', []));"]);
});
