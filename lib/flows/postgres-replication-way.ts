import { conninfo, pgRow, qualified, quoteIdent, quoteLiteral, type PgClient } from '../engines/postgres/connection';
import { dropSlotIfExists, dropSubscriptionIfExists, ensureLogicalSlot, slotInfo, subscriptionOrigin } from '../engines/postgres/replication';
import { sequenceValues, setSequencesSql, walsenderPosition } from '../engines/postgres/server';
import { generatePassword } from '../util/secrets';
import { sleep } from '../util/time';
import { AbortRun } from '../runbook/step';
import { names, type PostgresFlowSettings } from './postgres-common';

/**
 * One direction of logical replication between the two sides of a run: a publication and a
 * slot on the side that sends, a subscription on the side that receives. The forward way
 * (source -> target) and the way back (target -> source, built at the switch) have the same
 * shape; only which server is which differs.
 */
export interface ReplicationWay {
  publication: string;
  slot: string;
  subscription: string;
}

/** The forward way's names (the run's publication, slot and subscription). */
export const forwardWay = (settings: PostgresFlowSettings): ReplicationWay => names(settings);

/** The way back's names: `<workflow>_back_pub` on the target, its slot there, `<workflow>_back_sub` on the source. */
export const backWay = (settings: PostgresFlowSettings): ReplicationWay => ({
  publication: `${settings.workflow}_back_pub`,
  slot: `${settings.workflow}_back_slot`,
  subscription: `${settings.workflow}_back_sub`,
});

/**
 * Before the freeze (outside the switch window): everything a way needs except its start
 * point. On the sending side the publication (every table), the replication role and a
 * slot; on the receiving side the subscription, created DISABLED with copy_data = false, so
 * it streams nothing until the switch pins where it starts (`pinSubscriptionStart`) and
 * enables it. The slot is made now because making one waits for the server's running
 * transactions (80–130 ms measured at load 12): too slow for the window; pinning is one query.
 * Idempotent (a resumed or repeated switch finds what exists). Returns the subscription's
 * replication origin (what the window pins).
 */
export async function prepareWay(input: {
  way: ReplicationWay;
  sender: PgClient;
  receiver: PgClient;
  tables: Array<{ schema: string; name: string }>;
  senderAddress: { host: string; port: number; sslmode: string };
  settings: PostgresFlowSettings;
  /** The platform's statements that give the role its replication right (PostgresPlatform.replicationRoleSql). */
  replicationRoleSql: (role: string, password: string, exists: boolean) => string[];
}): Promise<string> {
  const { way, sender, receiver, settings } = input;
  const list = input.tables.map(qualified).join(', ');
  if (!list) throw new Error(`Database ${settings.database} has no tables: nothing to replicate`);
  const publication = await pgRow(sender, 'SELECT 1 AS x FROM pg_publication WHERE pubname = $1', [way.publication]);
  await sender.query(publication ? `ALTER PUBLICATION ${quoteIdent(way.publication)} SET TABLE ${list}` : `CREATE PUBLICATION ${quoteIdent(way.publication)} FOR TABLE ${list}`);
  const existing = await pgRow<{ subenabled: boolean }>(receiver, 'SELECT subenabled FROM pg_subscription WHERE subname = $1', [way.subscription]);
  // A subscription without its slot (dropped by hand, or a way removed half-way) starts from scratch.
  if (existing && !(await slotInfo(sender, way.slot))) await dropSubscriptionIfExists(receiver, way.subscription);
  else if (existing) {
    if (existing.subenabled) await receiver.query(`ALTER SUBSCRIPTION ${quoteIdent(way.subscription)} DISABLE`);
    return (await subscriptionOrigin(receiver, way.subscription))!;
  }
  try {
    await ensureLogicalSlot(sender, way.slot, settings.catchUpTimeoutMs);
  } catch (failure) {
    if ((failure as { code?: string }).code !== '57014') throw failure;
    throw new AbortRun(
      `Switch not started: the replication slot ${way.slot} for the way ${way.subscription} could not be created within ${settings.catchUpTimeoutMs} ms: ` +
        'creating a logical slot waits until every transaction running on that server has ended, and one there is long or blocked (see pg_stat_activity: state, xact_start, wait_event). ' +
        'Nothing is frozen; end or wait for that transaction, then --resume.',
    );
  }
  const password = generatePassword();
  const role = await pgRow(sender, 'SELECT 1 AS x FROM pg_roles WHERE rolname = $1', [settings.replicationUser]);
  for (const sql of input.replicationRoleSql(settings.replicationUser, password, Boolean(role))) await sender.query(sql);
  const { host, port, sslmode } = input.senderAddress;
  const connection = conninfo({ name: 'sender', host, port, user: settings.replicationUser, password, database: settings.database }, { sslmode, application_name: way.subscription });
  // Connects to the sender to list the published tables (state 'r', ready, since nothing is copied);
  // created with connect = false it would list none and silently apply nothing.
  await receiver.query(
    `CREATE SUBSCRIPTION ${quoteIdent(way.subscription)} CONNECTION ${quoteLiteral(connection)} PUBLICATION ${quoteIdent(way.publication)}
       WITH (create_slot = false, slot_name = ${quoteLiteral(way.slot)}, copy_data = false, enabled = false)`,
  );
  return (await subscriptionOrigin(receiver, way.subscription))!;
}

/** Inside the window: the way starts right after `lsn` (the sender's position once both sides are equal and frozen). */
export async function pinWay(receiver: PgClient, origin: string, lsn: string): Promise<void> {
  await receiver.query('SELECT pg_replication_origin_advance($1, $2::pg_lsn)', [origin, lsn]);
}

/**
 * After the window: enable the subscription and wait until its walsender streams. The switch
 * is not done before that: a way back that does not run is no way back.
 */
export async function startWay(receiver: PgClient, sender: PgClient, way: ReplicationWay, timeoutMs: number): Promise<void> {
  await receiver.query(`ALTER SUBSCRIPTION ${quoteIdent(way.subscription)} ENABLE`);
  const deadline = Date.now() + timeoutMs;
  const seen = new Set<string>();
  for (;;) {
    const position = await walsenderPosition(sender, way.subscription);
    // A logical walsender reports "catchup" until it first reaches the end of WAL: it runs.
    if (position?.state === 'streaming' || position?.state === 'catchup') return;
    seen.add(position?.state ?? 'absent');
    if (Date.now() >= deadline) {
      const errors = await pgRow<{ n: string }>(receiver, 'SELECT coalesce(sum(apply_error_count), 0)::text AS n FROM pg_stat_subscription_stats WHERE subname = $1', [way.subscription]).catch(() => undefined);
      throw new Error(
        `Replication ${way.subscription} (slot ${way.slot}) did not start streaming within ${timeoutMs} ms (walsender states seen: ${[...seen].join(', ')}; apply errors: ${errors?.n ?? 'unknown'}): ` +
          `look at the receiving server's log (authentication, pg_hba, slot in use, apply errors), fix it, then --resume`,
      );
    }
    await sleep(50);
  }
}

/** Drop a way: the subscription on the receiver (detached from its slot), then the slot and the publication on the sender. */
export async function removeWay(receiver: PgClient, sender: PgClient, way: ReplicationWay): Promise<{ subscriptionDropped: boolean; slotDropped: boolean }> {
  const subscriptionDropped = await dropSubscriptionIfExists(receiver, way.subscription);
  const slotDropped = await dropSlotIfExists(sender, way.slot);
  await sender.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(way.publication)}`);
  return { subscriptionDropped, slotDropped };
}

/** Health of a way as the receiving side sees it: enabled, streaming, apply errors. `builtBy`: what makes the way (said when it is missing). */
export async function wayHealth(receiver: PgClient, sender: PgClient, way: ReplicationWay, builtBy = 'the way back is built by postgres.switch; complete removes it'): Promise<{ problem?: string }> {
  const subscription = await pgRow<{ subenabled: boolean }>(receiver, 'SELECT subenabled FROM pg_subscription WHERE subname = $1', [way.subscription]);
  if (!subscription) return { problem: `the subscription ${way.subscription} does not exist (${builtBy})` };
  if (!subscription.subenabled) return { problem: `the subscription ${way.subscription} is disabled` };
  const errors = await pgRow<{ n: string }>(receiver, 'SELECT coalesce(sum(apply_error_count), 0)::text AS n FROM pg_stat_subscription_stats WHERE subname = $1', [way.subscription]);
  const position = await walsenderPosition(sender, way.subscription);
  if (position?.state !== 'streaming' && position?.state !== 'catchup') {
    return { problem: `the subscription ${way.subscription} is not streaming (walsender state ${position?.state ?? 'absent'}${Number(errors?.n ?? 0) > 0 ? `, ${errors!.n} apply error(s): see the receiving server's log` : ''})` };
  }
  return {};
}

/** Copy every sequence from one side to the other, forward only (never rewound). Returns how many the statement looked at. */
export async function copySequencesForward(from: PgClient, to: PgClient): Promise<number> {
  const values = await sequenceValues(from);
  const sql = setSequencesSql(values);
  if (sql) await to.query(sql);
  return values.length;
}
