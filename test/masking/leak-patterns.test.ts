import { decodeJsonEscapes, hiddenTexts, PatternSet, REWRITTEN_ADDRESS, REWRITTEN_NAME, REWRITTEN_PHONE, SHINGLE_WORDS } from '../../lib/masking/leak-patterns';

/** Every rewritten form (names surname first, phones by significant digits, street words swapped). */
const ALL_FORMS = REWRITTEN_NAME | REWRITTEN_PHONE | REWRITTEN_ADDRESS;

function found(set: PatternSet, text: string): string[] {
  const out: string[] = [];
  for (const candidate of [text, ...hiddenTexts(text)]) set.scan(candidate, (m) => out.push(`${set.sources[m.source]}:${m.matched}`));
  return out;
}

describe('the leak matcher finds originals anywhere in a text, folded', () => {
  const set = new PatternSet();
  set.add('alice.smith@mail-3.example.org', 'customers.email');
  set.add('Zoë Fernández', 'customers.full_name');
  set.add('+44 7946 001823', 'customers.phone');
  set.add('Prefers deliveries after six because she works nights at the hospital in Leeds', 'customers.support_notes');
  set.add('Bob', 'customers.full_name'); // too short to identify anyone
  set.add('1234', 'customers.phone');

  test.each([
    ['an email inside a sentence', 'Bought for a friend (alice.smith@mail-3.example.org); deliver Monday'],
    ['an email in another case', 'ALICE.SMITH@MAIL-3.EXAMPLE.ORG'],
    ['an email with JSON escapes', '{"contact":"alice.smith\\u0040mail-3.example.org"}'],
    ['an email in a BLOB dumped as hex', `0x${Buffer.from('\x00\x01PK alice.smith@mail-3.example.org \xff', 'latin1').toString('hex')}`],
    ['an email in a bytea dumped by PostgreSQL', `\\x${Buffer.from('to: alice.smith@mail-3.example.org').toString('hex')}`],
  ])('%s', (_case, text) => {
    expect(found(set, text)).toContain('customers.email:alice smith mail 3 example org');
  });

  test.each([
    ['a multi-word name inside a sentence', 'Gift for Zoë Fernández, deliver Monday'],
    ['the name without accents, upper case', 'GIFT FOR ZOE FERNANDEZ'],
    ['the name in NFD form', 'gift for Zoe\u0308 Ferna\u0301ndez'],
    ['the name across a line break and extra spaces', 'gift for zoë\n   fernández'],
    ['the name in JSON with \\u escapes', '{"buyer":{"name":"Zo\\u00eb Fern\\u00e1ndez"}}'],
    // A new user's trial: invisible format characters inside a word hid the name
    ['the name with a zero-width space inside a word', 'gift for Zo\u200Bë Fernández'],
    ['the name with a soft hyphen and a zero-width joiner', 'gift for Zoë Fer\u00ADnán\u200Ddez'],
  ])('%s', (_case, text) => {
    expect(found(set, text)).toContain('customers.full_name:zoe fernandez');
  });

  test('a phone number written with other separators', () => {
    expect(found(set, 'call +44 (7946) 001-823 after 6')).toContain('customers.phone:447946001823');
    expect(found(set, 'call 447946001823')).toContain('customers.phone:447946001823');
  });

  test('six words of a long free-text original copied elsewhere', () => {
    expect(SHINGLE_WORDS).toBe(6);
    expect(found(set, 'note: she works nights at the hospital, ask first')).toEqual(['customers.support_notes:she works nights at the hospital']);
  });

  test('nothing is found where no original occurs, and short originals are not patterns', () => {
    expect(found(set, 'Bob paid 1234 for alice smith at example org; Zoë called; works nights')).toEqual([]);
    expect(set.skippedShort).toBe(2);
  });

  test('decodeJsonEscapes decodes surrogate pairs and \\/', () => {
    expect(decodeJsonEscapes('\\ud83d\\ude00 a\\/b \\"q\\"')).toBe('😀 a/b "q"');
  });
});

test('memory stays in typed arrays: 200 000 originals cost a few MB', () => {
  const set = new PatternSet();
  for (let i = 0; i < 200000; i++) set.add(`person.${i}@mail-${i % 7}.example.org`, 'customers.email');
  expect(set.size).toBeGreaterThanOrEqual(200000);
  expect(set.bytes).toBeLessThan(16 * 1024 * 1024);
  const hits: string[] = [];
  set.scan('copied: PERSON.199999@mail-2.example.org', (m) => hits.push(m.matched));
  expect(hits).toEqual(['person 199999 mail 2 example org']);
});

describe('the byte path of the scan (printable ASCII values read from the dump without decoding) finds exactly what the string path finds', () => {
  // A small deterministic generator: texts made of originals' fragments, other words, digit
  // runs with phone separators, mixed case and punctuation.
  let state = 12345;
  const next = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % n;
  };
  const originals = ['Alice Smith', 'alice.smith@mail-3.example.org', '+44 7946 001823', 'Bakerloo Street 221', 'Leeds', 'Prefers deliveries after six because she works nights at the hospital', '555 0100 2000', 'O Connor'];
  const set = new PatternSet();
  // With every rewritten form: the scan's phone keys and the reordered/abbreviated patterns too.
  originals.forEach((o, k) => set.add(o, `t.c${k}`, ALL_FORMS));
  const pieces = [...originals, ...originals.flatMap((o) => o.split(' ')), 'the', 'AND', 'x', '42', '2024-05-01', '(0)', '-', '/', '.', '+', ',', ';', '  ', '\t', '12', '3456', '7890', 'ALICE', 'SMITH', 'Smith,', 'MAIL-3', '0x41', '_', '~', '07946 001823', '0044 7946', '001823', '+44', '00', '0', '7946001823', '0100 2000', 'St', 'Street', 'Bakerloo St'];

  test('on 5 000 generated texts both paths report the same matches, in the same order', () => {
    let matches = 0;
    let phoneMatches = 0;
    for (let n = 0; n < 5000; n++) {
      const parts: string[] = [];
      for (let k = 0, count = 1 + next(12); k < count; k++) parts.push(pieces[next(pieces.length)] + [' ', '', '-', '  ', '.', ' (', ') '][next(7)]);
      const text = next(2) === 0 ? parts.join('') : parts.join('').toUpperCase();
      const byString: string[] = [];
      const byBytes: string[] = [];
      set.scan(text, (m) => byString.push(`${m.source}:${m.matched}`));
      // Inside a larger buffer, as a value sits in a dump chunk.
      const bytes = Buffer.from(`('${text}'),`, 'latin1');
      set.scanAscii(bytes, 2, 2 + text.length, (m) => byBytes.push(`${m.source}:${m.matched}`));
      expect(byBytes).toEqual(byString);
      matches += byString.length;
      phoneMatches += byString.filter((m) => m.includes(':phone ')).length;
    }
    // The generator must exercise the matcher: many texts hold an original, many a phone in another form.
    expect(matches).toBeGreaterThan(1000);
    expect(phoneMatches).toBeGreaterThan(100);
  });
});

describe('the byte path of adding originals (values read from the source without decoding) builds exactly the patterns the string path builds', () => {
  /** Every (key, payload) of a set, sorted: the table's layout may differ (its capacity), its content must not. */
  const contentOf = (set: PatternSet) => {
    const data = set.toTransferable();
    const entries: string[] = [];
    for (let at = 0; at < data.slots.length; at += 3) if (data.slots[at] !== 0 || data.slots[at + 1] !== 0) entries.push(`${data.slots[at]}/${data.slots[at + 1]}:${data.sources[data.slots[at + 2]]}`);
    return { entries: entries.sort(), lastWords: Buffer.from(data.lastWords).toString('base64'), originals: data.originals, skippedShort: data.skippedShort };
  };
  let state = 777;
  const next = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % n;
  };
  const pieces = ['Road', 'rd', 'ST', 'avenue', '0044', '+', 'alice.smith@mail-3.example.org', 'a@b.cc', 'x@y', 'Zoë', 'Zoe\u0308', 'FERNÁNDEZ', '+44 (0)20 7946-0018', '07946001823', '12345678', '1234', 'Bob', 'O\'Connor', 'the', 'AND', 'hospital', 'nights', 'Leeds', '2024-05-01', '\t', '  ', ',', '.', '-', '/', '+', '(', ')', '@', '_', '~', '"', '\\', 'ß', '😀', 'İstanbul'];
  const values: string[] = ['', ' ', 'Alice Smith', '12 Station Road', '7 Victoria St, Leeds', '+44 (0)20 7946-0018', '0044 7946 001823', ' 07946 001823', '447946001823', 'Mary Ann Smith', 'alice.smith@mail-3.example.org', 'ALICE.SMITH@MAIL-3.EXAMPLE.ORG', '+44 7946 001823', '447946001823', 'Prefers deliveries after six because she works nights at the hospital in Leeds', 'mail me at bob.jones@example.net or call +44 20 7946 0018 after six please', 'a@b.cc', 'Zoë Fernández'];
  for (let n = 0; n < 4000; n++) {
    const parts: string[] = [];
    for (let k = 0, count = 1 + next(14); k < count; k++) parts.push(pieces[next(pieces.length)] + [' ', '', '-', '  ', '.', ' (', ') ', '@'][next(8)]);
    values.push(next(3) === 0 ? parts.join('').toUpperCase() : parts.join(''));
  }

  test('on 4 000 generated values (ASCII and not, emails, phones, long texts, short ones) both paths give the same patterns, counts and last-word table', () => {
    const byString = new PatternSet();
    const byBytes = new PatternSet({ expectedPatterns: 50000 });
    values.forEach((value, k) => {
      const source = `t.c${k % 5}`;
      // Every combination of rewritten forms, in turn.
      const forms = k % 8;
      byString.add(value, source, forms);
      // Inside a larger buffer, as a value sits in a protocol packet.
      const bytes = Buffer.concat([Buffer.from([0x07, 0xfc]), Buffer.from(value, 'utf8'), Buffer.from([0xfb, 0x03])]);
      byBytes.addBytes(bytes, 2, bytes.length - 2, source, forms);
    });
    expect(byString.size).toBeGreaterThan(5000);
    expect(contentOf(byBytes)).toEqual(contentOf(byString));
  });
});

describe('a pattern set finds every pattern it holds, also as handed to another thread (the table and its key filter travel together)', () => {
  test('100 000 generated originals: each found in its own set and in one rebuilt from toTransferable; others not found', () => {
    // GIVEN many originals (enough to set a good share of the key filter's bits and grow the table)
    const set = new PatternSet();
    const original = (n: number) => `holder ${n.toString(36)}x${(n * 7919).toString(36)} lives at ${n % 997} Quayle Lane`;
    const count = 100_000;
    for (let n = 0; n < count; n++) set.add(original(n), 'customers.notes');
    const copy = PatternSet.fromTransferable(set.toTransferable());
    const findIn = (patterns: PatternSet, text: string) => {
      let found = 0;
      patterns.scan(text, () => found++);
      return found;
    };
    // WHEN every original is looked for inside a sentence, and as many that were never added
    let missed = 0;
    let foreign = 0;
    for (let n = 0; n < count; n++) {
      const text = `note: ${original(n)}, called twice`;
      if (findIn(set, text) === 0 || findIn(copy, text) === 0) missed++;
      if (findIn(copy, `note: ${original(n + count)}, called twice`) !== 0) foreign++;
    }
    // THEN none is missed, and none of the others is taken for one
    expect(missed).toBe(0);
    expect(foreign).toBe(0);
  });
});
