import type { Connection } from './connection';
import { callRows, row, rows, quoteIdentifier } from './connection';
import { dialectFor, parseReplicaStatus, quoteString, type MysqlDialect, type ReplicaStatus, type ReplicationSource } from './dialect';
import { nowMs, sleep } from '../../util/time';

/** Databases that belong to the server itself and never move. */
export const SYSTEM_DATABASES = ['mysql', 'information_schema', 'performance_schema', 'sys'];

export interface BinlogPosition {
  file: string;
  position: number;
}

export async function detectDialect(connection: Connection, options: { rdsProcedures?: boolean } = {}): Promise<MysqlDialect> {
  const version = await row<{ version: string }>(connection, 'SELECT VERSION() AS version');
  return dialectFor(version!.version, options);
}

/**
 * How long the server keeps its binlogs (hours; Infinity: until purged by hand) and, when that
 * is under `minimumHours`, the problem with its fix. The dialect decides where it is set: RDS
 * keeps its own "binlog retention hours" (read and set through its procedures, NULL = purged
 * as soon as possible); a plain server expires binlogs by its variables (`variables`: SHOW
 * GLOBAL VARIABLES, 0 = never).
 */
export async function binlogRetention(connection: Connection, dialect: MysqlDialect, variables: Record<string, string | undefined>, minimumHours: number): Promise<{ hours: number; problem?: string }> {
  if (dialect.rdsProcedures) {
    const config = await callRows<{ name: string; value: string | null }>(connection, 'CALL mysql.rds_show_configuration').catch(() => []);
    const setting = config.find((c) => c.name === 'binlog retention hours');
    const hours = setting?.value ? Number(setting.value) : 0;
    return hours < minimumHours ? { hours, problem: `binlog retention hours is ${setting?.value ?? 'NULL'}: run CALL mysql.rds_set_configuration('binlog retention hours', ${minimumHours}) on the source` } : { hours };
  }
  const seconds = Number(variables.binlog_expire_logs_seconds ?? 0) || Number(variables.expire_logs_days ?? 0) * 86400;
  const hours = seconds === 0 ? Infinity : seconds / 3600;
  return hours < minimumHours ? { hours, problem: `binlogs expire after ${hours.toFixed(1)} h: set binlog_expire_logs_seconds >= ${minimumHours * 3600}` } : { hours };
}

/** The source's current binlog write position (SHOW MASTER STATUS / SHOW BINARY LOG STATUS). */
export async function primaryPosition(connection: Connection, dialect: MysqlDialect): Promise<BinlogPosition> {
  const status = await row<{ File: string; Position: string | number }>(connection, dialect.showPrimaryStatus());
  if (!status) throw new Error('Binary logging is off on this server (SHOW MASTER STATUS is empty): enable log_bin (on RDS: turn on automated backups)');
  return { file: status.File, position: Number(status.Position) };
}

export async function replicaStatus(connection: Connection, dialect: MysqlDialect): Promise<ReplicaStatus | undefined> {
  return parseReplicaStatus(await row(connection, dialect.showReplicaStatus()));
}

/**
 * Wait until a replica has executed the source's events up to `position`. Uses the server's
 * own MASTER_POS_WAIT/SOURCE_POS_WAIT (returns the moment it gets there) rather than polling.
 * The server only knows whole seconds, so with a `canceller` connection the wait is cut at
 * exactly `timeoutMs` by KILL QUERY from that connection.
 * Returns 'reached', 'timeout' or 'not-replicating'.
 */
export async function waitForPosition(
  connection: Connection,
  dialect: MysqlDialect,
  position: BinlogPosition,
  timeoutMs: number,
  canceller?: Connection,
): Promise<'reached' | 'timeout' | 'not-replicating'> {
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  if (canceller) {
    timer = setTimeout(() => {
      cancelled = true;
      canceller.query(dialect.killQuery(connection.threadId)).catch(() => undefined);
    }, timeoutMs);
  }
  try {
    const result = await row<{ result: string | number | null }>(connection, dialect.waitForPosition(position.file, position.position, timeoutMs / 1000));
    if (result?.result === null || result?.result === undefined) return cancelled ? 'timeout' : 'not-replicating';
    return Number(result.result) >= 0 ? 'reached' : 'timeout';
  } catch (error) {
    // 1317: query execution was interrupted (our KILL QUERY).
    if (cancelled && (error as { errno?: number }).errno === 1317) return 'timeout';
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Measure replication lag in ms: how long the replica takes to reach the source's position now. */
export async function measureLagMs(source: Connection, replica: Connection, dialect: MysqlDialect, timeoutMs: number): Promise<number | undefined> {
  const position = await primaryPosition(source, dialect);
  const start = nowMs();
  const outcome = await waitForPosition(replica, dialect, position, timeoutMs);
  return outcome === 'reached' ? nowMs() - start : undefined;
}

/** Point a server at a source from explicit coordinates and start replicating. */
export async function startReplicationFrom(connection: Connection, dialect: MysqlDialect, source: ReplicationSource): Promise<void> {
  await connection.query(dialect.stopReplication()).catch(() => undefined);
  if (!dialect.rdsProcedures) await connection.query(dialect.resetReplication());
  for (const statement of dialect.configureReplication(source)) await connection.query(statement);
  await connection.query(dialect.startReplication());
}

/** Databases to move: the configured list, or every non-system database. */
export async function userDatabases(connection: Connection, configured?: string[]): Promise<string[]> {
  if (configured && configured.length > 0) return configured;
  const list = await rows<{ name: string }>(connection, 'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME');
  return list.map((r) => r.name).filter((name) => !SYSTEM_DATABASES.includes(name));
}

export interface Account {
  user: string;
  host: string;
}

export async function accountsOf(connection: Connection, users: string[]): Promise<Account[]> {
  if (users.length === 0) return [];
  return rows<Account>(connection, `SELECT User AS user, Host AS host FROM mysql.user WHERE User IN (${users.map(quoteString).join(', ')}) ORDER BY User, Host`);
}

export function accountName(account: Account): string {
  return `${quoteString(account.user)}@${quoteString(account.host)}`;
}

/** Lock or unlock application accounts (both MariaDB 10.4+ and MySQL 5.7.6+ have ACCOUNT LOCK). */
export async function setAccountsLocked(connection: Connection, accounts: Account[], locked: boolean): Promise<void> {
  for (const account of accounts) await connection.query(`ALTER USER ${accountName(account)} ACCOUNT ${locked ? 'LOCK' : 'UNLOCK'}`);
}

export async function sessionsOf(connection: Connection, users: string[]): Promise<Array<{ id: number; user: string; command: string; info: string | null }>> {
  if (users.length === 0) return [];
  return rows(connection, `SELECT ID AS id, USER AS user, COMMAND AS command, INFO AS info FROM information_schema.PROCESSLIST WHERE USER IN (${users.map(quoteString).join(', ')}) AND ID <> CONNECTION_ID()`);
}

/**
 * End every session of the given users and confirm the processlist shows none.
 * A session can leave between the processlist read and the KILL (error 1094, unknown
 * thread): that is the outcome we want, so it is not an error.
 */
export async function killSessionsOf(connection: Connection, dialect: MysqlDialect, users: string[], timeoutMs: number): Promise<number> {
  const deadline = nowMs() + timeoutMs;
  let killed = 0;
  for (;;) {
    const sessions = await sessionsOf(connection, users);
    if (sessions.length === 0) return killed;
    if (nowMs() > deadline) throw new Error(`Sessions of ${users.join(', ')} still present after ${timeoutMs} ms: ${sessions.map((s) => s.id).join(', ')}`);
    const byUser = users.map((user) => dialect.killUserSessions(user));
    if (byUser.every((statement) => statement !== undefined)) {
      // One statement per user instead of one round trip per session (MariaDB's KILL USER).
      for (const statement of byUser) await connection.query(statement!);
      killed += sessions.length;
      await sleep(1);
      continue;
    }
    for (const session of sessions) {
      try {
        await connection.query(dialect.killSession(Number(session.id)));
        killed += 1;
      } catch (error) {
        const code = (error as { errno?: number }).errno;
        if (code !== 1094) throw error;
      }
    }
    await sleep(2);
  }
}

/**
 * The tables preflight warns about, read in one query:
 * - without a primary key: row-based replication of them is slow, and checksums weaker;
 * - MEMORY tables: their rows are in no snapshot, clone or restored copy, so the target starts
 *   with them empty; an UPDATE or DELETE of such a row stops replication (error 1032), and
 *   verification can only report them as different.
 */
export async function tablesToWarnAbout(connection: Connection, databases: string[]): Promise<{ withoutPrimaryKey: string[]; memory: string[] }> {
  if (databases.length === 0) return { withoutPrimaryKey: [], memory: [] };
  const list = await rows<{ name: string; engine: string | null; hasPrimaryKey: number | string }>(
    connection,
    `SELECT CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME) AS name, t.ENGINE AS engine,
            EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c
                    WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') AS hasPrimaryKey
     FROM information_schema.TABLES t
     WHERE t.TABLE_SCHEMA IN (${databases.map(quoteString).join(', ')}) AND t.TABLE_TYPE = 'BASE TABLE'
     ORDER BY name`,
  );
  return {
    withoutPrimaryKey: list.filter((r) => Number(r.hasPrimaryKey) === 0).map((r) => r.name),
    memory: list.filter((r) => (r.engine ?? '').toUpperCase() === 'MEMORY').map((r) => r.name),
  };
}

export { quoteIdentifier };
