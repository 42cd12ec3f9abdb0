import { Client, type QueryResultRow } from 'pg';
import type { PostgresEndpoint } from './endpoint';

export type PgClient = Client;

export interface ConnectOptions {
  /** Connect to another database than the endpoint's. */
  database?: string;
  /** `database`: a logical replication (walsender) connection. */
  replication?: 'database';
  connectTimeoutMs?: number;
  /** Shown in pg_stat_activity / pg_stat_replication. */
  applicationName?: string;
  /**
   * Administrator sessions stay writable when the server is frozen with
   * `default_transaction_read_only` (a session-level SET wins over the config file).
   * @default false
   */
  writable?: boolean;
}

/**
 * Open a connection. pg never puts the password in its error messages; a killed session
 * emits 'error' on the client, which is swallowed here and surfaces on the next query.
 */
export async function connectPg(endpoint: PostgresEndpoint, options: ConnectOptions = {}): Promise<PgClient> {
  const client = new Client({
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    password: endpoint.password,
    database: options.database ?? endpoint.database,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10000,
    application_name: options.applicationName ?? 'rds-cutover',
    ...(options.replication ? { replication: options.replication } : {}),
  });
  client.on('error', () => undefined);
  await client.connect();
  if (options.writable) await client.query('SET default_transaction_read_only = off');
  return client;
}

/** Run a query and return its rows. */
export async function pgRows<T extends QueryResultRow = Record<string, unknown>>(client: PgClient, sql: string, values?: unknown[]): Promise<T[]> {
  return (await client.query<T>(sql, values)).rows;
}

export async function pgRow<T extends QueryResultRow = Record<string, unknown>>(client: PgClient, sql: string, values?: unknown[]): Promise<T | undefined> {
  return (await pgRows<T>(client, sql, values))[0];
}

/** Close without waiting on a server that may be gone. */
export async function closePg(client: PgClient | undefined): Promise<void> {
  if (!client) return;
  await Promise.race([client.end().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

export function quoteLiteral(value: string): string {
  return "'" + value.replace(/'/g, "''") + "'";
}

/** `schema.table`, both parts quoted. */
export function qualified(table: { schema: string; name: string }): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

/** A libpq connection string (CREATE SUBSCRIPTION … CONNECTION); the password is a registered secret. */
export function conninfo(endpoint: PostgresEndpoint, extra: Record<string, string> = {}): string {
  const quote = (value: string) => "'" + value.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
  const pairs = { host: endpoint.host, port: String(endpoint.port), dbname: endpoint.database, user: endpoint.user, password: endpoint.password, ...extra };
  return Object.entries(pairs).map(([key, value]) => `${key}=${quote(value)}`).join(' ');
}

/**
 * Environment for libpq child processes (pg_dump, pg_restore, psql): the password goes in
 * PGPASSWORD, never on argv where `ps` shows it.
 */
export function libpqEnvironment(endpoint: PostgresEndpoint): NodeJS.ProcessEnv {
  return { ...process.env, PGHOST: endpoint.host, PGPORT: String(endpoint.port), PGUSER: endpoint.user, PGPASSWORD: endpoint.password, PGDATABASE: endpoint.database, PGCONNECT_TIMEOUT: '10' };
}
