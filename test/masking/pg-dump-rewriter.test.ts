import { escapeCopyField, PgDumpRewriter, unescapeCopyField } from '../../lib/masking/pg-dump-rewriter';
import { DumpFormatError } from '../../lib/masking/dump-rewriter';
import { KeyedHasher } from '../../lib/masking/keyed-hash';
import { tableMasking, SchemaDriftError } from '../../lib/masking/transformers';
import { testRules, TEST_KEY } from './helpers';

/** A plain pg_dump as PostgreSQL 15 writes it (COPY text format). */
const PG_DUMP = [
  '--',
  '-- PostgreSQL database dump',
  '--',
  "SET client_encoding = 'UTF8';",
  'CREATE TABLE public.users (',
  '    id integer NOT NULL,',
  '    email text NOT NULL',
  ');',
  'COPY public.users (id, email, name, notes, phone, born) FROM stdin;',
  '1\talice@example.org\tGarcía\ttab\\there, newline\\nand back\\\\slash; \\\\.\t+44 20 7946 0018\t1980-02-29',
  '2\tALICE@example.org\t\\N\t😀 \\\\N is not null\t\\N\t\\N',
  '\\.',
  '',
  'COPY public.orders (id, user_id, customer_email, total) FROM stdin;',
  '10\t1\talice@example.org\t12.50',
  '\\.',
  '',
  'COPY public.countries (code) FROM stdin;',
  'GB',
  '\\.',
  '',
  '-- PostgreSQL database dump complete',
  '',
].join('\n');

function rewrite(dump: string, chunk = 1 << 20): string {
  const hasher = new KeyedHasher(TEST_KEY);
  const rules = testRules();
  const rewriter = new PgDumpRewriter({ resolveTable: (table, columns) => tableMasking(rules, table, columns, hasher) });
  const data = Buffer.from(dump);
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) out.push(rewriter.push(data.subarray(i, i + chunk)));
  out.push(rewriter.finish());
  return Buffer.concat(out).toString('utf8');
}

describe('PgDumpRewriter (pg_dump plain format)', () => {
  const whole = rewrite(PG_DUMP);
  const users = whole.split('\n').filter((line) => /^[12]\t/.test(line));

  test('masks personal fields, keeps escaped kept fields byte for byte, NULL stays NULL', () => {
    expect(whole).not.toMatch(/alice@|García|7946/i);
    expect(users[0]).toMatch(/^1\tu[0-9a-f]{16}@example\.com\t[A-Z][a-z]+ [A-Z][a-z]+\ttab\\there, newline\\nand back\\\\slash; \\\\\.\t\+\d\d \d\d \d{4} \d{4}\t\d{4}-\d\d-\d\d$/);
    expect(users[1]).toMatch(/^2\tu[0-9a-f]{16}@example\.com\t\\N\t😀 \\\\N is not null\t\\N\t\\N$/);
    expect(whole).toContain('COPY public.countries (code) FROM stdin;\nGB\n\\.\n');
  });

  test('PostgreSQL compares bytes: ALICE@ and alice@ mask differently; the same value masks alike across tables', () => {
    const email = (line: string) => line.split('\t')[1];
    expect(email(users[0])).not.toBe(email(users[1]));
    expect(whole).toContain(`10\t1\t${email(users[0])}\t12.50`);
  });

  test('is independent of chunk boundaries', () => {
    for (const size of [1, 3, 17]) expect(rewrite(PG_DUMP, size)).toBe(whole);
  });

  test('COPY field escapes round-trip', () => {
    for (const value of ['a\tb', 'x\\y', 'line\nbreak\r', 'é😀', '\\N']) expect(unescapeCopyField(Buffer.from(escapeCopyField(value), 'latin1').toString('latin1'))).toBe(value);
    expect(unescapeCopyField('\\101\\x42')).toBe('AB');
  });

  test('fails closed: wrong field count, truncated dump, unclassified column', () => {
    expect(() => rewrite(PG_DUMP.replace('10\t1\talice@example.org\t12.50', '10\t1\talice@example.org'))).toThrow(/table orders, row 1: 3 fields where the COPY lists 4 columns/);
    expect(() => rewrite(PG_DUMP.slice(0, PG_DUMP.indexOf('\\.')))).toThrow(DumpFormatError);
    expect(() => rewrite(PG_DUMP.slice(0, PG_DUMP.indexOf('-- PostgreSQL database dump complete')))).toThrow(/without pg_dump's closing/);
    expect(() => rewrite(PG_DUMP.replace('(id, user_id, customer_email, total)', '(id, user_id, customer_email, total, coupon)').replace('\t12.50', '\t12.50\tX'))).toThrow(SchemaDriftError);
  });
});
