import { lsnValue, setSequencesSql, tablesWithoutReplicaIdentity, type TableInfo } from '../../../lib/engines/postgres/server';
import { conninfo, libpqEnvironment, quoteIdent, quoteLiteral } from '../../../lib/engines/postgres/connection';
import { assertPlainName } from '../../../lib/engines/postgres/replication';

describe('LSN comparison', () => {
  test('orders positions by both halves, not as text', () => {
    expect(lsnValue('0/1FA6E00')).toBe(0x1fa6e00n);
    expect(lsnValue('16/B374D848')).toBe((0x16n << 32n) + 0xb374d848n);
    // As strings '9/0' > '10/0'; as positions it is the other way round.
    expect(lsnValue('10/0') > lsnValue('9/FFFFFFFF')).toBe(true);
  });

  test('refuses text that is not an LSN', () => {
    expect(() => lsnValue('12345')).toThrow('not an LSN');
  });
});

describe('replica identity check', () => {
  const table = (name: string, replicaIdentity: TableInfo['replicaIdentity'], hasPrimaryKey: boolean): TableInfo => ({ schema: 'public', name, replicaIdentity, hasPrimaryKey, unlogged: false });

  test('flags tables whose UPDATE/DELETE logical replication cannot apply, and only those', () => {
    const offenders = tablesWithoutReplicaIdentity([
      table('with_pk', 'd', true),
      table('no_pk', 'd', false),
      table('identity_index', 'i', false),
      table('identity_full', 'f', false),
      table('identity_nothing', 'n', true),
    ]);
    expect(offenders.map((t) => t.name)).toEqual(['no_pk', 'identity_nothing']);
  });
});

describe('sequence copy', () => {
  test('moves used sequences forward only (never rewinds a target that is ahead), and leaves ones the source never used alone, in one statement', () => {
    const sql = setSequencesSql([
      { schema: 'public', name: 'orders_id_seq', lastValue: '60000' },
      { schema: 'Sales', name: "odd'name", lastValue: null },
    ])!;
    expect(sql).toContain(`(VALUES ('public', 'orders_id_seq', 60000::bigint))`);
    expect(sql).not.toContain('odd');
    expect(sql).toContain('p.increment_by > 0 AND p.last_value < v.value');
    expect(setSequencesSql([{ schema: 'public', name: 'unused', lastValue: null }])).toBeUndefined();
  });

  test('has nothing to do without sequences', () => {
    expect(setSequencesSql([])).toBeUndefined();
  });

  test('refuses a value that is not a whole number (no SQL injection through a catalog value)', () => {
    expect(() => setSequencesSql([{ schema: 'public', name: 's', lastValue: '1); DROP TABLE x; --' }])).toThrow();
  });
});

describe('quoting and connection settings', () => {
  test('identifiers and literals are quoted by doubling', () => {
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteLiteral("it's")).toBe("'it''s'");
  });

  test("a subscription's connection string quotes every value, so a password cannot add options", () => {
    const text = conninfo({ name: 's', host: '10.0.0.1', port: 5432, user: 'repl', password: "p' host=evil", database: 'app' }, { sslmode: 'require' });
    expect(text).toBe("host='10.0.0.1' port='5432' dbname='app' user='repl' password='p\\' host=evil' sslmode='require'");
  });

  test('child processes get the password in PGPASSWORD, not in their arguments', () => {
    const env = libpqEnvironment({ name: 's', host: 'h', port: 1, user: 'u', password: 'secret-pw', database: 'd' });
    expect(env).toMatchObject({ PGHOST: 'h', PGPORT: '1', PGUSER: 'u', PGPASSWORD: 'secret-pw', PGDATABASE: 'd' });
  });

  test('replication command names must be plain identifiers', () => {
    expect(assertPlainName('slot name', 'cutover_slot')).toBe('cutover_slot');
    expect(() => assertPlainName('slot name', 'x; DROP')).toThrow('slot name "x; DROP" must be a lower-case identifier');
  });
});
