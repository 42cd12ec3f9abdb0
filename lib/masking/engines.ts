import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { quoteIdentifier } from '../engines/mysql/connection';
import { libpqEnvironment, quoteIdent } from '../engines/postgres/connection';
import type { Logger } from '../util/log';
import { redact } from '../util/secrets';
import { DumpRewriter, type Rewriter, type TableResolver } from './dump-rewriter';
import { clientOptionsFile, DUMP_OPTIONS, startClient, type MysqlTarget } from './mysql-client';
import { PgDumpRewriter, unescapeCopyField } from './pg-dump-rewriter';
import { createInterface } from 'node:readline';

/** `mysql` covers MariaDB and MySQL (mariadb-dump/mysqldump format); `postgres` is pg_dump's plain format. */
export type Engine = 'mysql' | 'postgres';

/** A running dump client: its stdout, its exit (rejects on failure, with stderr) and clean-up. */
export interface DumpProcess {
  stdout: Readable;
  exited: Promise<void>;
  kill(): void;
  dispose(): void;
}

/**
 * Receives a value that is printable ASCII (0x20-0x7e, no escapes) as bytes [start, end) of a
 * buffer that is reused afterwards: it must not be kept. An engine may hand any value to
 * `onValue` instead.
 */
export type AsciiValueSink = (column: number, bytes: Buffer, start: number, end: number) => void;

/** What the pipeline, the restore and the leak check need from a database engine. */
export interface EngineTools {
  rewriter(resolveTable: TableResolver, options?: { cacheResults?: boolean; discardOutput?: boolean }): Rewriter;
  startDump(source: MysqlTarget, command?: string): DumpProcess;
  restore(target: MysqlTarget, dump: Readable, log: Logger): Promise<void>;
  /**
   * Every non-NULL value of the columns, as text, streamed row by row (one table scan, no
   * sorting, memory independent of the table's size): the leak check's originals.
   */
  readValues(source: MysqlTarget, table: string, columns: string[], onValue: (column: number, value: string) => void, onAscii?: AsciiValueSink): Promise<void>;
}

const mysqlTools: EngineTools = {
  rewriter: (resolveTable, options) => new DumpRewriter({ resolveTable, ...options }),
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
  async readValues(source, table, columns, onValue, onAscii) {
    // The command-line client in batch mode, not mysql2: the protocol is decoded in C on the
    // other core, and most values reach the leak check as bytes without a string each.
    // Each value is prefixed with '=' so that SQL NULL (printed as NULL) and the text 'NULL' differ.
    const credentials = clientOptionsFile(source);
    try {
      const select = columns.map((c) => `CONCAT('=', CAST(${quoteIdentifier(c)} AS CHAR CHARACTER SET utf8mb4))`).join(', ');
      const client = startClient(process.env.MASKING_CLIENT_COMMAND ?? 'mariadb', credentials.path, ['--batch', '--skip-column-names', '--quick', '--default-character-set=utf8mb4', '-e', `SELECT ${select} FROM ${quoteIdentifier(table)}`, source.database], 'read');
      const parser = new BatchOutputParser(table, columns.length, onValue, onAscii);
      await Promise.all([
        (async () => {
          for await (const chunk of client.child.stdout!) parser.push(chunk as Buffer);
          parser.finish();
        })(),
        client.exited,
      ]);
    } finally {
      credentials.dispose();
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
  rewriter: (resolveTable) => new PgDumpRewriter({ resolveTable }), // no result cache: every value reaches the masker
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
  async readValues(source, table, columns, onValue) {
    const qualified = table.includes('.') ? table.split('.').map(quoteIdent).join('.') : quoteIdent(table);
    const select = columns.map((c) => `${quoteIdent(c)}::text`).join(', ');
    // COPY … TO STDOUT streams rows in the text format the dump rewriter already reads.
    const copy = startLibpq('psql', source, ['-v', 'ON_ERROR_STOP=1', '-q', '-c', `COPY (SELECT ${select} FROM ${qualified}) TO STDOUT`], 'ignore');
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

/**
 * The output of `mariadb --batch --skip-column-names` for a SELECT of '='-prefixed values:
 * a row per line, fields separated by tabs, NULL as `NULL`, and \\, \t, \n, \0 escaped
 * (the client's batch escaping). Anything else (a field without the prefix, a row with
 * another number of fields, output cut in the middle of a row) fails the read.
 */
export class BatchOutputParser {
  private carry: Buffer | undefined;
  constructor(
    private readonly table: string,
    private readonly columnCount: number,
    private readonly onValue: (column: number, value: string) => void,
    private readonly onAscii?: AsciiValueSink,
  ) {}

  push(chunk: Buffer): void {
    let lineStart = 0;
    if (this.carry !== undefined) {
      // Only the row cut by the previous chunk is copied, not the whole chunk.
      const newline = chunk.indexOf(0x0a);
      if (newline === -1) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return;
      }
      const line = Buffer.concat([this.carry, chunk.subarray(0, newline)]);
      this.carry = undefined;
      this.row(line, 0, line.length);
      lineStart = newline + 1;
    }
    for (;;) {
      const newline = chunk.indexOf(0x0a, lineStart);
      if (newline === -1) break;
      this.row(chunk, lineStart, newline);
      lineStart = newline + 1;
    }
    if (lineStart < chunk.length) this.carry = Buffer.from(chunk.subarray(lineStart));
  }

  finish(): void {
    if (this.carry !== undefined) throw new Error(`leak check: reading ${this.table}: the client's output ended inside a row`);
  }

  private row(bytes: Buffer, from: number, to: number): void {
    let column = 0;
    let start = from;
    for (;;) {
      let tab = bytes.indexOf(0x09, start);
      if (tab === -1 || tab > to) tab = to;
      if (column === this.columnCount) break;
      this.field(bytes, start, tab, column);
      column++;
      start = tab + 1;
      if (tab === to) break;
    }
    if (column !== this.columnCount || start !== to + 1) throw new Error(`leak check: reading ${this.table}: a row of the client's output has ${column === this.columnCount ? 'more' : 'fewer'} than ${this.columnCount} fields`);
  }

  private field(bytes: Buffer, start: number, end: number, column: number): void {
    if (end - start === 4 && bytes[start] === 0x4e && bytes[start + 1] === 0x55 && bytes[start + 2] === 0x4c && bytes[start + 3] === 0x4c) return; // NULL
    if (bytes[start] !== 0x3d || end === start) throw new Error(`leak check: reading ${this.table}: unexpected output from the client (a value without its '=' prefix)`);
    start++;
    let plain = true;
    for (let k = start; k < end; k++) {
      const code = bytes[k];
      if (code < 0x20 || code > 0x7e || code === 0x5c) {
        plain = false;
        break;
      }
    }
    if (plain && this.onAscii !== undefined) {
      this.onAscii(column, bytes, start, end);
      return;
    }
    this.onValue(column, bytes.indexOf(0x5c, start) !== -1 && bytes.indexOf(0x5c, start) < end ? unescapeBatchField(bytes, start, end) : bytes.toString('utf8', start, end));
  }
}

/** A batch-mode field with \\, \t, \n and \0 decoded (other bytes as they are), as UTF-8 text. */
function unescapeBatchField(bytes: Buffer, start: number, end: number): string {
  const out = Buffer.allocUnsafe(end - start);
  let length = 0;
  for (let k = start; k < end; k++) {
    let code = bytes[k];
    if (code === 0x5c && k + 1 < end) {
      const next = bytes[++k];
      code = next === 0x74 ? 0x09 : next === 0x6e ? 0x0a : next === 0x30 ? 0x00 : next;
    }
    out[length++] = code;
  }
  return out.toString('utf8', 0, length);
}
