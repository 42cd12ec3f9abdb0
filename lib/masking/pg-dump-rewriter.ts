import { DumpFormatError, type RewriteSummary, type TableResolver } from './dump-rewriter';
import type { ValueMasker } from './transformers';

/**
 * Rewrites a plain-format pg_dump stream, masking the rows of `COPY … FROM stdin` blocks.
 *
 * COPY's text format is line based: one row per line, fields separated by tabs, `\N` for
 * NULL, and a backslash escaping backslash, newline, carriage return, tab and friends (so
 * a raw tab or newline is always structure). https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2
 * Column positions come from the column list pg_dump writes in every COPY. Like the MySQL
 * rewriter it works on latin1 strings (one character per byte), decodes only masked values
 * from UTF-8, carries an incomplete line to the next chunk, and fails closed on a wrong
 * number of fields or a dump without pg_dump's closing comment.
 */
const COPY_HEADER = /^COPY ((?:"(?:[^"]|"")+"|[^ .(]+)(?:\.(?:"(?:[^"]|"")+"|[^ .(]+))?) \(([^\n]*)\) FROM stdin;\n$/;
const NON_ASCII = /[^\x00-\x7f]/;
const COPY_UNESCAPE: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
const COPY_ESCAPE: Record<string, string> = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };

const unquotePgIdentifier = (name: string) => (name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name);

/** Split `a, "B c", d` (pg_dump's column list) into names. */
function columnNames(list: string): string[] {
  return [...list.matchAll(/"((?:[^"]|"")+)"|([^\s,"]+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]));
}

/** Decode a COPY text field (latin1 string) into the text it stands for. */
export function unescapeCopyField(raw: string): string {
  const unescaped =
    raw.indexOf('\\') === -1
      ? raw
      : raw.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|[\s\S])/g, (_, code: string) => {
          if (code[0] === 'x' && code.length > 1) return String.fromCharCode(parseInt(code.slice(1), 16));
          if (/^[0-7]/.test(code)) return String.fromCharCode(parseInt(code, 8) & 0xff);
          return COPY_UNESCAPE[code] ?? code;
        });
  return NON_ASCII.test(unescaped) ? Buffer.from(unescaped, 'latin1').toString('utf8') : unescaped;
}

/** Encode text as a COPY text field (latin1 string of its UTF-8 bytes). */
export function escapeCopyField(value: string): string {
  const escaped = value.replace(/[\\\b\f\n\r\t\v]/g, (char) => COPY_ESCAPE[char]);
  return NON_ASCII.test(escaped) ? Buffer.from(escaped, 'utf8').toString('latin1') : escaped;
}

export class PgDumpRewriter {
  private carry = '';
  private copy: { table: string; maskers: (ValueMasker | undefined)[]; masksAnything: boolean } | undefined;
  private completed = false;
  private consumed = 0;
  readonly summary: RewriteSummary = { rows: {}, bytesIn: 0, bytesOut: 0 };

  constructor(private readonly options: { resolveTable: TableResolver }) {}

  /** Rows are counted before their values are masked. */
  currentRow(table: string): number {
    return this.summary.rows[table] ?? 0;
  }

  push(chunk: Buffer): Buffer {
    this.summary.bytesIn += chunk.length;
    const data = this.carry + chunk.toString('latin1');
    let out = '';
    let pos = 0;
    for (let newline = data.indexOf('\n', pos); newline !== -1; newline = data.indexOf('\n', pos)) {
      out += this.line(data.slice(pos, newline + 1));
      pos = newline + 1;
    }
    this.consumed += pos;
    this.carry = pos < data.length ? Buffer.from(data.slice(pos), 'latin1').toString('latin1') : '';
    return this.emit(out);
  }

  finish(): Buffer {
    let out = '';
    if (this.carry.length > 0) {
      out = this.line(this.carry + '\n');
      this.carry = '';
    }
    if (this.copy) throw new DumpFormatError(`truncated dump: it ends inside the COPY of table ${this.copy.table} (after ${this.summary.rows[this.copy.table]} rows); no output is kept`);
    if (!this.completed) throw new DumpFormatError(`truncated dump: it ends after ${this.summary.bytesIn} bytes without pg_dump's closing "-- PostgreSQL database dump complete" line; no output is kept`);
    return this.emit(out);
  }

  private emit(out: string): Buffer {
    const bytes = Buffer.from(out, 'latin1');
    this.summary.bytesOut += bytes.length;
    return bytes;
  }

  private line(line: string): string {
    const copy = this.copy;
    if (copy === undefined) {
      if (line.startsWith('-- PostgreSQL database dump complete')) this.completed = true;
      if (line.startsWith('COPY ')) this.startCopy(line);
      return line;
    }
    if (line === '\\.\n') {
      this.copy = undefined;
      return line;
    }
    const rowNumber = this.summary.rows[copy.table] + 1;
    const fields = line.slice(0, -1).split('\t');
    if (fields.length !== copy.maskers.length) {
      throw new DumpFormatError(`table ${copy.table}, row ${rowNumber}: ${fields.length} fields where the COPY lists ${copy.maskers.length} columns; refusing to guess which value belongs to which column`);
    }
    this.summary.rows[copy.table] = rowNumber;
    if (!copy.masksAnything) return line;
    for (let i = 0; i < fields.length; i++) {
      const masker = copy.maskers[i];
      if (masker === undefined || fields[i] === '\\N') continue;
      const masked = masker(unescapeCopyField(fields[i]));
      fields[i] = masked === null ? '\\N' : escapeCopyField(masked);
    }
    return fields.join('\t') + '\n';
  }

  private startCopy(line: string): void {
    const match = COPY_HEADER.exec(line);
    if (!match) throw new DumpFormatError(`unsupported COPY at byte ${this.consumed}: expected COPY schema.table (columns) FROM stdin; as pg_dump writes it`);
    const [schema, name] = match[1].includes('.') ? splitQualified(match[1]) : ['public', unquotePgIdentifier(match[1])];
    const table = Buffer.from(schema === 'public' ? name : `${schema}.${name}`, 'latin1').toString('utf8');
    const columns = columnNames(Buffer.from(match[2], 'latin1').toString('utf8'));
    // PostgreSQL's default collations are deterministic: equal means byte-equal, so hash bytes.
    const masking = this.options.resolveTable(table, columns.map((column) => ({ name: column, collation: 'deterministic' })));
    this.copy = { table, maskers: masking.maskers, masksAnything: masking.masksAnything };
    this.summary.rows[table] = 0;
  }
}

function splitQualified(qualified: string): [string, string] {
  const match = /^("(?:[^"]|"")+"|[^.]+)\.(.+)$/.exec(qualified)!;
  return [unquotePgIdentifier(match[1]), unquotePgIdentifier(match[2])];
}
