/**
 * `npm run mask -- --env local` killed as a user kills it, during the dump: its sandbox (two
 * MariaDB servers, the local S3 server's files, hundreds of MB in the temp dir with the source's
 * data and the staged dump) must not outlive it. SIGKILL: the servers die with the run
 * (parent-death signal) and the next run removes the folder; Ctrl-C (SIGINT): a message, exit
 * 130, the servers stopped and the folder removed at once. The real script in a child process
 * (node + zx, as `npm run mask` runs it), each run with its own TMPDIR.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesMentioning, signalProcess } from '../../lib/util/process-group';
import { childrenOf, until } from '../support/killed-masking-run';

jest.setTimeout(180000);

const ROOT = join(__dirname, '..', '..');
const ZX = join(ROOT, 'node_modules', '.bin', 'zx');
// Short: a MariaDB socket path has at most 107 bytes.
const work = mkdtempSync(join(tmpdir(), 'mk-'));
const started: ChildProcess[] = [];

afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) signalProcess(child.pid!, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function startRun(temp: string): { child: ChildProcess; output: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [ZX, 'scripts/mask-refresh.mjs', '--env', 'local', '--customers', '300'], { cwd: ROOT, env: { ...process.env, TMPDIR: temp, MASK_REFRESH_SLACK_WEBHOOK: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  return { child, output: () => output, exited };
}

/** Start a run, and send it `signal` once its dump has started (its servers run, its staged upload is open). */
async function signalDuringDump(temp: string, signal: NodeJS.Signals) {
  const run = startRun(temp);
  await until(() => {
    if (run.child.exitCode !== null) throw new Error(`the run ended before its dump started: ${run.output()}`);
    return run.output().includes('masked dump of');
  }, 'the dump to start', 1200);
  expect(childrenOf(run.child.pid!).filter((c) => c.command === 'mariadbd')).toHaveLength(2);
  run.child.kill(signal);
  return { ...(await run.exited), output: run.output() };
}

const sandboxFolders = (temp: string) => readdirSync(temp).filter((name) => name.startsWith('rds-cutover-mask-'));
const leftInTemp = (temp: string) => readdirSync(temp).filter((name) => !name.startsWith('tsx-'));

test('GIVEN a local run SIGKILLed during its dump THEN its servers die with it, AND the next run removes the folder it left and succeeds', async () => {
  const temp = join(work, 'k');
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp);
  const killed = await signalDuringDump(temp, 'SIGKILL');
  expect(killed.signal).toBe('SIGKILL');
  const [folder] = sandboxFolders(temp);
  expect(folder).toBeDefined();
  await until(() => processesMentioning(join(temp, folder)).length === 0, 'the killed run\'s servers to die with it', 100);

  const next = startRun(temp);
  const end = await next.exited;
  expect({ end, output: next.output() }).toEqual({ end: { code: 0, signal: null }, output: expect.stringContaining('mask-refresh local: OK') });
  expect(next.output()).toContain(`removed 1 sandbox folder(s) that killed runs left: ${join(temp, folder)}`);
  expect(leftInTemp(temp)).toEqual([]);
});

test('GIVEN a local run interrupted (SIGINT, Ctrl-C) during its dump THEN it says so, exits 130, and leaves no server and no folder', async () => {
  const temp = join(work, 'i');
  mkdirSync(temp);
  const interrupted = await signalDuringDump(temp, 'SIGINT');
  expect({ code: interrupted.code, signal: interrupted.signal }).toEqual({ code: 130, signal: null });
  expect(interrupted.output).toContain('SIGINT received: stopping every sandbox process before exiting');
  expect(leftInTemp(temp)).toEqual([]);
  expect(processesMentioning(temp)).toEqual([]);
});
