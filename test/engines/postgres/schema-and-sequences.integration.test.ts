/**
 * On a real PostgreSQL 15 server (two databases stand for the two sides): each side's tables
 * are listed from its own snapshot with their columns, so a table on one side only or with
 * other columns cannot drop out of verification; schema drift is read from the catalogs;
 * and copying sequences moves them forward only, never rewinding a target that took writes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closePg, connectPg, pgRow, type PgClient } from '../../../lib/engines/postgres/connection';
import { sequenceStates, tableChecksums } from '../../../lib/engines/postgres/checksum';
import { publicationTables, schemaDrift, sequenceValues, setSequencesSql, tableShapes } from '../../../lib/engines/postgres/server';
import { checksumOutcome } from '../../../lib/verify/checksums';
import { pinnedAt } from '../../../lib/flows/postgres-logical';
import { ensureLogicalSlot, slotInfo } from '../../../lib/engines/postgres/replication';
import { ensureDebianPackages, POSTGRES_REQUIREMENTS } from '../../../lib/platforms/local/debian-packages';
import { openForPostgres, PostgresInstance } from '../../../lib/platforms/local/postgres-instance';
import { ProcessGroup } from '../../../lib/util/process-group';
import { generatePassword } from '../../../lib/util/secrets';
import { silentLogger } from '../../../lib/util/log';

jest.setTimeout(120000);

const SCHEMA = `
CREATE TABLE kept (id serial PRIMARY KEY, name text);
CREATE TABLE down (id int PRIMARY KEY);
CREATE SEQUENCE countdown INCREMENT BY -1 MAXVALUE 0 START WITH 0;
INSERT INTO kept (name) SELECT 'n' || i FROM generate_series(1, 50) i;
`;

let group: ProcessGroup;
let baseDir = '';
let server: PostgresInstance;
let source: PgClient;
let target: PgClient;

beforeAll(async () => {
  ensureDebianPackages(POSTGRES_REQUIREMENTS, silentLogger);
  baseDir = mkdtempSync(join(tmpdir(), 'rc-pg-shapes-'));
  openForPostgres(baseDir);
  group = new ProcessGroup();
  server = new PostgresInstance({ name: 'shapes', baseDir, version: 15, superuserPassword: generatePassword(), group, log: silentLogger });
  await server.initialise();
  const admin = await connectPg(server.endpoint());
  await admin.query('CREATE DATABASE side_source');
  await admin.query('CREATE DATABASE side_target');
  await closePg(admin);
  source = await connectPg(server.endpoint('side_source'));
  target = await connectPg(server.endpoint('side_target'));
  await source.query(SCHEMA);
  await target.query(SCHEMA);
});

afterAll(async () => {
  await closePg(source);
  await closePg(target);
  await server?.stop();
  await group?.stopAll();
  if (baseDir) rmSync(baseDir, { recursive: true, force: true });
});

test('GIVEN a table created on the source only and a column added on the target only WHEN both sides are checksummed from their own snapshots THEN verification fails naming both', async () => {
  await source.query("CREATE TABLE created_mid_run (id int PRIMARY KEY); INSERT INTO created_mid_run SELECT generate_series(1, 1000)");
  await target.query('ALTER TABLE down ADD COLUMN extra int');
  try {
    await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await target.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const [s, t] = [await tableChecksums(source), await tableChecksums(target)];
    expect(s.map((x) => x.table)).toEqual(['public.created_mid_run', 'public.down', 'public.kept']);
    expect(s.find((x) => x.table === 'public.kept')!.columns).toBe('id integer, name text');
    expect(() => checksumOutcome(s, t, {})).toThrow(/public\.created_mid_run: only on the source \(1000 rows\), missing on the target.*public\.down: columns differ \(source: id integer; target: id integer, extra integer\)/);
  } finally {
    await source.query('ROLLBACK');
    await target.query('ROLLBACK');
    await source.query('DROP TABLE created_mid_run');
    await target.query('ALTER TABLE down DROP COLUMN extra');
  }
});

test('a table created after a REPEATABLE READ snapshot began is not in that snapshot\'s list (each side is listed as of its snapshot)', async () => {
  await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    await source.query('SELECT 1');
    const other = await connectPg(server.endpoint('side_source'));
    await other.query('CREATE TABLE later (id int)');
    await closePg(other);
    expect([...(await tableShapes(source)).keys()]).toEqual(['public.down', 'public.kept']);
  } finally {
    await source.query('ROLLBACK');
    await source.query('DROP TABLE later');
  }
});

test('schema drift read from both catalogs names created, dropped, altered and unpublished tables', async () => {
  await source.query('CREATE PUBLICATION drift_pub FOR TABLE kept');
  await source.query('CREATE TABLE fresh (id int)');
  await source.query('ALTER TABLE kept ADD COLUMN note text');
  await target.query('CREATE TABLE only_target (id int)');
  try {
    const drift = schemaDrift(await tableShapes(source), await tableShapes(target), await publicationTables(source, 'drift_pub'));
    expect(drift).toEqual({
      created: ['public.fresh'],
      dropped: ['public.only_target'],
      altered: [{ table: 'public.kept', source: 'id integer, name text, note text', target: 'id integer, name text' }],
      unpublished: ['public.down'],
    });
  } finally {
    await source.query('DROP PUBLICATION drift_pub; DROP TABLE fresh; ALTER TABLE kept DROP COLUMN note');
    await target.query('DROP TABLE only_target');
  }
});

test('a published partitioned table counts as published (the catalog lists its partitions, not the table)', async () => {
  const partitioned = 'CREATE TABLE events (id int, at date NOT NULL) PARTITION BY RANGE (at); CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM (\'2026-01-01\') TO (\'2027-01-01\')';
  await source.query(partitioned);
  await target.query(partitioned);
  await source.query('CREATE PUBLICATION part_pub FOR TABLE kept, down, events');
  try {
    expect(schemaDrift(await tableShapes(source), await tableShapes(target), await publicationTables(source, 'part_pub'))).toEqual({ created: [], dropped: [], altered: [], unpublished: [] });
  } finally {
    await source.query('DROP PUBLICATION part_pub; DROP TABLE events');
    await target.query('DROP TABLE events');
  }
});

test('GIVEN a target sequence past the source\'s value (it took writes) WHEN sequences are copied again (a resumed switch) THEN it is not rewound; one behind is moved forward', async () => {
  await source.query("SELECT setval('kept_id_seq', 500)");
  await target.query("SELECT setval('kept_id_seq', 900)");
  await source.query("SELECT setval('countdown', -10)");
  await target.query("SELECT setval('countdown', -3)");
  const sql = setSequencesSql(await sequenceValues(source))!;
  const set = await pgRow<{ n: string }>(target, sql);
  expect(set!.n).toBe('1'); // only countdown was behind (descending: -3 is behind -10)
  const after = Object.fromEntries((await sequenceStates(target)).map((s) => [s.sequence, s.lastValue]));
  expect(after).toEqual({ 'public.countdown': '-10', 'public.kept_id_seq': '900' });
  // and once more: nothing moves
  expect((await pgRow<{ n: string }>(target, sql))!.n).toBe('0');
  // a target behind is moved forward
  await source.query("SELECT setval('kept_id_seq', 1000)");
  await target.query(setSequencesSql(await sequenceValues(source))!);
  expect((await pgRow<{ v: string }>(target, "SELECT last_value::text AS v FROM kept_id_seq"))!.v).toBe('1000');
});

test('a way is pinned past every commit already made, also one committed with synchronous_commit off (as apply workers commit): nothing applied before the pin is sent back', async () => {
  // The WAL writer held back (10 s) keeps an asynchronous commit inserted but not yet written:
  // pg_current_wal_lsn() (the write position) is then before that commit; a pin there would
  // make the other direction send the commit back (duplicate key on the old side's apply).
  const admin = await connectPg(server.endpoint());
  await admin.query("ALTER SYSTEM SET wal_writer_delay = '10s'");
  await admin.query('SELECT pg_reload_conf()');
  await admin.query("SELECT pg_replication_origin_create('pin_test')");
  try {
    await source.query('SET synchronous_commit = off');
    await source.query("INSERT INTO kept (name) VALUES ('applied by the other way')");
    const committedBefore = (await pgRow<{ lsn: string }>(source, 'SELECT pg_current_wal_insert_lsn()::text AS lsn'))!.lsn;
    const pinned = await pinnedAt(target, admin, 'pin_test');
    const behind = await pgRow<{ behind: boolean }>(admin, 'SELECT $1::pg_lsn < $2::pg_lsn AS behind', [pinned, committedBefore]);
    expect({ pinned, committedBefore, behind: behind!.behind }).toEqual({ pinned, committedBefore, behind: false });
  } finally {
    await source.query('SET synchronous_commit = on');
    await admin.query("SELECT pg_replication_origin_drop('pin_test')");
    await admin.query('ALTER SYSTEM RESET wal_writer_delay');
    await admin.query('SELECT pg_reload_conf()');
    await closePg(admin);
  }
});

test('creating a logical slot while a transaction runs on the server is bounded: it gives up with a statement timeout (57014) instead of waiting for that transaction forever, and leaves no slot', async () => {
  await target.query('BEGIN');
  await target.query("INSERT INTO kept (name) VALUES ('a long transaction')");
  try {
    const failure = await ensureLogicalSlot(source, 'bounded_slot', 300).then(() => undefined, (error: { code?: string }) => error);
    expect(failure?.code).toBe('57014');
    expect(await slotInfo(source, 'bounded_slot')).toBeUndefined();
    expect((await pgRow<{ t: string }>(source, "SELECT current_setting('statement_timeout') AS t"))!.t).toBe('0');
  } finally {
    await target.query('ROLLBACK');
  }
});
