/**
 * For tests that SIGKILL a masking run while its database client runs (test/masking/*client-credentials*):
 * start the masking step in a child node process (run-masking-client.ts), wait until its client
 * waits on a lock the test holds, read the client's command line, SIGKILL the node process.
 */
import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../../lib/masking/engines';
import type { MysqlTarget } from '../../lib/masking/mysql-client';
import { isAlive, signalProcess } from '../../lib/util/process-group';
import { sleep } from '../../lib/util/time';

const RUNNER = join(__dirname, 'run-masking-client.ts');

/** Living children of a process, by pid and command name (/proc/PID/stat: "pid (comm) state ppid …"). */
export function childrenOf(parent: number): { pid: number; command: string }[] {
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
export function filesContaining(folder: string, text: string): string[] {
  const hits: string[] = [];
  for (const entry of readdirSync(folder)) {
    const path = join(folder, entry);
    const stat = lstatSync(path);
    if (stat.isDirectory()) hits.push(...filesContaining(path, text));
    else if (stat.isFile() && readFileSync(path).includes(text)) hits.push(path);
  }
  return hits;
}

/** Poll every 100 ms, `attempts` times, until the condition holds. */
export async function until(condition: () => Promise<boolean> | boolean, what: string, attempts = 600): Promise<void> {
  for (let i = 0; i < attempts; i += 1) {
    if (await condition()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface KilledRun {
  /** The temp dir the killed run used (its TMPDIR). */
  temp: string;
  /** The client's command line, read while it ran. */
  clientCommandLine: string;
  clientPid: number;
  /** What the run wrote to stdout and stderr. */
  output: string;
}

/**
 * Start the masking step (`mode`, on `engine`) in a child node process with its own TMPDIR
 * under `work`; once `clientWaits()` says (from the server) that its client waits on the test's
 * lock and a child named `client` runs, read the client's command line and SIGKILL the node process.
 */
export async function killWhileClientRuns(options: { mode: 'dump' | 'restore'; engine: Engine; target: MysqlTarget; client: string; clientWaits: () => Promise<boolean>; work: string }): Promise<KilledRun> {
  const { mode, engine, target, client, work } = options;
  const temp = join(work, 'tmp');
  const outputDir = join(work, 'out');
  mkdirSync(temp);
  mkdirSync(outputDir);
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), RUNNER, mode, outputDir, engine], {
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
      return (await options.clientWaits()) && childrenOf(child.pid!).some((c) => c.command === client);
    }, `${client} waiting on the lock`);
    const { pid: clientPid } = childrenOf(child.pid!).find((c) => c.command === client)!;
    const clientCommandLine = readFileSync(`/proc/${clientPid}/cmdline`, 'utf8').split('\0').join(' ');
    child.kill('SIGKILL');
    const end = await exited;
    if (end.signal !== 'SIGKILL') throw new Error(`the masking run ended with ${JSON.stringify(end)}, not by the SIGKILL: ${output}`);
    return { temp, clientCommandLine, clientPid, output };
  } finally {
    signalProcess(child.pid!, 'SIGKILL');
  }
}

/**
 * What every killed run must leave, either engine: the password on no command line, in no
 * output and in no file; nothing at all in the temp dir (but tsx's cache: tsx runs the child and
 * caches its compiled files there); and the client gone within 10 s (parent-death signal),
 * though the test's lock still holds it.
 */
export async function expectNothingLeftBy(run: KilledRun, client: string, password: string): Promise<void> {
  expect(run.clientCommandLine).toContain(client);
  expect(run.clientCommandLine).not.toContain(password);
  expect(run.output).not.toContain(password);
  expect(filesContaining(run.temp, password)).toEqual([]);
  expect(readdirSync(run.temp).filter((name) => !name.startsWith('tsx-'))).toEqual([]);
  await until(() => !isAlive(run.clientPid), `${client} ${run.clientPid} to die with the killed run`, 100);
}
