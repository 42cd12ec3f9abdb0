/**
 * The way back (issue 12), on real servers (MariaDB + HAProxy): the forward switch starts
 * replication target -> source from the frozen, equal state before traffic opens on the target;
 * `mysql.switch-back` moves traffic back under write load with nothing lost and starts
 * replication source -> target again; it refuses when the way back is broken; a switch-back
 * "killed" after each journaled sub-phase is finished by --resume with nothing lost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MysqlSandbox, SANDBOX_DATABASE } from '../../lib/platforms/local/mysql-sandbox';
import { LocalMysqlPlatform } from '../../lib/platforms/local/local-mysql-platform';
import { closeFlowConnections, mysqlEncryptRunbook, type MysqlFlowSettings } from '../../lib/flows/mysql-encrypt';
import { mysqlCompleteRunbook, mysqlSwitchBackRunbook, mysqlSwitchForthRunbook } from '../../lib/flows/mysql-switch-back';
import { runRunbook, type RunResult } from '../../lib/runbook/engine';
import { Journal } from '../../lib/runbook/journal';
import type { Facts, Runbook } from '../../lib/runbook/step';
import { connect, rows, type Connection } from '../../lib/engines/mysql/connection';
import { WriteLoad, summariseWrites } from '../../lib/load/write-load';
import { mysqlWriteClient } from '../../lib/load/mysql-write-client';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger } from '../../lib/util/log';
import { sleep, waitFor } from '../../lib/util/time';

const settings: MysqlFlowSettings = { ...loadEnvironment('local').mysql!, catchUpTimeoutMs: 120000, switchTimeoutMs: 20000 };

interface World {
  sandbox: MysqlSandbox;
  stateDir: string;
  load: WriteLoad;
  runtimes: Array<Map<string, unknown>>;
}

async function withWorld(use: (world: World) => Promise<void>): Promise<void> {
  const sandbox = await MysqlSandbox.start({ log: silentLogger, seedRows: 300 });
  const world: World = {
    sandbox,
    stateDir: mkdtempSync(join(tmpdir(), 'rc-switch-back-')),
    load: new WriteLoad({ connections: 4, ratePerSecond: 200, connect: () => mysqlWriteClient(sandbox.appEndpoint(), SANDBOX_DATABASE) }),
    runtimes: [],
  };
  try {
    world.load.start();
    await use(world);
  } finally {
    await world.load.stop().catch(() => undefined);
    for (const runtime of world.runtimes) await closeFlowConnections(runtime).catch(() => undefined);
    await sandbox.stop();
    rmSync(world.stateDir, { recursive: true, force: true });
  }
}

async function run(world: World, runbook: Runbook, resumeRunId?: string): Promise<RunResult> {
  const runtime = new Map<string, unknown>();
  world.runtimes.push(runtime);
  return runRunbook({ runbook, environment: 'local', stateDir: world.stateDir, dryRun: false, log: silentLogger, runtime, resumeRunId });
}

const platformOf = (world: World) => new LocalMysqlPlatform(world.sandbox);

async function forward(world: World): Promise<RunResult> {
  const result = await run(world, mysqlEncryptRunbook(platformOf(world), settings));
  expect(result.error).toBeUndefined();
  expect(result.result).toBe('success');
  return result;
}

/** Run until `killWhen` matches a journaled sub-phase, then abandon the run like a kill -9 would. */
async function runUntilKilled(world: World, runbook: Runbook, killWhen: (facts: Facts) => boolean): Promise<string> {
  const runtime = new Map<string, unknown>();
  world.runtimes.push(runtime);
  let killed!: () => void;
  const killedAt = new Promise<'killed'>((resolve) => (killed = () => resolve('killed')));
  const before = new Set(Journal.list(world.stateDir));
  const running = runRunbook({
    runbook,
    environment: 'local',
    stateDir: world.stateDir,
    dryRun: false,
    log: silentLogger,
    runtime,
    onRecord: (_step, facts) => {
      if (!killWhen(facts)) return;
      killed();
      return new Promise<void>(() => undefined); // the process is gone: nothing after this runs
    },
  });
  const outcome = await Promise.race([killedAt, running]);
  if (outcome !== 'killed') throw new Error(`the run ended (${outcome.result}: ${outcome.error}) before the kill point`);
  await closeFlowConnections(runtime);
  return Journal.list(world.stateDir).find((id) => !before.has(id))!;
}

async function query<T>(world: World, server: string, sql: string): Promise<T[]> {
  const connection: Connection = await connect(world.sandbox.instance(server).endpoint());
  try {
    return await rows<T>(connection, sql);
  } finally {
    await connection.end();
  }
}

async function readOnly(world: World, server: string): Promise<boolean> {
  return Number((await query<{ ro: number | string }>(world, server, 'SELECT @@GLOBAL.read_only AS ro'))[0].ro) === 1;
}

interface SlaveStatus {
  Slave_IO_Running: string;
  Slave_SQL_Running: string;
  Master_Port: number;
  Last_SQL_Error: string;
}

async function replicationOn(world: World, server: string): Promise<SlaveStatus | undefined> {
  return (await query<SlaveStatus>(world, server, 'SHOW SLAVE STATUS'))[0];
}

async function appAccountLocked(world: World, server: string): Promise<boolean> {
  const [row] = await query<Record<string, string>>(world, server, "SHOW CREATE USER 'app'@'127.0.0.1'");
  return /ACCOUNT LOCK/.test(Object.values(row)[0]);
}

/** Every acknowledged write is where the endpoint points now (the load keeps writing meanwhile). */
async function expectNothingLost(world: World): Promise<void> {
  const acknowledgedBefore = world.load.attempts.filter((a) => a.acknowledged).length;
  await sleep(700);
  await world.load.stop();
  expect(world.load.attempts.filter((a) => a.acknowledged).length).toBeGreaterThan(acknowledgedBefore);
  const admin = await connect(world.sandbox.adminEndpoint(), { database: SANDBOX_DATABASE });
  const present = new Set((await rows<{ id: string }>(admin, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
  await admin.end();
  const writes = summariseWrites(world.load.attempts, present);
  expect(writes.acknowledged).toBeGreaterThan(100);
  expect(writes.lost).toBe(0);
}

/** After a switch back: traffic on the source, only it writable, the target replicating from it again. */
async function expectBackOnSource(world: World, result: RunResult): Promise<void> {
  expect(result.error).toBeUndefined();
  expect(result.result).toBe('success');
  expect((await platformOf(world).endpointTarget()).pointsTo).toBe('source');
  expect(await readOnly(world, 'source')).toBe(false);
  expect(await readOnly(world, 'target')).toBe(true);
  expect(await appAccountLocked(world, 'source')).toBe(false);
  expect(await appAccountLocked(world, 'target')).toBe(true);
  expect(await replicationOn(world, 'source')).toBeUndefined();
  const forwardAgain = await replicationOn(world, 'target');
  expect(forwardAgain).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_Port: world.sandbox.instance('source').port });
  await expectNothingLost(world);
}

describe('MySQL-family way back on real servers', () => {
  test('the switch is done only with replication target -> source running, and a write on the target reaches the old source, whose app account stays locked', async () => {
    await withWorld(async (world) => {
      // GIVEN / WHEN the forward cutover
      const result = await forward(world);
      // THEN the switch journaled the reverse sub-phases and the equal-state position
      expect(result.facts.switchPhase).toBe('reverse-running');
      expect(typeof result.facts.reverseStartBinlogFile).toBe('string');
      expect(Number(result.facts.reverseStartBinlogPosition)).toBeGreaterThan(0);
      // and the old source replicates from the target, stays read-only and locked for the app
      expect(await replicationOn(world, 'source')).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_Port: world.sandbox.instance('target').port });
      expect(await readOnly(world, 'source')).toBe(true);
      expect(await appAccountLocked(world, 'source')).toBe(true);
      expect(await appAccountLocked(world, 'target')).toBe(false);
      // and a write through the endpoint (on the target) reaches the old source
      const app = await connect(world.sandbox.appEndpoint(), { database: SANDBOX_DATABASE });
      await app.query("INSERT INTO audit_log VALUES (NOW(6), 'written on the new side')");
      await app.end();
      await waitFor('the write on the target to reach the old source', async () => ((await query(world, 'source', "SELECT 1 FROM app.audit_log WHERE message = 'written on the new side'")).length > 0 ? true : undefined), {
        timeoutMs: 60000,
        intervalMs: 100,
      });
      await expectNothingLost(world);
    });
  });

  test('switch-back under load: traffic back on the source, 0 writes lost, checksums match, replication source -> target runs again; complete then stops the way back', async () => {
    await withWorld(async (world) => {
      // GIVEN a finished forward cutover, writes going to the target for a while
      await forward(world);
      await sleep(1500);
      // WHEN switching back
      const back = await run(world, mysqlSwitchBackRunbook(platformOf(world), settings));
      // THEN
      expect(back.facts.checksumsVerified).toBe(true);
      expect((back.facts.checksums as { match: boolean }).match).toBe(true);
      expect(back.facts.switchPhase).toBe('reverse-running');
      await expectBackOnSource(world, back);
      // AND complete refuses while traffic is on the source (nothing changed)
      const complete = await run(world, mysqlCompleteRunbook(platformOf(world), settings, { deleteOld: false }));
      expect(complete.result).toBe('aborted');
      expect(complete.error).toMatch(/Complete refused: traffic is not on the target/);
      expect(await replicationOn(world, 'target')).toMatchObject({ Slave_SQL_Running: 'Yes' });
    });
  });

  test('switch-forth after a switch-back: traffic on the target again by the same bounded switch, checksums match, the way back runs again, and a second switch-back works; 0 writes lost over all three', async () => {
    await withWorld(async (world) => {
      // GIVEN a forward cutover and a switch-back, the load writing throughout
      await forward(world);
      await sleep(500);
      const back = await run(world, mysqlSwitchBackRunbook(platformOf(world), settings));
      expect(back.result).toBe('success');
      await sleep(500);
      // WHEN switching forth again
      const forth = await run(world, mysqlSwitchForthRunbook(platformOf(world), settings));
      // THEN traffic is on the target, only it writable for the app, the snapshots equal
      expect(forth.error).toBeUndefined();
      expect(forth.result).toBe('success');
      expect(forth.facts.switchDirection).toBe('forward');
      expect((forth.facts.checksums as { match: boolean }).match).toBe(true);
      expect((await platformOf(world).endpointTarget()).pointsTo).toBe('target');
      expect(await readOnly(world, 'target')).toBe(false);
      expect(await appAccountLocked(world, 'target')).toBe(false);
      expect(await readOnly(world, 'source')).toBe(true);
      expect(await appAccountLocked(world, 'source')).toBe(true);
      // and the way back runs again (target -> source), the way forth is stopped on the target
      expect(await replicationOn(world, 'source')).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_Port: world.sandbox.instance('target').port });
      // AND a second switch-forth is refused: traffic is already on the target (nothing changed)
      const again = await run(world, mysqlSwitchForthRunbook(platformOf(world), settings));
      expect(again.result).toBe('aborted');
      expect(again.error).toMatch(/Switch-forth refused: traffic is not on the source/);
      // AND one can switch back once more, with nothing lost over the three switches
      await sleep(500);
      await expectBackOnSource(world, await run(world, mysqlSwitchBackRunbook(platformOf(world), settings)));
    });
  });

  test('switch-back refuses to start, saying why, when replication target -> source is broken (nothing changed, traffic stays on the target)', async () => {
    await withWorld(async (world) => {
      // GIVEN a forward cutover, then the way back broken on real servers: a root write on the
      // old side (read_only does not stop root) collides with a row the application writes next
      await forward(world);
      await query(world, 'source', "INSERT INTO app.cutover_load (id, client, seq, payload, written_at) VALUES (999999999999, 0, 0, 'root on the old side', NOW(6))");
      const app = await connect(world.sandbox.appEndpoint(), { database: SANDBOX_DATABASE });
      await app.query("INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES (999999999999, 0, 0, 'app on the new side', NOW(6))");
      await app.end();
      await waitFor('replication target -> source to break', async () => ((await replicationOn(world, 'source'))?.Last_SQL_Error ? true : undefined), { timeoutMs: 60000, intervalMs: 100 });
      // WHEN switching back
      const back = await run(world, mysqlSwitchBackRunbook(platformOf(world), settings));
      // THEN it refused before changing anything, naming the broken replication
      expect(back.result).toBe('aborted');
      expect(back.error).toMatch(/Switch-back refused: replication target -> source \(the way back\) is broken on the source: .*Duplicate entry/);
      expect(back.steps.find((s) => s.id === 'mysql.switch-back')!.status).toBe('not-run');
      expect((await platformOf(world).endpointTarget()).pointsTo).toBe('target');
      expect(await readOnly(world, 'target')).toBe(false);
      expect(await readOnly(world, 'source')).toBe(true);
      // and complete (the way out) stops the broken way back
      const complete = await run(world, mysqlCompleteRunbook(platformOf(world), settings, { deleteOld: false }));
      expect(complete.error).toBeUndefined();
      expect(await replicationOn(world, 'source')).toBeUndefined();
      expect(world.sandbox.instances.find('source')).toBeDefined();
      // and the way back's replication account is gone on both sides (no login left for a retired path)
      for (const server of ['source', 'target']) {
        expect({ server, accounts: await query(world, server, "SELECT user FROM mysql.user WHERE user LIKE '%\\_back'") }).toEqual({ server, accounts: [] });
      }
      expect(complete.facts.wayBackAccountDropped).toMatch(/_back$/);
    });
  });

  test.each(['frozen', 'caught-up', 'promoted', 'reverse-started', 'endpoint-moved', 'recycled'])(
    'switch-back killed right after its sub-phase "%s": --resume finishes it by the forward switch\'s rules, 0 writes lost',
    async (killAt) => {
      await withWorld(async (world) => {
        // GIVEN a forward cutover and a switch-back killed at the sub-phase
        await forward(world);
        await sleep(500);
        const runId = await runUntilKilled(world, mysqlSwitchBackRunbook(platformOf(world), settings), (facts) => facts.switchPhase === killAt);
        // WHEN a fresh process resumes it
        const resumed = await run(world, mysqlSwitchBackRunbook(platformOf(world), settings), runId);
        // THEN traffic is back on the source with nothing lost and the way forth again running
        await expectBackOnSource(world, resumed);
        if (['frozen', 'caught-up'].includes(killAt)) expect((resumed.facts.checksums as { match: boolean }).match).toBe(true);
        else expect(resumed.facts.switchResumed).toBe('forward');
      });
    },
  );
});
