/**
 * A masking run killed (SIGKILL) while it holds commits on the source for the leak check's
 * snapshot (source-snapshot.ts: BACKUP STAGE BLOCK_COMMIT until the dump client has started its
 * own snapshot, the originals read by a worker thread meanwhile) must not leave the source
 * holding them: the writes that waited go through once the run is gone, and none of its sessions
 * stays. The real code path in a child node process (test/support/run-masking-client.ts), a real
 * MariaDB source; the dump client is a stand-in that never writes a table (a client still
 * connecting), so the kill lands while commits are held.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, rows, type Connection } from '../../lib/engines/mysql/connection';
import { MaskingSandbox } from '../../lib/masking/local/sandbox';
import { silentLogger } from '../../lib/util/log';
import { isAlive, signalProcess } from '../../lib/util/process-group';
import { childrenOf, until } from '../support/killed-masking-run';

jest.setTimeout(180000);

let sandbox: MaskingSandbox;
let observer: Connection;
const work = mkdtempSync(join(tmpdir(), 'mask-held-'));

beforeAll(async () => {
  sandbox = await MaskingSandbox.start({ log: silentLogger, customers: 100 });
  observer = await connect(sandbox.source.endpoint(), { database: 'app' });
});

afterAll(async () => {
  await observer?.end();
  await sandbox?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('GIVEN a run holding commits for the leak check\'s snapshot WHEN it is SIGKILLed THEN the waiting write commits, no session or client of the run stays, and no dump is left to publish', async () => {
  const temp = join(work, 'tmp');
  const output = join(work, 'out');
  mkdirSync(temp);
  mkdirSync(output);
  const standIn = join(work, 'slow-dump-client');
  writeFileSync(standIn, '#!/bin/sh\nexec sleep 600\n', { mode: 0o700 });
  const ownSessions = new Set((await rows<{ id: number }>(observer, 'SELECT CONNECTION_ID() AS id')).map((r) => Number(r.id)));
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(__dirname, '..', 'support', 'run-masking-client.ts'), 'snapshot-dump', output, 'mysql'], {
    env: { ...process.env, TMPDIR: temp, MASKING_TEST_TARGET: JSON.stringify(sandbox.target(sandbox.source)), MASKING_TEST_DUMP_COMMAND: standIn },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
  const writer = await connect(sandbox.source.endpoint(), { database: 'app' });
  let clientPid = 0;
  try {
    await until(() => {
      if (child.exitCode !== null) throw new Error(`the run ended before its dump client started: ${log}`);
      return childrenOf(child.pid!).some((c) => c.command === 'sleep');
    }, 'the dump client to start');
    clientPid = childrenOf(child.pid!).find((c) => c.command === 'sleep')!.pid;
    ownSessions.add(Number((await rows<{ id: number }>(writer, 'SELECT CONNECTION_ID() AS id'))[0].id));

    // Commits are held: an autocommit write waits.
    const write = writer.query("INSERT INTO products (id, name, description) VALUES (999999, 'written while held', 'written while commits were held')");
    let committed = false;
    void write.then(() => (committed = true), () => undefined);
    await until(async () => (await rows(observer, "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO products%' AND STATE LIKE '%backup%'")).length > 0, 'the write to wait on the held commits');
    expect(committed).toBe(false);

    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    await write;
    expect(await rows(observer, "SELECT id FROM products WHERE id = 999999")).toEqual([{ id: 999999 }]);
    const others = async () => (await rows<{ id: number; command: string; state: string; info: string | null }>(observer, "SELECT ID AS id, COMMAND AS command, STATE AS state, INFO AS info FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon'")).filter((r) => !ownSessions.has(Number(r.id)));
    await until(async () => (await others()).length === 0, 'the run\'s sessions to end', 100).catch(async (error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify(await others())}`);
    });
    await until(() => !isAlive(clientPid), 'the dump client to die with the run', 100);
    // No dump, staged dump or manifest: nothing a later run (--no-dump reads FILE.manifest.json) takes.
    // A SIGKILL runs no clean-up: the masked bytes written so far stay in FILE.partial, which the next run truncates.
    expect(readdirSync(output).filter((name) => name !== 'dump.sql.zst.partial')).toEqual([]);
  } finally {
    await writer.end();
    signalProcess(child.pid!, 'SIGKILL');
    if (clientPid > 0) signalProcess(clientPid, 'SIGKILL');
    await observer.query("DELETE FROM products WHERE id = 999999");
  }
});
