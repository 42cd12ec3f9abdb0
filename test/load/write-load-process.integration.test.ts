/**
 * The built-in load's worker process against a real MariaDB server, on a deliberately busy
 * machine: its records are the evidence for `lost` and the write gap, so they must all arrive,
 * and a worker that dies must become a sentence for the report, never a crash of the run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariadbInstance } from '../../lib/platforms/local/mariadb-instance';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from '../../lib/platforms/local/debian-packages';
import { ProcessGroup, isAlive } from '../../lib/util/process-group';
import { silentLogger } from '../../lib/util/log';
import { generatePassword } from '../../lib/util/secrets';
import { connect, rows } from '../../lib/engines/mysql/connection';
import { LoadWorkerDied, WriteLoadProcess } from '../../lib/load/write-load-process';
import { sleep } from '../../lib/util/time';

jest.setTimeout(300000);

const group = new ProcessGroup();
const baseDir = mkdtempSync(join(tmpdir(), 'rc-load-worker-'));
const rootPassword = generatePassword();
const server = new MariadbInstance({ name: 'load', baseDir, serverId: 1, rootPassword, group, log: silentLogger });

/** Busy loops on every core (and then some), like other sessions' benchmarks. */
function busyMachine(count = 4): ChildProcess[] {
  return Array.from({ length: count }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

function newLoad(): WriteLoadProcess {
  return new WriteLoadProcess({ engine: 'mysql', host: '127.0.0.1', port: server.port, user: 'root', password: rootPassword, database: 'app', connections: 8, ratePerSecond: 20000 });
}

beforeAll(async () => {
  ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
  await server.initialise();
  const admin = await connect(server.endpoint());
  // Fast, non-durable commits: this test is about carrying many records back, not durability.
  await admin.query('SET GLOBAL innodb_flush_log_at_trx_commit = 0');
  await admin.query('SET GLOBAL sync_binlog = 0');
  await admin.query('CREATE DATABASE app');
  await admin.query('CREATE TABLE app.cutover_load (id BIGINT UNSIGNED PRIMARY KEY, client SMALLINT UNSIGNED NOT NULL, seq INT UNSIGNED NOT NULL, payload VARCHAR(64) NOT NULL, written_at DATETIME(6) NOT NULL)');
  await admin.end();
});

afterAll(async () => {
  await group.stopAll();
  rmSync(baseDir, { recursive: true, force: true });
});

describe('the built-in load worker', () => {
  test('on a busy machine every write record reaches the orchestrator, and every acknowledged write is in the table', async () => {
    // Three rounds: the lost last message of the old worker showed up in most busy runs, not all.
    for (let round = 1; round <= 3; round += 1) {
      // GIVEN a load that has written for a while (many records to send back)
      const load = newLoad();
      await load.start();
      await sleep(10000);
      // and a machine whose cores are all busy when it stops
      const busy = busyMachine(6);
      try {
        await sleep(500);
        // WHEN it stops while the orchestrator's own event loop is busy for a moment (as during
        // the switch), so the worker's results wait in its outgoing queue
        const stopped = load.stop();
        const until = Date.now() + 3000;
        while (Date.now() < until) {
          /* the orchestrator is busy */
        }
        await stopped;
      } finally {
        for (const child of busy) child.kill('SIGKILL');
      }
      // THEN the records arrived (the worker's last message was not lost) and account for the table
      expect(load.failure).toBeUndefined();
      expect(load.attempts.length).toBeGreaterThan(0);
      const admin = await connect(server.endpoint());
      const present = new Set((await rows<{ id: string }>(admin, 'SELECT id FROM app.cutover_load')).map((r) => String(r.id)));
      await admin.end();
      const acknowledged = load.attempts.filter((a) => a.acknowledged);
      expect(acknowledged.filter((a) => !present.has(a.id))).toEqual([]);
      expect(load.stoppedAt).toBeGreaterThan(load.startedAt);
      // and the worker is gone; a second stop is a no-op, not a send into a closed channel
      expect(isAlive(load.pid!)).toBe(false);
      await expect(load.stop()).resolves.toBeUndefined();
    }
  });

  test("a terminal's Ctrl-C (SIGINT to the orchestrator's process group) does not reach the worker: every record still arrives; and a SIGKILLed orchestrator still leaves no worker behind", async () => {
    // GIVEN an orchestrator process (its own process group, as a CLI in a terminal) running the
    // load; on SIGINT it stops the load in order and prints what it collected, then starts a
    // second load and waits
    const script = `
      const { WriteLoadProcess } = require(${JSON.stringify(join(__dirname, '../../lib/load/write-load-process'))});
      const options = { engine: 'mysql', host: '127.0.0.1', port: ${server.port}, user: 'root', password: process.env.PW, database: 'app', connections: 2, ratePerSecond: 200 };
      const load = new WriteLoadProcess(options);
      load.start().then(() => console.log('started ' + load.pid));
      process.on('SIGINT', async () => {
        try { await load.stop(); console.log('collected ' + load.attempts.filter((a) => a.acknowledged).length); }
        catch (error) { console.log('failed ' + error.message); }
        const second = new WriteLoadProcess(options);
        await second.start();
        console.log('second ' + second.pid);
      });
      setInterval(() => undefined, 1000);`;
    const orchestrator = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], { detached: true, env: { ...process.env, PW: rootPassword }, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    orchestrator.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const waitFor = async (pattern: RegExp) => {
      while (!pattern.test(output)) {
        if (orchestrator.exitCode !== null) throw new Error(`orchestrator ended: ${output}`);
        await sleep(50);
      }
      return pattern.exec(output)!;
    };
    try {
      const worker = Number((await waitFor(/started (\d+)/))[1]);
      // the worker leads a group of its own, not the orchestrator's
      const groupOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[2]);
      expect(groupOf(worker)).toBe(worker);
      expect(groupOf(worker)).not.toBe(groupOf(orchestrator.pid!));
      // WHEN Ctrl-C reaches the orchestrator's whole group
      process.kill(-orchestrator.pid!, 'SIGINT');
      // THEN the worker was not killed by it: the orchestrator stops it in order and gets its records
      const collected = await waitFor(/(collected \d+|failed .*)/);
      expect(collected[1]).toMatch(/^collected \d+$/);
      // AND a SIGKILL of the orchestrator still takes its (second) worker with it
      const second = Number((await waitFor(/second (\d+)/))[1]);
      expect(isAlive(second)).toBe(true);
      process.kill(orchestrator.pid!, 'SIGKILL');
      while (isAlive(second)) await sleep(50);
    } finally {
      try {
        process.kill(orchestrator.pid!, 'SIGKILL');
      } catch {
        // already gone (killed above)
      }
    }
  });

  test('a worker that dies mid-run makes stop() say "load worker died", twice, without crashing the orchestrator', async () => {
    // GIVEN a running load whose worker is killed outright
    const load = newLoad();
    await load.start();
    await sleep(500);
    process.kill(load.pid!, 'SIGKILL');
    await sleep(500);
    // WHEN the orchestrator stops it (and stops it again, as clean-up paths do)
    const first = load.stop();
    // THEN both answers are the honest failure, and nothing throws out of the event loop
    await expect(first).rejects.toBeInstanceOf(LoadWorkerDied);
    await expect(load.stop()).rejects.toThrow(/^load worker died: it exited \(signal SIGKILL\) before it was asked to stop/);
    expect(load.failure).toMatch(/load worker died/);
    expect(load.attempts).toEqual([]);
  });
});
