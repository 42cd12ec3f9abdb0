/**
 * A masking thread of the MariaDB/MySQL stream (parallel-masking.ts): rewrites its share of the
 * dump's INSERT statements with a DumpRewriter of its own, built from the same rules and key as
 * the stream's. It also reads every other line of the dump (each CREATE TABLE: the columns the
 * rows are matched with, as one thread reads them) and throws that output away: the calling
 * thread writes those lines.
 *
 * Messages from the parent: { kind: 'rewrite', pieces: [sequence, statement (1) or other line
 * (0), length, …], data } with the pieces' bytes (transferred). To the parent, per message:
 * { kind: 'rewritten', statements: [sequence, output length, rows, …], tables, data, input }
 * with the statements' output and the message's own buffer (both transferred; the parent gives
 * the output's buffer back, { kind: 'spare', buffer }, once it has copied the output out), then, on the first error, { kind: 'failed', sequence,
 * message } (the statements before it in the same message are reported first), after which it
 * reads nothing more: the parent rewrites that piece itself to tell a dump's error from a
 * thread's (parallel-masking.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DumpFormatError, DumpRewriter } from './dump-rewriter';
import { KeyedHasher } from './keyed-hash';
import type { MaskingRules } from './rules';
import { tableMasking } from './transformers';

/** What the calling thread gives each masking thread. */
export interface MaskingWorkerData {
  rules: MaskingRules;
  key: Uint8Array;
}

/** `data`: the pieces' bytes, its first `dataLength` bytes (the buffer is reused: it may be longer). */
export interface RewriteMessage {
  kind: 'rewrite';
  pieces: number[];
  data: ArrayBuffer;
  dataLength: number;
}

/** `data`: the statements' output, its first `dataLength` bytes; `input`: the message's buffer, returned for reuse. */
export type MaskingWorkerReply = { kind: 'rewritten'; statements: number[]; tables: string[]; data: ArrayBuffer; dataLength: number; input: ArrayBuffer } | { kind: 'failed'; sequence: number; message: string };

/** A reply buffer given back by the parent for the next reply (the statements' output copied out). */
export interface SpareReplyMessage {
  kind: 'spare';
  buffer: ArrayBuffer;
}

/** The smallest reply buffer (a statement of mariadb-dump's is ~1 MB), and how many spares are kept. */
const REPLY_BUFFER_BYTES = 2 << 20;
const MAX_SPARE_REPLIES = 8;

const { rules, key } = workerData as MaskingWorkerData;
const hasher = new KeyedHasher(Buffer.from(key));
// Each push's output is copied into the reply at once: the rewriter may reuse its buffer.
const rewriter = new DumpRewriter({ resolveTable: (table, columns) => tableMasking(rules, table, columns, hasher), reuseOutput: true });
/** Reply buffers the parent gave back once it had copied their output out. */
const spareReplies: ArrayBuffer[] = [];
const port = parentPort!;
let failed = false;

port.on('message', (message: RewriteMessage | SpareReplyMessage) => {
  if (message.kind === 'spare') {
    if (spareReplies.length < MAX_SPARE_REPLIES) spareReplies.push(message.buffer);
    return;
  }
  if (failed) return;
  const data = Buffer.from(message.data, 0, message.dataLength);
  const statements: number[] = [];
  const tables: string[] = [];
  // The reply: each statement's output copied in at once (the rewriter writes over its buffer at the next push).
  let buffer = spareReplies.pop();
  const expected = data.length + (data.length >> 2) + 1024;
  if (buffer === undefined || buffer.byteLength < expected) buffer = new ArrayBuffer(Math.max(expected, REPLY_BUFFER_BYTES));
  let out = Buffer.from(buffer);
  let outputBytes = 0;
  let sequence = -1;
  let failure: string | undefined;
  try {
    let at = 0;
    for (let k = 0; k < message.pieces.length; k += 3) {
      sequence = message.pieces[k];
      const bytes = data.subarray(at, at + message.pieces[k + 2]);
      at += bytes.length;
      rewriter.lastStatement = undefined;
      const output = rewriter.push(bytes);
      if (message.pieces[k + 1] === 0) continue;
      // The splitter cut this statement at its ";\n": rewritten, it must end there too.
      const last = rewriter.lastStatement as { table: string; rows: number } | undefined;
      if (!rewriter.atStatementBoundary() || last === undefined) throw new DumpFormatError('an INSERT statement does not end where its line ends with ";" (a raw newline inside a value, or a cut-short dump)');
      if (outputBytes + output.length > out.length) {
        const grown = Buffer.from(new ArrayBuffer(Math.max(2 * out.length, outputBytes + output.length)));
        out.copy(grown, 0, 0, outputBytes);
        out = grown;
        buffer = grown.buffer as ArrayBuffer;
      }
      outputBytes += output.copy(out, outputBytes);
      statements.push(sequence, output.length, last.rows);
      tables.push(last.table);
    }
  } catch (error) {
    failed = true;
    failure = (error as Error).message;
  }
  // The input's buffer goes back too: the calling thread fills it again (memory it has already touched).
  const reply: MaskingWorkerReply = { kind: 'rewritten', statements, tables, data: buffer, dataLength: outputBytes, input: message.data };
  port.postMessage(reply, [buffer, message.data]);
  if (failure !== undefined) port.postMessage({ kind: 'failed', sequence, message: failure } satisfies MaskingWorkerReply);
});
