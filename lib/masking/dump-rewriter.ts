import { Transform, type TransformCallback } from 'node:stream';
import { parseCreateTable, QUOTED_IDENTIFIER, unquoteIdentifier } from './mysql-schema';
import { quoteLiteral, unescapeLiteral } from './sql-literals';
import type { ColumnInfo, TableMasking, ValueMasker } from './transformers';

/** Raised for any dump the rewriter cannot rewrite safely. The message never contains row data. */
export class DumpFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DumpFormatError';
  }
}

/** Called once per CREATE TABLE in the dump: how to mask that table (may throw SchemaDriftError). */
export type TableResolver = (table: string, columns: ColumnInfo[]) => TableMasking;

/**
 * Bytes are handled as latin1 strings: one byte is one character, so any byte sequence
 * (UTF-8, or raw binary in a blob dumped without --hex-blob) round-trips exactly, and V8's
 * one-byte string operations (indexOf, slicing, concatenation) are much cheaper than
 * Buffer views. Only the values of masked columns are decoded from UTF-8, and only the
 * replacement text is encoded back.
 */
const NON_ASCII = /[^\x00-\x7f]/;
const fromLatin1Bytes = (text: string) => (NON_ASCII.test(text) ? Buffer.from(text, 'latin1').toString('utf8') : text);
const toLatin1Bytes = (text: string) => (NON_ASCII.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text);

const QUOTE = 0x27;
const BACKSLASH = 0x5c;
const OPEN = 0x28;
const CLOSE = 0x29;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;

/** MariaDB >= 10.5.25/10.6.18/10.11.8 starts dumps with this line; MySQL clients reject it. */
export const MARIADB_SANDBOX_LINE = '/*M!999999\\- enable the sandbox mode */';
const INSERT_HEADER = /^INSERT INTO `((?:[^`]|``)+)`(?: \(((?:`(?:[^`]|``)+`(?:, ?)?)+)\))? VALUES\s?/;
/** Statements that would change the meaning of a data load; we refuse rather than guess. */
const REFUSED = [
  { prefix: 'INSERT IGNORE', why: 'INSERT IGNORE hides rows that fail; dump without --insert-ignore' },
  { prefix: 'REPLACE ', why: 'REPLACE rewrites rows; dump without --replace' },
  { prefix: 'INSERT /*', why: 'an INSERT with a comment hint is not a plain mysqldump row insert' },
];

const isSpace = (code: number) => code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
const NUMBER = /^-?\d+(\.\d+)?$/;

interface InsertState {
  table: string;
  /** Masker per value position of this INSERT (undefined: copied byte for byte). */
  maskers: (ValueMasker | undefined)[];
}

export interface RewriteSummary {
  /** Rows seen per table, in dump order. */
  rows: Record<string, number>;
  /** Bytes read from the dump. */
  bytesIn: number;
  bytesOut: number;
}

export interface RewriterOptions {
  resolveTable: TableResolver;
  /** Drop MariaDB's sandbox-mode first line so MySQL clients can restore the output. @default true */
  dropSandboxLine?: boolean;
  /** Require mysqldump's closing `-- Dump completed` comment (proof the dump was not cut short). @default true */
  requireCompletionLine?: boolean;
}

/**
 * Rewrites a mysqldump/mariadb-dump stream, masking the values of INSERT rows, as a
 * byte-level state machine over chunks of any size.
 *
 * Traps it handles (see test/masking/dump-rewriter.test.ts): `),(`, `;` and `INSERT INTO`
 * inside strings; backslash escapes (a quote is escaped when an odd number of backslashes
 * precedes it) and doubled quotes; a quote, an escape or a multi-byte character split
 * across chunks (an incomplete row is carried to the next chunk); raw binary bytes in
 * strings; one row per line (MariaDB) or all rows on one line (MySQL); a column list in the
 * INSERT. It fails closed (DumpFormatError) on INSERT IGNORE/REPLACE, `_binary`, a wrong
 * number of values, a table whose CREATE TABLE it has not seen, and a truncated dump.
 */
export class DumpRewriter {
  private carry = '';
  private mode: 'line' | 'create-table' | 'rows' = 'line';
  private createTableLines: string[] = [];
  private readonly tables = new Map<string, { masking: TableMasking }>();
  private insert: InsertState | undefined;
  private firstLine = true;
  private completed = false;
  private consumed = 0;
  private out = '';
  readonly summary: RewriteSummary = { rows: {}, bytesIn: 0, bytesOut: 0 };

  constructor(private readonly options: RewriterOptions) {}

  /** Feed one chunk; returns the rewritten bytes that are complete so far. */
  push(chunk: Buffer): Buffer {
    this.summary.bytesIn += chunk.length;
    const data = this.carry + chunk.toString('latin1');
    const stop = this.run(data, false);
    this.consumed += stop;
    // Copy the carry so it does not keep the whole chunk's string alive.
    this.carry = stop < data.length ? Buffer.from(data.slice(stop), 'latin1').toString('latin1') : '';
    return this.takeOutput();
  }

  /** End of input: returns the last bytes, or throws if the dump was cut short. */
  finish(): Buffer {
    if (this.carry.length > 0) {
      if (this.mode !== 'line') throw this.truncated();
      // A last line without its newline.
      const data = this.carry + '\n';
      const stop = this.run(data, true);
      if (stop < data.length) throw this.truncated();
      this.carry = '';
    }
    if (this.mode !== 'line') throw this.truncated();
    if ((this.options.requireCompletionLine ?? true) && !this.completed) {
      throw new DumpFormatError(`truncated dump: it ends after ${this.summary.bytesIn} bytes without the closing "-- Dump completed" line, so it may be cut short; no output is kept`);
    }
    return this.takeOutput();
  }

  private takeOutput(): Buffer {
    const result = Buffer.from(this.out, 'latin1');
    this.out = '';
    this.summary.bytesOut += result.length;
    return result;
  }

  private truncated(): DumpFormatError {
    const where = this.mode === 'rows' && this.insert ? `inside the INSERT of table ${this.insert.table} (after ${this.summary.rows[this.insert.table] ?? 0} rows)` : this.mode === 'create-table' ? 'inside a CREATE TABLE' : 'in the middle of a line';
    return new DumpFormatError(`truncated dump: it ends ${where}, at byte ${this.consumed + this.carry.length}; no output is kept`);
  }

  /** Process as much of `data` as is complete; returns where processing stopped. */
  private run(data: string, final: boolean): number {
    let pos = 0;
    for (;;) {
      if (this.mode === 'rows') {
        const next = this.rows(data, pos);
        if (next === -1) return pos;
        pos = next;
        continue;
      }
      if (pos >= data.length) return pos;
      // Line modes: an INSERT header is recognised at a line start, before the line is complete
      // (MySQL writes all rows of an INSERT on one long line).
      if (this.mode === 'line' && data.charCodeAt(pos) === 0x49 /* I */) {
        const header = this.insertHeader(data, pos, final);
        if (header === -1) return pos;
        if (header > pos) {
          this.out += data.slice(pos, header);
          pos = header;
          continue;
        }
      }
      const newline = data.indexOf('\n', pos);
      if (newline === -1) return pos;
      this.line(data.slice(pos, newline + 1));
      pos = newline + 1;
    }
  }

  private line(line: string): void {
    const first = this.firstLine;
    this.firstLine = false;
    if (this.mode === 'create-table') {
      this.createTableLines.push(line);
      this.out += line;
      if (line.charCodeAt(0) === CLOSE && line.trimEnd().endsWith(';')) this.endCreateTable();
      return;
    }
    if (first && line.startsWith(MARIADB_SANDBOX_LINE) && (this.options.dropSandboxLine ?? true)) return;
    for (const refused of REFUSED) {
      if (line.startsWith(refused.prefix)) throw new DumpFormatError(`unsupported statement at byte ${this.consumed}: ${refused.why}`);
    }
    if (line.startsWith('-- Dump completed')) this.completed = true;
    if (line.startsWith('CREATE TABLE ')) {
      this.mode = 'create-table';
      this.createTableLines = [line];
    }
    this.out += line;
  }

  private endCreateTable(): void {
    const { table, columns } = parseCreateTable(fromLatin1Bytes(this.createTableLines.join('')));
    this.createTableLines = [];
    this.mode = 'line';
    this.tables.set(table, { masking: this.options.resolveTable(table, columns) });
  }

  /**
   * At a line starting with "I": returns the end of an INSERT INTO header (and enters row
   * mode), `pos` when the line is something else, or -1 when more bytes are needed.
   */
  private insertHeader(data: string, pos: number, final: boolean): number {
    const window = data.slice(pos, pos + 65536);
    if (!window.startsWith('INSERT INTO ')) {
      if (!final && window.length < 13 && 'INSERT INTO '.startsWith(window)) return -1;
      return pos;
    }
    const match = INSERT_HEADER.exec(window);
    if (!match) {
      if (!final && !window.includes('\n') && window.length < 65536) return -1;
      throw new DumpFormatError(`unsupported INSERT at byte ${this.consumed + pos}: expected INSERT INTO \`table\` [(columns)] VALUES as mysqldump writes it`);
    }
    // "VALUES" followed by the end of the window: the whitespace after it may not be here yet.
    if (!final && match[0].length === window.length) return -1;
    const table = unquoteIdentifier(fromLatin1Bytes(match[1]));
    const known = this.tables.get(table);
    if (!known) throw new DumpFormatError(`INSERT into table ${table} at byte ${this.consumed + pos} before its CREATE TABLE: dump with table structure (no --no-create-info) so columns can be matched with the rules`);
    let maskers = known.masking.maskers;
    if (match[2] !== undefined) {
      const names = [...fromLatin1Bytes(match[2]).matchAll(QUOTED_IDENTIFIER)].map((m) => unquoteIdentifier(m[1]));
      maskers = names.map((name) => {
        const index = known.masking.columns.indexOf(name);
        if (index === -1) throw new DumpFormatError(`INSERT into table ${table} names column ${name}, which its CREATE TABLE does not have`);
        return known.masking.maskers[index];
      });
    }
    this.insert = { table, maskers };
    this.summary.rows[table] ??= 0;
    this.mode = 'rows';
    return pos + match[0].length;
  }

  /**
   * Parse one row (with the whitespace before it and the `,` or `;` after it). Returns the
   * position after it, or -1 when the row is not complete in `data` yet.
   */
  private rows(data: string, start: number): number {
    const insert = this.insert!;
    const maskers = insert.maskers;
    const length = data.length;
    let i = start;
    while (i < length && isSpace(data.charCodeAt(i))) i++;
    if (i >= length) return -1;
    if (data.charCodeAt(i) !== OPEN) throw this.unexpected(data, i, 'expected "(" to start a row');
    let row = '';
    let copied = start;
    let column = 0;
    i++;
    for (;;) {
      if (i >= length) return -1;
      const code = data.charCodeAt(i);
      const valueStart = i;
      let valueEnd: number;
      let quoted = false;
      if (code === QUOTE) {
        const close = closingQuote(data, i + 1);
        if (close === -1) return -1;
        valueEnd = close + 1;
        quoted = true;
      } else {
        if (code === 0x5f /* _ */) {
          throw new DumpFormatError(`table ${insert.table}, row ${(this.summary.rows[insert.table] ?? 0) + 1}: a _binary literal; dump with --hex-blob so binary values are written as hex`);
        }
        let j = i;
        for (let c = data.charCodeAt(j); j < length && c !== COMMA && c !== CLOSE; c = data.charCodeAt(++j));
        if (j >= length) return -1;
        valueEnd = j;
        if (valueEnd === valueStart) throw this.unexpected(data, i, 'expected a value');
      }
      const masker = maskers[column];
      if (masker !== undefined && !(!quoted && valueEnd - valueStart === 4 && data.startsWith('NULL', valueStart))) {
        const value = quoted ? unescapeLiteral(data.slice(valueStart + 1, valueEnd - 1)) : data.slice(valueStart, valueEnd);
        const masked = masker(value);
        row += data.slice(copied, valueStart) + (masked === null ? 'NULL' : !quoted && NUMBER.test(masked) ? masked : toLatin1Bytes(quoteLiteral(masked)));
        copied = valueEnd;
      }
      column++;
      i = valueEnd;
      if (i >= length) return -1;
      const after = data.charCodeAt(i);
      if (after === COMMA) {
        i++;
        continue;
      }
      if (after === CLOSE) break;
      throw this.unexpected(data, i, 'expected "," or ")" after a value');
    }
    let end = i + 1;
    while (end < length && isSpace(data.charCodeAt(end))) end++;
    if (end >= length) return -1;
    const separator = data.charCodeAt(end);
    if (separator !== COMMA && separator !== SEMICOLON) throw this.unexpected(data, end, 'expected "," or ";" after a row');
    end++;
    const rowNumber = (this.summary.rows[insert.table] ?? 0) + 1;
    if (column !== maskers.length) {
      throw new DumpFormatError(`table ${insert.table}, row ${rowNumber}: ${column} values where the table has ${maskers.length} columns; refusing to guess which value belongs to which column`);
    }
    this.summary.rows[insert.table] = rowNumber;
    this.out += row + data.slice(copied, end);
    if (separator === SEMICOLON) {
      this.mode = 'line';
      this.insert = undefined;
    }
    return end;
  }

  private unexpected(data: string, at: number, what: string): DumpFormatError {
    const table = this.insert?.table ?? '?';
    return new DumpFormatError(`table ${table}, row ${(this.summary.rows[table] ?? 0) + 1}, byte ${this.consumed + at}: ${what} (found byte 0x${data.charCodeAt(at).toString(16).padStart(2, '0')}); the dump is not in the mysqldump format this tool reads`);
  }
}

/**
 * Position of the quote that closes a string literal whose content starts at `from`, or -1
 * if it is not in `data` yet. A quote preceded by an odd number of backslashes is escaped;
 * two quotes in a row are an escaped quote (so a quote at the very end is undecided).
 */
export function closingQuote(data: string, from: number): number {
  let i = from;
  for (;;) {
    const quote = data.indexOf("'", i);
    if (quote === -1) return -1;
    let backslashes = 0;
    for (let k = quote - 1; k >= from && data.charCodeAt(k) === BACKSLASH; k--) backslashes++;
    if (backslashes % 2 === 1) {
      i = quote + 1;
      continue;
    }
    if (quote + 1 >= data.length) return -1;
    if (data.charCodeAt(quote + 1) === QUOTE) {
      i = quote + 2;
      continue;
    }
    return quote;
  }
}

/** The rewriter as a stream Transform: errors in the dump fail the stream (and so the pipeline). */
/** What the stream needs of a rewriter (DumpRewriter for mysqldump, PgDumpRewriter for pg_dump). */
export interface Rewriter {
  push(chunk: Buffer): Buffer;
  finish(): Buffer;
  readonly summary: RewriteSummary;
}

export class MaskingTransform extends Transform {
  /**
   * @param beforeEnd awaited before the last bytes are released: the dump process's exit
   * status (pipefail). A dump that exits non-zero fails the stream, so no upload completes.
   */
  constructor(readonly rewriter: Rewriter, private readonly beforeEnd?: () => Promise<void>) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const out = this.rewriter.push(chunk);
      callback(null, out.length > 0 ? out : undefined);
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    (async () => {
      // The dump client's own failure is the better explanation of a cut-short dump: first.
      await this.beforeEnd?.();
      return this.rewriter.finish();
    })().then(
      (out) => callback(null, out.length > 0 ? out : undefined),
      (error: Error) => callback(error),
    );
  }
}
