/**
 * Secrets never reach argv or the disk, and a killed run leaves nothing behind: the masking
 * run's MariaDB clients (mariadb-dump for the dump, mariadb for the staging restore) get the
 * database password without a file, so a run SIGKILLed while a client runs (no handler of
 * ours runs) leaves no password in the temp dir. Real servers (the masking sandbox), the real
 * code path in a child node process (test/support/run-masking-client.ts), the real clients.
 * The client is held mid-run by a table lock the test takes, so the kill lands while it runs;
 * the client must die with the run although that lock still holds it.
 */
import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, rows, type Connection } from '../../lib/engines/mysql/connection';
import { MaskingSandbox } from '../../lib/masking/local/sandbox';
import type { MysqlTarget } from '../../lib/masking/mysql-client';
import { isAlive, signalProcess } from '../../lib/util/process-group';
import { silentLogger } from '../../lib/util/log';
import { sleep } from '../../lib/util/time';

jest.setTimeout(180000);

const RUNNER = join(__dirname, '../support/run-masking-client.ts');
let sandbox: MaskingSandbox;

beforeAll(async () => {
  sandbox = await MaskingSandbox.start({ log: silentLogger, customers: 200 });
});

afterAll(async () => {
  await sandbox?.stop();
});

/** Living children of a process, by pid and command name (/proc/PID/stat: "pid (comm) state ppid …"). */
function childrenOf(parent: number): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === parent && state !== 'Z') found.push({ pid: Number(entry), command: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

/** Every regular file under a folder whose bytes contain the text. */
function filesContaining(folder: string, text: string): string[] {
  const hits: string[] = [];
  for (const entry of readdirSync(folder)) {
    const path = join(folder, entry);
    const stat = lstatSync(path);
    if (stat.isDirectory()) hits.push(...filesContaining(path, text));
    else if (stat.isFile() && readFileSync(path).includes(text)) hits.push(path);
  }
  return hits;
}

async function until(condition: () => Promise<boolean> | boolean, what: string, attempts = 600): Promise<void> {
  for (let i = 0; i < attempts; i += 1) {
    if (await condition()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface KilledRun {
  /** The temp dir the killed run used (its TMPDIR). */
  temp: string;
  /** The client's command line, read while it ran. */
  clientCommandLine: string;
  clientPid: number;
  /** What the run wrote to stdout and stderr. */
  output: string;
}

/**
 * Start the masking step in a child node process with its own TMPDIR; once its client waits on
 * the lock that `blocker` holds (seen in the server's processlist, so it has connected), read
 * the client's command line and SIGKILL the node process.
 */
async function killWhileClientRuns(mode: 'dump' | 'restore', target: MysqlTarget, blocker: Connection, client: string, work: string): Promise<KilledRun> {
  const temp = join(work, 'tmp');
  const outputDir = join(work, 'out');
  mkdirSync(temp);
  mkdirSync(outputDir);
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), RUNNER, mode, outputDir], {
    env: { ...process.env, TMPDIR: temp, MASKING_TEST_TARGET: JSON.stringify(target) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  try {
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`the masking run ended before its client waited on the lock: ${output}`);
      const waiting = await rows(blocker, "SELECT ID FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for % metadata lock'");
      return waiting.length > 0 && childrenOf(child.pid!).some((c) => c.command === client);
    }, `${client} waiting on the lock`);
    const { pid: clientPid } = childrenOf(child.pid!).find((c) => c.command === client)!;
    const clientCommandLine = readFileSync(`/proc/${clientPid}/cmdline`, 'utf8').split('\0').join(' ');
    child.kill('SIGKILL');
    expect(await exited).toEqual({ code: null, signal: 'SIGKILL' });
    return { temp, clientCommandLine, clientPid, output };
  } finally {
    signalProcess(child.pid!, 'SIGKILL');
  }
}

describe.each([
  { mode: 'dump' as const, client: 'mariadb-dump', server: () => sandbox.source, lockedTable: 'customers' },
  { mode: 'restore' as const, client: 'mariadb', server: () => sandbox.staging, lockedTable: 'held' },
])('a masking $mode killed (SIGKILL) while $client runs', ({ mode, client, server, lockedTable }) => {
  test('leaves no password in the temp dir and no client running; the password was never on the client\'s command line or in the run\'s output', async () => {
    const target = sandbox.target(server());
    const work = mkdtempSync(join(tmpdir(), 'mask-kill-'));
    const blocker = await connect(server().endpoint());
    let clientPid = 0;
    try {
      await blocker.query('CREATE DATABASE IF NOT EXISTS app');
      await blocker.query('USE app');
      if (mode === 'restore') await blocker.query(`CREATE TABLE IF NOT EXISTS ${lockedTable} (id int)`);
      // The dump's SELECT of the table, or the restore's DROP DATABASE, waits for this lock.
      await blocker.query(`LOCK TABLES ${lockedTable} WRITE`);
      const run = await killWhileClientRuns(mode, target, blocker, client, work);
      clientPid = run.clientPid;

      expect(run.clientCommandLine).toContain(client);
      expect(run.clientCommandLine).not.toContain(target.password);
      expect(run.output).not.toContain(target.password);
      expect(filesContaining(run.temp, target.password)).toEqual([]);
      // Nothing at all is left for the next run to sweep (tsx, which runs the child, caches its compiled files there).
      expect(readdirSync(run.temp).filter((name) => !name.startsWith('tsx-'))).toEqual([]);
      // The client dies with the run (parent-death signal), though the lock still holds it.
      await until(() => !isAlive(run.clientPid), `${client} ${run.clientPid} to die with the killed run`, 100);
    } finally {
      await blocker.query('UNLOCK TABLES').catch(() => undefined);
      await blocker.end();
      // The orphaned client ends once unblocked (the dump on its closed pipe, the restore's statement done).
      if (clientPid > 0) await until(() => !isAlive(clientPid), `${client} ${clientPid} to end`).finally(() => signalProcess(clientPid, 'SIGKILL'));
      rmSync(work, { recursive: true, force: true });
    }
  });
});
