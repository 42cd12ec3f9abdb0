/**
 * A masking thread of the MariaDB/MySQL stream (parallel-masking.ts): rewrites its share of the
 * dump's INSERT statements with a DumpRewriter of its own, built from the same rules and key as
 * the stream's. It also reads every other line of the dump (each CREATE TABLE: the columns the
 * rows are matched with, as one thread reads them) and throws that output away: the calling
 * thread writes those lines.
 *
 * Messages from the parent: { kind: 'rewrite', pieces: [sequence, statement (1) or other line
 * (0), length, …], data } with the pieces' bytes (transferred). To the parent, per message:
 * { kind: 'rewritten', statements: [sequence, output length, rows, …], tables, data } with the
 * statements' output (transferred), then, on the first error, { kind: 'failed', sequence,
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

export interface RewriteMessage {
  kind: 'rewrite';
  pieces: number[];
  data: ArrayBuffer;
}

export type MaskingWorkerReply = { kind: 'rewritten'; statements: number[]; tables: string[]; data: ArrayBuffer } | { kind: 'failed'; sequence: number; message: string };

const { rules, key } = workerData as MaskingWorkerData;
const hasher = new KeyedHasher(Buffer.from(key));
const rewriter = new DumpRewriter({ resolveTable: (table, columns) => tableMasking(rules, table, columns, hasher) });
const port = parentPort!;
let failed = false;

port.on('message', (message: RewriteMessage) => {
  if (failed) return;
  const data = Buffer.from(message.data);
  const statements: number[] = [];
  const tables: string[] = [];
  const outputs: Buffer[] = [];
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
      statements.push(sequence, output.length, last.rows);
      tables.push(last.table);
      outputs.push(output);
      outputBytes += output.length;
    }
  } catch (error) {
    failed = true;
    failure = (error as Error).message;
  }
  const out = Buffer.allocUnsafeSlow(outputBytes);
  let at = 0;
  for (const output of outputs) at += output.copy(out, at);
  const reply: MaskingWorkerReply = { kind: 'rewritten', statements, tables, data: out.buffer };
  port.postMessage(reply, [out.buffer]);
  if (failure !== undefined) port.postMessage({ kind: 'failed', sequence, message: failure } satisfies MaskingWorkerReply);
});
