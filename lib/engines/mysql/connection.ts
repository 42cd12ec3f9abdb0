import { isIP } from 'node:net';
import mysql from 'mysql2/promise';
import type { Connection, RowDataPacket, SslOptions } from 'mysql2/promise';
import type { MysqlEndpoint } from './endpoint';
import { readCaFile, verifiesCertificate } from '../tls';

export type { Connection } from 'mysql2/promise';

/**
 * Sees every statement a connection opened by `connect` sends, as sent (values bound), with the
 * endpoint's name. Only tests install one: the plan == execute test compares the statements a
 * run sent with those its dry-run plan recorded. The text may hold secrets: never log it.
 */
export type StatementTap = (server: string, statement: string) => void;
const taps = new Set<StatementTap>();

/** Install a tap; returns the function that removes it. */
export function tapStatements(tap: StatementTap): () => void {
  taps.add(tap);
  return () => taps.delete(tap);
}

function tapped(connection: Connection, server: string): Connection {
  const query = connection.query.bind(connection) as (sql: unknown, values?: unknown) => Promise<unknown>;
  (connection as unknown as { query: typeof query }).query = (sql: unknown, values?: unknown) => {
    const text = typeof sql === 'string' ? sql : (sql as { sql: string }).sql;
    const statement = mysql.format(text, (values ?? []) as never);
    for (const tap of taps) tap(server, statement);
    return query(sql, values);
  };
  return connection;
}

/** Open an administrator connection. Errors never carry the password (mysql2 does not echo it). */
export async function connect(endpoint: MysqlEndpoint, options: { connectTimeoutMs?: number; database?: string; multipleStatements?: boolean } = {}): Promise<Connection> {
  if (endpoint.recorder) return endpoint.recorder.connection(endpoint.name) as Connection;
  const connection = await open(endpoint, options);
  return taps.size > 0 ? tapped(connection, endpoint.name) : connection;
}

function open(endpoint: MysqlEndpoint, options: { connectTimeoutMs?: number; database?: string; multipleStatements?: boolean }): Promise<Connection> {
  return mysql.createConnection({
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    password: endpoint.password,
    database: options.database,
    connectTimeout: options.connectTimeoutMs ?? 10000,
    // Only the switch's own connections batch statements (one round trip while writes are down).
    multipleStatements: options.multipleStatements ?? false,
    // DECIMAL/BIGINT as strings: checksums and ids must not lose precision.
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    ...(endpoint.tls ? { ssl: mysqlSslOptions(endpoint) } : {}),
  });
}

/**
 * mysql2's `ssl` for an endpoint with `tls`: the CA file's PEM (else Node's built-in CAs),
 * certificate verification on by default, and the host name checked when `host` is one.
 * Through a tunnel (`host` an IP address) mysql2 can only check the chain: it verifies the
 * name against the address it dialled and takes no other name (unlike pg's `servername`).
 */
export function mysqlSslOptions(endpoint: Pick<MysqlEndpoint, 'host' | 'tls'>): SslOptions | undefined {
  const tls = endpoint.tls;
  if (!tls) return undefined;
  const verify = verifiesCertificate(tls);
  return {
    ...(tls.caFile ? { ca: readCaFile(tls.caFile) } : {}),
    rejectUnauthorized: verify,
    verifyIdentity: verify && isIP(endpoint.host) === 0,
  };
}

/** Run a query and return its rows as plain objects. */
export async function rows<T = Record<string, unknown>>(connection: Connection, sql: string, values?: unknown[]): Promise<T[]> {
  const [result] = await connection.query<RowDataPacket[]>(sql, values);
  return result as unknown as T[];
}

/**
 * The rows of the first result set a `CALL` returns. mysql2 hands a procedure's results back as
 * `[[rows of each SELECT…], ResultSetHeader]` (the trailing header is the CALL's own status),
 * or as a bare ResultSetHeader when the procedure selected nothing; `rows()` would return that
 * outer array, whose entries are not rows (RDS's `mysql.rds_show_configuration` then looked
 * empty). https://sidorares.github.io/node-mysql2/docs/examples/queries/simple-queries/select
 */
export async function callRows<T = Record<string, unknown>>(connection: Connection, sql: string, values?: unknown[]): Promise<T[]> {
  if (!/^\s*CALL\s/i.test(sql)) throw new Error(`callRows runs a CALL statement, got: ${sql.slice(0, 40)}`);
  const [result] = await connection.query(sql, values);
  if (!Array.isArray(result)) return []; // the procedure selected nothing
  const first: unknown = result[0];
  return (Array.isArray(first) ? first : []) as T[];
}

/** Run a query that returns at most one row. */
export async function row<T = Record<string, unknown>>(connection: Connection, sql: string, values?: unknown[]): Promise<T | undefined> {
  return (await rows<T>(connection, sql, values))[0];
}

/** Quote an identifier for MySQL/MariaDB. */
export function quoteIdentifier(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}
