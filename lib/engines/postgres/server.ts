import { pgRow, pgRows, quoteIdent, quoteLiteral, type PgClient } from './connection';
import { sleep } from '../../util/time';

/** A user table of the database being moved. */
export interface TableInfo {
  schema: string;
  name: string;
  /** `d` default (primary key), `i` an index, `f` full, `n` nothing. */
  replicaIdentity: 'd' | 'i' | 'f' | 'n';
  hasPrimaryKey: boolean;
  unlogged: boolean;
}

export const SYSTEM_SCHEMAS = ['pg_catalog', 'information_schema', 'pg_toast'];

/** Ordinary and partitioned tables outside the system schemas, sorted by name. */
export async function userTables(client: PgClient): Promise<TableInfo[]> {
  const result = await pgRows<{ schema: string; name: string; ident: TableInfo['replicaIdentity']; pk: boolean; persistence: string }>(
    client,
    `SELECT n.nspname AS schema, c.relname AS name, c.relreplident AS ident, c.relpersistence AS persistence,
            EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') AS pk
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND n.nspname NOT IN (${SYSTEM_SCHEMAS.map(quoteLiteral).join(', ')}) AND n.nspname NOT LIKE 'pg_temp%'
      ORDER BY n.nspname, c.relname`,
  );
  return result.map((r) => ({ schema: r.schema, name: r.name, replicaIdentity: r.ident, hasPrimaryKey: r.pk, unlogged: r.persistence === 'u' }));
}

/**
 * Tables logical replication cannot carry UPDATE/DELETE for: no primary key and replica
 * identity left at default (or set to nothing). An identity index or FULL is fine.
 */
export function tablesWithoutReplicaIdentity(tables: TableInfo[]): TableInfo[] {
  return tables.filter((t) => (t.replicaIdentity === 'd' && !t.hasPrimaryKey) || t.replicaIdentity === 'n');
}

export const tableName = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;

const USER_RELATION = `n.nspname NOT IN (${SYSTEM_SCHEMAS.map(quoteLiteral).join(', ')}) AND n.nspname NOT LIKE 'pg_temp%'`;

/**
 * Every user table (as `userTables` lists them) with its columns in order, `name type` joined
 * by `, ` (dropped columns left out; `format_type` spells types the same on 15 and 17).
 * Read through the caller's session: inside a REPEATABLE READ transaction it is that
 * snapshot's list, so verification compares what each side held at the switch.
 */
export async function tableShapes(client: PgClient): Promise<Map<string, string>> {
  const result = await pgRows<{ schema: string; name: string; columns: string | null }>(
    client,
    `SELECT n.nspname AS schema, c.relname AS name,
            (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${USER_RELATION}
      ORDER BY n.nspname, c.relname`,
  );
  return new Map(result.map((r) => [tableName(r), r.columns ?? '']));
}

/**
 * Tables a publication carries, named as `tableShapes` names them: pg_publication_tables lists
 * a partitioned table's leaves (unless published via its root), so each is mapped to its root.
 */
export async function publicationTables(client: PgClient, publication: string): Promise<Set<string>> {
  const result = await pgRows<{ schema: string; name: string }>(
    client,
    `SELECT DISTINCT n.nspname AS schema, c.relname AS name
       FROM pg_publication_tables p
       JOIN pg_namespace pn ON pn.nspname = p.schemaname
       JOIN pg_class pc ON pc.relnamespace = pn.oid AND pc.relname = p.tablename
       JOIN pg_class c ON c.oid = coalesce(pg_partition_root(pc.oid), pc.oid)
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE p.pubname = $1`,
    [publication],
  );
  return new Set(result.map(tableName));
}

/** Tables of a subscription whose initial sync has not finished (state other than `r` ready). */
export async function tablesStillSyncing(client: PgClient, subscription: string): Promise<Array<{ table: string; state: string }>> {
  return pgRows(
    client,
    `SELECT n.nspname || '.' || c.relname AS table, r.srsubstate AS state
       FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
       JOIN pg_class c ON c.oid = r.srrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE s.subname = $1 AND r.srsubstate <> 'r' ORDER BY 1`,
    [subscription],
  );
}

/** Errors the subscription's apply worker hit since its statistics were reset (PostgreSQL 15+). */
export async function subscriptionApplyErrors(client: PgClient, subscription: string): Promise<number> {
  const r = await pgRow<{ n: string }>(client, 'SELECT apply_error_count::text AS n FROM pg_stat_subscription_stats WHERE subname = $1', [subscription]).catch(() => undefined);
  return r ? Number(r.n) : 0;
}

export interface SchemaDrift {
  /** On the source, not on the target: created after the copy (its rows never reach the target). */
  created: string[];
  /** On the target, not on the source: dropped on the source after the copy. */
  dropped: string[];
  /** On both, with different columns: ALTER TABLE on one side (the apply worker stops at the first change). */
  altered: Array<{ table: string; source: string; target: string }>;
  /** On both sides with the same columns, but not in the publication: its changes are not sent. */
  unpublished: string[];
}

/**
 * What changed in the schema since the copy: the target was restored from the copy
 * snapshot and logical replication never carries DDL, so any difference between the two
 * sides' tables is DDL run after that snapshot (or a table left out of the publication).
 */
export function schemaDrift(source: Map<string, string>, target: Map<string, string>, published?: Set<string>): SchemaDrift {
  const drift: SchemaDrift = { created: [], dropped: [], altered: [], unpublished: [] };
  for (const [table, columns] of source) {
    const other = target.get(table);
    if (other === undefined) drift.created.push(table);
    else if (other !== columns) drift.altered.push({ table, source: columns, target: other });
    else if (published && !published.has(table)) drift.unpublished.push(table);
  }
  for (const table of target.keys()) if (!source.has(table)) drift.dropped.push(table);
  return drift;
}

export const hasDrift = (d: SchemaDrift) => d.created.length + d.dropped.length + d.altered.length + d.unpublished.length > 0;

/** The columns one side has and the other lacks, by name (`c integer`), for messages. */
export function missingColumns(have: string, lack: string): string[] {
  const names = new Set(lack.split(', ').map((c) => c.split(' ')[0]));
  return have.split(', ').filter((c) => c && !names.has(c.split(' ')[0]));
}

export interface ServerFacts {
  versionNum: number;
  walLevel: string;
  encoding: string;
  maxReplicationSlots: number;
  maxWalSenders: number;
  usedReplicationSlots: number;
}

export async function serverFacts(client: PgClient): Promise<ServerFacts> {
  const r = await pgRow<{ v: string; wal: string; enc: string; slots: string; senders: string; used: string }>(
    client,
    `SELECT current_setting('server_version_num') AS v, current_setting('wal_level') AS wal,
            pg_encoding_to_char(d.encoding) AS enc, current_setting('max_replication_slots') AS slots,
            current_setting('max_wal_senders') AS senders, (SELECT count(*) FROM pg_replication_slots) AS used
       FROM pg_database d WHERE d.datname = current_database()`,
  );
  return { versionNum: Number(r!.v), walLevel: r!.wal, encoding: r!.enc, maxReplicationSlots: Number(r!.slots), maxWalSenders: Number(r!.senders), usedReplicationSlots: Number(r!.used) };
}

export async function largeObjectCount(client: PgClient): Promise<number> {
  return Number((await pgRow<{ n: string }>(client, 'SELECT count(*) AS n FROM pg_largeobject_metadata'))!.n);
}

/** Extensions installed in the current database (plpgsql comes with every database). */
export async function installedExtensions(client: PgClient): Promise<Array<{ name: string; version: string }>> {
  return pgRows(client, "SELECT extname AS name, extversion AS version FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY extname");
}

export async function availableExtensions(client: PgClient): Promise<Set<string>> {
  return new Set((await pgRows<{ name: string }>(client, 'SELECT name FROM pg_available_extensions')).map((r) => r.name));
}

export async function rolesExist(client: PgClient, roles: string[]): Promise<string[]> {
  return (await pgRows<{ rolname: string }>(client, 'SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [roles])).map((r) => r.rolname);
}

/** A log sequence number as a comparable bigint (`16/B374D848` → 0x16B374D848). */
export function lsnValue(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  if (high === undefined || low === undefined) throw new Error(`not an LSN: ${lsn}`);
  return (BigInt('0x' + high) << 32n) + BigInt('0x' + low);
}

export async function currentLsn(client: PgClient): Promise<string> {
  return (await pgRow<{ lsn: string }>(client, 'SELECT pg_current_wal_lsn()::text AS lsn'))!.lsn;
}

/**
 * The WAL insert position: past every commit already made, also those made with
 * synchronous_commit off (logical apply workers commit so), which pg_current_wal_lsn() (the
 * write position) can lag behind for up to wal_writer_delay. Where a way is pinned.
 */
export async function currentInsertLsn(client: PgClient): Promise<string> {
  return (await pgRow<{ lsn: string }>(client, 'SELECT pg_current_wal_insert_lsn()::text AS lsn'))!.lsn;
}

export interface WalsenderPosition {
  state: string;
  writeLsn: string | null;
  flushLsn: string | null;
  replayLsn: string | null;
}

/**
 * What the subscriber reported to its walsender. A logical apply worker reports as
 * `write` the last position it received and applied (committed, maybe not yet flushed);
 * the slot's confirmed_flush_lsn trails that by the subscriber's lazy flush (~600 ms).
 */
export async function walsenderPosition(client: PgClient, applicationName: string): Promise<WalsenderPosition | undefined> {
  const r = await pgRow<{ state: string; write_lsn: string | null; flush_lsn: string | null; replay_lsn: string | null }>(
    client,
    'SELECT state, write_lsn::text, flush_lsn::text, replay_lsn::text FROM pg_stat_replication WHERE application_name = $1 ORDER BY backend_start DESC LIMIT 1',
    [applicationName],
  );
  return r ? { state: r.state, writeLsn: r.write_lsn, flushLsn: r.flush_lsn, replayLsn: r.replay_lsn } : undefined;
}

/**
 * Wait until the walsender of `applicationName` reports `lsn` as written (= applied by the
 * subscriber). Polls on an already open connection; returns false on timeout.
 */
export async function waitForWalsender(client: PgClient, applicationName: string, lsn: string, timeoutMs: number, pollMs = 1): Promise<boolean> {
  const wanted = lsnValue(lsn);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const position = await walsenderPosition(client, applicationName);
    if (position?.writeLsn && lsnValue(position.writeLsn) >= wanted) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
}

/**
 * The sender's position up to which the receiving side's apply worker has processed its stream:
 * the end of the last keepalive it handled (pg_stat_subscription.latest_end_lsn of the leader
 * worker; a table-sync worker has a relid). The apply worker handles messages one after the
 * other, so every transaction the sender committed before that position is applied there.
 */
export async function subscriptionProcessedLsn(receiver: PgClient, subscription: string): Promise<string | null> {
  const r = await pgRow<{ lsn: string | null }>(receiver, 'SELECT max(latest_end_lsn)::text AS lsn FROM pg_stat_subscription WHERE subname = $1 AND relid IS NULL', [subscription]);
  return r?.lsn ?? null;
}

/**
 * Wait until the receiver has applied the sender's WAL up to `lsn`, as either side sees it: the
 * walsender reports it written, or the receiver's apply worker has processed the stream up to it
 * (subscriptionProcessedLsn). Returns false on timeout.
 * Why both: the apply worker commits with synchronous_commit off (a subscription's default), and
 * while such a commit is not flushed it reports as written only the end of the last transaction
 * it applied, not how far it has read. A final position past the last replicated commit (the
 * freeze's own ALTER ROLE, which has nothing to replicate) then waited for the receiver's WAL
 * writer (wal_writer_delay, 200 ms): measured inside the switch, the walsender's keepalive at the
 * final position was processed at the first poll and the reported write position stayed 0.3 kB
 * behind for 128 ms and more (targetCatchUp 167–199 ms, sourceCatchUp 206–411 ms on a quiet machine).
 */
export async function waitUntilApplied(sender: PgClient, receiver: PgClient, subscription: string, lsn: string, timeoutMs: number, pollMs = 1): Promise<boolean> {
  const wanted = lsnValue(lsn);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [position, processed] = await Promise.all([walsenderPosition(sender, subscription), subscriptionProcessedLsn(receiver, subscription)]);
    if (position?.writeLsn && lsnValue(position.writeLsn) >= wanted) return true;
    if (processed && lsnValue(processed) >= wanted) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
}

export interface SequenceValue {
  schema: string;
  name: string;
  /** null: never used (nextval gives the start value). */
  lastValue: string | null;
  /** +1 / -1: the direction the sequence moves in. */
  increment?: number;
}

export async function sequenceValues(client: PgClient): Promise<SequenceValue[]> {
  const result = await pgRows<{ schema: string; name: string; lastValue: string | null; increment: string }>(
    client,
    'SELECT schemaname AS schema, sequencename AS name, last_value::text AS "lastValue", sign(increment_by)::text AS increment FROM pg_sequences ORDER BY 1, 2',
  );
  return result.map((r) => ({ schema: r.schema, name: r.name, lastValue: r.lastValue, increment: Number(r.increment) }));
}

/**
 * One statement that moves every sequence on the target FORWARD to the source's value
 * (logical replication does not carry sequences), and returns how many it set.
 * Never backwards: a sequence the target already has at or past that value (it took
 * writes: a resumed switch, or a repeated step) is left alone, so no key is handed out twice.
 * A sequence the source never used needs nothing. Values are checked as whole numbers
 * (they come from a catalog, but they end up in SQL text).
 */
export function setSequencesSql(values: SequenceValue[]): string | undefined {
  const used = values.filter((s) => s.lastValue !== null);
  if (used.length === 0) return undefined;
  const rows = used.map((s) => `(${quoteLiteral(s.schema)}, ${quoteLiteral(s.name)}, ${BigInt(s.lastValue!).toString()}::bigint)`);
  return `SELECT count(setval(format('%I.%I', v.schema, v.name)::regclass, v.value, true)) AS n
  FROM (VALUES ${rows.join(', ')}) AS v(schema, name, value)
  JOIN pg_sequences p ON p.schemaname = v.schema AND p.sequencename = v.name
 WHERE p.last_value IS NULL OR (p.increment_by > 0 AND p.last_value < v.value) OR (p.increment_by < 0 AND p.last_value > v.value)`;
}

/** Freeze or reopen the whole server for ordinary sessions (administrators SET their session writable). */
export async function setServerReadOnly(client: PgClient, readOnly: boolean, options: { staged?: boolean } = {}): Promise<void> {
  if (!(readOnly && options.staged)) await client.query(readOnly ? 'ALTER SYSTEM SET default_transaction_read_only = on' : 'ALTER SYSTEM RESET default_transaction_read_only');
  await client.query('SELECT pg_reload_conf()');
}

/**
 * The read-only server default written (postgresql.auto.conf, fsynced) but not in effect: no
 * session sees it before the next reload (setServerReadOnly with `staged`). ALTER SYSTEM is
 * the slow half of the freeze; this lets it run before the window.
 */
export async function stageServerReadOnly(client: PgClient): Promise<void> {
  await client.query('ALTER SYSTEM SET default_transaction_read_only = on');
}

/** Whether the server-wide default (not this session's) is read-only. */
export async function serverReadOnly(client: PgClient): Promise<boolean> {
  const r = await pgRow<{ setting: string }>(client, "SELECT setting FROM pg_file_settings WHERE name = 'default_transaction_read_only' AND applied ORDER BY seqno DESC LIMIT 1");
  return r?.setting === 'on';
}

/** End every session of these roles (other than ours); returns how many were signalled. */
export async function terminateSessions(client: PgClient, roles: string[], options: { onlyInTransaction?: boolean } = {}): Promise<number> {
  const r = await pgRow<{ n: string }>(
    client,
    `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
      WHERE usename = ANY($1) AND pid <> pg_backend_pid() AND backend_type = 'client backend'${options.onlyInTransaction ? ' AND xact_start IS NOT NULL' : ''}`,
    [roles],
  );
  return Number(r!.n);
}

/** Whether one of these roles has a session (the application is connected), asked of another session. */
export async function hasApplicationSession(client: PgClient, roles: string[]): Promise<boolean> {
  return (await pgRow<{ connected: boolean }>(client, "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE usename = ANY($1) AND backend_type = 'client backend' AND pid <> pg_backend_pid()) AS connected", [roles]))!.connected === true;
}

export async function sessionCount(client: PgClient, roles: string[]): Promise<number> {
  return Number((await pgRow<{ n: string }>(client, "SELECT count(*) AS n FROM pg_stat_activity WHERE usename = ANY($1) AND backend_type = 'client backend' AND pid <> pg_backend_pid()", [roles]))!.n);
}

/** LOGIN or NOLOGIN for every role, in one round trip (the switch calls it inside its window). */
export async function setRolesLogin(client: PgClient, roles: string[], login: boolean): Promise<void> {
  if (roles.length === 0) return;
  await client.query(roles.map((role) => `ALTER ROLE ${quoteIdent(role)} ${login ? 'LOGIN' : 'NOLOGIN'}`).join('; '));
}
