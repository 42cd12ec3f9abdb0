/**
 * A scan thread of the leak check (leak-scan.ts scanInWorkers): parses and scans its share of
 * a MariaDB/MySQL dump's INSERT statements, and every other line of the dump, with the pattern
 * tables shared by the parent (no copy).
 *
 * Messages from the parent: { kind: 'scan', pieces: [statement or -1, length, …], data } with
 * the pieces' bytes (transferred), then { kind: 'finish' }. To the parent: { kind: 'scanned',
 * bytes } per batch (its back-pressure), { kind: 'done', … } (WorkerDone) at the end, or
 * { kind: 'failed', message } on any error, after which it reads nothing more: the parent
 * fails the check.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DumpFormatError, type DumpRewriter } from './dump-rewriter';
import { PatternSet, type TransferablePatterns } from './leak-patterns';
import { DumpScan, positionInStatement, type WorkerDone } from './leak-scan';
import type { MaskingRules } from './rules';

const { patterns, rules } = workerData as { patterns: TransferablePatterns; rules: MaskingRules };
const port = parentPort!;
const scan = new DumpScan(PatternSet.fromTransferable(patterns), rules, 'mysql');
const rewriter = scan.rewriter as DumpRewriter;
let statement = -1;
// A row without a kept numeric key is named by its statement and its place in it.
scan.positionOf = () => positionInStatement(statement, rewriter.rowInStatement());
const statements: number[] = [];
const statementTables: string[] = [];
let failed = false;

port.on('message', (message: { kind: 'scan'; pieces: number[]; data: ArrayBuffer } | { kind: 'finish' }) => {
  if (failed) return;
  try {
    if (message.kind === 'scan') {
      const data = Buffer.from(message.data);
      let at = 0;
      for (let k = 0; k < message.pieces.length; k += 2) {
        statement = message.pieces[k];
        const bytes = data.subarray(at, at + message.pieces[k + 1]);
        at += bytes.length;
        rewriter.lastStatement = undefined;
        rewriter.push(bytes);
        if (statement === -1) continue;
        // The splitter cut this statement at its ";\n": parsed, it must end there too.
        const last = rewriter.lastStatement as { table: string; rows: number } | undefined;
        if (!rewriter.atStatementBoundary() || last === undefined) {
          throw new DumpFormatError(`INSERT statement ${statement + 1} of the dump does not end where its line ends with ";": a newline inside a value (the dump client escapes them), or a cut-short dump; the dump is not in the format this check reads`);
        }
        statements.push(statement, last.rows);
        statementTables.push(last.table);
      }
      port.postMessage({ kind: 'scanned', bytes: data.length });
    } else {
      rewriter.finish();
      const done: WorkerDone = { hits: scan.hits, hitCount: scan.hitCount, scannedValues: scan.scannedValues, rows: rewriter.summary.rows, statements, statementTables };
      port.postMessage({ kind: 'done', ...done });
    }
  } catch (error) {
    failed = true;
    port.postMessage({ kind: 'failed', message: (error as Error).message });
  }
});
