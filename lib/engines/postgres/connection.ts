import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client, type QueryResultRow } from 'pg';
import type { PostgresEndpoint } from './endpoint';
import { readCaFile, SYSTEM_CA_BUNDLE, verifiesCertificate } from '../tls';

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
  if (endpoint.pgRecorder) return endpoint.pgRecorder.client(endpoint.name, { replication: options.replication, writable: options.writable }) as PgClient;
  const client = new Client({
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    password: endpoint.password,
    database: options.database ?? endpoint.database,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10000,
    application_name: options.applicationName ?? 'rds-cutover',
    ...(options.replication ? { replication: options.replication } : {}),
    // Without tls nothing is set: pg keeps its defaults (PGSSLMODE from the environment).
    ...(endpoint.tls ? { ssl: pgSslOptions(endpoint) } : {}),
  });
  client.on('error', () => undefined);
  await client.connect();
  if (options.writable) await client.query('SET default_transaction_read_only = off');
  return client;
}

/**
 * pg's `ssl` for an endpoint: false without `tls`; otherwise the CA
 * file's PEM (else Node's built-in CAs), verification on by default, and `servername` when
 * the certificate carries another name than `host` (a tunnel on 127.0.0.1 to an RDS endpoint).
 */
export function pgSslOptions(endpoint: Pick<PostgresEndpoint, 'tls'>): ConnectionOptions | false {
  const tls = endpoint.tls;
  if (!tls) return false;
  return {
    ...(tls.caFile ? { ca: readCaFile(tls.caFile) } : {}),
    rejectUnauthorized: verifiesCertificate(tls),
    ...(tls.serverName ? { servername: tls.serverName } : {}),
  };
}

/**
 * libpq's TLS variables for pg_dump / pg_restore / psql: `verify-full` against the CA file (or
 * the system bundle), `require` when verification is off; nothing without `tls`. Through a tunnel the name to verify
 * goes in PGHOST and the tunnel's address in PGHOSTADDR (libpq dials hostaddr, checks host).
 */
export function libpqTlsEnvironment(endpoint: Pick<PostgresEndpoint, 'host' | 'tls'>): NodeJS.ProcessEnv {
  const tls = endpoint.tls;
  if (!tls) return {};
  if (!verifiesCertificate(tls)) return { PGSSLMODE: 'require' };
  const tunnelled = tls.serverName !== undefined && tls.serverName !== endpoint.host && isIP(endpoint.host) !== 0;
  return {
    PGSSLMODE: 'verify-full',
    PGSSLROOTCERT: tls.caFile ?? SYSTEM_CA_BUNDLE,
    ...(tunnelled ? { PGHOST: tls.serverName, PGHOSTADDR: endpoint.host } : {}),
  };
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
  return { ...process.env, PGHOST: endpoint.host, PGPORT: String(endpoint.port), PGUSER: endpoint.user, PGPASSWORD: endpoint.password, PGDATABASE: endpoint.database, PGCONNECT_TIMEOUT: '10', ...libpqTlsEnvironment(endpoint) };
}
