import { DumpFormatError, DumpRewriter, closingQuote } from '../../lib/masking/dump-rewriter';
import { SchemaDriftError } from '../../lib/masking/transformers';
import { parseRules } from '../../lib/masking/rules';
import { RULES_JSON, rewriteInChunks, rewriter, sampleDump } from './helpers';

const rewriteAll = (dump: string) => rewriteInChunks(Buffer.from(dump), [1 << 20]).toString('utf8');
const insertRows = (output: string, table: string) => {
  const start = output.indexOf(`INSERT INTO \`${table}\``);
  return output.slice(start, output.indexOf(';\n', start));
};

describe('DumpRewriter', () => {
  const whole = rewriteAll(sampleDump());

  test('masks personal columns and leaves every other byte of the dump as it was', () => {
    expect(whole).not.toMatch(/alice@example\.org|bob@example\.org|carol@|García|Zoë|7946/i);
    // Kept values survive byte for byte, escapes and all (quotes, ),( ; INSERT INTO, emoji, tab, \0).
    expect(whole).toContain(`'x\\'y\\\\z\\n),(;INSERT INTO'`);
    expect(whole).toContain(`'it''s \\"quoted\\" ''twice'''`);
    expect(whole).toContain(`'😀 tab\there \\0 nul \\r\\n end \\\\'`);
    expect(whole).toContain(`'ends with backslash \\\\'`);
    expect(whole).toContain("INSERT INTO `countries` VALUES ('GB'),('FR');");
    expect(whole).toContain(',12.50)');
    // NULL stays NULL; zero dates stay zero.
    expect(insertRows(whole, 'users')).toMatch(/\(3,'u[0-9a-f]{16}@example\.com',NULL,/);
    expect(whole).toContain("'0000-00-00')");
    const before = sampleDump().split('\n').filter((line) => !line.startsWith('(') && !line.startsWith('/*M!999999'));
    const after = whole.split('\n').filter((line) => !line.startsWith('('));
    expect(after).toEqual(before);
  });

  test('drops MariaDB\'s sandbox-mode first line, which MySQL clients cannot restore', () => {
    expect(sampleDump().startsWith('/*M!999999')).toBe(true);
    expect(whole.startsWith('-- MariaDB dump')).toBe(true);
  });

  test('the same value masks to the same value in every table, so joins still match', () => {
    const users = insertRows(whole, 'users');
    const orders = insertRows(whole, 'orders');
    const aliceInUsers = /\(1,'([^']+)'/.exec(users)![1];
    const bobInUsers = /\(3,'([^']+)'/.exec(users)![1];
    expect(orders).toContain(`(10,1,'${aliceInUsers}',`);
    expect(orders).toContain(`(11,3,'${bobInUsers}',`);
  });

  test('values equal under a _ci collation mask alike (ALICE@ = alice@, García = Garcia); a _bin column hashes exactly', () => {
    const users = insertRows(whole, 'users');
    const [row1, row2] = users.split('\n').slice(1, 3);
    const field = (row: string, index: number) => row.slice(1).split(',')[index];
    expect(field(row1, 1)).toBe(field(row2, 1)); // email, utf8mb4_general_ci
    expect(field(row1, 2)).toBe(field(row2, 2)); // name: García / Garcia
    expect(insertRows(whole, 'orders')).toContain(`(12,2,${field(row1, 1)},`);
  });

  test('keeps formats: a valid unique email, a phone of the same shape, a shifted date', () => {
    const users = insertRows(whole, 'users');
    expect(users).toMatch(/\(1,'u[0-9a-f]{16}@example\.com','[A-Z][a-z]+ [A-Z][a-z]+',/);
    expect(users).toMatch(/'\+[1-9]\d \d\d \d{4} \d{4}','\d{4}-\d\d-\d\d'\)/);
    expect(users).toMatch(/'0\d\d-\d{4}-\d{4}','\d{4}-\d\d-\d\d 23:59:59'\)/);
    const born = /'(\d{4}-\d\d-\d\d)'\),\n\(2/.exec(users)![1];
    const shiftDays = Math.abs(Date.parse(born) - Date.parse('1980-02-29')) / 86400000;
    expect(shiftDays).toBeGreaterThanOrEqual(1);
    expect(shiftDays).toBeLessThanOrEqual(30);
  });

  test('gives byte-identical output whatever the chunk boundaries (quotes, escapes and UTF-8 split)', () => {
    const dump = Buffer.from(sampleDump());
    for (const size of [1, 2, 3, 5, 7, 13, 64]) {
      expect(rewriteInChunks(dump, [size]).toString('utf8')).toBe(whole);
    }
    // Every single split point.
    for (let at = 1; at < dump.length; at++) {
      expect(rewriteInChunks(dump, [at, dump.length]).toString('utf8')).toBe(whole);
    }
  });

  test('reads MySQL\'s format too: every row of an INSERT on one line', () => {
    const mysql = rewriteAll(sampleDump({ mysqlStyle: true }));
    const mariadbRows = insertRows(whole, 'users').split('\n').slice(1).join('');
    expect(insertRows(mysql, 'users')).toBe(`INSERT INTO \`users\` VALUES ${mariadbRows}`);
  });

  test('takes column positions from the INSERT column list when there is one', () => {
    const dump = sampleDump().replace('INSERT INTO `orders` VALUES\n(10,1,\'alice@example.org\',12.50)', "INSERT INTO `orders` (`customer_email`, `id`, `user_id`, `total`) VALUES\n('alice@example.org',10,1,12.50)");
    const out = rewriteAll(dump);
    expect(out).toMatch(/INSERT INTO `orders` \(`customer_email`, `id`, `user_id`, `total`\) VALUES\n\('u[0-9a-f]{16}@example\.com',10,1,12\.50\)/);
  });

  test('the same input and key give identical output; another key gives other values', () => {
    expect(rewriteAll(sampleDump())).toBe(whole);
    const other = rewriteInChunks(Buffer.from(sampleDump()), [4096], undefined).toString();
    expect(other).toBe(whole);
    const r = rewriter(undefined, Buffer.from('another key of sixteen bytes or more'));
    const withOtherKey = Buffer.concat([r.push(Buffer.from(sampleDump())), r.finish()]).toString();
    expect(withOtherKey).not.toBe(whole);
  });

  describe('fails closed', () => {
    const fails = (dump: string, message: RegExp, type: new (...args: never[]) => Error = DumpFormatError) => {
      let error: unknown;
      try {
        rewriteAll(dump);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toMatch(/alice|bob|García/);
    };
    test('on INSERT IGNORE and REPLACE', () => {
      fails(sampleDump().replace('INSERT INTO `countries`', 'INSERT IGNORE INTO `countries`'), /INSERT IGNORE.*--insert-ignore/);
      fails(sampleDump().replace('INSERT INTO `countries`', 'REPLACE INTO `countries`'), /REPLACE.*--replace/);
    });
    test('on a _binary literal', () => {
      fails(sampleDump().replace("(11,3,'bob@example.org'", "(11,3,_binary 'bob@example.org'"), /table orders, row 2: a _binary literal; dump with --hex-blob/);
    });
    test('on a wrong number of values in a row', () => {
      fails(sampleDump().replace("(11,3,'bob@example.org',-3)", "(11,3,'bob@example.org')"), /table orders, row 2: 3 values where the table has 4 columns/);
      fails(sampleDump().replace("(11,3,'bob@example.org',-3)", "(11,3,'bob@example.org',-3,4)"), /table orders, row 2: 5 values where the table has 4 columns/);
    });
    test('on a dump truncated anywhere (inside a string, a row, between statements)', () => {
      const dump = sampleDump();
      for (const cut of [dump.indexOf("x\\'y"), dump.indexOf('(11,3'), dump.indexOf('CREATE TABLE `orders`') + 5, dump.indexOf('-- Dump completed')]) {
        fails(dump.slice(0, cut), /truncated dump/);
      }
    });
    test('on a table or a column the rules do not classify (schema drift), naming it and the fix', () => {
      fails(sampleDump().replace('  `total` decimal(10,2) NOT NULL,', '  `total` decimal(10,2) NOT NULL,\n  `iban` varchar(34) DEFAULT NULL,'), /table orders: column iban not classified .*"keep" if it holds no personal data/, SchemaDriftError);
      fails(sampleDump().replace(/`countries`/g, '`loyalty`'), /table loyalty is not in the masking rules.*"personalData": false/, SchemaDriftError);
    });
    test('on a new column in a table marked free of personal data: it stops the run like anywhere else', () => {
      const drifted = sampleDump().replace('  `code` char(2) NOT NULL', '  `code` char(2) NOT NULL,\n  `contact_email` varchar(100) DEFAULT NULL').replace("('GB'),('FR')", "('GB','a@b.example'),('FR',NULL)");
      fails(drifted, /table countries: column contact_email not classified .*"keep" if it holds no personal data/, SchemaDriftError);
    });
    test('on a rule for a column the table no longer has', () => {
      const rules = parseRules({ ...RULES_JSON, tables: { ...RULES_JSON.tables, orders: { columns: { ...RULES_JSON.tables.orders.columns, coupon: 'keep' } } } }, 'r');
      expect(() => rewriteInChunks(Buffer.from(sampleDump()), [1 << 20], rules)).toThrow(/table orders: the masking rules \(r\) name column coupon that the table does not have/);
    });
  });

  test('a quote closes only after an even number of backslashes, and a doubled quote does not close', () => {
    const at = (text: string) => closingQuote(text, 1);
    expect(at("'abc',")).toBe(4);
    expect(at("'a\\'b',")).toBe(5);
    expect(at("'a\\\\',")).toBe(4);
    expect(at("'a\\\\\\'',")).toBe(6);
    expect(at("'it''s',")).toBe(6);
    expect(at("'',")).toBe(1);
    expect(at("'abc'")).toBe(-1); // undecided: the next byte could be another quote
    expect(at("'abc")).toBe(-1);
  });
});

describe('DumpRewriter on bytes: plans, constants, long rows', () => {
  const dumpWith = (tableColumns: string[], rows: string[]) =>
    [
      'CREATE TABLE `t` (',
      ...tableColumns.map((column) => `  \`${column}\` text DEFAULT NULL,`),
      '  PRIMARY KEY (`id`)',
      ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;',
      `INSERT INTO \`t\` VALUES\n${rows.join(',\n')};`,
      '-- Dump completed on 2026-01-01  1:00:00',
      '',
    ].join('\n');
  const rulesFor = (columns: Record<string, unknown>) => parseRules({ database: 'app', tables: { t: { columns } } }, 'r');

  test('constants are written once-encoded: escaped, UTF-8, a number stays unquoted where the dump had a number', () => {
    const rules = rulesFor({ id: 'keep', a: { transform: 'constant', value: "it's \\ Zoë" }, b: { transform: 'constant', value: '42' }, c: 'null' });
    const dump = dumpWith(['id', 'a', 'b', 'c'], ["(1,'x',7,'y')", "(2,NULL,'8',3)"]);
    const out = rewriteInChunks(Buffer.from(dump), [5], rules).toString('utf8');
    expect(out).toContain("(1,'it\\'s \\\\ Zoë',42,NULL),\n(2,NULL,'42',NULL);");
  });

  test('masked values much longer than the input grow the output buffer; non-ASCII replacements are UTF-8', () => {
    const rules = rulesFor({ id: 'keep', a: { transform: 'template', template: `${'é'.repeat(3000)}{hash:4}` } });
    const dump = dumpWith(['id', 'a'], Array.from({ length: 50 }, (_, i) => `(${i},'${i}')`));
    const out = rewriteInChunks(Buffer.from(dump), [4096], rules).toString('utf8');
    expect(out.match(new RegExp(`'${'é'.repeat(3000)}[0-9a-f]{4}'`, 'g'))).toHaveLength(50);
  });

  test('masked results with characters to escape are escaped as mysqldump escapes them', () => {
    const rules = rulesFor({ id: 'keep', a: { transform: 'template', template: 'it\'s {hash:4} \\ "x"\n\u001a\r' } });
    const out = rewriteInChunks(Buffer.from(dumpWith(['id', 'a'], ["(1,'v')", "(2,'w')"])), [3], rules).toString('utf8');
    expect(out).toMatch(/\(1,'it\\'s [0-9a-f]{4} \\\\ \\"x\\"\\n\\Z\\r'\),\n\(2,'it\\'s [0-9a-f]{4} /);
  });

  test('a row far longer than a chunk (a 3 MB text) is rewritten the same whatever the chunks, and found truncated inside', () => {
    const rules = rulesFor({ id: 'keep', big: 'keep', email: 'email' });
    const big = `${'a\\\'b),(;'.repeat(400000)}`;
    const dump = dumpWith(['id', 'big', 'email'], ["(1,'small','a@b.c')", `(2,'${big}','c@d.e')`, "(3,'','e@f.g')"]);
    const whole = rewriteInChunks(Buffer.from(dump), [1 << 24], rules);
    expect(rewriteInChunks(Buffer.from(dump), [65536], rules).equals(whole)).toBe(true);
    expect(rewriteInChunks(Buffer.from(dump), [1000, 65536, 7], rules).equals(whole)).toBe(true);
    expect(whole.toString('utf8')).toContain(`(2,'${big}','u`);
    const cut = Buffer.from(dump.slice(0, dump.indexOf("'c@d.e'") - 1000));
    expect(() => rewriteInChunks(cut, [65536], rules)).toThrow(/truncated dump: it ends inside the INSERT of table t \(after 1 rows\)/);
  });
});

describe('DumpRewriter writes masked literals straight from the bytes (writeLiteral)', () => {
  test('the output is byte for byte what the string path writes, for every transformer, whatever the chunks', () => {
    const { KeyedHasher } = require('../../lib/masking/keyed-hash') as typeof import('../../lib/masking/keyed-hash');
    const { tableMasking } = require('../../lib/masking/transformers') as typeof import('../../lib/masking/transformers');
    const { TEST_KEY } = require('./helpers') as typeof import('./helpers');
    // GIVEN one column per transformer kind and values of every kind (ASCII, escaped, UTF-8, raw tab, NULL, dates and odd dates)
    const columns = { id: 'keep', e: 'email', n: 'name', p: 'phone', s: { transform: 'address', part: 'street' }, c: { transform: 'address', part: 'city' }, pc: { transform: 'address', part: 'postcode' }, a: 'address', d: 'dateShift', u: { transform: 'template', template: "o'{last}_{hash:6}_{digits:3}" }, h: { transform: 'hash', length: 20 } };
    const rules = parseRules({ database: 'app', tables: { t: { columns } } }, 'r');
    const names = Object.keys(columns);
    const samples = ["'alice@example.org'", "'ALICE@Example.ORG  '", "'O\\'Brien \\\\ x'", "'Zoë García'", "'tab\there'", 'NULL', "'+44 (0)7700 900123'", "'SW1A 1AA'", "''"];
    const dates = ["'2024-02-29'", "'1999-12-31 23:59:59'", "'0000-00-00'", 'NULL', "'1099-01-01'"];
    const rows = Array.from({ length: 400 }, (_, i) => `(${i},${names.slice(1).map((name, k) => (name === 'd' ? dates[(i + k) % dates.length] : samples[(i * 7 + k) % samples.length])).join(',')})`);
    const dump = ['CREATE TABLE `t` (', ...names.map((name) => `  \`${name}\` text,`), '  PRIMARY KEY (`id`)', ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;', `INSERT INTO \`t\` VALUES ${rows.join(',')};`, '-- Dump completed', ''].join('\n');
    const rewrite = (withBytes: boolean, chunk: number) => {
      const hasher = new KeyedHasher(TEST_KEY);
      let used = 0;
      const r = new DumpRewriter({
        resolveTable: (table, cols) => {
          const masking = tableMasking(rules, table, cols, hasher);
          for (const masker of masking.maskers) {
            if (masker?.writeLiteral === undefined) continue;
            const write = masker.writeLiteral;
            if (withBytes) masker.writeLiteral = (...args) => (used++, write(...args));
            else delete masker.writeLiteral;
          }
          return masking;
        },
        cacheResults: false,
      });
      const input = Buffer.from(dump);
      const out: Buffer[] = [];
      for (let pos = 0; pos < input.length; pos += chunk) out.push(r.push(input.subarray(pos, pos + chunk)));
      out.push(r.finish());
      return { out: Buffer.concat(out), used };
    };
    // WHEN rewritten with and without the byte path
    const strings = rewrite(false, 1 << 20);
    const bytes = rewrite(true, 1 << 20);
    // THEN the outputs are identical, and the byte path did the ordinary values
    expect(strings.used).toBe(0);
    expect(bytes.used).toBeGreaterThan(1500);
    expect(bytes.out.equals(strings.out)).toBe(true);
    expect(rewrite(true, 7).out.equals(strings.out)).toBe(true);
  });
});

describe('DumpRewriter result cache', () => {
  test('repeating and unique values, beyond the cache\'s size and trial, give what each value\'s masker gives', () => {
    const { KeyedHasher } = require('../../lib/masking/keyed-hash') as typeof import('../../lib/masking/keyed-hash');
    const { columnMasker } = require('../../lib/masking/transformers') as typeof import('../../lib/masking/transformers');
    const { quoteLiteral } = require('../../lib/masking/sql-literals') as typeof import('../../lib/masking/sql-literals');
    const { TEST_KEY } = require('./helpers') as typeof import('./helpers');
    const rules = parseRules({ database: 'app', tables: { t: { columns: { id: 'keep', city: { transform: 'address', part: 'city' }, born: 'dateShift', email: 'email', note: 'phone', addr: 'address' } } } }, 'r');
    const ci = { name: 'x', collation: 'utf8mb4_general_ci' };
    const hasher = new KeyedHasher(TEST_KEY);
    const city = columnMasker({ transform: 'address', part: 'city' }, ci, hasher, 'w')!;
    const born = columnMasker({ transform: 'dateShift' }, ci, hasher, 'w')!;
    const email = columnMasker({ transform: 'email' }, ci, hasher, 'w')!;
    const note = columnMasker({ transform: 'phone' }, ci, hasher, 'w')!;
    const addr = columnMasker({ transform: 'address' }, ci, hasher, 'w')!;
    const rows: string[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 60000; i++) {
      // Cities repeat (a few hundred, some with escapes), dates repeat more than the cache holds, emails never repeat.
      const c = i % 7 === 0 ? `Saint\\'${i % 300}` : `City ${i % 300}`;
      const cValue = c.replace("\\'", "'");
      const b = new Date(Date.UTC(1950, 0, 1) + (i * 7919 % 20000) * 86400000).toISOString().slice(0, 10);
      const e = `person.${i}@Mail.example`;
      const n = `+44 ${i % 1000}`;
      // Long keys, more of them than the arena holds: it fills and starts over.
      const a = `${'Long Street Name '.repeat(5)}${i % 25000}`;
      rows.push(`(${i},'${c}','${b}','${e}','${n}','${a}')`);
      expected.push(`(${i},${quoteLiteral(city(cValue) as string)},${quoteLiteral(born(b) as string)},${quoteLiteral(email(e) as string)},${quoteLiteral(note(n) as string)},${quoteLiteral(addr(a) as string)})`);
    }
    const dump = ['CREATE TABLE `t` (', '  `id` int(11) NOT NULL,', '  `city` text,', '  `born` date,', '  `email` text,', '  `note` text,', '  `addr` text,', '  PRIMARY KEY (`id`)', ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;', `INSERT INTO \`t\` VALUES ${rows.join(',')};`, '-- Dump completed', ''].join('\n');
    const out = rewriteInChunks(Buffer.from(dump), [65536], rules).toString('utf8');
    expect(out).toContain(`INSERT INTO \`t\` VALUES ${expected.join(',')};`);
  });
});

describe('the leak check reads a dump without writing it (discardOutput) and takes values from their bytes where it can (fromAscii, fromUnquoted)', () => {
  // Every value of every column, as a masker sees it: through the string path only, or
  // through the byte paths first (each byte-path value is decoded back here to compare).
  const read = (bytePaths: boolean, discardOutput: boolean) => {
    const seen: string[] = [];
    const byPath = { quoted: 0, unquoted: 0 };
    const r = new DumpRewriter({
      discardOutput,
      cacheResults: false,
      resolveTable: (table, columns) => ({
        table,
        columns: columns.map((c) => c.name),
        masksAnything: true,
        maskers: columns.map((c) => {
          const masker = (value: string) => {
            seen.push(`${table}.${c.name}=${value}`);
            return null;
          };
          if (!bytePaths) return masker;
          const fromBytes = (kind: string) => (bytes: Uint8Array, start: number, end: number) => {
            if (kind === 'unquoted' && bytes[start] === 0x30) return undefined; // as a hex literal (0x…) would: the string path
            seen.push(`${table}.${c.name}=${Buffer.from(bytes.subarray(start, end)).toString('latin1')}`);
            byPath[kind as 'quoted' | 'unquoted']++;
            return null;
          };
          return Object.assign(masker, { fromAscii: fromBytes('quoted'), fromUnquoted: fromBytes('unquoted') });
        }),
      }),
    });
    const dump = Buffer.from(sampleDump());
    const out: Buffer[] = [];
    for (let pos = 0; pos < dump.length; pos += 7) out.push(r.push(dump.subarray(pos, pos + 7)));
    out.push(r.finish());
    return { seen, byPath, bytes: Buffer.concat(out).length, rows: r.summary.rows };
  };

  test('the maskers see the same values in the same order, NULL never, and nothing is written', () => {
    const byString = read(false, false);
    const byBytes = read(true, true);
    expect(byBytes.seen).toEqual(byString.seen);
    expect(byBytes.rows).toEqual(byString.rows);
    expect(byString.seen.length).toBeGreaterThan(10);
    expect(byString.seen.some((v) => v.endsWith('=NULL'))).toBe(false);
    expect(byString.bytes).toBeGreaterThan(0);
    expect(byBytes.bytes).toBe(0);
    expect(byBytes.byPath.quoted).toBeGreaterThan(3);
    expect(byBytes.byPath.unquoted).toBeGreaterThan(3);
  });
});
