import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connect, quoteIdentifier } from '../engines/mysql/connection';
import { libpqEnvironment, quoteIdent } from '../engines/postgres/connection';
import type { Logger } from '../util/log';
import { dieWithParent } from '../util/process-group';
import { redact } from '../util/secrets';
import { DumpRewriter, type Rewriter, type TableResolver } from './dump-rewriter';
import { DUMP_OPTIONS, startClient, type MysqlTarget } from './mysql-client';
import { PgDumpRewriter, unescapeCopyField } from './pg-dump-rewriter';
import { createInterface } from 'node:readline';
import { streamColumnValues } from './source-snapshot';

/** `mysql` covers MariaDB and MySQL (mariadb-dump/mysqldump format); `postgres` is pg_dump's plain format. */
export type Engine = 'mysql' | 'postgres';

/** A running dump client: its stdout and its exit (rejects on failure, with stderr). It leaves no file behind: the password is in its environment. */
export interface DumpProcess {
  stdout: Readable;
  exited: Promise<void>;
  kill(): void;
}

/** What the pipeline, the restore and the leak check need from a database engine. */
export interface EngineTools {
  rewriter(resolveTable: TableResolver, options?: { cacheResults?: boolean; discardOutput?: boolean }): Rewriter;
  /** @param options.snapshot PostgreSQL: an exported snapshot (pg-snapshot.ts) to dump instead of a new one. */
  startDump(source: MysqlTarget, command?: string, options?: { snapshot?: string }): DumpProcess;
  restore(target: MysqlTarget, dump: Readable, log: Logger): Promise<void>;
  /**
   * Every non-NULL value of the columns, as text, streamed row by row (one table scan, no
   * sorting, memory independent of the table's size): the leak check's originals.
   */
  readValues(source: MysqlTarget, table: string, columns: string[], onValue: (column: number, value: string) => void, options?: { snapshot?: string }): Promise<void>;
}

const mysqlTools: EngineTools = {
  rewriter: (resolveTable, options) => new DumpRewriter({ resolveTable, ...options }),
  startDump(source, command = 'mariadb-dump') {
    const dump = startClient(command, source, [...DUMP_OPTIONS, source.database], 'read');
    return { stdout: dump.child.stdout!, exited: dump.exited, kill: () => dump.child.kill('SIGTERM') };
  },
  async restore(target, dump, log) {
    const client = process.env.MASKING_CLIENT_COMMAND ?? 'mariadb';
    const name = quoteIdentifier(target.database);
    log.info(`restore: dropping and re-creating ${target.database} on ${target.name} (${target.host}:${target.port})`);
    await startClient(client, target, ['-e', `DROP DATABASE IF EXISTS ${name}; CREATE DATABASE ${name} CHARACTER SET utf8mb4`], 'read').exited;
    // The client stops at the first error (no --force).
    const load = startClient(client, target, ['--default-character-set=utf8mb4', target.database], 'write');
    await Promise.all([pipeline(dump, load.child.stdin!), load.exited]);
  },
  async readValues(source, table, columns, onValue) {
    const connection = await connect(source, { database: source.database });
    try {
      await streamColumnValues(connection, table, columns, onValue);
    } finally {
      await connection.end();
    }
  },
};

/**
 * Start a libpq tool with the password in its environment (PGPASSWORD, never argv). The tool dies
 * with this process even when no handler of ours runs (`dieWithParent`), as the MariaDB clients
 * do (mysql-client.ts startClient): a killed run leaves no pg_dump holding its transaction and
 * connection open on the source, and no psql going on against staging.
 */
function startLibpq(command: string, target: MysqlTarget, args: string[], stdin: 'ignore' | 'pipe') {
  const child = spawn(...dieWithParent(command, args), { env: libpqEnvironment(target), stdio: [stdin, 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`${command} could not start: ${error.message} (install postgresql-client)`)));
    // 127: setpriv (dieWithParent) found no such program to run.
    child.once('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${command} failed (${signal ?? `exit ${code}`}): ${redact(stderr.trim()) || 'no error output'}${code === 127 ? ' (install postgresql-client)' : ''}`))));
  });
  exited.catch(() => undefined);
  return { child, exited };
}

/** pg_dump options: plain SQL (COPY blocks), no ownership or grants (staging has other roles). */
export const PG_DUMP_OPTIONS = ['--format=plain', '--no-owner', '--no-privileges', '--encoding=UTF8'];

const postgresTools: EngineTools = {
  rewriter: (resolveTable) => new PgDumpRewriter({ resolveTable }), // no result cache: every value reaches the masker
  startDump(source, command = 'pg_dump', options = {}) {
    const dump = startLibpq(command, source, [...PG_DUMP_OPTIONS, ...(options.snapshot ? [`--snapshot=${options.snapshot}`] : [])], 'ignore');
    return { stdout: dump.child.stdout!, exited: dump.exited, kill: () => dump.child.kill('SIGTERM') };
  },
  async restore(target, dump, log) {
    const admin = { ...target, database: 'postgres' };
    const name = quoteIdent(target.database);
    log.info(`restore: dropping and re-creating ${target.database} on ${target.name} (${target.host}:${target.port})`);
    await startLibpq('psql', admin, ['-v', 'ON_ERROR_STOP=1', '-q', '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, '-c', `CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`], 'ignore').exited;
    const load = startLibpq('psql', target, ['-v', 'ON_ERROR_STOP=1', '-q', '-o', '/dev/null'], 'pipe');
    await Promise.all([pipeline(dump, load.child.stdin!), load.exited]);
  },
  async readValues(source, table, columns, onValue, options = {}) {
    const qualified = table.includes('.') ? table.split('.').map(quoteIdent).join('.') : quoteIdent(table);
    const select = columns.map((c) => `${quoteIdent(c)}::text`).join(', ');
    // COPY … TO STDOUT streams rows in the text format the dump rewriter already reads.
    const copyStatement = `COPY (SELECT ${select} FROM ${qualified}) TO STDOUT`;
    // In an exported snapshot: psql runs the -c commands in order in one session.
    const commands = options.snapshot ? ['BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY', `SET TRANSACTION SNAPSHOT '${options.snapshot.replace(/'/g, "''")}'`, copyStatement, 'COMMIT'] : [copyStatement];
    const copy = startLibpq('psql', source, ['-v', 'ON_ERROR_STOP=1', '-q', ...commands.flatMap((c) => ['-c', c])], 'ignore');
    const lines = createInterface({ input: copy.child.stdout!, crlfDelay: Infinity });
    for await (const line of lines) {
      const fields = line.split('\t');
      for (let i = 0; i < fields.length; i++) if (fields[i] !== '\\N') onValue(i, unescapeCopyField(fields[i]));
    }
    await copy.exited;
  },
};

export function engineTools(engine: Engine): EngineTools {
  return engine === 'postgres' ? postgresTools : mysqlTools;
}
