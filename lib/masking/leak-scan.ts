import { createHash } from 'node:crypto';
import { extname, join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DumpFormatError, DumpRewriter, type Rewriter } from './dump-rewriter';
import { StatementSplitter } from './dump-split';
import { MAX_THREADS_SETTING } from './parallel-masking';
import { BASE64_CANDIDATE, base64RunsAscii, decodeBase64Run, EMAIL_IN_TEXT, foldForMatching, hiddenTexts, isShared, MIN_BASE64_CHARS, MIN_PATTERN_CHARS, PatternSet, type PatternMatch, type TransferablePatterns } from './leak-patterns';
import { PgDumpRewriter } from './pg-dump-rewriter';
import type { ColumnRule, MaskingRules } from './rules';
import type { TableMasking, ValueMasker } from './transformers';

/**
 * The scan half of the leak check (leak-check.ts): every value of every table and column of
 * the masked dump, looked up among the originals' patterns. One thread (`DumpScan`), or, for
 * a MariaDB/MySQL dump, several threads that each parse and scan a share of the INSERT
 * statements (`scanDump` with `threads` > 1: this thread cuts the dump (dump-split.ts) and
 * scans the statements its `threads` - 1 worker threads have no room for; every thread also
 * reads every other line, so each knows every table's columns). The threads share the pattern
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
  /** (Several threads only) INSERT statements each thread scanned, this (the calling) thread first. */
  statementsPerThread?: number[];
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

/** The default's ceiling: each thread beyond the first is a V8 isolate of its own (the one worker on 2 cores: +47 MB at the full benchmark's size), and more cores were not measured. */
export const MAX_DEFAULT_SCAN_THREADS = 4;

/**
 * How many threads scan a MariaDB/MySQL dump by default: one per core (availableParallelism(),
 * at most MAX_DEFAULT_SCAN_THREADS), counting the calling thread, which cuts the dump and scans
 * beside its N - 1 worker threads. MASKING_SCAN_THREADS=N overrides it; 1 is the calling thread
 * alone, no worker thread (the scan of earlier releases). Measured on 2 cores at the full
 * benchmark's size (lib/masking/README.md, "Scan threads: the hybrid"; load 3.4-4.4): the scan
 * 10.4-13.0 s wall with 2 threads against 16.0 s with 1, the check's peak RSS 413-431 MB against
 * 384 MB (two workers beside a calling thread that only cut: 557-580 MB, over the 512 MB target).
 */
export function defaultScanThreads(): number {
  const configured = process.env.MASKING_SCAN_THREADS;
  if (configured !== undefined && configured !== '') {
    if (!/^[1-9]\d?$/.test(configured) || Number(configured) > MAX_THREADS_SETTING) throw new Error(`MASKING_SCAN_THREADS=${configured}: expected a whole number from 1 to ${MAX_THREADS_SETTING}; unset it for the default (one thread per core, at most ${MAX_DEFAULT_SCAN_THREADS})`);
    return Number(configured);
  }
  return Math.max(1, Math.min(availableParallelism(), MAX_DEFAULT_SCAN_THREADS));
}

/** Options of a threaded scan that only tests set. */
export interface ThreadedScanTestHooks {
  /** Which thread scans INSERT statement n (0: the calling thread, 1…: a worker). @default - the worker with the least work queued, or this thread when every worker has WORKER_QUEUE_BYTES queued */
  threadFor?: (statement: number) => number;
  /** Called with each worker thread as it starts. */
  onWorker?: (worker: Worker) => void;
}

/**
 * Scan a whole dump for the patterns. `threads` > 1 (MariaDB/MySQL dumps only): this thread
 * cuts the dump at INSERT statements and scans some of them itself, `threads` - 1 worker
 * threads scan the others. The result is the same either way (hits, rows named by their place
 * in their table, counts).
 */
export async function scanDump(dump: Readable, options: { patterns: PatternSet; rules: MaskingRules; engine: 'mysql' | 'postgres'; threads?: number } & ThreadedScanTestHooks): Promise<ScanResult> {
  const threads = options.engine === 'mysql' ? (options.threads ?? defaultScanThreads()) : 1;
  if (threads > 1) return scanInThreads(dump, options.patterns, options.rules, threads, options);
  const scan = new DumpScan(options.patterns, options.rules, options.engine);
  await pipeline(dump, chunkSink((chunk) => void scan.rewriter.push(chunk)));
  scan.rewriter.finish();
  return { hits: scan.hits, hitCount: scan.hitCount, scannedValues: scan.scannedValues, rows: { ...scan.rewriter.summary.rows }, threads: 1 };
}

/**
 * One thread's share of a dump cut at INSERT statements (dump-split.ts): every other line, and
 * the whole statements given to it, each checked to end where the cut was made. Rows without a
 * kept numeric key are named by statement and place in it (mergeWorkerResults names them by
 * their place in their table). Used by the worker threads (leak-scan-worker.ts) and by the
 * calling thread of a threaded scan alike.
 */
export class StatementScan {
  private readonly scan: DumpScan;
  private readonly rewriter: DumpRewriter;
  private statement = -1;
  private readonly statements: number[] = [];
  private readonly statementTables: string[] = [];

  constructor(patterns: PatternSet, rules: MaskingRules) {
    this.scan = new DumpScan(patterns, rules, 'mysql');
    this.rewriter = this.scan.rewriter as DumpRewriter;
    this.scan.positionOf = () => positionInStatement(this.statement, this.rewriter.rowInStatement());
  }

  /**
   * A line of the dump (`statement` -1) or INSERT statement number `statement`, whole: in one
   * piece, as a row spanning two pushes would be parsed (and counted in scannedValues) twice.
   */
  push(statement: number, bytes: Uint8Array): void {
    this.statement = statement;
    this.rewriter.lastStatement = undefined;
    this.rewriter.push(bytes as Buffer);
    if (statement === -1) return;
    // The splitter cut this statement at its ";\n": parsed, it must end there too.
    const last = this.rewriter.lastStatement as { table: string; rows: number } | undefined;
    if (!this.rewriter.atStatementBoundary() || last === undefined) {
      throw new DumpFormatError(`INSERT statement ${statement + 1} of the dump does not end where its line ends with ";": a newline inside a value (the dump client escapes them), or a cut-short dump; the dump is not in the format this check reads`);
    }
    this.statements.push(statement, last.rows);
    this.statementTables.push(last.table);
  }

  /** The end of the dump (a dump without its closing line fails here). */
  finish(): WorkerDone {
    this.rewriter.finish();
    return { hits: this.scan.hits, hitCount: this.scan.hitCount, scannedValues: this.scan.scannedValues, rows: { ...this.rewriter.summary.rows }, statements: this.statements, statementTables: this.statementTables };
  }
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

/**
 * A batch of pieces for one worker: [statement number or -1 for other lines, length] pairs, then
 * the bytes in one transferred buffer, which the worker transfers back once scanned (reused:
 * a fresh buffer per batch is freed only by a full GC, and at the full benchmark's size the
 * freed-late batches held ~50 MB in each thread).
 */
interface WorkerSlot {
  worker: Worker;
  pieces: number[];
  parts: Buffer[];
  pendingBytes: number;
  inFlight: number;
  /** INSERT statements sent to it. */
  statements: number;
  done: Promise<WorkerDone>;
}

/** What a scan thread (leak-scan-worker.ts, or this thread's StatementScan) reports at the end. */
export interface WorkerDone {
  hits: LeakHit[];
  hitCount: number;
  scannedValues: number;
  rows: Record<string, number>;
  /** [statement number, rows] pairs and the statements' tables, for the rows named by position. */
  statements: number[];
  statementTables: string[];
}

/** Bytes sent to a worker at once. */
const BATCH_BYTES = 512 << 10;
/**
 * Work queued in a worker (sent or batched, not yet reported scanned) from which this thread
 * scans the next statement itself: ~0.1 s of a worker's work at the full benchmark's rate,
 * longer than this thread takes to scan one statement (mariadb-dump writes them up to ~1 MB),
 * so the worker does not run dry meanwhile.
 */
const WORKER_QUEUE_BYTES = 3 << 20;
/** The most that may wait in all workers before the dump is read on (reached only when a test's schedule overrides the above). */
const IN_FLIGHT_PER_WORKER = 2 * WORKER_QUEUE_BYTES;
/**
 * A scan thread's young generation (V8 grows it up to tens of MB under a high allocation rate;
 * the scan's garbage is short-lived and the whole check must stay under 512 MB: with two
 * threads at the default limits the full benchmark's check peaked at 539 MB).
 */
const WORKER_YOUNG_GENERATION_MB = 8;
const roundUpToMiB = (bytes: number) => Math.ceil(Math.max(bytes, 1) / 1048576) * 1048576;

/**
 * The threaded scan: this thread (scan thread 1) cuts the dump at INSERT statements and hands
 * each to the worker (threads 2…N) with the least work queued, or, when every worker already has
 * WORKER_QUEUE_BYTES queued, scans it itself. So N threads keep N cores busy with N - 1 extra
 * V8 isolates (each costs memory: see defaultScanThreads). Every thread reads every other line.
 */
async function scanInThreads(dump: Readable, patterns: PatternSet, rules: MaskingRules, threads: number, hooks: ThreadedScanTestHooks): Promise<ScanResult> {
  const shared: TransferablePatterns = patterns.toTransferable();
  if (!isShared(shared.slots.buffer) || !isShared(shared.filter.buffer) || !isShared(shared.lastWords.buffer)) throw new Error('scanDump: the pattern tables are not in shared memory');
  const typescript = extname(__filename) === '.ts';
  const threadFailed = (n: number, error: unknown) => new Error(`the leak check's scan thread ${n} of ${threads} failed: ${(error as Error).message}`);
  let failure: Error | undefined;
  let waiting: ((error?: Error) => void) | undefined;
  const fail = (error: Error) => {
    failure ??= error;
    const resume = waiting;
    waiting = undefined;
    resume?.(failure);
  };
  const slots: WorkerSlot[] = [];
  /** Batch buffers the workers gave back, for the next batches (at most as many as were ever in flight at once). */
  const spare: ArrayBuffer[] = [];
  const totalInFlight = () => slots.reduce((sum, s) => sum + s.inFlight, 0);
  try {
    for (let n = 2; n <= threads; n++) {
      // Under ts-jest or tsx the worker is TypeScript too: it loads through tsx's require hook.
      const worker = new Worker(join(__dirname, `leak-scan-worker${extname(__filename)}`), {
        workerData: { patterns: shared, rules },
        execArgv: typescript ? ['--require', require.resolve('tsx/cjs')] : [],
        resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      });
      const slot: WorkerSlot = { worker, pieces: [], parts: [], pendingBytes: 0, inFlight: 0, statements: 0, done: undefined as unknown as Promise<WorkerDone> };
      slot.done = new Promise<WorkerDone>((resolve, reject) => {
        let finished = false;
        worker.on('message', (message: { kind: string; bytes?: number; data?: ArrayBuffer; message?: string } & Partial<WorkerDone>) => {
          if (message.kind === 'scanned') {
            slot.inFlight -= message.bytes!;
            if (message.data) spare.push(message.data);
            if (waiting && totalInFlight() <= IN_FLIGHT_PER_WORKER * slots.length) {
              const resume = waiting;
              waiting = undefined;
              resume();
            }
          } else if (message.kind === 'done') {
            finished = true;
            resolve(message as WorkerDone);
          } else if (message.kind === 'failed') {
            finished = true;
            const error = threadFailed(n, message);
            fail(error);
            reject(error);
          }
        });
        worker.once('error', (error) => {
          finished = true;
          const wrapped = threadFailed(n, error);
          fail(wrapped);
          reject(wrapped);
        });
        worker.once('exit', (code) => {
          if (finished) return;
          const error = new Error(`the leak check's scan thread ${n} of ${threads} exited (${code}) before it finished`);
          fail(error);
          reject(error);
        });
      });
      slot.done.catch(() => undefined); // observed below; no unhandled rejection before that
      slots.push(slot);
      hooks.onWorker?.(worker);
    }
    const flush = (slot: WorkerSlot) => {
      if (slot.pieces.length === 0) return;
      const index = spare.findIndex((buffer) => buffer.byteLength >= slot.pendingBytes);
      if (index === -1) spare.pop(); // too small for this batch: replaced by a bigger one
      const buffer = index === -1 ? new ArrayBuffer(roundUpToMiB(slot.pendingBytes)) : spare.splice(index, 1)[0];
      const data = Buffer.from(buffer, 0, slot.pendingBytes);
      let at = 0;
      for (const part of slot.parts) at += part.copy(data, at);
      slot.worker.postMessage({ kind: 'scan', pieces: slot.pieces, data: buffer, length: slot.pendingBytes }, [buffer]);
      slot.inFlight += slot.pendingBytes;
      slot.pieces = [];
      slot.parts = [];
      slot.pendingBytes = 0;
    };
    // A piece in parts (a statement as the views of the chunks it came in: copied once, into the batch).
    const add = (slot: WorkerSlot, statement: number, parts: Buffer[], length: number) => {
      slot.pieces.push(statement, length);
      for (const part of parts) slot.parts.push(part);
      slot.pendingBytes += length;
      if (statement !== -1) slot.statements++;
      if (slot.pendingBytes >= BATCH_BYTES) flush(slot);
    };
    const queued = (slot: WorkerSlot) => slot.inFlight + slot.pendingBytes;
    // This thread's share (scan thread 1).
    const here = new StatementScan(patterns, rules);
    let statementsHere = 0;
    // A statement that came in several chunks is joined in one reused buffer (StatementScan keeps no view of it).
    let joined = Buffer.alloc(0);
    const whole = (parts: Buffer[]) => {
      if (parts.length === 1) return parts[0];
      let length = 0;
      for (const part of parts) length += part.length;
      if (joined.length < length) joined = Buffer.allocUnsafeSlow(roundUpToMiB(length));
      let at = 0;
      for (const part of parts) at += part.copy(joined, at);
      return joined.subarray(0, length);
    };
    const scanHere = (statement: number, parts: Buffer[]) => {
      try {
        here.push(statement, whole(parts));
      } catch (error) {
        throw threadFailed(1, error);
      }
    };
    let statements = 0;
    const splitter = new StatementSplitter({
      // Every thread reads every other line (CREATE TABLE: the columns; the closing line: the dump is complete).
      other: (bytes) => {
        scanHere(-1, [bytes]);
        for (const slot of slots) add(slot, -1, [bytes], bytes.length);
      },
      insertParts: (parts, length) => {
        const statement = statements++;
        let target: WorkerSlot | undefined;
        if (hooks.threadFor) {
          const thread = hooks.threadFor(statement);
          target = thread === 0 ? undefined : slots[thread - 1];
          if (thread !== 0 && target === undefined) throw new Error(`threadFor(${statement}) = ${thread}: there are ${threads} threads (0 is this thread)`);
        } else {
          // The worker with the least work queued, unless even it has enough: then this thread.
          target = slots[0];
          for (const slot of slots) if (queued(slot) < queued(target)) target = slot;
          if (queued(target) >= WORKER_QUEUE_BYTES) target = undefined;
        }
        if (target) add(target, statement, parts, length);
        else {
          statementsHere++;
          scanHere(statement, parts);
        }
      },
    });
    await pipeline(
      dump,
      chunkSink(
        (chunk) => {
          if (failure) throw failure;
          splitter.push(chunk);
        },
        (done) => {
          if (failure) return done(failure);
          try {
            splitter.finish();
          } catch (error) {
            return done(error as Error);
          }
          for (const slot of slots) {
            flush(slot);
            slot.worker.postMessage({ kind: 'finish' });
          }
          done();
        },
        (done) => {
          if (failure) return done(failure);
          if (totalInFlight() <= IN_FLIGHT_PER_WORKER * slots.length) return done();
          waiting = done;
        },
      ),
    );
    let mine: WorkerDone;
    try {
      mine = here.finish();
    } catch (error) {
      throw threadFailed(1, error);
    }
    const results = await Promise.all(slots.map((slot) => slot.done));
    return { ...mergeWorkerResults([mine, ...results], threads), statementsPerThread: [statementsHere, ...slots.map((slot) => slot.statements)] };
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
