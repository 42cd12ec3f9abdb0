import { checksumOutcome, compareChecksums, compareSequences } from '../../lib/verify/checksums';

const sums = (entries: Array<[string, number, string, string?]>) => entries.map(([table, rows, hash, columns]) => ({ table, rows, hash, ...(columns ? { columns } : {}) }));

describe('checksum comparison: every table is accounted for', () => {
  test('equal tables match; a table on one side only is a difference', () => {
    expect(compareChecksums(sums([['a.t', 2, 'x']]), sums([['a.t', 2, 'x']])).match).toBe(true);
    const comparison = compareChecksums(sums([['a.t', 2, 'x']]), sums([['a.t', 2, 'x'], ['a.new', 0, '0:0']]));
    expect(comparison.match).toBe(false);
    expect(comparison.tables.find((t) => t.table === 'a.new')).toMatchObject({ sourceHash: 'missing', sourceRows: -1, match: false, difference: 'only on the target' });
  });

  test('GIVEN a table the source has and the target lacks WHEN verified THEN it fails naming the table as missing on the target', () => {
    const facts: Record<string, unknown> = {};
    expect(() => checksumOutcome(sums([['public.t', 2, 'x'], ['public.created_mid_run', 1000, 'y']]), sums([['public.t', 2, 'x']]), facts)).toThrow(
      'Checksums differ for public.created_mid_run: only on the source (1000 rows), missing on the target',
    );
    expect(facts.checksums).toMatchObject({ match: false });
  });

  test('GIVEN the same rows under different columns (added, renamed, retyped or reordered) WHEN verified THEN it fails naming the table and both column lists', () => {
    const base = 'id bigint, name text';
    for (const other of ['id bigint, name text, extra integer', 'id bigint, title text', 'id integer, name text', 'name text, id bigint']) {
      const comparison = compareChecksums(sums([['public.t', 3, 'same', base]]), sums([['public.t', 3, 'same', other]]));
      expect(comparison.match).toBe(false);
      expect(comparison.tables[0]).toMatchObject({ difference: 'columns differ', sourceColumns: base, targetColumns: other });
    }
    expect(() => checksumOutcome(sums([['public.t', 3, 'same', base]]), sums([['public.t', 3, 'same', 'id bigint']]), {})).toThrow(
      'public.t: columns differ (source: id bigint, name text; target: id bigint)',
    );
  });

  test('the verify outcome records the comparison and fails naming the differing tables', () => {
    const facts: Record<string, unknown> = {};
    expect(() => checksumOutcome(sums([['a.t', 2, 'x'], ['a.u', 5, 'y']]), sums([['a.t', 2, 'x'], ['a.u', 4, 'z']]), facts)).toThrow(
      'Checksums differ for a.u (source 5 rows, target 4): do not remove the old source; investigate before anything else',
    );
    expect(facts.checksums).toMatchObject({ match: false });
    expect(checksumOutcome(sums([['a.t', 2, 'x']]), sums([['a.t', 2, 'x']]), {})).toEqual({
      checksums: { match: true, tables: [expect.objectContaining({ table: 'a.t', match: true })] },
      checksumsVerified: true,
    });
  });
});

describe('sequence comparison: present on both sides, the target never behind', () => {
  test('a target ahead of the source (it took writes) matches; behind, or missing on either side, does not', () => {
    const source = [
      { sequence: 'public.a', lastValue: '100' },
      { sequence: 'public.b', lastValue: '100' },
      { sequence: 'public.c', lastValue: null },
      { sequence: 'public.gone', lastValue: '1' },
      { sequence: 'public.down', lastValue: '-100', increment: -1 },
    ];
    const target = [
      { sequence: 'public.a', lastValue: '250' },
      { sequence: 'public.b', lastValue: '99' },
      { sequence: 'public.c', lastValue: null },
      { sequence: 'public.new', lastValue: null },
      { sequence: 'public.down', lastValue: '-150', increment: -1 },
    ];
    expect(Object.fromEntries(compareSequences(source, target).map((s) => [s.sequence, s.match]))).toEqual({
      'public.a': true,
      'public.b': false,
      'public.c': true,
      'public.down': true,
      'public.gone': false,
      'public.new': false,
    });
  });

  test('GIVEN a target sequence behind the source WHEN verified THEN it fails naming the sequence', () => {
    const tables = sums([['public.t', 1, 'x']]);
    expect(() => checksumOutcome(tables, tables, {}, { source: [{ sequence: 'public.t_id_seq', lastValue: '10' }], target: [{ sequence: 'public.t_id_seq', lastValue: '9' }] })).toThrow(
      'sequence public.t_id_seq: the target (9) is behind the source (10)',
    );
  });
});
