import { Readable } from 'node:stream';
import { StatementSplitter } from '../../lib/masking/dump-split';
import { PatternSet, REWRITTEN_NAME } from '../../lib/masking/leak-patterns';
import { scanDump, type ScanResult } from '../../lib/masking/leak-scan';
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

const sorted = (result: ScanResult) => ({ ...result, threads: 0, hits: result.hits.map((h) => JSON.stringify(h)).sort() });

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
