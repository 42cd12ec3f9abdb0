import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connect, quoteIdentifier, rows } from '../engines/mysql/connection';
import { closePg, connectPg, libpqEnvironment, pgRows, quoteIdent } from '../engines/postgres/connection';
import type { Logger } from '../util/log';
import { redact } from '../util/secrets';
import { DumpRewriter, type Rewriter, type TableResolver } from './dump-rewriter';
import { clientOptionsFile, DUMP_OPTIONS, startClient, type MysqlTarget } from './mysql-client';
import { PgDumpRewriter } from './pg-dump-rewriter';

/** `mysql` covers MariaDB and MySQL (mariadb-dump/mysqldump format); `postgres` is pg_dump's plain format. */
export type Engine = 'mysql' | 'postgres';

/** A running dump client: its stdout, its exit (rejects on failure, with stderr) and clean-up. */
export interface DumpProcess {
  stdout: Readable;
  exited: Promise<void>;
  kill(): void;
  dispose(): void;
}

/** What the pipeline, the restore and the leak check need from a database engine. */
export interface EngineTools {
  rewriter(resolveTable: TableResolver): Rewriter;
  startDump(source: MysqlTarget, command?: string): DumpProcess;
  restore(target: MysqlTarget, dump: Readable, log: Logger): Promise<void>;
  /** Up to `limit` distinct non-NULL values of a column, as text, in random order. */
  sample(source: MysqlTarget, table: string, column: string, limit: number): Promise<string[]>;
}

const mysqlTools: EngineTools = {
  rewriter: (resolveTable) => new DumpRewriter({ resolveTable }),
  startDump(source, command = 'mariadb-dump') {
    const credentials = clientOptionsFile(source);
    const dump = startClient(command, credentials.path, [...DUMP_OPTIONS, source.database], 'read');
    return { stdout: dump.child.stdout!, exited: dump.exited, kill: () => dump.child.kill('SIGTERM'), dispose: credentials.dispose };
  },
  async restore(target, dump, log) {
    const client = process.env.MASKING_CLIENT_COMMAND ?? 'mariadb';
    const credentials = clientOptionsFile(target);
    try {
      const name = quoteIdentifier(target.database);
      log.info(`restore: dropping and re-creating ${target.database} on ${target.name} (${target.host}:${target.port})`);
      await startClient(client, credentials.path, ['-e', `DROP DATABASE IF EXISTS ${name}; CREATE DATABASE ${name} CHARACTER SET utf8mb4`], 'read').exited;
      // The client stops at the first error (no --force).
      const load = startClient(client, credentials.path, ['--default-character-set=utf8mb4', target.database], 'write');
      await Promise.all([pipeline(dump, load.child.stdin!), load.exited]);
    } finally {
      credentials.dispose();
    }
  },
  async sample(source, table, column, limit) {
    const connection = await connect(source, { database: source.database });
    try {
      const c = quoteIdentifier(column);
      const found = await rows<{ v: string }>(connection, `SELECT DISTINCT CAST(${c} AS CHAR) AS v FROM ${quoteIdentifier(table)} WHERE ${c} IS NOT NULL ORDER BY RAND() LIMIT ${Number(limit)}`);
      return found.map((r) => r.v);
    } finally {
      await connection.end();
    }
  },
};

/** Start a libpq tool with the password in its environment (never argv). */
function startLibpq(command: string, target: MysqlTarget, args: string[], stdin: 'ignore' | 'pipe') {
  const child = spawn(command, args, { env: libpqEnvironment(target), stdio: [stdin, 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`${command} could not start: ${error.message} (install postgresql-client)`)));
    child.once('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${command} failed (${signal ?? `exit ${code}`}): ${redact(stderr.trim()) || 'no error output'}`))));
  });
  exited.catch(() => undefined);
  return { child, exited };
}

/** pg_dump options: plain SQL (COPY blocks), no ownership or grants (staging has other roles). */
export const PG_DUMP_OPTIONS = ['--format=plain', '--no-owner', '--no-privileges', '--encoding=UTF8'];

const postgresTools: EngineTools = {
  rewriter: (resolveTable) => new PgDumpRewriter({ resolveTable }),
  startDump(source, command = 'pg_dump') {
    const dump = startLibpq(command, source, PG_DUMP_OPTIONS, 'ignore');
    return { stdout: dump.child.stdout!, exited: dump.exited, kill: () => dump.child.kill('SIGTERM'), dispose: () => undefined };
  },
  async restore(target, dump, log) {
    const admin = { ...target, database: 'postgres' };
    const name = quoteIdent(target.database);
    log.info(`restore: dropping and re-creating ${target.database} on ${target.name} (${target.host}:${target.port})`);
    await startLibpq('psql', admin, ['-v', 'ON_ERROR_STOP=1', '-q', '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, '-c', `CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`], 'ignore').exited;
    const load = startLibpq('psql', target, ['-v', 'ON_ERROR_STOP=1', '-q', '-o', '/dev/null'], 'pipe');
    await Promise.all([pipeline(dump, load.child.stdin!), load.exited]);
  },
  async sample(source, table, column, limit) {
    const client = await connectPg(source);
    try {
      const qualified = table.includes('.') ? table.split('.').map(quoteIdent).join('.') : quoteIdent(table);
      const found = await pgRows<{ v: string }>(client, `SELECT v FROM (SELECT DISTINCT ${quoteIdent(column)}::text AS v FROM ${qualified} WHERE ${quoteIdent(column)} IS NOT NULL) d ORDER BY random() LIMIT ${Number(limit)}`);
      return found.map((r) => r.v);
    } finally {
      await closePg(client);
    }
  },
};

export function engineTools(engine: Engine): EngineTools {
  return engine === 'postgres' ? postgresTools : mysqlTools;
}
