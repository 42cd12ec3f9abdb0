import { createHash } from 'node:crypto';
import { extname, join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import { DumpRewriter, type Rewriter } from './dump-rewriter';
import { StatementSplitter } from './dump-split';
import { BASE64_CANDIDATE, base64RunsAscii, decodeBase64Run, EMAIL_IN_TEXT, foldForMatching, hiddenTexts, isShared, MIN_BASE64_CHARS, MIN_PATTERN_CHARS, PatternSet, type PatternMatch, type TransferablePatterns } from './leak-patterns';
import { PgDumpRewriter } from './pg-dump-rewriter';
import type { ColumnRule, MaskingRules } from './rules';
import type { TableMasking, ValueMasker } from './transformers';

/**
 * The scan half of the leak check (leak-check.ts): every value of every table and column of
 * the masked dump, looked up among the originals' patterns. One thread (`DumpScan`), or, for
 * a MariaDB/MySQL dump, several worker threads that each parse and scan a share of the INSERT
 * statements (`scanDump` with `workers` > 1; cut by dump-split.ts, every thread also reads
 * every other line, so each knows every table's columns). The threads share the pattern
 * tables (SharedArrayBuffer: no copy). Fail closed: an error in any thread fails the scan.
 */

export interface LeakHit {
  /** `original`: a personal column's original value; `email`: an address in a kept column that no email rule produced. */
  kind: 'original' | 'email';
  /** The personal column the original was read from (kind `original`). */
  originalFrom?: string;
  /** table.column of the masked dump where it was found. */
  foundIn: string;
  /** The row: its key when the first column is a kept number ("id=42"), else its position ("row 7"). */
  row: string;
  /** sha256 prefix of the matched (folded) text: the value itself is never printed. */
  fingerprint: string;
}

/** What a scan of a whole dump found. */
export interface ScanResult {
  /** Distinct hits (first MAX_REPORTED_HITS). */
  hits: LeakHit[];
  hitCount: number;
  /** Masker calls (a row spanning two chunks is parsed, and scanned, again in one thread). */
  scannedValues: number;
  /** Rows per table in the dump. */
  rows: Record<string, number>;
  /** Threads that parsed and scanned the dump. */
  threads: number;
}

export const MAX_REPORTED_HITS = 1000;
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Masked columns whose output is not scanned: outputs that keep the original's shape (a
 * phone number, a postcode, a date) are by design other plausible values and may equal
 * someone else's original by chance (1 M phones in 10^9 numbers: ~1 000 such "hits").
 * They cannot carry another column's value, and their transformers are tested to change
 * every digit and letter.
 */
export function scansOutput(rule: ColumnRule | undefined): boolean {
  if (rule === undefined) return true;
  if (rule.transform === 'phone' || rule.transform === 'dateShift') return false;
  if (rule.transform === 'address' && rule.part === 'postcode') return false;
  return true;
}

/** Marks a row named by its place in an INSERT statement (a worker's share): `\0<statement>:<row>`, resolved by scanDump. */
const POSITION_MARK = '\u0000';

/**
 * One thread's scan: a dump rewriter whose maskers look every value up among the patterns
 * (folded; JSON escapes, hex literals and base64 runs decoded) and, in kept columns, look for
 * email addresses no email rule produced; they write nothing.
 */
export class DumpScan {
  readonly hits: LeakHit[] = [];
  hitCount = 0;
  scannedValues = 0;
  readonly rewriter: Rewriter;
  private readonly seen = new Set<string>();
  /** How a row without a kept numeric key is named: by its place in its table (a worker names it by statement instead). */
  positionOf: (table: string) => string = (table) => `row ${this.rewriter.currentRow(table)}`;

  constructor(patterns: PatternSet, rules: MaskingRules, engine: 'mysql' | 'postgres') {
    const allowedDomains = new Set([...rules.allowedEmailDomains, 'example.com', ...[...rules.tables.values()].flatMap((t) => [...t.columns.values()].flatMap((r) => (r.transform === 'email' && r.domain ? [r.domain] : [])))]);
    const record = (hit: LeakHit) => {
      const id = `${hit.kind}|${hit.originalFrom}|${hit.foundIn}|${hit.row}|${hit.fingerprint}`;
      if (this.seen.has(id)) return; // a row parsed again when it spans chunks
      this.seen.add(id);
      this.hitCount++;
      if (this.hits.length < MAX_REPORTED_HITS) this.hits.push(hit);
    };
    const latin1Values = engine === 'postgres';
    const resolveTable = (table: string, tableColumns: { name: string }[]): TableMasking => {
      const tableRules = rules.tables.get(table);
      // The row's key (a kept first column that is a whole number), as text or, read from the
      // bytes, as a number (no string per row); '' when the row has none.
      let rowKey: string | number = '';
      const firstKept = tableRules?.columns.get(tableColumns[0]?.name)?.transform === 'keep';
      const keyName = tableColumns[0]?.name;
      /** The first column's value read from bytes: true when done (the key is kept as a number, or there is none). */
      const keyFromBytes = (bytes: Uint8Array, start: number, end: number): boolean => {
        const number = firstKept ? wholeNumberOf(bytes, start, end) : undefined;
        if (number === undefined && firstKept) return false; // anything else: the string path decides
        rowKey = number ?? '';
        return true;
      };
      const maskers = tableColumns.map((c, index): ValueMasker | undefined => {
        const rule = tableRules?.columns.get(c.name);
        const where = `${table}.${c.name}`;
        const kept = rule === undefined || rule.transform === 'keep';
        // An output not scanned is skipped by the parser (only its end is found), unless it is the row's key.
        if (!scansOutput(rule) && index !== 0) return undefined;
        if (!scansOutput(rule)) {
          const notScanned = (raw: string) => {
            if (index === 0) rowKey = firstKept && /^-?\d{1,20}$/.test(raw) ? `${c.name}=${raw}` : '';
            return null;
          };
          const fromBytes = (bytes: Uint8Array, start: number, end: number): null | undefined => (index !== 0 || keyFromBytes(bytes, start, end) ? null : undefined);
          return Object.assign(notScanned, { fromAscii: fromBytes, fromUnquoted: fromBytes });
        }
        // Made once per column, not per value: the hot path allocates no closures. The row is
        // named only when there is a hit.
        const row = () => (rowKey === '' ? this.positionOf(table) : typeof rowKey === 'number' ? `${keyName}=${rowKey}` : rowKey);
        const onMatch = (match: PatternMatch) => record({ kind: 'original', originalFrom: patterns.sources[match.source], foundIn: where, row: row(), fingerprint: fingerprint(match.matched) });
        // A masked column holds a transformer's output: exact originals are looked for, a phone's other forms only in kept text.
        const scanOptions = { rewrittenForms: kept };
        const scanText = (text: string) => {
          patterns.scan(text, onMatch, scanOptions);
          if (kept && text.includes('@')) {
            for (const address of foldForMatching(text).match(EMAIL_IN_TEXT) ?? []) {
              const domain = address.slice(address.lastIndexOf('@') + 1);
              if (!allowedDomains.has(domain)) record({ kind: 'email', foundIn: where, row: row(), fingerprint: fingerprint(address) });
            }
          }
        };
        // The scan's output is thrown away: NULL is the cheapest thing to write.
        const masker = (raw: string) => {
          // pg-dump-rewriter hands over values as Latin-1 strings of the dump's UTF-8 bytes.
          const value = latin1Values && NON_ASCII.test(raw) ? Buffer.from(raw, 'latin1').toString('utf8') : raw;
          if (index === 0) rowKey = firstKept && /^-?\d{1,20}$/.test(value) ? `${c.name}=${value}` : '';
          this.scannedValues++;
          // Shorter than any pattern, email or hidden text that could hold one: nothing to find.
          if (value.length < MIN_PATTERN_CHARS) return null;
          scanText(value);
          // Hex literals (0x…, \x…), JSON escapes and base64 runs hide text: decoded and scanned too.
          const first = value.charCodeAt(0);
          if (first === 0x30 || first === 0x5c || value.includes('\\') || (kept && value.length >= MIN_BASE64_CHARS && BASE64_CANDIDATE.test(value))) for (const hidden of hiddenTexts(value)) scanText(hidden);
          return null;
        };
        // A quoted value of printable ASCII without escapes (most of a dump): scanned from its
        // bytes. It hides nothing (no hex literal, no escape); one with an '@' in a kept
        // column takes the string path for the email check.
        const fromAscii = (bytes: Uint8Array, start: number, end: number): null | undefined => {
          if (index === 0 && !keyFromBytes(bytes, start, end)) return undefined;
          // Text that spells a hex literal ('0x6a6f…') is decoded by the string path, as a BLOB's would be.
          if (end - start >= 2 && bytes[start] === 0x30 && bytes[start + 1] === 0x78) return undefined;
          if (kept && bytes.indexOf(0x40, start) !== -1 && bytes.indexOf(0x40, start) < end) return undefined;
          this.scannedValues++;
          if (end - start >= MIN_PATTERN_CHARS) patterns.scanAscii(bytes, start, end, onMatch, scanOptions);
          // Base64 runs in kept text (an address or a name encoded in it): decoded and scanned as the
          // string path would. A masked column holds a transformer's output, which encodes nothing.
          if (kept && end - start >= MIN_BASE64_CHARS) for (const [runStart, runEnd] of base64RunsAscii(bytes, start, end)) for (const text of decodeBase64Run(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1', runStart, runEnd))) scanText(text);
          return null;
        };
        // An unquoted value (a number, or a hex literal that hides text: the string path decodes it).
        const fromUnquoted = (bytes: Uint8Array, start: number, end: number): null | undefined => {
          if (end - start >= 2 && bytes[start] === 0x30 && (bytes[start + 1] | 0x20) === 0x78) return undefined;
          for (let k = start; k < end; k++) if (bytes[k] < 0x20 || bytes[k] > 0x7e || bytes[k] === 0x5c || bytes[k] === 0x40) return undefined;
          return fromAscii(bytes, start, end);
        };
        return Object.assign(masker, { fromAscii, fromUnquoted });
      });
      return { table, columns: tableColumns.map((c) => c.name), maskers, masksAnything: true };
    };
    // PostgreSQL's rewriter has no result cache and writes its output (as the stream's did before).
    this.rewriter = engine === 'postgres' ? new PgDumpRewriter({ resolveTable }) : new DumpRewriter({ resolveTable, cacheResults: false, discardOutput: true });
  }
}

/**
 * How many threads scan a dump by default: this thread only (MASKING_SCAN_THREADS=N opts in to N
 * worker threads). Each thread is a V8 isolate of its own: at the benchmark's full size, on a quiet
 * machine, two threads took the check's peak RSS from 361 MB to 525 MB (target <= 512 MB) and
 * its wall time from 15.5 s to 12.0 s, with ~25% more CPU; one thread already meets the check's
 * time target (<= the stream's 20.6 s). Where memory and cores are there, more threads are a choice.
 */
export function defaultScanThreads(): number {
  const configured = process.env.MASKING_SCAN_THREADS;
  if (configured !== undefined && configured !== '') {
    if (!/^[1-9]\d?$/.test(configured)) throw new Error(`MASKING_SCAN_THREADS=${configured}: expected a whole number from 1 to 99; unset it for the default (1: this thread)`);
    return Number(configured);
  }
  return 1;
}

/**
 * Scan a whole dump for the patterns. `threads` > 1 (MariaDB/MySQL dumps only): in that many
 * worker threads, the dump cut at INSERT statements by this thread. The result is the same
 * either way (hits, rows named by their place in their table, counts).
 */
export async function scanDump(dump: Readable, options: { patterns: PatternSet; rules: MaskingRules; engine: 'mysql' | 'postgres'; threads?: number }): Promise<ScanResult> {
  const threads = options.engine === 'mysql' ? (options.threads ?? defaultScanThreads()) : 1;
  if (threads > 1) return scanInWorkers(dump, options.patterns, options.rules, threads);
  const scan = new DumpScan(options.patterns, options.rules, options.engine);
  await pipeline(dump, chunkSink((chunk) => void scan.rewriter.push(chunk)));
  scan.rewriter.finish();
  return { hits: scan.hits, hitCount: scan.hitCount, scannedValues: scan.scannedValues, rows: { ...scan.rewriter.summary.rows }, threads: 1 };
}

/**
 * Chunks as the decompressor wrote them ('data' events through pipeline): an async iterator
 * would concatenate whatever is buffered into one new buffer first, a copy of the whole dump.
 */
function chunkSink(onChunk: (chunk: Buffer) => void, final?: (done: (error?: Error) => void) => void, wait?: (done: (error?: Error) => void) => void): Writable {
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, done) {
      try {
        onChunk(chunk);
      } catch (error) {
        return done(error as Error);
      }
      if (wait) wait(done);
      else done();
    },
    final(done) {
      if (final) final(done);
      else done();
    },
  });
}

/** A batch of pieces for one worker: [statement number or -1 for other lines, length] pairs, then the bytes in one transferred buffer. */
interface WorkerSlot {
  worker: Worker;
  pieces: number[];
  parts: Buffer[];
  pendingBytes: number;
  inFlight: number;
  done: Promise<WorkerDone>;
}

/** What a scan worker (leak-scan-worker.ts) reports at the end. */
export interface WorkerDone {
  hits: LeakHit[];
  hitCount: number;
  scannedValues: number;
  rows: Record<string, number>;
  /** [statement number, rows] pairs and the statements' tables, for the rows named by position. */
  statements: number[];
  statementTables: string[];
}

/** Bytes sent to a worker at once, and the most that may wait in all workers before the dump is read on. */
const BATCH_BYTES = 512 << 10;
const IN_FLIGHT_PER_WORKER = 3 << 20;
/**
 * A scan thread's young generation (V8 grows it up to tens of MB under a high allocation rate;
 * the scan's garbage is short-lived and the whole check must stay under 512 MB: with two
 * threads at the default limits the full benchmark's check peaked at 539 MB).
 */
const WORKER_YOUNG_GENERATION_MB = 8;

async function scanInWorkers(dump: Readable, patterns: PatternSet, rules: MaskingRules, threads: number): Promise<ScanResult> {
  const shared: TransferablePatterns = patterns.toTransferable();
  if (!isShared(shared.slots.buffer) || !isShared(shared.lastWords.buffer)) throw new Error('scanDump: the pattern tables are not in shared memory');
  const typescript = extname(__filename) === '.ts';
  let failure: Error | undefined;
  let waiting: ((error?: Error) => void) | undefined;
  const fail = (error: Error) => {
    failure ??= error;
    const resume = waiting;
    waiting = undefined;
    resume?.(failure);
  };
  const slots: WorkerSlot[] = [];
  const totalInFlight = () => slots.reduce((sum, s) => sum + s.inFlight, 0);
  for (let n = 0; n < threads; n++) {
    // Under ts-jest or tsx the worker is TypeScript too: it loads through tsx's require hook.
    const worker = new Worker(join(__dirname, `leak-scan-worker${extname(__filename)}`), {
      workerData: { patterns: shared, rules },
      execArgv: typescript ? ['--require', require.resolve('tsx/cjs')] : [],
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    const slot: WorkerSlot = { worker, pieces: [], parts: [], pendingBytes: 0, inFlight: 0, done: undefined as unknown as Promise<WorkerDone> };
    slot.done = new Promise<WorkerDone>((resolve, reject) => {
      let finished = false;
      worker.on('message', (message: { kind: string; bytes?: number; message?: string } & Partial<WorkerDone>) => {
        if (message.kind === 'scanned') {
          slot.inFlight -= message.bytes!;
          if (waiting && totalInFlight() <= IN_FLIGHT_PER_WORKER * threads) {
            const resume = waiting;
            waiting = undefined;
            resume();
          }
        } else if (message.kind === 'done') {
          finished = true;
          resolve(message as WorkerDone);
        } else if (message.kind === 'failed') {
          finished = true;
          const error = new Error(`the leak check's scan thread ${n + 1} of ${threads} failed: ${message.message}`);
          fail(error);
          reject(error);
        }
      });
      worker.once('error', (error) => {
        finished = true;
        const wrapped = new Error(`the leak check's scan thread ${n + 1} of ${threads} failed: ${error.message}`);
        fail(wrapped);
        reject(wrapped);
      });
      worker.once('exit', (code) => {
        if (finished) return;
        const error = new Error(`the leak check's scan thread ${n + 1} of ${threads} exited (${code}) before it finished`);
        fail(error);
        reject(error);
      });
    });
    slot.done.catch(() => undefined); // observed below; no unhandled rejection before that
    slots.push(slot);
  }
  const flush = (slot: WorkerSlot) => {
    if (slot.pieces.length === 0) return;
    const data = Buffer.allocUnsafeSlow(slot.pendingBytes);
    let at = 0;
    for (const part of slot.parts) at += part.copy(data, at);
    slot.worker.postMessage({ kind: 'scan', pieces: slot.pieces, data: data.buffer }, [data.buffer]);
    slot.inFlight += slot.pendingBytes;
    slot.pieces = [];
    slot.parts = [];
    slot.pendingBytes = 0;
  };
  const add = (slot: WorkerSlot, statement: number, bytes: Buffer) => {
    slot.pieces.push(statement, bytes.length);
    slot.parts.push(bytes);
    slot.pendingBytes += bytes.length;
    if (slot.pendingBytes >= BATCH_BYTES) flush(slot);
  };
  let statements = 0;
  const splitter = new StatementSplitter({
    // Every thread reads every other line (CREATE TABLE: the columns; the closing line: the dump is complete).
    other: (bytes) => {
      for (const slot of slots) add(slot, -1, bytes);
    },
    // A statement goes to the thread with the least work waiting.
    insert: (bytes) => {
      let target = slots[0];
      for (const slot of slots) if (slot.inFlight + slot.pendingBytes < target.inFlight + target.pendingBytes) target = slot;
      add(target, statements++, bytes);
    },
  });
  try {
    await pipeline(
      dump,
      chunkSink(
        (chunk) => {
          if (failure) throw failure;
          splitter.push(chunk);
        },
        (done) => {
          if (failure) return done(failure);
          splitter.finish();
          for (const slot of slots) {
            flush(slot);
            slot.worker.postMessage({ kind: 'finish' });
          }
          done();
        },
        (done) => {
          if (failure) return done(failure);
          if (totalInFlight() <= IN_FLIGHT_PER_WORKER * threads) return done();
          waiting = done;
        },
      ),
    );
    const results = await Promise.all(slots.map((slot) => slot.done));
    return mergeWorkerResults(results, threads);
  } finally {
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }
}

/** The workers' results as one scan's: counts added, rows named by position resolved to their place in their table. */
export function mergeWorkerResults(results: WorkerDone[], threads: number): ScanResult {
  const byStatement: { statement: number; table: string; rows: number }[] = [];
  for (const result of results) for (let k = 0; k < result.statements.length; k += 2) byStatement.push({ statement: result.statements[k], table: result.statementTables[k / 2], rows: result.statements[k + 1] });
  byStatement.sort((a, b) => a.statement - b.statement);
  const rowsBefore = new Map<number, number>();
  const running = new Map<string, number>();
  for (const s of byStatement) {
    const before = running.get(s.table) ?? 0;
    rowsBefore.set(s.statement, before);
    running.set(s.table, before + s.rows);
  }
  const rows: Record<string, number> = {};
  let hitCount = 0;
  let scannedValues = 0;
  const hits: LeakHit[] = [];
  for (const result of results) {
    hitCount += result.hitCount;
    scannedValues += result.scannedValues;
    for (const [table, count] of Object.entries(result.rows)) rows[table] = (rows[table] ?? 0) + count;
    for (const hit of result.hits) {
      if (!hit.row.startsWith(POSITION_MARK)) hits.push(hit);
      else {
        const [statement, row] = hit.row.slice(1).split(':').map(Number);
        hits.push({ ...hit, row: `row ${rowsBefore.get(statement)! + row}` });
      }
    }
  }
  return { hits: hits.slice(0, MAX_REPORTED_HITS), hitCount, scannedValues, rows, threads };
}

/** A row's name inside a worker's share: its statement and its place in it (mergeWorkerResults makes it "row N"). */
export const positionInStatement = (statement: number, row: number) => `${POSITION_MARK}${statement}:${row}`;

/**
 * The value of ASCII bytes [start, end) that `/^-?\d{1,20}$/` accepts and that prints back as
 * the same text (no leading zero, no "-0", at most 15 digits); otherwise undefined.
 */
function wholeNumberOf(bytes: Uint8Array, start: number, end: number): number | undefined {
  const negative = bytes[start] === 0x2d;
  const from = negative ? start + 1 : start;
  const digits = end - from;
  if (digits < 1 || digits > 15 || (bytes[from] === 0x30 && (digits > 1 || negative))) return undefined;
  let value = 0;
  for (let k = from; k < end; k++) {
    const d = bytes[k] - 0x30;
    if (d < 0 || d > 9) return undefined;
    value = value * 10 + d;
  }
  return negative ? -value : value;
}

const fingerprint = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);
