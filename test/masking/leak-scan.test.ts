import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { StatementSplitter } from '../../lib/masking/dump-split';
import { PatternSet, REWRITTEN_NAME } from '../../lib/masking/leak-patterns';
import { defaultScanThreads, scanDump, type ScanResult } from '../../lib/masking/leak-scan';
import { parseRules } from '../../lib/masking/rules';
import { chunked, generatedDumpOf, sampleDump } from './helpers';

/**
 * The leak check's scan in several threads (leak-scan.ts): the dump is cut at INSERT
 * statements (dump-split.ts) and each thread scans a share. Rules guarded: the cut loses and
 * reorders nothing; the threads find exactly what one thread finds, rows named by their place
 * in their table; any thread's failure fails the scan (fail closed).
 */

const rules = parseRules(
  {
    database: 'app',
    tables: {
      users: { columns: { id: 'keep', email: 'email', name: { transform: 'name' }, notes: 'keep' } },
      messages: { columns: { body: 'keep', author: { transform: 'name' } } },
    },
  },
  'scan test rules',
);

function patterns(): PatternSet {
  const set = new PatternSet();
  set.add('alice.smith@mail-3.example.org', 'users.email');
  set.add('Anna de la Cruz', 'users.name', REWRITTEN_NAME);
  set.add('Jan van der Berg', 'messages.author', REWRITTEN_NAME);
  return set;
}

/** A dump of `statements` INSERTs per table, `perStatement` rows each, with leaks planted at some rows (kept columns). */
function generatedDump(options: { style: 'mariadb' | 'mysql'; statements: number; perStatement: number; breakRow?: (table: string, row: number) => string | undefined }): string {
  return generatedDumpOf({ style: options.style, statements: options.statements, perStatement: options.perStatement, row: options.breakRow }, [
    {
      name: 'users',
      create: ['  `id` int(11) NOT NULL,', '  `email` varchar(100) NOT NULL,', '  `name` varchar(50) DEFAULT NULL,', '  `notes` text DEFAULT NULL,', '  PRIMARY KEY (`id`)'],
      row: (n) => {
        const notes = n % 97 === 0 ? "'please write to alice.smith@mail-3.example.org'" : n % 89 === 0 ? `0x${Buffer.from('the customer Jan van der Berg phoned').toString('hex')}` : `'order ${n} delivered'`;
        return `(${n},'u${n}@example.com','Name ${n}',${notes})`;
      },
    },
    { name: 'messages', create: ['  `body` text NOT NULL,', '  `author` varchar(50) DEFAULT NULL'], row: (n) => `('${n % 53 === 0 ? 'de la Cruz, Anna asked for a refund' : `message ${n}`}',${n % 7 === 0 ? 'NULL' : `'Author ${n}'`})` },
  ]);
}

const sorted = (result: ScanResult) => ({ ...result, threads: 0, statementsPerThread: undefined, hits: result.hits.map((h) => JSON.stringify(h)).sort() });

describe('the dump is cut at INSERT statements without losing or reordering a byte (dump-split.ts)', () => {
  test.each([
    ['MariaDB style (one row per line)', sampleDump()],
    ['MySQL style (all rows on one line)', sampleDump({ mysqlStyle: true })],
    ['many statements, MariaDB style', generatedDump({ style: 'mariadb', statements: 5, perStatement: 20 })],
    ['many statements, MySQL style', generatedDump({ style: 'mysql', statements: 5, perStatement: 20 })],
  ])('%s, in chunks of every size', (_case, dump) => {
    const bytes = Buffer.from(dump);
    const insertLines = dump.split('\n').filter((line) => line.startsWith('INSERT INTO ')).length;
    for (const sizes of [[1], [2], [3, 5], [7, 1, 64], [4096], [bytes.length]]) {
      const pieces: { kind: string; bytes: Buffer }[] = [];
      const splitter = new StatementSplitter({ other: (b) => pieces.push({ kind: 'other', bytes: Buffer.from(b) }), insert: (b) => pieces.push({ kind: 'insert', bytes: Buffer.from(b) }) });
      for (let pos = 0, n = 0; pos < bytes.length; n++) {
        const size = sizes[n % sizes.length];
        splitter.push(bytes.subarray(pos, pos + size));
        pos += size;
      }
      splitter.finish();
      expect(Buffer.concat(pieces.map((p) => p.bytes)).equals(bytes)).toBe(true);
      const inserts = pieces.filter((p) => p.kind === 'insert').map((p) => p.bytes.toString('latin1'));
      expect(inserts).toHaveLength(insertLines);
      for (const statement of inserts) {
        expect(statement.startsWith('INSERT INTO `')).toBe(true);
        expect(statement.endsWith(';\n')).toBe(true);
      }
      for (const other of pieces.filter((p) => p.kind === 'other')) expect(other.bytes.toString('latin1')).not.toMatch(/^INSERT INTO /);
    }
  });
});

describe('several scan threads find exactly what one thread finds', () => {
  test.each([['mariadb' as const], ['mysql' as const]])('%s style: the same hits, rows named by their place in their table, the same counts', async (style) => {
    const dump = generatedDump({ style, statements: 12, perStatement: 40 });
    // One chunk: one thread parses no row twice (a row spanning chunks is parsed, and counted, again; a thread gets whole statements).
    const one = await scanDump(chunked(dump, [dump.length]), { patterns: patterns(), rules, engine: 'mysql', threads: 1 });
    const three = await scanDump(chunked(dump, [1000, 77, 65536]), { patterns: patterns(), rules, engine: 'mysql', threads: 3 });
    expect(one.threads).toBe(1);
    expect(three.threads).toBe(3);
    expect(sorted(three)).toEqual(sorted(one));
    // The planted leaks are there: emails and a name in hex in kept notes (rows with a key), a
    // reversed name in messages.body (no key: named by position, across statements and threads).
    expect(one.rows).toEqual({ users: 480, messages: 480 });
    const rowsWith = (result: ScanResult, foundIn: string) => result.hits.filter((h) => h.foundIn === foundIn && h.kind === 'original').map((h) => h.row);
    expect(rowsWith(three, 'messages.body').sort()).toEqual([53, 106, 159, 212, 265, 318, 371, 424, 477].map((n) => `row ${n}`).sort());
    expect(rowsWith(three, 'users.notes')).toEqual(expect.arrayContaining(['id=97', 'id=194', 'id=89', 'id=178']));
    expect(three.hits.some((h) => h.kind === 'email' && h.row === 'id=97')).toBe(true);
    expect(three.scannedValues).toBe(one.scannedValues);
  });
});

describe('a scan thread that fails fails the scan (fail closed)', () => {
  const scan = (dump: string | Buffer) => scanDump(chunked(dump, [3000]), { patterns: patterns(), rules, engine: 'mysql', threads: 3 });

  test('a row with a wrong number of values in one statement', async () => {
    const dump = generatedDump({ style: 'mariadb', statements: 10, perStatement: 30, breakRow: (table, n) => (table === 'users' && n === 200 ? `(${n},'u@example.com','Name')` : undefined) });
    await expect(scan(dump)).rejects.toThrow(/scan thread \d of 3 failed: .*3 values where the table has 4 columns/);
  });

  test('a dump cut short (no closing line)', async () => {
    const dump = generatedDump({ style: 'mariadb', statements: 10, perStatement: 30 }).replace(/-- Dump completed.*\n/, '');
    await expect(scan(dump)).rejects.toThrow(/scan thread \d of 3 failed: truncated dump/);
  });

  test('a dump cut inside a statement', async () => {
    const dump = generatedDump({ style: 'mariadb', statements: 10, perStatement: 30 });
    await expect(scan(dump.slice(0, dump.indexOf('(250,')))).rejects.toThrow(/scan thread \d of 3 failed/);
  });

  test('a raw newline after a ";" inside a value (never written by the dump client): the cut falls inside a row and the scan fails, it does not pass', async () => {
    const dump = generatedDump({ style: 'mariadb', statements: 10, perStatement: 30, breakRow: (table, n) => (table === 'users' && n === 100 ? `(${n},'u@example.com','Name','first line;\nalice.smith@mail-3.example.org')` : undefined) });
    await expect(scan(dump)).rejects.toThrow(/scan thread \d of 3 failed: INSERT statement \d+ of the dump does not end where its line ends/);
  });

  test('a dump stream that fails midway fails the scan and stops the threads', async () => {
    const dump = Buffer.from(generatedDump({ style: 'mariadb', statements: 10, perStatement: 30 }));
    const failing = new Readable({
      read() {
        this.push(dump.subarray(0, 5000));
        this.destroy(new Error('decompression failed'));
      },
    });
    await expect(scanDump(failing, { patterns: patterns(), rules, engine: 'mysql', threads: 3 })).rejects.toThrow('decompression failed');
  });
});

/**
 * The default threaded scan is a hybrid: the calling thread cuts the dump and also scans the
 * statements the worker threads have no room for (thread 1 of N is the calling thread, N - 1
 * workers: one extra V8 isolate on 2 cores instead of two). Rules guarded: the result is the one
 * thread's whichever thread scanned which statement (hits, rows named by their place in their
 * table, counts); a failure in either thread, or a worker that exits, fails the scan; no worker
 * is left running after the scan, whether it passed or failed.
 */
describe('the calling thread scans beside the worker threads (hybrid)', () => {
  const schedules: [string, ((statement: number) => number) | undefined][] = [
    ['the calling thread scans every statement', () => 0],
    ['the worker scans every statement', () => 1],
    ['statements alternate between the two threads', (statement) => statement % 2],
    ['the default scheduling (by work queued)', undefined],
  ];
  const rowsWith = (result: ScanResult, foundIn: string) => result.hits.filter((h) => h.foundIn === foundIn && h.kind === 'original').map((h) => h.row).sort();

  test.each(schedules.flatMap(([name, threadFor]) => [['mariadb' as const, name, threadFor] as const, ['mysql' as const, name, threadFor] as const]))('%s style, %s: the same result as one thread, hits found in either thread', async (style, _name, threadFor) => {
    const dump = generatedDump({ style, statements: 12, perStatement: 40 });
    const one = await scanDump(chunked(dump, [dump.length]), { patterns: patterns(), rules, engine: 'mysql', threads: 1 });
    const two = await scanDump(chunked(dump, [1000, 77, 65536]), { patterns: patterns(), rules, engine: 'mysql', threads: 2, threadFor });
    expect(two.threads).toBe(2);
    expect(sorted(two)).toEqual(sorted(one));
    // Rows without a key (messages.body) are named by their place in their table, as one thread names them.
    expect(rowsWith(two, 'messages.body')).toEqual([53, 106, 159, 212, 265, 318, 371, 424, 477].map((n) => `row ${n}`).sort());
    expect(rowsWith(two, 'users.notes')).toEqual(expect.arrayContaining(['id=97', 'id=194', 'id=89', 'id=178']));
    // Every statement was scanned once, by the thread the schedule named.
    const perThread = two.statementsPerThread!;
    expect(perThread[0] + perThread[1]).toBe(24);
    if (threadFor) expect(perThread).toEqual([0, 1].map((thread) => Array.from({ length: 24 }, (_, s) => threadFor(s)).filter((t) => t === thread).length));
  });

  test('three threads (the calling thread and two workers), statements spread over all: the same result as one thread', async () => {
    const dump = generatedDump({ style: 'mariadb', statements: 12, perStatement: 40 });
    const one = await scanDump(chunked(dump, [dump.length]), { patterns: patterns(), rules, engine: 'mysql', threads: 1 });
    const three = await scanDump(chunked(dump, [4096]), { patterns: patterns(), rules, engine: 'mysql', threads: 3, threadFor: (statement) => statement % 3 });
    expect(three.statementsPerThread).toEqual([8, 8, 8]);
    expect(sorted(three)).toEqual(sorted(one));
  });

  const workersOf = () => {
    const started: Worker[] = [];
    const exited = new Set<Worker>();
    const onWorker = (worker: Worker) => {
      started.push(worker);
      worker.once('exit', () => exited.add(worker));
    };
    return { started, exited, onWorker };
  };
  const settled = () => new Promise((resolve) => setImmediate(resolve));

  test.each([
    ['the calling thread', () => 0, /scan thread 1 of 2 failed: .*3 values where the table has 4 columns/],
    ['the worker', () => 1, /scan thread 2 of 2 failed: .*3 values where the table has 4 columns/],
  ])('a wrong row fails the scan when %s scans it, and no worker is left running', async (_who, threadFor, message) => {
    const dump = generatedDump({ style: 'mariadb', statements: 10, perStatement: 30, breakRow: (table, n) => (table === 'users' && n === 200 ? `(${n},'u@example.com','Name')` : undefined) });
    const workers = workersOf();
    await expect(scanDump(chunked(dump, [3000]), { patterns: patterns(), rules, engine: 'mysql', threads: 2, threadFor, onWorker: workers.onWorker })).rejects.toThrow(message);
    await settled();
    expect(workers.started).toHaveLength(1);
    expect(workers.exited.size).toBe(1);
  });

  test('a dump cut short fails the scan in the calling thread too (it reads every line)', async () => {
    const dump = generatedDump({ style: 'mariadb', statements: 10, perStatement: 30 }).replace(/-- Dump completed.*\n/, '');
    await expect(scanDump(chunked(dump, [3000]), { patterns: patterns(), rules, engine: 'mysql', threads: 2, threadFor: () => 0 })).rejects.toThrow(/scan thread \d of 2 failed: truncated dump/);
  });

  test('a worker that exits before it finished (killed, out of memory) fails the scan', async () => {
    const dump = generatedDump({ style: 'mariadb', statements: 10, perStatement: 30 });
    const workers = workersOf();
    const onWorker = (worker: Worker) => {
      workers.onWorker(worker);
      void worker.terminate();
    };
    await expect(scanDump(chunked(dump, [3000]), { patterns: patterns(), rules, engine: 'mysql', threads: 2, threadFor: () => 0, onWorker })).rejects.toThrow(/scan thread 2 of 2 exited \(\d+\) before it finished/);
    await settled();
    expect(workers.exited.size).toBe(1);
  });

  test('after a scan that passed, no worker is left running', async () => {
    const dump = generatedDump({ style: 'mysql', statements: 6, perStatement: 20 });
    const workers = workersOf();
    const result = await scanDump(chunked(dump, [3000]), { patterns: patterns(), rules, engine: 'mysql', threads: 3, onWorker: workers.onWorker });
    expect(result.threads).toBe(3);
    await settled();
    expect(workers.started).toHaveLength(2);
    expect(workers.exited.size).toBe(2);
  });

  test('one thread (MASKING_SCAN_THREADS=1) is the calling thread alone: no worker is started', async () => {
    const dump = generatedDump({ style: 'mariadb', statements: 4, perStatement: 10 });
    const workers = workersOf();
    const result = await scanDump(chunked(dump, [3000]), { patterns: patterns(), rules, engine: 'mysql', threads: 1, onWorker: workers.onWorker });
    expect(result.threads).toBe(1);
    expect(workers.started).toHaveLength(0);
  });
});

describe('how many threads scan by default: the machine decides, MASKING_SCAN_THREADS overrides', () => {
  const saved = process.env.MASKING_SCAN_THREADS;
  afterEach(() => {
    if (saved === undefined) delete process.env.MASKING_SCAN_THREADS;
    else process.env.MASKING_SCAN_THREADS = saved;
  });

  test('unset: one thread per core (the calling thread and workers), at most 4', () => {
    delete process.env.MASKING_SCAN_THREADS;
    expect(defaultScanThreads()).toBe(Math.min(availableParallelism(), 4));
  });

  test.each([['1', 1], ['2', 2], ['8', 8]])('MASKING_SCAN_THREADS=%s: %d', (value, threads) => {
    process.env.MASKING_SCAN_THREADS = value;
    expect(defaultScanThreads()).toBe(threads);
  });

  test.each(['0', 'two', '-1', '100'])('MASKING_SCAN_THREADS=%s is refused', (value) => {
    process.env.MASKING_SCAN_THREADS = value;
    expect(() => defaultScanThreads()).toThrow(/MASKING_SCAN_THREADS/);
  });

  test('a PostgreSQL dump is scanned by the calling thread alone, whatever the setting', async () => {
    const workers = { started: 0 };
    const dump = "SET client_encoding = 'UTF8';\n--\n-- PostgreSQL database dump complete\n--\n";
    const result = await scanDump(chunked(dump, [dump.length]), { patterns: patterns(), rules, engine: 'postgres', threads: 2, onWorker: () => workers.started++ });
    expect(result.threads).toBe(1);
    expect(workers.started).toBe(0);
  });
});
