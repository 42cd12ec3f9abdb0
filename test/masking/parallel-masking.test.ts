import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maskedDump } from '../../lib/masking/pipeline';
import { silentLogger } from '../../lib/util/log';
import { signalProcess } from '../../lib/util/process-group';
import { sleep } from '../../lib/util/time';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DumpFormatError, MaskingTransform, type RewriteSummary } from '../../lib/masking/dump-rewriter';
import { defaultMaskingThreads, ParallelMaskingTransform } from '../../lib/masking/parallel-masking';
import { parseRules, type MaskingRules } from '../../lib/masking/rules';
import { SchemaDriftError } from '../../lib/masking/transformers';
import { chunked, generatedDumpOf, RULES_JSON, rewriter, sampleDump, TEST_KEY, testRules } from './helpers';

/**
 * The masking stream with the rewriting in worker threads (parallel-masking.ts). Rules guarded:
 * the output is byte for byte the single rewriter's, in input order, whatever the chunks and the
 * number of threads, with each thread knowing every table's columns (CREATE TABLE) as one
 * rewriter does; the summary (rows per table in dump order, bytes) is the same; every failure
 * of one rewriter fails the threaded stream with the same error, and a thread that throws or
 * dies fails it too; no thread is left running after the end or a failure.
 */

interface Masked {
  output: Buffer;
  summary: RewriteSummary;
  transform: MaskingTransform | ParallelMaskingTransform;
}

/** Mask a dump with `threads` threads (0: the single rewriter in this thread). */
async function mask(dump: string | Buffer, options: { threads: number; sizes?: number[]; rules?: MaskingRules; workerFile?: string; beforeEnd?: () => Promise<void> }): Promise<Masked> {
  const rules = options.rules ?? testRules();
  const transform = options.threads === 0 ? new MaskingTransform(rewriter(rules), options.beforeEnd) : new ParallelMaskingTransform({ rules, key: TEST_KEY, threads: options.threads, workerFile: options.workerFile }, options.beforeEnd);
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      parts.push(chunk);
      done();
    },
  });
  try {
    await pipeline(chunked(dump, options.sizes ?? [65536]), transform, sink);
  } finally {
    if (transform instanceof ParallelMaskingTransform) await transform.threadsStopped;
  }
  return { output: Buffer.concat(parts), summary: transform.rewriter.summary, transform };
}

/** The error a masking run fails with (and its threads all stopped). */
async function failure(dump: string | Buffer, options: Parameters<typeof mask>[1]): Promise<Error> {
  const error = await mask(dump, options).then(
    () => undefined,
    (caught: Error) => caught,
  );
  if (error === undefined) throw new Error('expected the masking run to fail');
  return error;
}

const RULES = parseRules(
  {
    ...RULES_JSON,
    tables: {
      ...RULES_JSON.tables,
      messages: { columns: { body: 'keep', author: { transform: 'name' }, sent: 'dateShift' } },
    },
  },
  'parallel test rules',
);

/**
 * A mariadb-dump-shaped dump of several tables, `statements` INSERTs each of `perStatement` rows,
 * with escapes, UTF-8, NULLs, `),(` and `;` inside strings, a column list, and a table whose
 * CREATE TABLE comes late (the threads must learn it where it is).
 */
function generatedDump(options: { style: 'mariadb' | 'mysql'; statements: number; perStatement: number; row?: (table: string, n: number) => string | undefined; end?: string }): string {
  const notes = ["'x\\'y\\\\z\\n),(;INSERT INTO'", "'it''s \\\"quoted\\\"'", "'😀 tab\there \\0 \\r\\n end \\\\'", 'NULL', "'Zoë'"];
  return generatedDumpOf({ ...options, prelude: ['/*M!999999\\- enable the sandbox mode */ '] }, [
    { name: 'users', create: ['  `id` int(11) NOT NULL,', '  `email` varchar(100) NOT NULL,', '  `name` varchar(50) DEFAULT NULL,', '  `notes` text DEFAULT NULL,', '  `phone` varchar(30) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL,', '  `born` datetime DEFAULT NULL,', '  PRIMARY KEY (`id`)'], row: (n) => `(${n},'${n % 3 === 0 ? 'ALICE' : 'user'}.${n % 500}@Example.org','${n % 5 === 0 ? 'García' : `Name ${n % 40}`}',${notes[n % notes.length]},${n % 4 === 0 ? 'NULL' : `'+44 20 7946 ${String(n % 10000).padStart(4, '0')}'`},'19${50 + (n % 50)}-0${1 + (n % 9)}-1${n % 10} 12:00:00')` },
    { name: 'orders', create: ['  `id` int(11) NOT NULL,', '  `user_id` int(11) NOT NULL,', '  `customer_email` varchar(100) NOT NULL,', '  `total` decimal(10,2) NOT NULL,', '  PRIMARY KEY (`id`)'], row: (n) => `('${n % 7}',${n % 300},'user.${n % 500}@example.org',${n % 100}.50)`, header: 'INSERT INTO `orders` (`total`, `user_id`, `customer_email`, `id`) VALUES' },
    { name: 'countries', create: ['  `code` char(2) NOT NULL'], row: (n) => `('${String.fromCharCode(65 + (n % 26))}${String.fromCharCode(65 + ((n * 7) % 26))}')` },
    { name: 'messages', create: ['  `body` text NOT NULL,', '  `author` varchar(50) DEFAULT NULL,', '  `sent` date DEFAULT NULL'], row: (n) => `('message ${n}; (a),(b)',${n % 7 === 0 ? 'NULL' : `'Author ${n % 60}'`},'2024-0${1 + (n % 9)}-2${n % 8}')` },
  ]);
}

describe('several masking threads write exactly what one rewriter writes', () => {
  test('defaultMaskingThreads: MASKING_THREADS, else one per core but one (at least 1, at most 4)', () => {
    const saved = process.env.MASKING_THREADS;
    try {
      delete process.env.MASKING_THREADS;
      expect(defaultMaskingThreads()).toBeGreaterThanOrEqual(1);
      expect(defaultMaskingThreads()).toBeLessThanOrEqual(4);
      process.env.MASKING_THREADS = '0';
      expect(defaultMaskingThreads()).toBe(0);
      process.env.MASKING_THREADS = '3';
      expect(defaultMaskingThreads()).toBe(3);
      process.env.MASKING_THREADS = 'many';
      expect(() => defaultMaskingThreads()).toThrow(/MASKING_THREADS=many: expected a whole number from 0/);
    } finally {
      if (saved === undefined) delete process.env.MASKING_THREADS;
      else process.env.MASKING_THREADS = saved;
    }
  });

  test('GIVEN a nonsense MASKING_THREADS WHEN maskedDump is called THEN it throws before the dump client starts (a started one was never stopped: the run hung with its transaction open on the source)', async () => {
    const saved = process.env.MASKING_THREADS;
    const work = mkdtempSync(join(tmpdir(), 'mask-threads-'));
    const started = join(work, 'dump-client.pid');
    // A stand-in dump client (no server): it records that it started, then writes until stopped.
    const client = join(work, 'fake-dump');
    writeFileSync(client, `#!/bin/sh\necho $$ > ${started}\nexec yes 'INSERT INTO t VALUES (1);'\n`, { mode: 0o700 });
    try {
      process.env.MASKING_THREADS = 'abc';
      const rules = testRules();
      const source = { name: 'nowhere', host: '127.0.0.1', port: 9, user: 'u', password: 'p', database: rules.database };
      await expect(maskedDump({ source, rules, key: TEST_KEY, compression: 'gzip', destination: { kind: 'file', path: join(work, 'out.sql.gz') }, log: silentLogger, dumpCommand: client })).rejects.toThrow(/MASKING_THREADS=abc/);
      await sleep(300);
      expect(existsSync(started)).toBe(false);
      expect(readdirSync(work)).toEqual(['fake-dump']);
    } finally {
      if (saved === undefined) delete process.env.MASKING_THREADS;
      else process.env.MASKING_THREADS = saved;
      if (existsSync(started)) signalProcess(Number(readFileSync(started, 'utf8')), 'SIGKILL');
      rmSync(work, { recursive: true, force: true });
    }
  });

  test.each([
    ['mariadb', 1, [65536]],
    ['mariadb', 3, [1000, 77, 65536]],
    ['mysql', 2, [4096]],
    ['mysql', 3, [1 << 22]],
  ] as const)('a %s-style dump of four tables, %i thread(s), chunks %j: byte-identical output and the same summary', async (style, threads, sizes) => {
    // GIVEN a dump of four tables, many statements each, one INSERT with a column list
    const dump = generatedDump({ style, statements: 12, perStatement: 150 });
    // WHEN masked by one rewriter and by threads
    const one = await mask(dump, { threads: 0, rules: RULES });
    const many = await mask(dump, { threads, rules: RULES, sizes: [...sizes] });
    // THEN the outputs are identical, in input order, and so are the rows per table (in dump order) and the bytes
    expect(one.output.length).toBeGreaterThan(100000);
    expect(/@Example\.org|García|\+44 20 7946/i.test(one.output.toString())).toBe(false);
    expect(many.output.equals(one.output)).toBe(true);
    expect(many.summary).toEqual(one.summary);
    expect(Object.keys(many.summary.rows)).toEqual(['users', 'orders', 'countries', 'messages']);
    expect(many.summary.rows).toEqual({ users: 1800, orders: 1800, countries: 1800, messages: 1800 });
    // AND no thread is left running
    expect((many.transform as ParallelMaskingTransform).workers.map((w) => w.threadId)).toEqual(Array(threads).fill(-1));
  });

  test('the sample dump with its traps, in chunks of every small size: byte-identical', async () => {
    const dump = sampleDump();
    const one = await mask(dump, { threads: 0 });
    for (const size of [1, 7, 64, 1 << 20]) {
      const many = await mask(dump, { threads: 2, sizes: [size] });
      expect(many.output.equals(one.output)).toBe(true);
      expect(many.summary).toEqual(one.summary);
    }
  });

  test('a raw newline after a ";" inside a value (never written by the dump client) cuts a row: the rest is rewritten in this thread, as one rewriter does', async () => {
    const dump = generatedDump({ style: 'mariadb', statements: 6, perStatement: 40, row: (table, n) => (table === 'users' && n === 100 ? `(${n},'u@example.org','Name','first line;\nsecond line',NULL,NULL)` : undefined) });
    const one = await mask(dump, { threads: 0, rules: RULES });
    const many = await mask(dump, { threads: 2, rules: RULES, sizes: [3000] });
    expect(many.output.equals(one.output)).toBe(true);
    expect(many.summary).toEqual(one.summary);
  });
});

describe('memory is bounded: the stream does not read the dump ahead of its output', () => {
  test('GIVEN a consumer that stops reading WHEN the dump is much larger than the read-ahead THEN the stream stops reading it (at most a few MB ahead per thread)', async () => {
    const dump = Buffer.from(generatedDump({ style: 'mariadb', statements: 700, perStatement: 400 }));
    let pulled = 0;
    let at = 0;
    const source = new Readable({
      read() {
        const chunk = dump.subarray(at, at + 65536);
        at += chunk.length;
        pulled += chunk.length;
        this.push(chunk.length > 0 ? chunk : null);
      },
    });
    const transform = new ParallelMaskingTransform({ rules: RULES, key: TEST_KEY, threads: 2 });
    // The consumer takes one chunk and never asks for more (an upload that stalls).
    const stalled = new Writable({ highWaterMark: 1, write: () => undefined });
    const run = pipeline(source, transform, stalled).catch((error: Error) => error);
    // Let it run until it has pulled all it will (the threads answer in well under this).
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(dump.length).toBeGreaterThan(40 << 20);
    expect(pulled).toBeLessThan(16 << 20);
    transform.destroy(new Error('stopped by the test'));
    expect(((await run) as Error).message).toBe('stopped by the test');
    await transform.threadsStopped;
  });
});

describe('the threaded stream fails closed as one rewriter does', () => {
  const dump = generatedDump({ style: 'mariadb', statements: 8, perStatement: 50 });
  /** Both fail, with the same error type and message. */
  const failsAlike = async (broken: string, message: RegExp, type: new (...args: never[]) => Error = DumpFormatError) => {
    const single = await failure(broken, { threads: 0, rules: RULES });
    const threaded = await failure(broken, { threads: 3, rules: RULES, sizes: [5000] });
    expect(single).toBeInstanceOf(type);
    expect(single.message).toMatch(message);
    expect(threaded).toBeInstanceOf(type);
    // One rewriter names the byte where the chunk it was reading began; the threads name the line's or the row's.
    const withoutBytes = (text: string) => text.replace(/byte \d+/, 'byte N');
    expect(withoutBytes(threaded.message)).toBe(withoutBytes(single.message));
    expect(threaded.message).not.toMatch(/alice|García/i);
  };

  test('a _binary literal, named by the same row of its table as one rewriter names it', async () => {
    await failsAlike(dump.replace("(230,'user.230@Example.org'", "(230,_binary 'user.230@Example.org'"), /table users, row 230: a _binary literal; dump with --hex-blob/);
  });

  test('a wrong number of values in a row', async () => {
    await failsAlike(dump.replace("('message 333; (a),(b)','Author 33','2024-01-25')", "('message 333; (a),(b)','Author 33','2024-01-25',7)"), /table messages, row 333: 4 values where the table has 3 columns/);
  });

  test('INSERT IGNORE and REPLACE', async () => {
    await failsAlike(dump.replace('INSERT INTO `countries`', 'INSERT IGNORE INTO `countries`'), /INSERT IGNORE.*--insert-ignore/);
    await failsAlike(dump.replace('INSERT INTO `messages`', 'REPLACE INTO `messages`'), /REPLACE.*--replace/);
  });

  test('a dump truncated anywhere: inside a row, inside a CREATE TABLE, between statements, before the closing line', async () => {
    for (const cut of [dump.indexOf("(301,'user.301"), dump.indexOf('CREATE TABLE `orders`') + 30, dump.indexOf('INSERT INTO `messages`'), dump.indexOf('-- Dump completed')]) {
      await failsAlike(dump.slice(0, cut), /truncated dump/);
    }
  });

  test('schema drift: a new column, a table the rules do not know, a rule for a column that is gone', async () => {
    await failsAlike(dump.replace('  `total` decimal(10,2) NOT NULL,', '  `total` decimal(10,2) NOT NULL,\n  `iban` varchar(34) DEFAULT NULL,'), /table orders: column iban not classified/, SchemaDriftError);
    await failsAlike(dump.replace(/`countries`/g, '`loyalty`'), /table loyalty is not in the masking rules/, SchemaDriftError);
    await failsAlike(dump.replace("  `author` varchar(50) DEFAULT NULL,\n", ''), /table messages: the masking rules \(parallel test rules\) name column author that the table does not have/, SchemaDriftError);
  });

  test('an INSERT before its CREATE TABLE', async () => {
    await failsAlike(dump.replace(/CREATE TABLE `orders` \([^;]*;\n/, ''), /INSERT into table orders at byte \d+ before its CREATE TABLE/);
  });

  test('the dump client failing: its error comes first, as with one rewriter', async () => {
    const exited = () => Promise.reject(new Error('mariadb-dump failed (exit 3)'));
    const threaded = await failure(dump.slice(0, dump.indexOf("(301,'user.301")), { threads: 2, rules: RULES, beforeEnd: exited });
    expect(threaded.message).toBe('mariadb-dump failed (exit 3)');
  });
});

describe('a masking thread that throws or dies fails the stream, and no thread is left', () => {
  const dump = generatedDump({ style: 'mariadb', statements: 20, perStatement: 200 });
  const faulty = join(__dirname, 'fixtures', 'faulty-masking-worker.ts');
  /** The rules, named so that the faulty thread injects `fault` (it reads the rules' source). */
  const withFault = (fault: string) => parseRules({ ...RULES_JSON, tables: { ...RULES_JSON.tables, messages: { columns: { body: 'keep', author: { transform: 'name' }, sent: 'dateShift' } } } }, `fault:${fault}`);

  test('GIVEN the faulty worker without a fault THEN it masks as the real one (the fixture is sound)', async () => {
    const one = await mask(dump, { threads: 0, rules: RULES });
    const many = await mask(dump, { threads: 2, rules: withFault('none'), workerFile: faulty, sizes: [8192] });
    expect(many.output.equals(one.output)).toBe(true);
  });

  test.each([
    ['throws while rewriting a statement (an error this thread does not reproduce)', 'throw', /masking thread \d of 2 failed: injected fault while rewriting/],
    ['throws outside its message handler (an uncaught exception)', 'uncaught', /masking thread \d of 2 failed: injected uncaught fault/],
    ['exits in the middle of the dump', 'exit', /masking thread \d of 2 exited \(code 7\) before the dump was rewritten/],
  ])('a thread that %s', async (_case, fault, message) => {
    const parts: Buffer[] = [];
    const transform = new ParallelMaskingTransform({ rules: withFault(fault), key: TEST_KEY, threads: 2, workerFile: faulty });
    const error = await pipeline(
      chunked(dump, [8192]),
      transform,
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          parts.push(chunk);
          done();
        },
      }),
    ).then(
      () => undefined,
      (caught: Error) => caught,
    );
    expect(error?.message).toMatch(message);
    await transform.threadsStopped;
    expect(transform.workers.map((w) => w.threadId)).toEqual([-1, -1]);
    // The output stopped before the end: the closing line was never written.
    expect(Buffer.concat(parts).toString()).not.toContain('-- Dump completed');
  });

  test('a thread terminated from outside mid-stream', async () => {
    const transform = new ParallelMaskingTransform({ rules: RULES, key: TEST_KEY, threads: 2 });
    let written = 0;
    const error = await pipeline(
      chunked(dump, [8192]),
      transform,
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          if (written === 0) void transform.workers[1].terminate();
          written += chunk.length;
          done();
        },
      }),
    ).then(
      () => undefined,
      (caught: Error) => caught,
    );
    expect(error?.message).toMatch(/masking thread 2 of 2 exited \(code \d+\) before the dump was rewritten; nothing of this dump is kept/);
    await transform.threadsStopped;
    expect(transform.workers.map((w) => w.threadId)).toEqual([-1, -1]);
  });

  test('a stream destroyed from outside (an upload that failed) stops every thread', async () => {
    const transform = new ParallelMaskingTransform({ rules: RULES, key: TEST_KEY, threads: 2 });
    const errors: Error[] = [];
    transform.on('error', (error) => errors.push(error));
    transform.write(Buffer.from(dump.slice(0, 50000)));
    transform.destroy(new Error('upload failed'));
    await new Promise((resolve) => transform.once('close', resolve));
    await transform.threadsStopped;
    expect(transform.workers.map((w) => w.threadId)).toEqual([-1, -1]);
    expect(errors.map((e) => e.message)).toEqual(['upload failed']);
  });
});
