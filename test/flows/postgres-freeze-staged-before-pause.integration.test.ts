/**
 * The PostgreSQL freeze's slow half is done before writes are held (issue 12, the write gap):
 * ALTER SYSTEM writes and fsyncs postgresql.auto.conf (measured here: 36–57 ms quiet, more under
 * load), but the setting is inert until the reload. Written beside the pooler's PAUSE, as it
 * was, it ran while every client was held and, being slower than the pause, was the window's
 * longest phase. The rule: the read-only default is staged (and done) before the pooler pauses,
 * for the forward switch and for the switch back (which freezes the target); the switch still
 * loses nothing and a staged default that never took effect is never left behind.
 *
 * The staging is slowed down here (a slow disk's fsync) so that the order is deterministic.
 */
import { closePg, connectPg, pgRow } from '../../lib/engines/postgres/connection';
import { postgresLogicalRunbook } from '../../lib/flows/postgres-logical';
import { postgresSwitchBackRunbook } from '../../lib/flows/postgres-switch-back';
import { sleep } from '../../lib/util/time';
import { withPostgresWorld, type PostgresWorld } from '../support/flow-world';

jest.setTimeout(300000);

const SLOW_FSYNC_MS = 400;

/** Slows a staging function down and records, at each pause, whether the staging had finished. */
function watchOrder(world: PostgresWorld, stage: 'stageSourceReadOnly' | 'stageTargetReadOnly') {
  const seen = { staged: 0, pausesBeforeStaged: 0, pausesAfterStaged: 0 };
  let stagedDone = false;
  const owner = (stage === 'stageSourceReadOnly' ? world.platform : world.platform.wayBack) as unknown as Record<string, (context: unknown) => Promise<void>>;
  const original = owner[stage].bind(owner);
  owner[stage] = async (context) => {
    stagedDone = false;
    await sleep(SLOW_FSYNC_MS);
    await original(context);
    stagedDone = true;
    seen.staged += 1;
  };
  const pause = world.platform.pauseClients.bind(world.platform);
  world.platform.pauseClients = async (context, timeoutMs) => {
    if (stagedDone) seen.pausesAfterStaged += 1;
    else seen.pausesBeforeStaged += 1;
    return pause(context, timeoutMs);
  };
  return seen;
}

async function stagedSetting(world: PostgresWorld, server: 'source' | 'target'): Promise<string | undefined> {
  const client = await connectPg(world.sandbox.instance(server).endpoint());
  try {
    return (await pgRow<{ setting: string }>(client, "SELECT setting FROM pg_file_settings WHERE name = 'default_transaction_read_only' ORDER BY seqno DESC LIMIT 1"))?.setting;
  } finally {
    await closePg(client);
  }
}

test('GIVEN a slow ALTER SYSTEM WHEN the forward switch and the switch back freeze a side THEN the read-only default is staged before the pooler pauses the clients, and each switch still succeeds with nothing lost', async () => {
  await withPostgresWorld({ stateDirPrefix: 'rc-pg-freeze-staged-', connections: 2, ratePerSecond: 100 }, async (world) => {
    // Forward: the source is the side frozen.
    const forwardOrder = watchOrder(world, 'stageSourceReadOnly');
    const forward = await world.run(postgresLogicalRunbook(world.platform, world.settings));
    expect(forward.error).toBeUndefined();
    expect(forward.result).toBe('success');
    expect(forwardOrder).toEqual({ staged: 1, pausesBeforeStaged: 0, pausesAfterStaged: 1 });
    expect(await stagedSetting(world, 'source')).toBe('on');

    // Back: the target is the side frozen.
    const backOrder = watchOrder(world, 'stageTargetReadOnly');
    const back = await world.run(postgresSwitchBackRunbook(world.platform, world.settings));
    expect(back.error).toBeUndefined();
    expect(back.result).toBe('success');
    expect(backOrder).toEqual({ staged: 1, pausesBeforeStaged: 0, pausesAfterStaged: 1 });
    expect(await stagedSetting(world, 'target')).toBe('on');

    await world.expectNothingLost();
  });
});
