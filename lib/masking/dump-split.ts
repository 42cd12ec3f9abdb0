/**
 * Cuts a mariadb-dump/mysqldump stream into whole INSERT statements and everything else
 * (lines), without parsing values, so that several threads can each parse and scan a share
 * of the statements (leak-scan.ts).
 *
 * Why a cut at the first ";\n" after an INSERT's start is a statement's end: the dump client
 * escapes a newline inside a string literal (as `\n`; BLOBs are hex with --hex-blob), so a raw
 * newline byte is always outside literals, and every line of an INSERT ends a row ("),\n") or
 * the statement (");\n"). A dump that broke this (a raw newline in a literal) would be cut
 * inside a row: the thread that parses that statement then finds it unfinished and fails the
 * check (DumpRewriter.atStatementBoundary), so such a dump fails loudly, never passes unread.
 *
 * `insert(bytes)` gets each statement from "INSERT INTO " at a line start to its ";\n"
 * included; `other(bytes)` every other line, newline included (the last one may lack it).
 * Concatenated in call order, the pieces are the input, byte for byte. A sink with
 * `insertParts(parts, length)` gets each statement as the views of the chunks it came in
 * instead (not concatenated: a caller that copies them anyway saves a copy of the dump).
 */
export class StatementSplitter {
  /** Bytes of the line or statement in progress (views of the chunks they came in). */
  private parts: Buffer[] = [];
  private inInsert = false;

  constructor(private readonly sink: { other(bytes: Buffer): void } & ({ insert(bytes: Buffer): void } | { insertParts(parts: Buffer[], length: number): void })) {}

  push(chunk: Buffer): void {
    let pos = 0;
    const length = chunk.length;
    while (pos < length) {
      if (this.inInsert) {
        // The statement's end: ";\n", possibly split between the last part and this chunk.
        let end: number;
        const last = this.parts.length > 0 ? this.parts[this.parts.length - 1] : undefined;
        if (pos === 0 && chunk[0] === NEWLINE && last !== undefined && last.length > 0 && last[last.length - 1] === SEMICOLON) end = 1;
        else {
          const found = chunk.indexOf(STATEMENT_END, pos);
          end = found === -1 ? -1 : found + 2;
        }
        if (end === -1) {
          this.parts.push(chunk.subarray(pos));
          return;
        }
        this.parts.push(chunk.subarray(pos, end));
        this.emit('insert');
        this.inInsert = false;
        pos = end;
        continue;
      }
      const newline = chunk.indexOf(NEWLINE, pos);
      if (newline === -1) {
        this.parts.push(chunk.subarray(pos));
        return;
      }
      this.parts.push(chunk.subarray(pos, newline + 1));
      pos = newline + 1;
      const line = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
      this.parts = [line];
      if (!startsWith(line, INSERT_INTO)) this.emit('other');
      else if (line.length >= 2 && line[line.length - 2] === SEMICOLON) this.emit('insert'); // the whole statement on one line
      else this.inInsert = true; // one row per line: up to the line that ends with ";"
    }
  }

  /** End of input: the last line without a newline (or an unfinished statement, which its parser then rejects). */
  finish(): void {
    if (this.parts.length > 0) this.emit(this.inInsert ? 'insert' : 'other');
    this.inInsert = false;
  }

  private emit(kind: 'insert' | 'other'): void {
    const parts = this.parts;
    this.parts = [];
    if (kind === 'insert' && 'insertParts' in this.sink) {
      let length = 0;
      for (const part of parts) length += part.length;
      this.sink.insertParts(parts, length);
      return;
    }
    const bytes = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    if (kind === 'other') this.sink.other(bytes);
    else if ('insert' in this.sink) this.sink.insert(bytes);
  }
}

const NEWLINE = 0x0a;
const SEMICOLON = 0x3b;
const STATEMENT_END = Buffer.from(';\n');
const INSERT_INTO = Buffer.from('INSERT INTO ');

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  if (bytes.length < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (bytes[k] !== prefix[k]) return false;
  return true;
}
