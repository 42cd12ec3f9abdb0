import { availableParallelism } from 'node:os';
import { extname, join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { DumpRewriter } from './dump-rewriter';
import { StatementSplitter } from './dump-split';
import { KeyedHasher } from './keyed-hash';
import type { MaskingWorkerData, MaskingWorkerReply, RewriteMessage, SpareReplyMessage } from './masking-worker';
import type { MaskingRules } from './rules';
import { tableMasking } from './transformers';

/**
 * The MariaDB/MySQL masking stream with the rewriting in worker threads (issue 14: one thread
 * rewrote the whole dump while the machine had more cores).
 *
 * This thread cuts the dump into whole INSERT statements and other lines without parsing values
 * (dump-split.ts, as the leak check's parallel scan does) and sends each statement to the thread
 * with the least work waiting. Every thread also reads every other line: each one learns every
 * table's columns from its CREATE TABLE exactly as a single rewriter does. The output is put
 * back together here strictly in input order. This thread keeps a DumpRewriter of its own that
 * reads every piece in order: the other lines (it writes them, checks the refused statements
 * and the closing line, and resolves each table against the rules, so schema drift raises the
 * single-threaded SchemaDriftError) and, for each statement a thread rewrote, its table, rows and
 * sizes (`statementRewrittenElsewhere`): the summary (rows per table in dump order, bytesIn)
 * and the end-of-dump checks are the single rewriter's.
 *
 * Fail closed: when a thread reports an error, this thread rewrites that piece itself, in its
 * place, with the state a single rewriter would have there, so a dump's error (a `_binary`
 * literal, a wrong number of values, an unknown table, …) is raised with the single-threaded
 * type and message (same table and row; a byte offset in it names where the line or statement
 * starts, where one rewriter names the start of the chunk it was reading). Where this thread
 * does not fail:
 * - the piece was cut inside a row (a raw newline inside a value, never written by the dump
 *   client; or the dump's cut-short last statement): the rest of the dump is rewritten in this
 *   thread, in order, as one rewriter would (the cut was only an optimisation), and the end of
 *   the dump decides (a truncated dump fails there);
 * - otherwise the threads disagree: the stream fails with the thread's error.
 * A thread that dies (exits, is terminated, throws outside its handler, runs out of memory)
 * fails the stream at once. Every thread is stopped when the stream ends, fails or is destroyed;
 * `threadsStopped` resolves once they all have exited.
 *
 * Memory: at most `IN_FLIGHT_PER_THREAD` bytes per thread of the dump are read ahead of the
 * output (cut, sent, rewritten, waiting for their turn); the writable side waits beyond that,
 * so mariadb-dump is slowed down, never buffered whole.
 */
export class ParallelMaskingTransform extends Transform {
  /** This thread's rewriter: the other lines, the summary, the end-of-dump checks. */
  readonly rewriter: DumpRewriter;
  /** The masking threads (for tests and monitoring: `threadId` is -1 once one has exited). */
  readonly workers: readonly Worker[];
  /** Resolves when every masking thread has exited (after the end, a failure or destroy). */
  get threadsStopped(): Promise<void> {
    return this.stopping ?? Promise.resolve();
  }

  private readonly slots: Slot[];
  private readonly splitter: StatementSplitter;
  /** Pieces in input order from `head` on, not yet written out. */
  private queue: (Piece | undefined)[] = [];
  private head = 0;
  private readonly pendingStatements = new Map<number, Piece>();
  /** Message buffers the threads gave back, filled again for the next messages. */
  private readonly spareBuffers: ArrayBuffer[] = [];
  private sequence = 0;
  /** Bytes of the dump read but not yet written out. */
  private queuedBytes = 0;
  private readonly maxQueuedBytes: number;
  /** A thread's piece was cut inside a row: every piece from there on is rewritten here. */
  private inline = false;
  private failed: Error | undefined;
  private waiting: TransformCallback | undefined;
  private whenDrained: (() => void) | undefined;
  private stopping: Promise<void> | undefined;

  /**
   * @param beforeEnd awaited before the last bytes are released: the dump process's exit
   * status (pipefail). A dump that exits non-zero fails the stream, so no upload completes.
   */
  constructor(options: ParallelMaskingOptions, private readonly beforeEnd?: () => Promise<void>) {
    super({ highWaterMark: 1024 * 1024 });
    const threads = options.threads;
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`ParallelMaskingTransform: threads must be a whole number of at least 1, got ${threads}`);
    const hasher = new KeyedHasher(options.key);
    this.rewriter = new DumpRewriter({ resolveTable: (table, columns) => tableMasking(options.rules, table, columns, hasher) });
    this.maxQueuedBytes = IN_FLIGHT_PER_THREAD * threads;
    const typescript = extname(__filename) === '.ts';
    const file = options.workerFile ?? join(__dirname, `masking-worker${extname(__filename)}`);
    const workerData: MaskingWorkerData = { rules: options.rules, key: new Uint8Array(options.key) };
    this.slots = [];
    for (let n = 0; n < threads; n++) {
      // Under ts-jest or tsx the worker is TypeScript too: it loads through tsx's require hook.
      const worker = new Worker(file, { workerData, execArgv: typescript ? ['--require', require.resolve('tsx/cjs')] : [] });
      const slot: Slot = { worker, number: n + 1, pieces: [], parts: [], pendingBytes: 0, sentBytes: 0, messageBytes: [], stopping: false };
      worker.on('message', (reply: MaskingWorkerReply) => this.onReply(slot, reply));
      worker.once('error', (error) => this.fail(this.threadError(slot, `failed: ${error.message}`)));
      worker.once('messageerror', (error) => this.fail(this.threadError(slot, `sent a message that could not be read: ${error.message}`)));
      worker.once('exit', (code) => {
        if (!slot.stopping) this.fail(this.threadError(slot, `exited (code ${code}) before the dump was rewritten`));
      });
      this.slots.push(slot);
    }
    this.workers = this.slots.map((slot) => slot.worker);
    this.splitter = new StatementSplitter({
      // Every thread reads every other line (CREATE TABLE: the columns); this thread writes it.
      other: (bytes) => {
        const piece = this.enqueue([bytes], bytes.length, false);
        if (this.inline) return;
        for (const slot of this.slots) this.add(slot, piece);
      },
      // A statement stays in the views of the chunks it came in: copied once, into the message to its thread.
      insertParts: (parts, length) => {
        const piece = this.enqueue(parts, length, true);
        if (this.inline) return;
        let target = this.slots[0];
        for (const slot of this.slots) if (slot.sentBytes + slot.pendingBytes < target.sentBytes + target.pendingBytes) target = slot;
        this.pendingStatements.set(piece.sequence, piece);
        this.add(target, piece);
      },
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.failed) return callback(this.failed);
    try {
      this.splitter.push(chunk);
      this.sendAll();
      this.drain();
    } catch (error) {
      return callback(error as Error);
    }
    // Back-pressure: wait while the threads hold too much of the dump (drain releases it).
    if (this.queuedBytes > this.maxQueuedBytes) this.waiting = callback;
    else callback();
  }

  override _flush(callback: TransformCallback): void {
    (async () => {
      this.splitter.finish();
      this.sendAll();
      this.drain();
      if (this.head < this.queue.length) await new Promise<void>((resolve) => (this.whenDrained = resolve));
      if (this.failed) throw this.failed;
      // The dump client's own failure is the better explanation of a cut-short dump: first.
      await this.beforeEnd?.();
      const last = this.rewriter.finish();
      await this.stopThreads();
      return last;
    })().then(
      (out) => callback(null, out.length > 0 ? out : undefined),
      (error: Error) => {
        // Already failed: the stream was destroyed with that error.
        if (this.failed === undefined) callback(error);
      },
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stopThreads().then(
      () => callback(error),
      () => callback(error),
    );
  }

  private enqueue(parts: Buffer[], length: number, statement: boolean): Piece {
    const piece: Piece = { sequence: this.sequence++, statement, parts, length };
    this.queue.push(piece);
    this.queuedBytes += length;
    return piece;
  }

  private add(slot: Slot, piece: Piece): void {
    slot.pieces.push(piece.sequence, piece.statement ? 1 : 0, piece.length);
    for (const part of piece.parts) slot.parts.push(part);
    slot.pendingBytes += piece.length;
    if (slot.pendingBytes >= BATCH_BYTES) this.send(slot);
  }

  private sendAll(): void {
    if (this.inline) return;
    for (const slot of this.slots) this.send(slot);
  }

  /** The slot's pieces in one message: their bytes copied into one transferred buffer (the originals stay here until written out). */
  private send(slot: Slot): void {
    if (slot.pieces.length === 0) return;
    // A buffer a thread gave back, if one is large enough: fresh memory costs a page fault per 4 KB.
    let buffer = this.spareBuffers.pop();
    if (buffer === undefined || buffer.byteLength < slot.pendingBytes) buffer = new ArrayBuffer(Math.max(slot.pendingBytes, SPARE_BUFFER_BYTES));
    const data = Buffer.from(buffer, 0, slot.pendingBytes);
    let at = 0;
    for (const part of slot.parts) at += part.copy(data, at);
    const message: RewriteMessage = { kind: 'rewrite', pieces: slot.pieces, data: buffer, dataLength: slot.pendingBytes };
    slot.worker.postMessage(message, [buffer]);
    slot.sentBytes += slot.pendingBytes;
    slot.messageBytes.push(slot.pendingBytes);
    slot.pieces = [];
    slot.parts = [];
    slot.pendingBytes = 0;
  }

  private onReply(slot: Slot, reply: MaskingWorkerReply): void {
    if (this.failed || this.inline) return;
    if (reply.kind === 'failed') {
      const failure = `masking thread ${slot.number} of ${this.slots.length} failed: ${reply.message}`;
      const piece = this.findPiece(reply.sequence);
      // Already written out by this thread without an error (another line is written as soon as
      // its turn comes): the threads disagree. The failed thread reads nothing more either.
      if (piece === undefined) return this.fail(new Error(failure));
      piece.failure ??= failure;
      this.pendingStatements.delete(piece.sequence);
    } else {
      // Replies come in the order of the messages.
      slot.sentBytes -= slot.messageBytes.shift() ?? 0;
      if (this.spareBuffers.length < this.slots.length * 2) this.spareBuffers.push(reply.input);
      const data = Buffer.from(reply.data, 0, reply.dataLength);
      // Given back to the thread once every statement's output in it is copied out (drain).
      const holder: ReplyBuffer = { slot, buffer: reply.data, statements: reply.statements.length / 3 };
      if (holder.statements === 0) this.giveBack(holder);
      let at = 0;
      for (let k = 0; k < reply.statements.length; k += 3) {
        const piece = this.pendingStatements.get(reply.statements[k])!;
        this.pendingStatements.delete(piece.sequence);
        const length = reply.statements[k + 1];
        piece.output = data.subarray(at, at + length);
        piece.reply = holder;
        piece.rows = reply.statements[k + 2];
        piece.table = reply.tables[k / 3];
        at += length;
      }
    }
    try {
      this.drain();
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /** A piece not yet written out, by its sequence number (a failure names a statement or an other line). */
  private findPiece(sequence: number): Piece | undefined {
    const first = this.queue[this.head];
    if (first === undefined || sequence < first.sequence) return undefined;
    return this.queue[this.head + (sequence - first.sequence)];
  }

  /**
   * Write out, in input order, every piece whose turn has come and whose rewriting is known.
   * Throws a dump's error (the stream fails with it).
   */
  private drain(): void {
    while (this.head < this.queue.length) {
      const piece = this.queue[this.head]!;
      if (!this.inline && piece.statement && piece.output === undefined && piece.failure === undefined) break;
      this.queue[this.head++] = undefined;
      this.queuedBytes -= piece.length;
      let out: Buffer;
      if (this.inline || piece.failure === undefined) {
        if (!this.inline && piece.statement) {
          this.rewriter.statementRewrittenElsewhere(piece.table!, piece.rows!, piece.length, piece.output!.length);
          this.pushCopy(piece.output!);
          if (--piece.reply!.statements === 0) this.giveBack(piece.reply!);
          continue;
        } else out = this.rewriter.push(bytesOf(piece));
      } else {
        // A thread failed here: rewritten in this thread, in its place, a dump's error is raised as one rewriter raises it.
        out = this.rewriter.push(bytesOf(piece));
        if (!piece.statement || this.rewriter.atStatementBoundary()) throw new Error(piece.failure);
        // Cut inside a row: from here on, this thread rewrites everything in order.
        this.inline = true;
        this.pendingStatements.clear();
        void this.stopThreads();
      }
      if (out.length > 0) this.push(out);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
      const drained = this.whenDrained;
      this.whenDrained = undefined;
      drained?.();
    } else if (this.head > 4096) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.waiting !== undefined && this.queuedBytes <= this.maxQueuedBytes) {
      const resume = this.waiting;
      this.waiting = undefined;
      resume();
    }
  }

  /**
   * A thread's output, copied into chunks of at most OUTPUT_CHUNK_BYTES (the thread's buffer is
   * reused; small buffers come from memory the allocator already holds, large ones are fresh).
   */
  private pushCopy(output: Buffer): void {
    for (let at = 0; at < output.length; at += OUTPUT_CHUNK_BYTES) {
      const part = output.subarray(at, Math.min(output.length, at + OUTPUT_CHUNK_BYTES));
      const chunk = Buffer.allocUnsafe(part.length);
      part.copy(chunk);
      this.push(chunk);
    }
  }

  private giveBack(reply: ReplyBuffer): void {
    if (reply.slot.stopping) return;
    const message: SpareReplyMessage = { kind: 'spare', buffer: reply.buffer };
    reply.slot.worker.postMessage(message, [reply.buffer]);
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = error;
    void this.stopThreads();
    this.whenDrained?.();
    this.destroy(error);
  }

  private threadError(slot: Slot, what: string): Error {
    return new Error(`masking thread ${slot.number} of ${this.slots.length} ${what}; nothing of this dump is kept`);
  }

  private stopThreads(): Promise<void> {
    this.stopping ??= Promise.all(
      this.slots.map((slot) => {
        slot.stopping = true;
        return slot.worker.terminate();
      }),
    ).then(() => undefined);
    return this.stopping;
  }
}

export interface ParallelMaskingOptions {
  rules: MaskingRules;
  /** The masking key (each thread derives the same digests from it). */
  key: Buffer;
  /** Masking threads (at least 1); this thread cuts, reassembles and writes the other lines. */
  threads: number;
  /** @default - masking-worker next to this file (tests pass a faulty one) */
  workerFile?: string;
}

/** A piece of the dump, in input order: an INSERT statement (rewritten by a thread) or another line (written by this thread). */
interface Piece {
  sequence: number;
  statement: boolean;
  /** Its bytes: the views of the chunks it came in. */
  parts: Buffer[];
  length: number;
  output?: Buffer;
  table?: string;
  rows?: number;
  /** The thread's reply buffer its output is in. */
  reply?: ReplyBuffer;
  /** The thread's error at this piece. */
  failure?: string;
}

const bytesOf = (piece: Piece): Buffer => (piece.parts.length === 1 ? piece.parts[0] : Buffer.concat(piece.parts, piece.length));

/** A thread's reply buffer and how many statements' outputs in it are still to be copied out. */
interface ReplyBuffer {
  slot: Slot;
  buffer: ArrayBuffer;
  statements: number;
}

interface Slot {
  worker: Worker;
  number: number;
  /** The batch being gathered: [sequence, statement 1/0, length] per piece, and the pieces' bytes. */
  pieces: number[];
  parts: Buffer[];
  pendingBytes: number;
  /** Bytes sent and not yet returned (the least-loaded thread gets the next statement), and per message. */
  sentBytes: number;
  messageBytes: number[];
  stopping: boolean;
}

/** Bytes sent to a thread at once (at most: a batch is also sent at the end of each chunk read). */
const BATCH_BYTES = 512 << 10;
/** The output is written on in chunks of this size (as mariadb-dump's pipe gives its input). */
const OUTPUT_CHUNK_BYTES = 64 << 10;
/** The smallest message buffer: a statement of mariadb-dump's (~1 MB) and the lines around it fit. */
const SPARE_BUFFER_BYTES = 2 << 20;
/** The most of the dump read ahead of the output, per thread. */
const IN_FLIGHT_PER_THREAD = 4 << 20;

/**
 * How many threads mask a MariaDB/MySQL dump by default: MASKING_THREADS=N (0: the calling
 * thread, as before this existed), else one per core but one, at least 1 and at most
 * MAX_DEFAULT_THREADS. The calling thread is busy too (cutting, copying, writing), and the dump
 * client and the compressor run beside it. Measured on 2 cores (scratch A/B over a 208 MB dump,
 * load 6-8): one masking thread used the CPU of the single-threaded stream (7.1 s) and took
 * 10.7-11.1 s against its 12.7-14.5 s; two used 5-20% more CPU for 9.1-13.7 s.
 */
export function defaultMaskingThreads(): number {
  const configured = process.env.MASKING_THREADS;
  if (configured !== undefined && configured !== '') {
    if (!/^\d{1,2}$/.test(configured) || Number(configured) > MAX_THREADS_SETTING) throw new Error(`MASKING_THREADS=${configured}: expected a whole number from 0 (the calling thread) to ${MAX_THREADS_SETTING}; unset it for the default (one per core but one)`);
    return Number(configured);
  }
  return Math.max(1, Math.min(availableParallelism() - 1, MAX_DEFAULT_THREADS));
}

/**
 * The most threads MASKING_THREADS and MASKING_SCAN_THREADS may ask for: each is a V8 isolate
 * (~50 MB with its caches), so 16 is ~0.8 GB; 99, which the settings once accepted, asked ~5 GB
 * of a 3 GB CodeBuild machine.
 */
export const MAX_THREADS_SETTING = 16;
/** Each thread is a V8 isolate with its own result caches (~3 MB per masked column): memory grows with threads. */
const MAX_DEFAULT_THREADS = 4;
