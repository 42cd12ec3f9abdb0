/**
 * The MySQL-family switch is resumable from every point, on real servers (MariaDB + HAProxy).
 * A run is "killed" right after a journaled sub-phase: its step never returns (as if the process
 * died there), its connections are closed, and a fresh runbook on the same servers resumes it
 * from the journal. The end state must be: one writable side, the endpoint on it, every
 * acknowledged write present, no replication replayed, fence and replica removal reached.
 */
import type { MysqlSandbox } from '../../lib/platforms/local/mysql-sandbox';
import { LocalMysqlPlatform } from '../../lib/platforms/local/local-mysql-platform';
import { mysqlEncryptRunbook } from '../../lib/flows/mysql-encrypt';
import type { RunResult } from '../../lib/runbook/engine';
import { Journal, statusFromJournal } from '../../lib/runbook/journal';
import type { Facts } from '../../lib/runbook/step';
import { sleep } from '../../lib/util/time';
import type { MysqlPlatform } from '../../lib/platforms/mysql-platform';
import { mysqlQuery, mysqlReadOnly, mysqlTestSettings as settings, withMysqlWorld, type FlowWorld } from '../support/flow-world';

type World = FlowWorld<MysqlSandbox>;
const withWorld = (use: (world: World) => Promise<void>) => withMysqlWorld('rc-switch-resume-', use);

/** Run until `killWhen` matches a journaled sub-phase, then abandon the run like a kill -9 would. */
function runUntilKilled(world: World, killWhen: (facts: Facts) => boolean, platform: MysqlPlatform = new LocalMysqlPlatform(world.sandbox)): Promise<string> {
  return world.runUntilKilled(mysqlEncryptRunbook(platform, settings), { name: 'where killWhen matched', afterRecord: (_step, facts) => killWhen(facts) });
}

function resume(world: World, runId: string): Promise<RunResult> {
  return world.run(mysqlEncryptRunbook(new LocalMysqlPlatform(world.sandbox), settings), { resumeRunId: runId });
}

const query = <T>(world: World, server: string, sql: string) => mysqlQuery<T>(world.sandbox, server, sql);
const readOnly = (world: World, server: string) => mysqlReadOnly(world.sandbox, server);

/** The end state every resumed switch must reach. */
async function expectFinishedOnTarget(world: World, run: RunResult): Promise<void> {
  expect(run.error).toBeUndefined();
  expect(run.result).toBe('success');
  // fence and replica removal reached
  expect(run.steps.find((s) => s.id === 'mysql.source.fence')!.status).toBe('done');
  expect(run.steps.find((s) => s.id === 'mysql.replica.remove')!.status).toBe('done');
  // exactly one writable side, and the endpoint on it
  expect(await readOnly(world, 'source')).toBe(true);
  expect(await readOnly(world, 'target')).toBe(false);
  expect((await new LocalMysqlPlatform(world.sandbox).endpointTarget()).pointsTo).toBe('target');
  // the target no longer replicates from the old source
  expect(await query(world, 'target', 'SHOW SLAVE STATUS')).toEqual([]);
  // writes go on through the endpoint, and every acknowledged one is there
  await world.expectNothingLost();
}

const phase = (name: string) => (facts: Facts) => facts.switchPhase === name;

describe('MySQL-family switch resumed after a kill, on real servers', () => {
  // 'promoted': the target took no traffic yet (the endpoint still on the frozen source), so the
  // resume takes the switch-time snapshots itself before it moves the endpoint.
  test.each(['freezing', 'frozen', 'caught-up', 'promoted'])('killed right after the switch sub-phase "%s" (traffic not moved): --resume finishes the switch with checksums verified', async (killAt) => {
    await withWorld(async (world) => {
      // GIVEN a run killed with the source frozen and traffic not moved
      const runId = await runUntilKilled(world, phase(killAt));
      expect(statusFromJournal(new Journal(world.stateDir, runId).read()).facts.switchPhase).toBe(killAt);
      // WHEN a fresh process resumes it
      const run = await resume(world, runId);
      // THEN the switch ran again from the actual state (the freeze is idempotent) and finished
      await expectFinishedOnTarget(world, run);
      expect(run.facts.checksumsVerified).toBe(true);
      expect((run.facts.checksums as { match: boolean }).match).toBe(true);
    });
  });

  test.each(['endpoint-moved', 'recycled'])(
    'killed right after the switch sub-phase "%s": --resume finishes forward (never reopens the source, never re-points the target), checksums honestly NOT verified',
    async (killAt) => {
      await withWorld(async (world) => {
        // GIVEN a run killed after traffic moved to the target
        const runId = await runUntilKilled(world, phase(killAt));
        // WHEN a fresh process resumes it
        const run = await resume(world, runId);
        // THEN it finished forward on the target
        await expectFinishedOnTarget(world, run);
        expect(run.facts.switchResumed).toBe('forward');
        // and says the proof is incomplete, and how to complete it, instead of being stuck
        expect(run.facts.checksumsVerified).toBe(false);
        expect(String(run.facts.checksumsNotVerifiedReason)).toMatch(/snapshots were lost.*point-in-time restore of the target/);
        expect(run.steps.find((s) => s.id === 'mysql.verify.checksums')!.status).toBe('done');
      });
    },
  );

  test('an endpoint change that fails after the promotion, with the endpoint still on the source: the target steps back and the source reopens (never both writable)', async () => {
    await withWorld(async (world) => {
      // GIVEN a platform whose endpoint change fails without moving anything
      const real = new LocalMysqlPlatform(world.sandbox);
      const failing = Object.assign(Object.create(real) as LocalMysqlPlatform, {
        switchEndpoint: async () => {
          throw new Error('HAProxy admin socket: connection refused');
        },
      });
      // WHEN the switch runs
      const run = await world.run(mysqlEncryptRunbook(failing, settings));
      // THEN it aborted, saying so
      expect(run.result).toBe('aborted');
      expect(run.error).toMatch(/endpoint change failed .*still points at the source.*target was made read-only.*source was reopened/);
      // and only the source is writable, the target replicates again, the endpoint stayed
      expect(await readOnly(world, 'source')).toBe(false);
      expect(await readOnly(world, 'target')).toBe(true);
      const replication = await query<{ Slave_SQL_Running: string; Last_SQL_Error: string }>(world, 'target', 'SHOW SLAVE STATUS');
      expect(replication[0].Slave_SQL_Running).toBe('Yes');
      expect((await real.endpointTarget()).pointsTo).toBe('source');
      // and a resume (the endpoint works again) finishes the cutover with nothing lost
      const resumed = await resume(world, run.runId);
      await expectFinishedOnTarget(world, resumed);
    });
  });

  test('killed inside mysql.replication.start after CHANGE MASTER: --resume keeps the configuration (no events replayed from the start coordinates)', async () => {
    await withWorld(async (world) => {
      // GIVEN a run killed right after replication was configured and started
      const runId = await runUntilKilled(world, (facts) => typeof facts.replicationStartedAt === 'string');
      // and the target has applied writes past the start coordinates since
      await sleep(1500);
      const before = (await query<{ Exec_Master_Log_Pos: string; Relay_Master_Log_File: string }>(world, 'target', 'SHOW SLAVE STATUS'))[0];
      // WHEN a fresh process resumes it
      const run = await resume(world, runId);
      // THEN replication was kept, not reconfigured (a replay would break it on duplicate keys)
      expect(run.facts.replicationResumed).toBe(true);
      expect(before.Relay_Master_Log_File).toBeTruthy();
      await expectFinishedOnTarget(world, run);
      expect((run.facts.checksums as { match: boolean }).match).toBe(true);
    });
  });
});
