import { connectPg, closePg, pgRow, type PgClient } from './connection';
import type { PostgresEndpoint } from './endpoint';
import { sleep } from '../../util/time';

/** Names used in replication commands are plain identifiers (no quoting in the walsender grammar). */
export function assertPlainName(what: string, name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`${what} "${name}" must be a lower-case identifier (letters, digits, underscores)`);
  return name;
}

export interface ExportedSlot {
  slotName: string;
  /** WAL position the slot starts decoding from: the snapshot shows everything before it. */
  consistentPoint: string;
  /** Snapshot name for `pg_dump --snapshot`; valid while `connection` stays open and idle. */
  snapshotName: string;
  connection: PgClient;
}

/**
 * Create a logical slot that exports its starting snapshot, over a walsender connection
 * (`replication=database`). The snapshot is exactly the state before the slot's first
 * change, so a dump taken with it plus the slot's changes miss nothing and repeat nothing.
 * https://www.postgresql.org/docs/15/protocol-replication.html (CREATE_REPLICATION_SLOT … SNAPSHOT 'export')
 */
export async function createSlotExportingSnapshot(source: PostgresEndpoint, slotName: string): Promise<ExportedSlot> {
  assertPlainName('slot name', slotName);
  const connection = await connectPg(source, { replication: 'database', applicationName: `${slotName}_export` });
  try {
    const result = await connection.query<{ slot_name: string; consistent_point: string; snapshot_name: string }>(`CREATE_REPLICATION_SLOT ${slotName} LOGICAL pgoutput (SNAPSHOT 'export')`);
    const row = result.rows[0];
    if (!row?.snapshot_name) throw new Error('CREATE_REPLICATION_SLOT returned no snapshot name');
    return { slotName: row.slot_name, consistentPoint: row.consistent_point, snapshotName: row.snapshot_name, connection };
  } catch (error) {
    await closePg(connection);
    throw error;
  }
}

export async function slotInfo(client: PgClient, slotName: string): Promise<{ active: boolean; confirmedFlushLsn: string | null } | undefined> {
  const r = await pgRow<{ active: boolean; confirmed_flush_lsn: string | null }>(client, 'SELECT active, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1', [slotName]);
  return r ? { active: r.active, confirmedFlushLsn: r.confirmed_flush_lsn } : undefined;
}

/** Drop a slot if it exists (ending the walsender that holds it first). */
export async function dropSlotIfExists(client: PgClient, slotName: string): Promise<boolean> {
  const info = await slotInfo(client, slotName);
  if (!info) return false;
  if (info.active) await client.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slotName]);
  for (let attempt = 0; ; attempt += 1) {
    try {
      await client.query('SELECT pg_drop_replication_slot($1)', [slotName]);
      return true;
    } catch (error) {
      // The walsender may take a moment to release the slot after being terminated.
      if (attempt >= 50 || !/is active/.test((error as Error).message)) throw error;
      await sleep(100);
    }
  }
}

/** Create a logical slot (pgoutput) unless it exists; returns whether it was created. */
export async function ensureLogicalSlot(client: PgClient, slotName: string, timeoutMs?: number): Promise<boolean> {
  if (await slotInfo(client, slotName)) return false;
  // Creating a logical slot waits until every transaction running on the server has ended: a
  // long or blocked one there would hold the caller forever. Bounded when asked; the caller names it.
  const bounded = timeoutMs !== undefined;
  if (bounded) await client.query(`SET statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
  try {
    await client.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slotName]);
  } finally {
    if (bounded) await client.query('RESET statement_timeout');
  }
  return true;
}

/**
 * The replication origin that tracks how far a subscription applied (`pg_<subscription oid>`).
 * https://www.postgresql.org/docs/15/logical-replication-conflicts.html
 */
export async function subscriptionOrigin(client: PgClient, subscription: string): Promise<string | undefined> {
  const r = await pgRow<{ origin: string }>(client, "SELECT 'pg_' || oid AS origin FROM pg_subscription WHERE subname = $1", [subscription]);
  return r?.origin;
}

/**
 * Pin where a (disabled) subscription starts: its origin's position set to `lsn`. The
 * subscription asks its walsender to stream from there, and START_REPLICATION streams
 * "starting at either WAL location XXX/XXX or the slot's confirmed_flush_lsn, whichever is
 * greater": a transaction committed at or before `lsn` is never sent, one committed after
 * always is — so a slot made ahead of time carries exactly what happens after `lsn`.
 * https://www.postgresql.org/docs/15/protocol-replication.html (START_REPLICATION … LOGICAL)
 * https://www.postgresql.org/docs/15/functions-admin.html (pg_replication_origin_advance)
 */
export async function pinSubscriptionStart(client: PgClient, subscription: string, lsn: string): Promise<void> {
  const origin = await subscriptionOrigin(client, subscription);
  if (!origin) throw new Error(`subscription ${subscription} does not exist: cannot pin where it starts`);
  await client.query('SELECT pg_replication_origin_advance($1, $2::pg_lsn)', [origin, lsn]);
}

/** Where a subscription's origin says it is (what it applied, or where it was pinned). */
export async function subscriptionOriginLsn(client: PgClient, subscription: string): Promise<string | undefined> {
  const origin = await subscriptionOrigin(client, subscription);
  if (!origin) return undefined;
  const r = await pgRow<{ lsn: string | null }>(client, 'SELECT pg_replication_origin_progress($1, false)::text AS lsn', [origin]);
  return r?.lsn ?? undefined;
}

/** Drop a subscription without touching its slot (the slot lives on the other server and is dropped there). */
export async function dropSubscriptionIfExists(client: PgClient, subscription: string): Promise<boolean> {
  const exists = await pgRow(client, 'SELECT 1 AS x FROM pg_subscription WHERE subname = $1', [subscription]);
  if (!exists) return false;
  const name = `"${subscription.replace(/"/g, '""')}"`;
  await client.query(`ALTER SUBSCRIPTION ${name} DISABLE`);
  await client.query(`ALTER SUBSCRIPTION ${name} SET (slot_name = NONE)`);
  await client.query(`DROP SUBSCRIPTION ${name}`);
  return true;
}
