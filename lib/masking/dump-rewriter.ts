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

const NEWLINE = 0x0a;
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

const isSpace = (byte: number) => byte === 0x20 || byte === NEWLINE || byte === 0x0d || byte === 0x09;

/** Collects output for one chunk as views of the input plus replacement text; one allocation. */
class Output {
  private readonly parts: (Buffer | string)[] = [];
  private bytes = 0;
  push(part: Buffer | string): void {
    if (part.length === 0) return;
    this.parts.push(part);
    this.bytes += typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  }
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.bytes);
    let offset = 0;
    for (const part of this.parts) offset += typeof part === 'string' ? out.write(part, offset) : part.copy(out, offset);
    return out;
  }
}

interface InsertState {
  table: string;
  /** Masker per value position of this INSERT (undefined: copied byte for byte). */
  maskers: (ValueMasker | undefined)[];
  masksAnything: boolean;
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
  private carry: Buffer = Buffer.alloc(0);
  private mode: 'line' | 'create-table' | 'rows' = 'line';
  private createTableLines: string[] = [];
  private readonly tables = new Map<string, { columns: ColumnInfo[]; masking: TableMasking }>();
  private insert: InsertState | undefined;
  private firstLine = true;
  private completed = false;
  private consumed = 0;
  readonly summary: RewriteSummary = { rows: {}, bytesIn: 0, bytesOut: 0 };

  constructor(private readonly options: RewriterOptions) {}

  /** Feed one chunk; returns the rewritten bytes that are complete so far. */
  push(chunk: Buffer): Buffer {
    this.summary.bytesIn += chunk.length;
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const out = new Output();
    const stop = this.run(data, out, false);
    this.consumed += stop;
    this.carry = data.subarray(stop);
    // Do not keep a reference to a large chunk for a small carry.
    if (this.carry.length > 0 && this.carry.length < data.length / 4) this.carry = Buffer.from(this.carry);
    const result = out.take();
    this.summary.bytesOut += result.length;
    return result;
  }

  /** End of input: returns the last bytes, or throws if the dump was cut short. */
  finish(): Buffer {
    const out = new Output();
    if (this.carry.length > 0) {
      if (this.mode !== 'line') throw this.truncated();
      // A last line without its newline.
      const data = Buffer.concat([this.carry, Buffer.from('\n')]);
      const stop = this.run(data, out, true);
      if (stop < data.length) throw this.truncated();
      this.carry = Buffer.alloc(0);
    }
    if (this.mode !== 'line') throw this.truncated();
    if ((this.options.requireCompletionLine ?? true) && !this.completed) {
      throw new DumpFormatError(`truncated dump: it ends after ${this.summary.bytesIn} bytes without the closing "-- Dump completed" line, so it may be cut short; no output is kept`);
    }
    const result = out.take();
    this.summary.bytesOut += result.length;
    return result;
  }

  private truncated(): DumpFormatError {
    const where = this.mode === 'rows' && this.insert ? `inside the INSERT of table ${this.insert.table} (after ${this.summary.rows[this.insert.table] ?? 0} rows)` : this.mode === 'create-table' ? 'inside a CREATE TABLE' : 'in the middle of a line';
    return new DumpFormatError(`truncated dump: it ends ${where}, at byte ${this.consumed + this.carry.length}; no output is kept`);
  }

  /** Process as much of `data` as is complete; returns where processing stopped. */
  private run(data: Buffer, out: Output, final: boolean): number {
    let pos = 0;
    for (;;) {
      if (this.mode === 'rows') {
        const next = this.rows(data, pos, out);
        if (next === -1) return pos;
        pos = next;
        continue;
      }
      if (pos >= data.length) return pos;
      // Line modes: an INSERT header is recognised at a line start, before the line is complete
      // (MySQL writes all rows of an INSERT on one long line).
      if (this.mode === 'line' && data[pos] === 0x49 /* I */) {
        const header = this.insertHeader(data, pos, final);
        if (header === -1) return pos;
        if (header > pos) {
          out.push(data.subarray(pos, header));
          pos = header;
          continue;
        }
      }
      const newline = data.indexOf(NEWLINE, pos);
      if (newline === -1) return pos;
      const line = data.subarray(pos, newline + 1);
      this.line(line, out);
      pos = newline + 1;
    }
  }

  private line(line: Buffer, out: Output): void {
    const first = this.firstLine;
    this.firstLine = false;
    if (this.mode === 'create-table') {
      this.createTableLines.push(line.toString('utf8'));
      out.push(line);
      if (line[0] === CLOSE && line.toString('latin1').trimEnd().endsWith(';')) this.endCreateTable();
      return;
    }
    const text = line.length < 200 ? line.toString('utf8') : line.subarray(0, 200).toString('utf8');
    if (first && text.startsWith(MARIADB_SANDBOX_LINE) && (this.options.dropSandboxLine ?? true)) return;
    for (const refused of REFUSED) {
      if (text.startsWith(refused.prefix)) throw new DumpFormatError(`unsupported statement at byte ${this.consumed}: ${refused.why}`);
    }
    if (text.startsWith('-- Dump completed')) this.completed = true;
    if (text.startsWith('CREATE TABLE ')) {
      this.mode = 'create-table';
      this.createTableLines = [line.toString('utf8')];
    }
    out.push(line);
  }

  private endCreateTable(): void {
    const { table, columns } = parseCreateTable(this.createTableLines.join(''));
    this.createTableLines = [];
    this.mode = 'line';
    this.tables.set(table, { columns, masking: this.options.resolveTable(table, columns) });
  }

  /**
   * At a line starting with "I": returns the end of an INSERT INTO header (and enters row
   * mode), `pos` when the line is something else, or -1 when more bytes are needed.
   */
  private insertHeader(data: Buffer, pos: number, final: boolean): number {
    const window = data.toString('utf8', pos, Math.min(data.length, pos + 65536));
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
    const table = unquoteIdentifier(match[1]);
    const known = this.tables.get(table);
    if (!known) throw new DumpFormatError(`INSERT into table ${table} at byte ${this.consumed + pos} before its CREATE TABLE: dump with table structure (no --no-create-info) so columns can be matched with the rules`);
    let maskers = known.masking.maskers;
    if (match[2] !== undefined) {
      const names = [...match[2].matchAll(QUOTED_IDENTIFIER)].map((m) => unquoteIdentifier(m[1]));
      maskers = names.map((name) => {
        const index = known.masking.columns.indexOf(name);
        if (index === -1) throw new DumpFormatError(`INSERT into table ${table} names column ${name}, which its CREATE TABLE does not have`);
        return known.masking.maskers[index];
      });
    }
    this.insert = { table, maskers, masksAnything: maskers.some((m) => m !== undefined) };
    this.summary.rows[table] ??= 0;
    this.mode = 'rows';
    return pos + Buffer.byteLength(match[0]);
  }

  /**
   * Parse one row (with the whitespace before it and the `,` or `;` after it). Returns the
   * position after it, or -1 when the row is not complete in `data` yet.
   */
  private rows(data: Buffer, start: number, out: Output): number {
    const insert = this.insert!;
    let i = start;
    while (i < data.length && isSpace(data[i])) i++;
    if (i >= data.length) return -1;
    if (data[i] !== OPEN) throw this.unexpected(data, i, 'expected "(" to start a row');
    const replacements: { start: number; end: number; text: string }[] = [];
    const maskers = insert.maskers;
    let column = 0;
    i++;
    for (;;) {
      if (i >= data.length) return -1;
      const byte = data[i];
      const valueStart = i;
      let valueEnd: number;
      let quoted = false;
      if (byte === QUOTE) {
        const close = closingQuote(data, i + 1);
        if (close === -1) return -1;
        valueEnd = close + 1;
        quoted = true;
      } else {
        if (byte === 0x5f /* _ */) {
          throw new DumpFormatError(`table ${insert.table}, row ${(this.summary.rows[insert.table] ?? 0) + 1}: a _binary literal; dump with --hex-blob so binary values are written as hex`);
        }
        let j = i;
        while (j < data.length && data[j] !== COMMA && data[j] !== CLOSE) j++;
        if (j >= data.length) return -1;
        valueEnd = j;
        if (valueEnd === valueStart) throw this.unexpected(data, i, 'expected a value');
      }
      const masker = maskers[column];
      if (masker !== undefined) {
        const isNull = !quoted && valueEnd - valueStart === 4 && data.toString('latin1', valueStart, valueEnd) === 'NULL';
        if (!isNull) {
          const value = quoted ? unescapeLiteral(data, valueStart + 1, valueEnd - 1) : data.toString('latin1', valueStart, valueEnd);
          const masked = masker(value);
          const text = masked === null ? 'NULL' : !quoted && /^-?\d+(\.\d+)?$/.test(masked) ? masked : quoteLiteral(masked);
          replacements.push({ start: valueStart, end: valueEnd, text });
        }
      }
      column++;
      i = valueEnd;
      if (i >= data.length) return -1;
      if (data[i] === COMMA) {
        i++;
        continue;
      }
      if (data[i] === CLOSE) break;
      throw this.unexpected(data, i, 'expected "," or ")" after a value');
    }
    let end = i + 1;
    while (end < data.length && isSpace(data[end])) end++;
    if (end >= data.length) return -1;
    const separator = data[end];
    if (separator !== COMMA && separator !== SEMICOLON) throw this.unexpected(data, end, 'expected "," or ";" after a row');
    end++;
    const rowNumber = (this.summary.rows[insert.table] ?? 0) + 1;
    if (column !== maskers.length) {
      throw new DumpFormatError(`table ${insert.table}, row ${rowNumber}: ${column} values where the table has ${maskers.length} columns; refusing to guess which value belongs to which column`);
    }
    this.summary.rows[insert.table] = rowNumber;
    let copied = start;
    for (const replacement of replacements) {
      out.push(data.subarray(copied, replacement.start));
      out.push(replacement.text);
      copied = replacement.end;
    }
    out.push(data.subarray(copied, end));
    if (separator === SEMICOLON) {
      this.mode = 'line';
      this.insert = undefined;
    }
    return end;
  }

  private unexpected(data: Buffer, at: number, what: string): DumpFormatError {
    const table = this.insert?.table ?? '?';
    return new DumpFormatError(`table ${table}, row ${(this.summary.rows[table] ?? 0) + 1}, byte ${this.consumed + at}: ${what} (found byte 0x${data[at].toString(16).padStart(2, '0')}); the dump is not in the mysqldump format this tool reads`);
  }
}

/**
 * Position of the quote that closes a string literal whose content starts at `from`, or -1
 * if it is not in `data` yet. A quote preceded by an odd number of backslashes is escaped;
 * two quotes in a row are an escaped quote (so a quote at the very end is undecided).
 */
export function closingQuote(data: Buffer, from: number): number {
  let i = from;
  for (;;) {
    const quote = data.indexOf(QUOTE, i);
    if (quote === -1) return -1;
    let backslashes = 0;
    for (let k = quote - 1; k >= from && data[k] === BACKSLASH; k--) backslashes++;
    if (backslashes % 2 === 1) {
      i = quote + 1;
      continue;
    }
    if (quote + 1 >= data.length) return -1;
    if (data[quote + 1] === QUOTE) {
      i = quote + 2;
      continue;
    }
    return quote;
  }
}

/** The rewriter as a stream Transform: errors in the dump fail the stream (and so the pipeline). */
export class MaskingTransform extends Transform {
  readonly rewriter: DumpRewriter;

  /**
   * @param beforeEnd awaited before the last bytes are released: the dump process's exit
   * status (pipefail). A dump that exits non-zero fails the stream, so no upload completes.
   */
  constructor(options: RewriterOptions, private readonly beforeEnd?: () => Promise<void>) {
    super({ highWaterMark: 1024 * 1024 });
    this.rewriter = new DumpRewriter(options);
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
