/**
 * The PostgreSQL way back (issue 12), on real servers (PostgreSQL 15 source and target,
 * pgbouncer), under a write load through pgbouncer: the forward switch builds replication
 * target -> source from the frozen, equal state before traffic opens on the target;
 * `postgres.switch-back` moves traffic back with nothing lost and starts forward replication
 * again; `postgres.switch-forth` then moves traffic to the target again by the same switch and
 * builds the way back again (a second forth is refused, a second back works); it refuses when
 * the way back is broken; `complete` leaves no slot or subscription.
 */
import { existsSync } from 'node:fs';
import { postgresLogicalRunbook } from '../../lib/flows/postgres-logical';
import { postgresCompleteRunbook, postgresSwitchBackRunbook, postgresSwitchForthRunbook } from '../../lib/flows/postgres-switch-back';
import type { RunResult } from '../../lib/runbook/engine';
import { closePg, connectPg, pgRow, type PgClient } from '../../lib/engines/postgres/connection';
import { serverReadOnly } from '../../lib/engines/postgres/server';
import { sleep, waitFor } from '../../lib/util/time';
import { onPostgres, withPostgresWorld, type PostgresWorld as World } from '../support/flow-world';

jest.setTimeout(300000);

const withWorld = (use: (world: World) => Promise<void>) => withPostgresWorld({ stateDirPrefix: 'rc-pg-switch-back-', connections: 4, ratePerSecond: 200 }, use);
const on = <T>(world: World, server: 'source' | 'target', use: (client: PgClient) => Promise<T>) => onPostgres(world.sandbox, server, use);

const count = (world: World, server: 'source' | 'target', sql: string) => on(world, server, async (c) => Number((await pgRow<{ n: string }>(c, `SELECT count(*)::text AS n FROM (${sql}) x`))!.n));
const appCanLogin = (world: World, server: 'source' | 'target') => on(world, server, async (c) => (await pgRow<{ login: boolean }>(c, "SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = 'app'"))!.login);
const streaming = (world: World, sender: 'source' | 'target', subscription: string) => count(world, sender, `SELECT 1 FROM pg_stat_replication WHERE application_name = '${subscription}' AND state = 'streaming'`);

/** Runs complete --delete-old until `step` is done, then abandons it as kill -9 would; returns its run id. */
function completeKilledAfter(world: World, step: string): Promise<string> {
  return world.runUntilKilled(postgresCompleteRunbook(world.platform, world.settings, { deleteOld: true }), { name: `${step} done`, afterStep: (done) => done.id === step });
}

async function forward(world: World): Promise<RunResult> {
  const result = await world.run(postgresLogicalRunbook(world.platform, world.settings));
  expect(result.error).toBeUndefined();
  expect(result.result).toBe('success');
  return result;
}

/** A row written on one server (as the application would) shows up on the other. */
async function expectCarried(world: World, from: 'source' | 'target', to: 'source' | 'target', message: string): Promise<void> {
  await on(world, from, (c) => c.query("INSERT INTO audit_log VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM audit_log), now(), $1)", [message]));
  await waitFor(`the write on the ${from} to reach the ${to}`, async () => ((await count(world, to, `SELECT 1 FROM audit_log WHERE message = '${message}'`)) > 0 ? true : undefined), { timeoutMs: 60000, intervalMs: 100 });
}

/** A fresh value of the load's sequence, through the application's endpoint, is above every row (never rewound). */
async function expectSequenceAhead(world: World, id: number): Promise<void> {
  const app = await connectPg(world.sandbox.appEndpoint());
  try {
    const maxSerial = BigInt((await pgRow<{ m: string }>(app, 'SELECT max(serial_no)::text AS m FROM cutover_load'))!.m);
    const fresh = BigInt((await pgRow<{ s: string }>(app, "INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES ($1, 0, 0, 'after a switch', now()) RETURNING serial_no::text AS s", [id]))!.s);
    expect(fresh).toBeGreaterThan(maxSerial);
  } finally {
    await closePg(app);
  }
}

describe('PostgreSQL way back on real servers', () => {
  test('the switch builds the way back before traffic opens on the target; a write on the target reaches the old source (read-only, app NOLOGIN); switch-back under load loses nothing, checksums match, forward replication runs again and no way-back object is left; switch-forth then moves traffic to the target the same way (way back running again, a second forth refused, a second back works), 0 lost over all four switches', async () => {
    await withWorld(async (world) => {
      const { settings } = world;
      // GIVEN / WHEN the forward cutover
      const result = await forward(world);
      // THEN the switch pinned the way back inside the window and it streams
      expect(result.facts.wayBack).toBe('running');
      expect(String(result.facts.backStartLsn)).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(await streaming(world, 'target', `${settings.workflow}_back_sub`)).toBe(1);
      // and the old source stays frozen and fenced for the app role, the forward replication is gone
      expect(await on(world, 'source', serverReadOnly)).toBe(true);
      expect(await appCanLogin(world, 'source')).toBe(false);
      expect(await count(world, 'source', `SELECT 1 FROM pg_replication_slots WHERE slot_name = '${settings.workflow}_slot'`)).toBe(0);
      // and a write on the new side reaches the old one
      await expectCarried(world, 'target', 'source', 'written on the new side');
      await sleep(1000);

      // WHEN switching back under load
      const back = await world.run(postgresSwitchBackRunbook(world.platform, settings));
      // THEN it succeeded with both switch-time snapshots equal
      expect(back.error).toBeUndefined();
      expect(back.result).toBe('success');
      expect(back.facts.checksumsVerified).toBe(true);
      expect((back.facts.checksums as { match: boolean }).match).toBe(true);
      // and traffic is on the source, writable for the app; the target frozen and fenced
      expect((await world.sandbox.pgbouncer.showDatabase())!.port).toBe(world.sandbox.instance('source').port);
      expect(await on(world, 'source', serverReadOnly)).toBe(false);
      expect(await appCanLogin(world, 'source')).toBe(true);
      expect(await on(world, 'target', serverReadOnly)).toBe(true);
      expect(await appCanLogin(world, 'target')).toBe(false);
      // and forward replication runs again (one can switch forth): a write on the source reaches the target
      expect(back.facts.forwardReplication).toBe('running');
      await expectCarried(world, 'source', 'target', 'written on the old side after the switch back');
      // and the way back is gone on both sides
      expect(await count(world, 'target', `SELECT 1 FROM pg_replication_slots WHERE slot_name = '${settings.workflow}_back_slot'`)).toBe(0);
      expect(await count(world, 'source', 'SELECT 1 FROM pg_subscription')).toBe(0);
      // and the sequence hands out values above every row, never rewound
      await expectSequenceAhead(world, -1);

      // AND complete --delete-old refuses while traffic is on the source (nothing changed, nothing deleted)
      const complete = await world.run(postgresCompleteRunbook(world.platform, settings, { deleteOld: true }));
      expect(complete.result).toBe('aborted');
      expect(complete.error).toMatch(/Complete refused: traffic is not on the target/);
      expect(await streaming(world, 'source', `${settings.workflow}_sub`)).toBe(1);
      expect(world.sandbox.instances.has('source')).toBe(true);

      // WHEN switching forth again (traffic to the target), still under load
      const forth = await world.run(postgresSwitchForthRunbook(world.platform, settings));
      // THEN it succeeded with both switch-time snapshots equal
      expect(forth.error).toBeUndefined();
      expect(forth.result).toBe('success');
      expect(forth.facts.checksumsVerified).toBe(true);
      expect((forth.facts.checksums as { match: boolean }).match).toBe(true);
      // and traffic is on the target, writable for the app; the source frozen and fenced again
      expect((await world.sandbox.pgbouncer.showDatabase())!.port).toBe(world.sandbox.instance('target').port);
      expect(await on(world, 'target', serverReadOnly)).toBe(false);
      expect(await appCanLogin(world, 'target')).toBe(true);
      expect(await on(world, 'source', serverReadOnly)).toBe(true);
      expect(await appCanLogin(world, 'source')).toBe(false);
      // and the way back runs again (one can switch back again), the forward replication is gone
      expect(forth.facts.wayBack).toBe('running');
      await expectCarried(world, 'target', 'source', 'written on the new side after the switch forth');
      expect(await count(world, 'source', `SELECT 1 FROM pg_replication_slots WHERE slot_name = '${settings.workflow}_slot'`)).toBe(0);
      expect(await count(world, 'target', 'SELECT 1 FROM pg_subscription')).toBe(0);
      await expectSequenceAhead(world, -2);

      // AND a second switch-forth is refused: traffic is on the target already (nothing changed)
      const again = await world.run(postgresSwitchForthRunbook(world.platform, settings));
      expect(again.result).toBe('aborted');
      expect(again.error).toMatch(/Switch-forth refused: traffic is not on the source/);
      expect((await world.sandbox.pgbouncer.showDatabase())!.port).toBe(world.sandbox.instance('target').port);
      expect(await on(world, 'target', serverReadOnly)).toBe(false);

      // AND switching back once more works the same way
      const backAgain = await world.run(postgresSwitchBackRunbook(world.platform, settings));
      expect(backAgain.error).toBeUndefined();
      expect(backAgain.result).toBe('success');
      expect((backAgain.facts.checksums as { match: boolean }).match).toBe(true);
      expect((await world.sandbox.pgbouncer.showDatabase())!.port).toBe(world.sandbox.instance('source').port);
      expect(backAgain.facts.forwardReplication).toBe('running');
      await expectSequenceAhead(world, -3);
      // and over forward, back, forth and back no acknowledged write was lost
      await world.expectNothingLost();
    });
  });

  test('switch-back refuses when the way back is broken (nothing changed, traffic stays on the target); complete drops the way back: no slot, subscription or publication left, the old source kept; complete --delete-old killed midway and resumed deletes it', async () => {
    await withWorld(async (world) => {
      const { settings } = world;
      await forward(world);
      // GIVEN the way back disabled on the old source
      await on(world, 'source', (c) => c.query(`ALTER SUBSCRIPTION ${settings.workflow}_back_sub DISABLE`));
      // WHEN switching back
      const refused = await world.run(postgresSwitchBackRunbook(world.platform, settings));
      // THEN it refuses, saying why, with nothing changed
      expect(refused.result).toBe('aborted');
      expect(refused.error).toMatch(/Switch-back refused: the way back \(replication target -> source\) is broken: the subscription \w+_back_sub is disabled/);
      expect((await world.sandbox.pgbouncer.showDatabase())!.port).toBe(world.sandbox.instance('target').port);
      expect(await on(world, 'target', serverReadOnly)).toBe(false);
      expect(await on(world, 'source', serverReadOnly)).toBe(true);

      // WHEN completing the move
      const complete = await world.run(postgresCompleteRunbook(world.platform, settings));
      // THEN no replication object of the run is left on either side
      expect(complete.error).toBeUndefined();
      expect(complete.result).toBe('success');
      for (const server of ['source', 'target'] as const) {
        expect(await count(world, server, 'SELECT 1 FROM pg_replication_slots')).toBe(0);
        expect(await count(world, server, 'SELECT 1 FROM pg_subscription')).toBe(0);
        expect(await count(world, server, `SELECT 1 FROM pg_roles WHERE rolname = '${settings.replicationUser}'`)).toBe(0);
      }
      expect(await count(world, 'target', 'SELECT 1 FROM pg_publication')).toBe(0);
      // and without --delete-old the old source is kept, frozen and fenced
      expect(complete.facts.sourceDeleted).toBe(false);
      expect(await on(world, 'source', serverReadOnly)).toBe(true);
      expect(await appCanLogin(world, 'source')).toBe(false);

      // WHEN complete --delete-old is killed after it dropped the way back, then resumed from its journal
      const sourceDir = world.sandbox.instance('source').dir;
      const killedRunId = await completeKilledAfter(world, 'postgres.way-back.remove');
      const resumed = await world.run(postgresCompleteRunbook(world.platform, settings, { deleteOld: true }), { resumeRunId: killedRunId });
      // THEN the resumed run deleted the old source: no server, no files; traffic untouched on the target
      expect(resumed.error).toBeUndefined();
      expect(resumed.result).toBe('success');
      expect(resumed.facts.sourceDeleted).toBe(true);
      expect(world.sandbox.instances.has('source')).toBe(false);
      expect(existsSync(sourceDir)).toBe(false);
      expect((await world.sandbox.pgbouncer.showDatabase())!.port).toBe(world.sandbox.instance('target').port);
      // and the application still writes, on the target, nothing lost
      await world.expectNothingLost();
    });
  });
});
