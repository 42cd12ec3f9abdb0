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
 * The dump is handled as bytes (Buffers and offsets): any byte sequence (UTF-8, or raw
 * binary in a blob dumped without --hex-blob) round-trips exactly. Kept bytes are copied in
 * bulk from the input to the output; only the values of masked columns are decoded (latin1
 * for ASCII, UTF-8 otherwise) and only their replacements are encoded.
 */
interface FastBuffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  utf8Write(text: string, offset: number): number;
}
const latin1Of = (data: Buffer, start: number, end: number): string => (data as FastBuffer).latin1Slice(start, end);
const utf8Of = (data: Buffer, start: number, end: number): string => (data as FastBuffer).utf8Slice(start, end);
const NON_ASCII = /[^\x00-\x7f]/;
const fromLatin1Bytes = (text: string) => (NON_ASCII.test(text) ? Buffer.from(text, 'latin1').toString('utf8') : text);

const QUOTE = 0x27;
const BACKSLASH = 0x5c;
const OPEN = 0x28;
const CLOSE = 0x29;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const NEWLINE = 0x0a;

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
/** The letter after the backslash for each byte mysqldump escapes in a string literal (0: written as it is). */
const ESCAPE_LETTER = new Uint8Array(128);
for (const [char, letter] of [['\0', '0'], ['\n', 'n'], ['\r', 'r'], ['\\', '\\'], ["'", "'"], ['"', '"'], ['\x1a', 'Z']]) ESCAPE_LETTER[char.charCodeAt(0)] = letter.charCodeAt(0);

/** Column kinds of a row plan. */
const KEEP = 0;
const CONSTANT = 1;
const MASK = 2;

/**
 * How the values of one INSERT are rewritten, by position: kept (copied byte for byte), a
 * constant (its literal encoded once), or masked by a function.
 */
interface RowPlan {
  kinds: Uint8Array;
  maskers: (ValueMasker | undefined)[];
  /** The constant's literal where the dump has a quoted value / an unquoted one (a number stays a number). */
  quotedConstant: (Buffer | undefined)[];
  unquotedConstant: (Buffer | undefined)[];
  /** Per masked column: recent results by the value's bytes (undefined: not cached). */
  caches: (ResultCache | undefined)[];
}

/**
 * Recent results of one masked column, keyed by the value's bytes as the dump writes them
 * (quotes and escapes included) and holding the bytes written for it. Columns repeat values
 * (cities, names, dates, addresses); a hit copies bytes and skips decoding, normalising, the
 * keyed digest and encoding. Direct-mapped and bounded (a full arena starts over); a column
 * whose values rarely repeat switches its cache off after a trial. Maskers are pure
 * functions of the value, so a cached result is the result. Size: ~2.5 MB per masked
 * column of the table being dumped (released at the next table), enough for a century of
 * birth dates (~36 500 values); with 8192 slots and 512 KB the bench's data hit 26% of its
 * birth dates and 36% of its shipping addresses, with these 61% and 83%.
 */
export class ResultCache {
  static readonly SLOTS = 32768;
  static readonly MAX_KEY = 96;
  static readonly ARENA = 2048 * 1024;
  static readonly TRIAL = 20000;
  private readonly hashes = new Int32Array(ResultCache.SLOTS);
  /** Arena offset of each slot's entry (0: empty): key bytes, then result bytes. */
  private readonly offsets = new Int32Array(ResultCache.SLOTS);
  private readonly keyLengths = new Uint16Array(ResultCache.SLOTS);
  private readonly resultLengths = new Int32Array(ResultCache.SLOTS);
  private readonly arena = Buffer.alloc(ResultCache.ARENA);
  private used = 1;
  private lookups = 0;
  hits = 0;
  /** False once the trial showed that values rarely repeat. */
  enabled = true;

  static hash(data: Uint8Array, start: number, end: number): number {
    let h = 0x811c9dc5 | 0;
    for (let i = start; i < end; i++) h = Math.imul(h ^ data[i], 0x01000193);
    return h;
  }

  /**
   * Arena offset of the cached result for data[start, end) (its length in `lastLength`), or -1.
   * Asked only while `enabled`. The trial's verdict is computed on every call, without a
   * branch: the parser inlines this, and a branch first taken after V8 optimised it (at the
   * end of the trial) would throw that optimised code away.
   */
  find(data: Uint8Array, start: number, end: number, hash: number): number {
    const lookups = ++this.lookups;
    const inTrial = lookups !== ResultCache.TRIAL;
    const repeats = this.hits >= ResultCache.TRIAL / 5;
    this.enabled = inTrial || repeats;
    const slot = hash & (ResultCache.SLOTS - 1);
    const offset = this.offsets[slot];
    const length = end - start;
    if (offset !== 0 && this.hashes[slot] === hash && this.keyLengths[slot] === length) {
      const arena = this.arena;
      let k = 0;
      while (k < length && arena[offset + k] === data[start + k]) k++;
      if (k === length) {
        this.hits++;
        this.lastLength = this.resultLengths[slot];
        return offset + length;
      }
    }
    return -1;
  }
  lastLength = 0;

  get bytes(): Buffer {
    return this.arena;
  }

  store(data: Uint8Array, start: number, end: number, hash: number, result: Uint8Array, resultStart: number, resultEnd: number): void {
    const keyLength = end - start;
    const resultLength = resultEnd - resultStart;
    if (keyLength > ResultCache.MAX_KEY || resultLength > 4 * ResultCache.MAX_KEY) return;
    if (this.used + keyLength + resultLength > this.arena.length) {
      this.offsets.fill(0);
      this.used = 1;
    }
    const slot = hash & (ResultCache.SLOTS - 1);
    const offset = this.used;
    const arena = this.arena;
    for (let k = 0; k < keyLength; k++) arena[offset + k] = data[start + k];
    for (let k = 0; k < resultLength; k++) arena[offset + keyLength + k] = result[resultStart + k];
    this.used += keyLength + resultLength;
    this.hashes[slot] = hash;
    this.offsets[slot] = offset;
    this.keyLengths[slot] = keyLength;
    this.resultLengths[slot] = resultLength;
  }
}

function rowPlan(maskers: (ValueMasker | undefined)[]): RowPlan {
  const kinds = new Uint8Array(maskers.length);
  const quotedConstant: (Buffer | undefined)[] = [];
  const unquotedConstant: (Buffer | undefined)[] = [];
  maskers.forEach((masker, index) => {
    if (masker === undefined) kinds[index] = KEEP;
    else if (masker.constantResult !== undefined) {
      kinds[index] = CONSTANT;
      const result = masker.constantResult;
      quotedConstant[index] = Buffer.from(result === null ? 'NULL' : quoteLiteral(result), 'utf8');
      unquotedConstant[index] = Buffer.from(result === null ? 'NULL' : NUMBER.test(result) ? result : quoteLiteral(result), 'utf8');
    } else kinds[index] = MASK;
  });
  return { kinds, maskers, quotedConstant, unquotedConstant, caches: maskers.map(() => undefined) };
}

interface InsertState {
  table: string;
  plan: RowPlan;
  /** Rows of this table before this INSERT. */
  rowsBefore: number;
  /** Rows of this INSERT so far. */
  rows: number;
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
  /**
   * Remember recent results per column (a hit skips the masker). The leak check turns it
   * off: its maskers must see every value. @default true
   */
  cacheResults?: boolean;
  /**
   * Parse and call the maskers, but write nothing (`push` returns empty buffers): the leak
   * check reads the values and throws the output away. @default false
   */
  discardOutput?: boolean;
  /**
   * The caller copies what each `push` returns before the next call (a masking thread copies it
   * into its reply): one output buffer is written over, not a new one allocated per push (a
   * buffer of a megabyte or more is fresh memory, a page fault per 4 KB, each time). @default false
   */
  reuseOutput?: boolean;
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
const EMPTY_OUTPUT = Buffer.alloc(0);
/** `rows`: the row is not complete in the bytes at hand. */
const INCOMPLETE = -1;

export class DumpRewriter {
  /** Unprocessed bytes (an incomplete row or line), copied out of the chunk they came in. */
  private carry: Buffer | undefined;
  /** Chunks held back while a very long incomplete row grows (see push). */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private mode: 'line' | 'create-table' | 'rows' = 'line';
  private createTableLines: string[] = [];
  private readonly tables = new Map<string, { masking: TableMasking; plan: RowPlan }>();
  private insert: InsertState | undefined;
  private firstLine = true;
  private completed = false;
  private consumed = 0;
  /** Output of the current push: out[0, outPos). */
  private out: Buffer = Buffer.alloc(0);
  private outPos = 0;
  readonly summary: RewriteSummary = { rows: {}, bytesIn: 0, bytesOut: 0 };

  private readonly discard: boolean;
  constructor(private readonly options: RewriterOptions) {
    this.discard = options.discardOutput === true;
  }

  /** Feed one chunk; returns the rewritten bytes that are complete so far. */
  push(chunk: Buffer): Buffer {
    this.summary.bytesIn += chunk.length;
    // A row longer than a chunk (a big text or blob) is parsed again from its start with each
    // chunk; once it is long, wait until as many new bytes as it has have arrived, so the
    // parsing stays linear in the row's size.
    const carried = this.carry === undefined ? 0 : this.carry.length;
    if (carried > 1 << 20 && this.heldBytes + chunk.length < carried) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      return Buffer.alloc(0);
    }
    this.held.push(chunk);
    return this.process();
  }

  /** Run the carry and the held chunks through the parser. */
  private process(): Buffer {
    const parts = this.carry === undefined ? this.held : [this.carry, ...this.held];
    const data = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    this.held = [];
    this.heldBytes = 0;
    this.startOutput(data.length);
    const stop = this.run(data, false);
    this.consumed += stop;
    // Copy the carry so it does not keep the whole chunk alive.
    this.carry = stop < data.length ? Buffer.from(data.subarray(stop)) : undefined;
    return this.takeOutput();
  }

  /** End of input: returns the last bytes, or throws if the dump was cut short. */
  finish(): Buffer {
    const before = this.held.length > 0 ? this.process() : Buffer.alloc(0);
    this.startOutput(0);
    if (this.carry !== undefined) {
      if (this.mode !== 'line') throw this.truncated();
      // A last line without its newline.
      const data = Buffer.concat([this.carry, Buffer.from('\n')]);
      this.startOutput(data.length);
      const stop = this.run(data, true);
      if (stop < data.length) throw this.truncated();
      this.carry = undefined;
    }
    if (this.mode !== 'line') throw this.truncated();
    if ((this.options.requireCompletionLine ?? true) && !this.completed) {
      throw new DumpFormatError(`truncated dump: it ends after ${this.summary.bytesIn} bytes without the closing "-- Dump completed" line, so it may be cut short; no output is kept`);
    }
    const last = this.takeOutput();
    return before.length === 0 ? last : Buffer.concat([before, last]);
  }

  private startOutput(inputLength: number): void {
    // Masked values are mostly about as long as the originals; the buffer grows if not.
    const size = inputLength + (inputLength >> 2) + 1024;
    const spare = this.spareOutput;
    this.spareOutput = undefined;
    this.out = this.discard ? EMPTY_OUTPUT : spare !== undefined && spare.length >= size ? spare : Buffer.allocUnsafe(size);
    this.outPos = 0;
  }

  /** With `reuseOutput`: the last output buffer, written over by the next push. */
  private spareOutput: Buffer | undefined;

  private takeOutput(): Buffer {
    const result = this.out.subarray(0, this.outPos);
    if (this.options.reuseOutput === true && this.out.length > 0) this.spareOutput = this.out;
    this.out = Buffer.alloc(0);
    this.outPos = 0;
    this.summary.bytesOut += result.length;
    return result;
  }

  /** Room for `bytes` more output bytes. */
  private reserve(bytes: number): void {
    if (this.outPos + bytes <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.outPos + bytes + 1024));
    this.out.copy(grown, 0, 0, this.outPos);
    this.out = grown;
  }

  /** Copy input bytes [start, end) to the output. */
  private copyOut(data: Buffer, start: number, end: number): void {
    if (this.discard) return;
    const length = end - start;
    this.reserve(length);
    const out = this.out;
    let pos = this.outPos;
    if (length < 48) {
      for (let i = start; i < end; i++) out[pos++] = data[i];
    } else {
      data.copy(out, pos, start, end);
      pos += length;
    }
    this.outPos = pos;
  }

  private writeBytes(bytes: Buffer): void {
    this.copyOut(bytes, 0, bytes.length);
  }

  /** A masked value as mysqldump writes a string: quoted, escaped, UTF-8. */
  private writeQuoted(value: string): void {
    if (this.discard) return;
    // At most 3 bytes per UTF-16 unit, and 2 per escaped character (both ASCII, so 1 unit).
    this.reserve(value.length * 3 + 2);
    const out = this.out;
    const start = this.outPos;
    out[start] = QUOTE;
    // Encoded natively (no flattening of the transformers' concatenated strings in JavaScript),
    // then checked: the rare value with a character to escape is written again, escaped.
    const end = start + 1 + (out as FastBuffer).utf8Write(value, start + 1);
    for (let p = start + 1; p < end; p++) {
      const byte = out[p];
      if (byte < 0x80 && ESCAPE_LETTER[byte] !== 0) {
        const literal = quoteLiteral(value);
        this.reserve(literal.length * 3);
        this.outPos = start + this.out.write(literal, start, 'utf8');
        return;
      }
    }
    out[end] = QUOTE;
    this.outPos = end + 1;
  }

  private writeText(text: string): void {
    if (this.discard) return;
    this.reserve(text.length * 3);
    this.outPos += this.out.write(text, this.outPos, 'utf8');
  }

  /** The number (from 1) of the row being parsed in `table`: for reports that must name a row without its values. */
  currentRow(table: string): number {
    return this.rowCount(table) + 1;
  }

  /** The number (from 1) of the row being parsed within its INSERT statement (0 outside one). */
  rowInStatement(): number {
    return this.insert === undefined ? 0 : this.insert.rows + 1;
  }

  /** The table and row count of the last INSERT statement that ended (its `;` read). */
  lastStatement: { table: string; rows: number } | undefined;

  /**
   * An INSERT statement that another DumpRewriter (a masking thread, parallel-masking.ts)
   * rewrote, with the same tables, in this rewriter's place in the dump: the summary and the
   * positions in later messages count it as if this rewriter had read it. Only at a statement
   * boundary, and only for a table whose CREATE TABLE this rewriter has read.
   */
  statementRewrittenElsewhere(table: string, rows: number, bytesIn: number, bytesOut: number): void {
    if (!this.atStatementBoundary()) throw new Error('statementRewrittenElsewhere: this rewriter is inside a line or a statement');
    if (!this.tables.has(table)) throw new DumpFormatError(`INSERT into table ${table} at byte ${this.consumed} before its CREATE TABLE: dump with table structure (no --no-create-info) so columns can be matched with the rules`);
    this.firstLine = false;
    this.consumed += bytesIn;
    this.summary.bytesIn += bytesIn;
    this.summary.bytesOut += bytesOut;
    this.summary.rows[table] = (this.summary.rows[table] ?? 0) + rows;
    this.lastStatement = { table, rows };
  }

  /** True when everything pushed so far was parsed to the end of a statement or line: no row or line is waiting for more bytes. */
  atStatementBoundary(): boolean {
    return this.mode === 'line' && this.carry === undefined && this.held.length === 0;
  }

  private rowCount(table: string): number {
    const insert = this.insert;
    return insert !== undefined && insert.table === table ? insert.rowsBefore + insert.rows : this.summary.rows[table] ?? 0;
  }

  private truncated(): DumpFormatError {
    const where = this.mode === 'rows' && this.insert ? `inside the INSERT of table ${this.insert.table} (after ${this.rowCount(this.insert.table)} rows)` : this.mode === 'create-table' ? 'inside a CREATE TABLE' : 'in the middle of a line';
    return new DumpFormatError(`truncated dump: it ends ${where}, at byte ${this.consumed + (this.carry?.length ?? 0) + this.heldBytes}; no output is kept`);
  }

  /** Process as much of `data` as is complete; returns where processing stopped. */
  private run(data: Buffer, final: boolean): number {
    let pos = 0;
    const length = data.length;
    for (;;) {
      if (this.mode === 'rows') {
        const outStart = this.outPos;
        const next = this.rows(data, pos);
        if (next === INCOMPLETE) {
          this.incomplete(outStart);
          return pos;
        }
        pos = next;
        if (this.statementEnded) this.endStatement();
        continue;
      }
      if (pos >= length) return pos;
      // Line modes: an INSERT header is recognised at a line start, before the line is complete
      // (MySQL writes all rows of an INSERT on one long line).
      if (this.mode === 'line' && data[pos] === 0x49 /* I */) {
        const header = this.insertHeader(data, pos, final);
        if (header === -1) return pos;
        if (header > pos) {
          this.copyOut(data, pos, header);
          pos = header;
          continue;
        }
      }
      const newline = data.indexOf(NEWLINE, pos);
      if (newline === -1) return pos;
      this.line(data, pos, newline + 1);
      pos = newline + 1;
    }
  }

  private line(data: Buffer, start: number, end: number): void {
    const first = this.firstLine;
    this.firstLine = false;
    // Only the start of a line decides what it is (and a CREATE TABLE is read whole).
    const line = this.mode === 'create-table' ? latin1Of(data, start, end) : latin1Of(data, start, Math.min(end, start + 64));
    if (this.mode === 'create-table') {
      this.createTableLines.push(line);
      this.copyOut(data, start, end);
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
      this.createTableLines = [latin1Of(data, start, end)];
    }
    this.copyOut(data, start, end);
  }

  private endCreateTable(): void {
    const { table, columns } = parseCreateTable(fromLatin1Bytes(this.createTableLines.join('')));
    this.createTableLines = [];
    this.mode = 'line';
    const masking = this.options.resolveTable(table, columns);
    // mysqldump writes a table's rows right after its CREATE TABLE: earlier tables' caches are done with.
    for (const known of this.tables.values()) known.plan.caches.fill(undefined);
    this.tables.set(table, { masking, plan: rowPlan(masking.maskers) });
  }

  /**
   * At a line starting with "I": returns the end of an INSERT INTO header (and enters row
   * mode), `pos` when the line is something else, or -1 when more bytes are needed.
   */
  private insertHeader(data: Buffer, pos: number, final: boolean): number {
    const window = latin1Of(data, pos, Math.min(data.length, pos + 65536));
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
    let plan = known.plan;
    if (match[2] !== undefined) {
      const names = [...fromLatin1Bytes(match[2]).matchAll(QUOTED_IDENTIFIER)].map((m) => unquoteIdentifier(m[1]));
      plan = rowPlan(
        names.map((name) => {
          const index = known.masking.columns.indexOf(name);
          if (index === -1) throw new DumpFormatError(`INSERT into table ${table} names column ${name}, which its CREATE TABLE does not have`);
          return known.masking.maskers[index];
        }),
      );
    }
    this.insert = { table, plan, rowsBefore: this.summary.rows[table] ?? 0, rows: 0 };
    this.summary.rows[table] ??= 0;
    this.mode = 'rows';
    return pos + match[0].length;
  }

  /**
   * Parse one row (with the whitespace before it and the `,` or `;` after it), writing it
   * rewritten to the output. Returns the position after it, or INCOMPLETE when the row is
   * not complete in `data` yet (the caller drops what was written of it).
   *
   * Hot and large: V8 optimises it early and throws the optimised code away (deoptimises,
   * then compiles it again, ~40 ms each) whenever a property access or comparison it has
   * never executed is reached. So the rare exits (a row cut by a chunk's end) return a
   * constant, and tests that are rare to pass are computed on every row.
   */
  private rows(data: Buffer, start: number): number {
    const insert = this.insert!;
    const plan = insert.plan;
    const kinds = plan.kinds;
    const columns = kinds.length;
    const length = data.length;
    let i = start;
    while (i < length && isSpace(data[i])) i++;
    if (i >= length) return INCOMPLETE;
    if (data[i] !== OPEN) throw this.unexpected(data, i, 'expected "(" to start a row');
    let copied = start;
    let column = 0;
    i++;
    for (;;) {
      if (i >= length) return INCOMPLETE;
      const code = data[i];
      const valueStart = i;
      let valueEnd: number;
      let quoted = false;
      let escaped = false;
      let high = 0;
      const kind = column < columns ? kinds[column] : KEEP;
      if (code === QUOTE && kind !== MASK) {
        // Kept or constant: only the end matters (found natively; long texts are common here).
        const close = closingQuoteIn(data, i + 1, length);
        if (close === -1) return INCOMPLETE;
        valueEnd = close + 1;
        quoted = true;
      } else if (code === QUOTE) {
        // The closing quote: not after a backslash (escapes are skipped in pairs, so a quote
        // closes after an even number of backslashes) and not doubled.
        let j = i + 1;
        for (;;) {
          if (j >= length) return INCOMPLETE;
          const c = data[j];
          if (c === QUOTE) {
            if (j + 1 >= length) return INCOMPLETE; // undecided: the next byte could be a quote
            if (data[j + 1] !== QUOTE) break;
            escaped = true;
            j += 2;
          } else if (c === BACKSLASH) {
            escaped = true;
            j += 2;
          } else {
            high |= c;
            j++;
          }
        }
        valueEnd = j + 1;
        quoted = true;
      } else {
        if (code === 0x5f /* _ */) {
          throw new DumpFormatError(`table ${insert.table}, row ${this.rowCount(insert.table) + 1}: a _binary literal; dump with --hex-blob so binary values are written as hex`);
        }
        let j = i;
        while (j < length) {
          const c = data[j];
          if (c === COMMA || c === CLOSE) break;
          j++;
        }
        if (j >= length) return INCOMPLETE;
        valueEnd = j;
        if (valueEnd === valueStart) throw this.unexpected(data, i, 'expected a value');
      }
      if (kind !== KEEP && !(!quoted && valueEnd - valueStart === 4 && data[valueStart] === 0x4e && data[valueStart + 1] === 0x55 && data[valueStart + 2] === 0x4c && data[valueStart + 3] === 0x4c) /* NULL stays NULL */) {
        if (kind === CONSTANT) {
          this.copyOut(data, copied, valueStart);
          this.writeBytes(quoted ? plan.quotedConstant[column]! : plan.unquotedConstant[column]!);
        } else {
          this.copyOut(data, copied, valueStart);
          let cache = plan.caches[column];
          if (cache === undefined) {
            cache = plan.caches[column] = new ResultCache();
            if (this.options.cacheResults === false) cache.enabled = false;
          }
          const cacheable = cache.enabled && valueEnd - valueStart <= ResultCache.MAX_KEY;
          const hash = cacheable ? ResultCache.hash(data, valueStart, valueEnd) : 0;
          const found = cacheable ? cache.find(data, valueStart, valueEnd, hash) : -1;
          if (found !== -1) this.copyOut(cache.bytes, found, found + cache.lastLength);
          else {
            const masker = plan.maskers[column]!;
            const written = this.outPos;
            // Printable ASCII without escapes: the masker may work on the bytes (no decoding),
            // and write its literal straight into the output (no string at all).
            const ascii = quoted && !escaped && (high & 0x80) === 0;
            let end = -1;
            if (ascii && masker.writeLiteral !== undefined && !this.discard) {
              this.reserve(masker.literalBytes! + 2 * (valueEnd - valueStart));
              end = masker.writeLiteral(data, valueStart + 1, valueEnd - 1, this.out, written);
            }
            if (end !== -1) this.outPos = end;
            else {
              let masked: string | null | undefined = quoted
                ? ascii && masker.fromAscii !== undefined
                  ? masker.fromAscii(data, valueStart + 1, valueEnd - 1)
                  : undefined
                : masker.fromUnquoted !== undefined
                  ? masker.fromUnquoted(data, valueStart, valueEnd)
                  : undefined;
              if (masked === undefined) {
                const value = !quoted ? latin1Of(data, valueStart, valueEnd) : escaped ? unescapeLiteral(latin1Of(data, valueStart + 1, valueEnd - 1)) : (high & 0x80) !== 0 ? utf8Of(data, valueStart + 1, valueEnd - 1) : latin1Of(data, valueStart + 1, valueEnd - 1);
                masked = masker(value);
              }
              if (masked === null) this.writeText('NULL');
              else if (!quoted && NUMBER.test(masked)) this.writeText(masked);
              else this.writeQuoted(masked);
            }
            if (cacheable) cache.store(data, valueStart, valueEnd, hash, this.out, written, this.outPos);
          }
        }
        copied = valueEnd;
      }
      column++;
      i = valueEnd;
      if (i >= length) return INCOMPLETE;
      const after = data[i];
      if (after === COMMA) {
        i++;
        continue;
      }
      if (after === CLOSE) break;
      throw this.unexpected(data, i, 'expected "," or ")" after a value');
    }
    let end = i + 1;
    while (end < length && isSpace(data[end])) end++;
    if (end >= length) return INCOMPLETE;
    const separator = data[end];
    const endsStatement = separator === SEMICOLON;
    if (separator !== COMMA && !endsStatement) throw this.unexpected(data, end, 'expected "," or ";" after a row');
    end++;
    if (column !== columns) {
      throw new DumpFormatError(`table ${insert.table}, row ${this.rowCount(insert.table) + 1}: ${column} values where the table has ${columns} columns; refusing to guess which value belongs to which column`);
    }
    insert.rows++;
    this.copyOut(data, copied, end);
    // The statement's end is handled by the caller (endStatement): see above.
    this.statementEnded = endsStatement;
    return end;
  }

  /** Set by `rows`: the row just parsed ended its INSERT statement (`;`). */
  private statementEnded = false;

  private endStatement(): void {
    const insert = this.insert!;
    this.statementEnded = false;
    this.summary.rows[insert.table] = insert.rowsBefore + insert.rows;
    this.lastStatement = { table: insert.table, rows: insert.rows };
    this.mode = 'line';
    this.insert = undefined;
  }

  /** A row is not complete yet: drop what was written of it (it is parsed again with more bytes). */
  private incomplete(outStart: number): void {
    this.outPos = outStart;
    if (this.insert !== undefined) this.summary.rows[this.insert.table] = this.insert.rowsBefore + this.insert.rows;
  }

  private unexpected(data: Buffer, at: number, what: string): DumpFormatError {
    const table = this.insert?.table ?? '?';
    return new DumpFormatError(`table ${table}, row ${this.rowCount(table) + 1}, byte ${this.consumed + at}: ${what} (found byte 0x${data[at].toString(16).padStart(2, '0')}); the dump is not in the mysqldump format this tool reads`);
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

/** `closingQuote` over bytes: the closing quote of a literal whose content starts at `from`, or -1 if not in data[0, length) yet. */
function closingQuoteIn(data: Buffer, from: number, length: number): number {
  let i = from;
  for (;;) {
    const quote = data.indexOf(QUOTE, i);
    if (quote === -1 || quote >= length) return -1;
    let backslashes = 0;
    for (let k = quote - 1; k >= from && data[k] === BACKSLASH; k--) backslashes++;
    if (backslashes % 2 === 1) {
      i = quote + 1;
      continue;
    }
    if (quote + 1 >= length) return -1;
    if (data[quote + 1] === QUOTE) {
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
  /** The number (from 1) of the row whose values are being masked in `table`. */
  currentRow(table: string): number;
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
