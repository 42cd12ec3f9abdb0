import { checksumOutcome, compareChecksums } from '../../lib/verify/checksums';

const sums = (entries: Array<[string, number, string]>) => entries.map(([table, rows, hash]) => ({ table, rows, hash }));

describe('checksum comparison', () => {
  test('equal tables match; a table on one side only is a difference', () => {
    expect(compareChecksums(sums([['a.t', 2, 'x']]), sums([['a.t', 2, 'x']])).match).toBe(true);
    const comparison = compareChecksums(sums([['a.t', 2, 'x']]), sums([['a.t', 2, 'x'], ['a.new', 0, '0:0']]));
    expect(comparison.match).toBe(false);
    expect(comparison.tables.find((t) => t.table === 'a.new')).toMatchObject({ sourceHash: 'missing', sourceRows: -1, match: false });
  });

  test('the verify outcome records the comparison and fails naming the differing tables', () => {
    const facts: Record<string, unknown> = {};
    expect(() => checksumOutcome(sums([['a.t', 2, 'x'], ['a.u', 5, 'y']]), sums([['a.t', 2, 'x'], ['a.u', 4, 'z']]), facts)).toThrow(
      'Checksums differ for a.u (source 5 rows, target 4): do not remove the old source; investigate before anything else',
    );
    expect(facts.checksums).toMatchObject({ match: false });
    expect(checksumOutcome(sums([['a.t', 2, 'x']]), sums([['a.t', 2, 'x']]), {})).toEqual({ checksums: { match: true, tables: [expect.objectContaining({ table: 'a.t', match: true })] } });
  });
});
