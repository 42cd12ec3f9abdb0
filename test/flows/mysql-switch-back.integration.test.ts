/**
 * The way back (issue 12), on real servers (MariaDB + HAProxy): the forward switch starts
 * replication target -> source from the frozen, equal state before traffic opens on the target;
 * `mysql.switch-back` moves traffic back under write load with nothing lost and starts
 * replication source -> target again; it refuses when the way back is broken; a switch-back
 * "killed" after each journaled sub-phase is finished by --resume with nothing lost.
 */
import { SANDBOX_DATABASE, type MysqlSandbox } from '../../lib/platforms/local/mysql-sandbox';
import { LocalMysqlPlatform } from '../../lib/platforms/local/local-mysql-platform';
import { mysqlEncryptRunbook } from '../../lib/flows/mysql-encrypt';
import { mysqlCompleteRunbook, mysqlSwitchBackRunbook, mysqlSwitchForthRunbook } from '../../lib/flows/mysql-switch-back';
import type { RunResult } from '../../lib/runbook/engine';
import { connect } from '../../lib/engines/mysql/connection';
import { sleep, waitFor } from '../../lib/util/time';
import { mysqlQuery as query, mysqlReadOnly as readOnly, mysqlTestSettings as settings, withMysqlWorld, type FlowWorld } from '../support/flow-world';

type World = FlowWorld<MysqlSandbox>;
const withWorld = (use: (world: World) => Promise<void>) => withMysqlWorld('rc-switch-back-', use);

const platformOf = (world: World) => new LocalMysqlPlatform(world.sandbox);

async function forward(world: World): Promise<RunResult> {
  const result = await world.run(mysqlEncryptRunbook(platformOf(world), settings));
  expect(result.error).toBeUndefined();
  expect(result.result).toBe('success');
  return result;
}

interface SlaveStatus {
  Slave_IO_Running: string;
  Slave_SQL_Running: string;
  Master_Port: number;
  Last_SQL_Error: string;
}

async function replicationOn(world: World, server: string): Promise<SlaveStatus | undefined> {
  return (await query<SlaveStatus>(world.sandbox, server, 'SHOW SLAVE STATUS'))[0];
}

async function appAccountLocked(world: World, server: string): Promise<boolean> {
  const [row] = await query<Record<string, string>>(world.sandbox, server, "SHOW CREATE USER 'app'@'127.0.0.1'");
  return /ACCOUNT LOCK/.test(Object.values(row)[0]);
}

/** After a switch back: traffic on the source, only it writable, the target replicating from it again. */
async function expectBackOnSource(world: World, result: RunResult): Promise<void> {
  expect(result.error).toBeUndefined();
  expect(result.result).toBe('success');
  expect((await platformOf(world).endpointTarget()).pointsTo).toBe('source');
  expect(await readOnly(world.sandbox, 'source')).toBe(false);
  expect(await readOnly(world.sandbox, 'target')).toBe(true);
  // and stays so across a restart: the switch back must not leave the target's my.cnf writable
  expect(world.sandbox.instance('target').startsReadOnly).toBe(true);
  expect(await appAccountLocked(world, 'source')).toBe(false);
  expect(await appAccountLocked(world, 'target')).toBe(true);
  expect(await replicationOn(world, 'source')).toBeUndefined();
  const forwardAgain = await replicationOn(world, 'target');
  expect(forwardAgain).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_Port: world.sandbox.instance('source').port });
  await world.expectNothingLost();
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
      expect(await readOnly(world.sandbox, 'source')).toBe(true);
      expect(await appAccountLocked(world, 'source')).toBe(true);
      expect(await appAccountLocked(world, 'target')).toBe(false);
      // and a write through the endpoint (on the target) reaches the old source
      const app = await connect(world.sandbox.appEndpoint(), { database: SANDBOX_DATABASE });
      await app.query("INSERT INTO audit_log VALUES (NOW(6), 'written on the new side')");
      await app.end();
      await waitFor('the write on the target to reach the old source', async () => ((await query(world.sandbox, 'source', "SELECT 1 FROM app.audit_log WHERE message = 'written on the new side'")).length > 0 ? true : undefined), {
        timeoutMs: 60000,
        intervalMs: 100,
      });
      await world.expectNothingLost();
    });
  });

  test('switch-back under load: traffic back on the source, 0 writes lost, checksums match, replication source -> target runs again; complete then stops the way back', async () => {
    await withWorld(async (world) => {
      // GIVEN a finished forward cutover, writes going to the target for a while
      await forward(world);
      await sleep(1500);
      // WHEN switching back
      const back = await world.run(mysqlSwitchBackRunbook(platformOf(world), settings));
      // THEN
      expect(back.facts.checksumsVerified).toBe(true);
      expect((back.facts.checksums as { match: boolean }).match).toBe(true);
      expect(back.facts.switchPhase).toBe('reverse-running');
      await expectBackOnSource(world, back);
      // AND complete refuses while traffic is on the source (nothing changed)
      const complete = await world.run(mysqlCompleteRunbook(platformOf(world), settings, { deleteOld: false }));
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
      const back = await world.run(mysqlSwitchBackRunbook(platformOf(world), settings));
      expect(back.result).toBe('success');
      await sleep(500);
      // WHEN switching forth again
      const forth = await world.run(mysqlSwitchForthRunbook(platformOf(world), settings));
      // THEN traffic is on the target, only it writable for the app, the snapshots equal
      expect(forth.error).toBeUndefined();
      expect(forth.result).toBe('success');
      expect(forth.facts.switchDirection).toBe('forward');
      expect((forth.facts.checksums as { match: boolean }).match).toBe(true);
      expect((await platformOf(world).endpointTarget()).pointsTo).toBe('target');
      expect(await readOnly(world.sandbox, 'target')).toBe(false);
      expect(await appAccountLocked(world, 'target')).toBe(false);
      expect(await readOnly(world.sandbox, 'source')).toBe(true);
      expect(await appAccountLocked(world, 'source')).toBe(true);
      // and the way back runs again (target -> source), the way forth is stopped on the target
      expect(await replicationOn(world, 'source')).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_Port: world.sandbox.instance('target').port });
      // AND a second switch-forth is refused: traffic is already on the target (nothing changed)
      const again = await world.run(mysqlSwitchForthRunbook(platformOf(world), settings));
      expect(again.result).toBe('aborted');
      expect(again.error).toMatch(/Switch-forth refused: traffic is not on the source/);
      // AND one can switch back once more, with nothing lost over the three switches
      await sleep(500);
      await expectBackOnSource(world, await world.run(mysqlSwitchBackRunbook(platformOf(world), settings)));
    });
  });

  test('switch-back refuses to start, saying why, when replication target -> source is broken (nothing changed, traffic stays on the target)', async () => {
    await withWorld(async (world) => {
      // GIVEN a forward cutover, then the way back broken on real servers: a root write on the
      // old side (read_only does not stop root) collides with a row the application writes next
      await forward(world);
      await query(world.sandbox, 'source', "INSERT INTO app.cutover_load (id, client, seq, payload, written_at) VALUES (999999999999, 0, 0, 'root on the old side', NOW(6))");
      const app = await connect(world.sandbox.appEndpoint(), { database: SANDBOX_DATABASE });
      await app.query("INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES (999999999999, 0, 0, 'app on the new side', NOW(6))");
      await app.end();
      await waitFor('replication target -> source to break', async () => ((await replicationOn(world, 'source'))?.Last_SQL_Error ? true : undefined), { timeoutMs: 60000, intervalMs: 100 });
      // WHEN switching back
      const back = await world.run(mysqlSwitchBackRunbook(platformOf(world), settings));
      // THEN it refused before changing anything, naming the broken replication
      expect(back.result).toBe('aborted');
      expect(back.error).toMatch(/Switch-back refused: replication target -> source \(the way back\) is broken on the source: .*Duplicate entry/);
      expect(back.steps.find((s) => s.id === 'mysql.switch-back')!.status).toBe('not-run');
      expect((await platformOf(world).endpointTarget()).pointsTo).toBe('target');
      expect(await readOnly(world.sandbox, 'target')).toBe(false);
      expect(await readOnly(world.sandbox, 'source')).toBe(true);
      // and complete (the way out) stops the broken way back
      const complete = await world.run(mysqlCompleteRunbook(platformOf(world), settings, { deleteOld: false }));
      expect(complete.error).toBeUndefined();
      expect(await replicationOn(world, 'source')).toBeUndefined();
      expect(world.sandbox.instances.find('source')).toBeDefined();
      // and the way back's replication account is gone on both sides (no login left for a retired path)
      for (const server of ['source', 'target']) {
        expect({ server, accounts: await query(world.sandbox, server, "SELECT user FROM mysql.user WHERE user LIKE '%\\_back'") }).toEqual({ server, accounts: [] });
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
        const runId = await world.runUntilKilled(mysqlSwitchBackRunbook(platformOf(world), settings), { name: killAt, afterRecord: (_step, facts) => facts.switchPhase === killAt });
        // WHEN a fresh process resumes it
        const resumed = await world.run(mysqlSwitchBackRunbook(platformOf(world), settings), { resumeRunId: runId });
        // THEN traffic is back on the source with nothing lost and the way forth again running
        await expectBackOnSource(world, resumed);
        if (['frozen', 'caught-up'].includes(killAt)) expect((resumed.facts.checksums as { match: boolean }).match).toBe(true);
        else expect(resumed.facts.switchResumed).toBe('forward');
      });
    },
  );
});
