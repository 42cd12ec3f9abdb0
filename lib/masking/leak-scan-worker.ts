/**
 * A scan worker thread of the leak check (leak-scan.ts scanInThreads): parses and scans its share of
 * a MariaDB/MySQL dump's INSERT statements, and every other line of the dump, with the pattern
 * tables shared by the parent (no copy).
 *
 * Messages from the parent: { kind: 'scan', pieces: [statement or -1, length, …], data } with
 * the pieces' bytes (transferred, `length` of them used), then { kind: 'finish' }. To the parent:
 * { kind: 'scanned', bytes, data } per batch (its back-pressure; the buffer transferred back), { kind: 'done', … } (WorkerDone) at the end, or
 * { kind: 'failed', message } on any error, after which it reads nothing more: the parent
 * fails the check.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PatternSet, type TransferablePatterns } from './leak-patterns';
import { StatementScan } from './leak-scan';
import type { MaskingRules } from './rules';

const { patterns, rules } = workerData as { patterns: TransferablePatterns; rules: MaskingRules };
const port = parentPort!;
const scan = new StatementScan(PatternSet.fromTransferable(patterns), rules);
let failed = false;

port.on('message', (message: { kind: 'scan'; pieces: number[]; data: ArrayBuffer; length: number } | { kind: 'finish' }) => {
  if (failed) return;
  try {
    if (message.kind === 'scan') {
      const data = Buffer.from(message.data, 0, message.length);
      let at = 0;
      for (let k = 0; k < message.pieces.length; k += 2) {
        const bytes = data.subarray(at, at + message.pieces[k + 1]);
        at += bytes.length;
        scan.push(message.pieces[k], bytes);
      }
      // The buffer goes back for the next batches (the scan keeps no view of it).
      port.postMessage({ kind: 'scanned', bytes: message.length, data: message.data }, [message.data]);
    } else {
      port.postMessage({ kind: 'done', ...scan.finish() });
    }
  } catch (error) {
    failed = true;
    port.postMessage({ kind: 'failed', message: (error as Error).message });
  }
});
