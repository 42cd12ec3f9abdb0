import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRules, MaskingRulesError, parseRules } from '../../lib/masking/rules';
import { blake2sDigester, KeyedHasher } from '../../lib/masking/keyed-hash';
import { columnMasker, foldValue, isOrdinaryOutput, isOrdinaryOutputAscii, memoise } from '../../lib/masking/transformers';
import { CITIES, FIRST_NAMES, LAST_NAMES, STREETS } from '../../lib/masking/dictionaries';
import { quoteLiteral } from '../../lib/masking/sql-literals';
import { createHmac } from 'node:crypto';
import { RULES_JSON, TEST_KEY } from './helpers';

const problemsOf = (input: unknown): string[] => {
  try {
    parseRules(input, 'rules.json');
  } catch (error) {
    expect(error).toBeInstanceOf(MaskingRulesError);
    return [...(error as MaskingRulesError).problems];
  }
  throw new Error('expected the rules to be rejected');
};

describe('masking rules', () => {
  test('GIVEN a bad rule WHEN loaded THEN the error names table, column and the fix', () => {
    const problems = problemsOf({
      database: 'app',
      tables: {
        users: { columns: { email: 'emial', born: { transform: 'dateShift', maxDays: 0 }, nick: { transform: 'template', template: 'x_{id}' }, role: { transform: 'template', template: 'same' } } },
        audit: { personal: false },
      },
    });
    expect(problems).toEqual([
      expect.stringMatching(/^table users, column email: unknown transformer "emial"; use one of email, name, .*keep/),
      expect.stringMatching(/^table users, column born: maxDays: .*>=1.*e\.g\. \{ "transform": "dateShift", "maxDays": 180 \}/),
      expect.stringMatching(/^table users, column nick: template has an unknown placeholder \{id\}; use \{hash:N\}/),
      expect.stringMatching(/^table users, column role: template "same" has no placeholder.*"constant"/),
      expect.stringMatching(/^table audit: expected either \{ "personalData": false \} or \{ "columns"/),
    ]);
  });

  test('GIVEN a table without personal data WHEN its rules do not list its columns, or mask one THEN loading fails naming the fix', () => {
    expect(problemsOf({ database: 'app', tables: { products: { personalData: false } } })).toEqual([
      expect.stringMatching(/^table products: "personalData": false must list the table's columns, each "keep".*"columns": \{ "<column>": \{ "transform": "keep", "reason": /),
    ]);
    expect(problemsOf({ database: 'app', tables: { products: { personalData: false, columns: { id: 'keep', owner_email: 'email' } } } })).toEqual([
      expect.stringMatching(/^table products, column owner_email: the table is marked "personalData": false, so every column is "keep"; remove "personalData": false to mask this column/),
    ]);
  });

  test('a keep rule may say why (the reason is part of the rules hash)', () => {
    const rules = parseRules({ database: 'app', tables: { products: { personalData: false, columns: { id: 'keep', description: { transform: 'keep', reason: 'catalogue text, written by staff' } } } } });
    expect(rules.tables.get('products')!.columns.get('description')).toEqual({ transform: 'keep', reason: 'catalogue text, written by staff' });
    expect(problemsOf({ database: 'app', tables: { t: { columns: { a: { transform: 'keep', reason: '' } } } } })).toEqual([expect.stringMatching(/^table t, column a: reason/)]);
  });

  test('the rules hash ignores key order and formatting but not content', () => {
    const a = parseRules(RULES_JSON);
    const reordered = parseRules({ tables: Object.fromEntries(Object.entries(RULES_JSON.tables).reverse()), database: 'app' });
    expect(reordered.hash).toBe(a.hash);
    const changed = parseRules({ ...RULES_JSON, tables: { ...RULES_JSON.tables, countries: { columns: { code: 'keep' } } } });
    expect(changed.hash).not.toBe(a.hash);
  });

  test('a rules file that is not JSON or does not exist is a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mask-rules-'));
    writeFileSync(join(dir, 'bad.json'), '{ "database": ');
    expect(() => loadRules(join(dir, 'bad.json'))).toThrow(/bad\.json: invalid masking rules:\n {2}- not valid JSON/);
    expect(() => loadRules(join(dir, 'missing.json'))).toThrow(/cannot read .*missing\.json.*config\/masking/);
    rmSync(dir, { recursive: true });
  });

  test('the shipped rules files are valid', () => {
    expect(loadRules('config/masking/app.rules.json').tables.size).toBeGreaterThan(0);
  });
});

describe('transformers', () => {
  const hasher = new KeyedHasher(TEST_KEY);
  const ci = { name: 'c', collation: 'utf8mb4_general_ci' };
  const bin = { name: 'c', collation: 'utf8mb4_bin' };

  test('the keyed digest is keyed BLAKE2s with per-domain keys derived by HMAC-SHA256 (vectors: keyed-hash.test.ts)', () => {
    const domainKey = createHmac('sha256', TEST_KEY).update('rds-cutover/mask/v2/email').digest();
    expect(hasher.digest('email', 'a@b.c')).toBe(Buffer.from(blake2sDigester(domainKey)('a@b.c')).toString('hex'));
    expect(hasher.digest('name', 'a@b.c')).not.toBe(hasher.digest('email', 'a@b.c'));
    expect(() => new KeyedHasher(Buffer.from('short'))).toThrow(/at least 16 bytes.*openssl rand -hex 32/);
  });

  test('folding follows the collation: _ci folds case, accents and trailing spaces; _bin does not', () => {
    expect(foldValue('García ')).toBe('garcia');
    expect(foldValue('ZOË')).toBe('zoe');
    const name = { transform: 'hash' } as const;
    expect(columnMasker(name, ci, hasher, 'w')!('García')).toBe(columnMasker(name, ci, hasher, 'w')!('GARCIA'));
    expect(columnMasker(name, bin, hasher, 'w')!('García')).not.toBe(columnMasker(name, bin, hasher, 'w')!('Garcia'));
    expect(columnMasker({ transform: 'hash', normalise: 'exact' }, ci, hasher, 'w')!('a')).not.toBe(columnMasker({ transform: 'hash', normalise: 'exact' }, ci, hasher, 'w')!('A'));
  });

  test('each transformer keeps its format', () => {
    const mask = (rule: Parameters<typeof columnMasker>[0], value: string) => columnMasker(rule, ci, hasher, 'table t, column c')!(value);
    expect(mask({ transform: 'email', domain: 'corp.test' }, 'x@y.z')).toMatch(/^u[0-9a-f]{16}@corp\.test$/);
    expect(mask({ transform: 'phone' }, '(0161) 496-0000')).toMatch(/^\(0\d{3}\) \d{3}-\d{4}$/);
    expect(mask({ transform: 'address', part: 'postcode' }, 'SW1A 1AA')).toMatch(/^[A-Z]{2}\d[A-Z] \d[A-Z]{2}$/);
    expect(mask({ transform: 'address' }, '10 Downing St')).toMatch(/^\d+ [A-Za-z ]+, [A-Za-z]+$/);
    expect(mask({ transform: 'hash', length: 10 }, 'v')).toMatch(/^[0-9a-f]{10}$/);
    expect(mask({ transform: 'template', template: 'user_{hash:6}_{digits:3} {first}' }, 'v')).toMatch(/^user_[0-9a-f]{6}_\d{3} [A-Z][a-z]+$/);
    expect(mask({ transform: 'constant', value: 'redacted' }, 'v')).toBe('redacted');
    expect(mask({ transform: 'null' }, 'v')).toBeNull();
    expect(columnMasker({ transform: 'keep' }, ci, hasher, 'w')).toBeUndefined();
    expect(() => mask({ transform: 'dateShift' }, 'Tuesday')).toThrow(/^table t, column c: dateShift expects values like 2024-01-31 .*not shown/);
  });

  test('the leak check knows which originals are ordinary fake values', () => {
    expect(isOrdinaryOutput({ transform: 'name' }, 'Rossi')).toBe(true);
    expect(isOrdinaryOutput({ transform: 'name' }, 'Ada Rossi')).toBe(true);
    expect(isOrdinaryOutput({ transform: 'name' }, 'ZOË rossi')).toBe(true);
    expect(isOrdinaryOutput({ transform: 'address' }, '12 station road, Leeds')).toBe(true);
    expect(isOrdinaryOutput({ transform: 'name' }, 'Bartholomew')).toBe(false);
    expect(isOrdinaryOutput({ transform: 'email' }, 'Rossi')).toBe(false);
  });

  test('the leak check asks the same question from an original\'s bytes and gets the same answer (printable ASCII), or is told to decode it', () => {
    // GIVEN values built from the dictionaries' words and others, in mixed case, with stray spaces and punctuation
    let state = 4242;
    const next = (n: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % n;
    };
    const pieces = [...FIRST_NAMES, ...LAST_NAMES, ...CITIES, ...STREETS, ...STREETS.map((s) => s.split(' ')[0]), 'Bartholomew', 'Rossi-Smith', '12', 'Flat 3', 'Leeds', 'Zoë', 'Oak  Street', 'oakstreet', 'Street', ''];
    const separators = [' ', '', '  ', ', ', '-', ' ', ' '];
    const values = ['', ' ', 'Ada', 'Ada ', 'Ada  Rossi', ' Ada', 'ADA ROSSI', '12 Station Road, Leeds', 'Springfield', 'Ada Rossi\t', 'Ada\u00a0Rossi'];
    for (let n = 0; n < 5000; n++) {
      const parts: string[] = [];
      for (let k = 0, count = 1 + next(4); k < count; k++) parts.push(pieces[next(pieces.length)]);
      let value = parts.map((p, k) => (k === 0 ? p : separators[next(separators.length)] + p)).join('') + (next(6) === 0 ? '  ' : '');
      if (next(3) === 0) value = value.toUpperCase();
      else if (next(3) === 0) value = value.toLowerCase();
      values.push(value);
    }
    // WHEN each value is asked from its bytes (inside a larger buffer, as in a protocol packet) and as text
    let ordinary = 0;
    let decoded = 0;
    const differences: string[] = [];
    for (const rule of [{ transform: 'name' as const }, { transform: 'address' as const }, { transform: 'address' as const, part: 'city' as const }, { transform: 'email' as const }, { transform: 'phone' as const }]) {
      for (const value of values) {
        const bytes = Buffer.concat([Buffer.from('Ada '), Buffer.from(value, 'utf8'), Buffer.from(' Rossi')]);
        const fromBytes = isOrdinaryOutputAscii(rule, bytes, 4, bytes.length - 6);
        // THEN the answer is the text's, and only values that are not printable ASCII are handed back to be decoded
        const expected = /^[\x20-\x7e]*$/.test(value) ? isOrdinaryOutput(rule, value) : rule.transform === 'name' || rule.transform === 'address' ? undefined : false;
        if (fromBytes !== expected) differences.push(`${JSON.stringify(rule)} ${JSON.stringify(value)}: bytes ${fromBytes}, text ${expected}`);
        if (fromBytes === true) ordinary++;
        if (fromBytes === undefined) decoded++;
      }
    }
    expect(differences).toEqual([]);
    // The generator must exercise both answers and the fallback.
    expect(ordinary).toBeGreaterThan(1000);
    expect(decoded).toBeGreaterThan(100);
  });
});

describe('memoised maskers', () => {
  test('give the same results, stay bounded, and switch off for columns whose values do not repeat', () => {
    const calls: string[] = [];
    const base = (value: string) => {
      calls.push(value);
      return value.toUpperCase();
    };
    const repeating = memoise(base, { maxEntries: 3, trial: 100 });
    const values = Array.from({ length: 200 }, (_, i) => `v${i % 3}`);
    expect(values.map(repeating)).toEqual(values.map((v) => v.toUpperCase()));
    expect(calls).toHaveLength(3);
    calls.length = 0;
    const unique = memoise(base, { maxEntries: 1000, trial: 100 });
    const distinct = Array.from({ length: 300 }, (_, i) => `u${i}`);
    distinct.forEach(unique);
    distinct.forEach(unique);
    // Off after the trial: the second pass hashes again instead of remembering 300 values.
    expect(calls.length).toBeGreaterThan(500);
  });
});

describe('maskers on bytes (the stream\'s fast path)', () => {
  const hasher = new KeyedHasher(TEST_KEY);
  const columns = [
    { name: 'c', collation: 'utf8mb4_general_ci' },
    { name: 'c', collation: 'utf8mb4_bin' },
  ];
  const rules = [
    { transform: 'email' },
    { transform: 'email', domain: 'corp.test' },
    { transform: 'name' },
    { transform: 'name', part: 'last' },
    { transform: 'address', part: 'street' },
    { transform: 'address', part: 'city' },
    { transform: 'address' },
    { transform: 'hash', length: 40 },
    { transform: 'template', template: 'user_{hash:10}_{digits:4}_{first}{last}' },
    { transform: 'hash', normalise: 'exact' },
  ] as const;
  const values = ['alice@example.org', 'ALICE@Example.ORG', 'trailing   ', '   ', '', 'x', 'O\'Brien "q" \\ back', 'y'.repeat(64), 'Z'.repeat(130), '~!@#$%^&*()_+{}|:<>?'];

  test('give exactly what the string maskers give, for printable ASCII (case, trailing spaces, block boundaries)', () => {
    for (const column of columns) {
      for (const rule of rules) {
        const masker = columnMasker(rule, column, hasher, 'w')!;
        expect(masker.fromAscii).toBeDefined();
        for (const value of values) expect([rule, column.collation, value, masker.fromAscii!(Buffer.from(value, 'latin1'), 0, value.length)]).toEqual([rule, column.collation, value, masker(value)]);
        // Offsets into a larger buffer.
        const framed = Buffer.from(`xx'${values[1]}'yy`, 'latin1');
        expect(masker.fromAscii!(framed, 3, 3 + values[1].length)).toBe(masker(values[1]));
      }
    }
  });

  test('decline bytes that are not printable ASCII (control characters, UTF-8), so the string path decides', () => {
    const masker = columnMasker({ transform: 'email' }, columns[0], hasher, 'w')!;
    for (const value of ['tab\there', 'new\nline', 'Zoë', '\x7f']) expect(masker.fromAscii!(Buffer.from(value, 'utf8'), 0, Buffer.byteLength(value))).toBeUndefined();
  });

  test('write into the dump exactly the literal the string path writes (quoted, escaped, UTF-8), within their stated size, or decline', () => {
    // GIVEN the rules above, the shape-keeping ones, dates, and templates whose fixed text must be escaped or is not ASCII
    const withText = [
      ...rules,
      { transform: 'template', template: "O'Brien \\{last}\\ \"{first}\" {digits:7}" },
      { transform: 'template', template: 'Zoë_{hash:3}_日本_😀{digits:0}' },
      { transform: 'phone' },
      { transform: 'address', part: 'postcode' },
      { transform: 'dateShift' },
      { transform: 'dateShift', maxDays: 36500 },
    ] as const;
    const dates = ['2024-01-31', '2024-02-29 23:59:59', '1970-01-01 00:00:00.000001', '1100-01-01', '9980-12-31', "2024-01-31 'q' \"d\" \\", '2024-01-31 ', '0000-00-00', '1099-12-31', '2024-13-01', '2024-1-31', '2024-01-31\t'];
    const shapes = ['+44 (0)7700 900123', '0161 496 0000', 'SW1A 1AA', "0'1\"2\\3", 'ab  '];
    let written = 0;
    for (const column of columns) {
      for (const rule of withText) {
        const masker = columnMasker(rule, column, hasher, 'w')!;
        expect(masker.writeLiteral).toBeDefined();
        for (const value of rule.transform === 'dateShift' ? [...dates, 'Zoë'] : [...values, ...shapes, 'tab\there', 'Zoë', '\x7f']) {
          // WHEN written into a buffer at an offset, after other bytes
          const input = Buffer.from(`xx${value}yy`, 'utf8');
          const out = Buffer.alloc(7 + masker.literalBytes! + 2 * (input.length - 4), 0xee);
          const end = masker.writeLiteral!(input, 2, input.length - 2, out, 7);
          if (!/^[\x20-\x7e]*$/.test(value) || (rule.transform === 'dateShift' && !/^\d{4}-\d\d-\d\d/.test(value))) {
            // THEN bytes that are not printable ASCII, and dates the string path treats specially, are declined (the string path decides)
            expect([rule, value, end]).toEqual([rule, value, -1]);
            continue;
          }
          if (end === -1 && rule.transform === 'dateShift' && /^(0000|10|9980-12-31|2024-13)/.test(value)) continue; // out of the fast arithmetic's range
          // THEN the bytes are the string masker's result as the dump writes a string, and nothing outside them changed
          expect([rule, column.collation, value, out.subarray(7, end).toString('utf8')]).toEqual([rule, column.collation, value, quoteLiteral(masker(value)!)]);
          expect(out.subarray(0, 7).every((b) => b === 0xee)).toBe(true);
          expect(out.subarray(end).every((b) => b === 0xee)).toBe(true);
          written++;
        }
      }
    }
    expect(written).toBeGreaterThan(400);
    // A shift beyond the fast arithmetic's range has no byte path.
    expect(columnMasker({ transform: 'dateShift', maxDays: 36501 }, columns[0], hasher, 'w')!.writeLiteral).toBeUndefined();
  });
});

describe('phone and postcode keep the shape', () => {
  test('every ASCII digit and (postcode) letter replaced from the digest, everything else kept, as defined', () => {
    const hasher = new KeyedHasher(TEST_KEY);
    const ci = { name: 'c', collation: 'utf8mb4_general_ci' };
    // The definition, character by character.
    const reference = (value: string, digest: string, lettersToo: boolean) => {
      let out = '';
      let index = 0;
      for (const char of value) {
        const nibble = parseInt(digest[index % digest.length], 16);
        if (char >= '0' && char <= '9') {
          out += index === 0 && char !== '0' ? String((nibble % 9) + 1) : index === 0 ? '0' : String(nibble % 10);
          index++;
        } else if (lettersToo && /[A-Za-z]/.test(char)) {
          const letter = String.fromCharCode(65 + ((nibble * 7 + index) % 26));
          out += char === char.toLowerCase() ? letter.toLowerCase() : letter;
          index++;
        } else out += char;
      }
      return out;
    };
    const phone = columnMasker({ transform: 'phone' }, ci, hasher, 'w')!;
    const postcode = columnMasker({ transform: 'address', part: 'postcode' }, ci, hasher, 'w')!;
    const values = ['+44 20 7946 0018', '(0161) 496-0000', '0', '', 'SW1A 1AA', 'ab-12 Zoë 😀 9', '١٢٣ 45', 'x'.repeat(70) + '1'.repeat(5000)];
    for (const value of values) {
      expect(phone(value)).toBe(reference(value, hasher.digest('phone', foldValue(value)), false));
      expect(postcode(value)).toBe(reference(value, hasher.digest('address', foldValue(value)), true));
    }
  });
});
