/**
 * The project's copy path (lib/engines/postgres/parallel-copy.ts) on two real PostgreSQL 15
 * servers: a small database with the awkward cases (user types in binary-unsafe positions,
 * generated and dropped columns, partitions, quoted names, foreign keys, large objects,
 * sequences) arrives exactly: equal per-table checksums, same indexes and constraints,
 * sequences and large objects carried. No timings are asserted here (speed is bench/pg-copy.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closePg, connectPg, pgRows, type PgClient } from '../../../lib/engines/postgres/connection';
import { parallelCopy } from '../../../lib/engines/postgres/parallel-copy';
import { compareChecksums, tableChecksums } from '../../../lib/engines/postgres/checksum';
import { userTables } from '../../../lib/engines/postgres/server';
import { ensureDebianPackages, POSTGRES_REQUIREMENTS } from '../../../lib/platforms/local/debian-packages';
import { openForPostgres, PostgresInstance } from '../../../lib/platforms/local/postgres-instance';
import { ProcessGroup } from '../../../lib/util/process-group';
import { generatePassword } from '../../../lib/util/secrets';
import { silentLogger } from '../../../lib/util/log';

jest.setTimeout(180000);

const SCHEMA = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL UNIQUE, born date, score numeric(12,3), doc jsonb, raw bytea, seen timestamptz,
  gone text, email_domain text GENERATED ALWAYS AS (split_part(email, '@', 2)) STORED, CHECK (score IS NULL OR score >= 0));
ALTER TABLE customers DROP COLUMN gone;
CREATE INDEX customers_born ON customers (born);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id), total_cents int NOT NULL, note text);
CREATE TABLE moods (id int PRIMARY KEY, now mood, history mood[], p pair, ps pair[]);
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."We""ird Table" ("Mixed Case" int PRIMARY KEY, "select" text);
CREATE TABLE events (id int, at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE empty_one (id int PRIMARY KEY);
CREATE TABLE big (id int PRIMARY KEY, pad text);
INSERT INTO customers (email, born, score, doc, raw, seen)
  SELECT 'c' || i || '@d' || (i % 7) || '.example', date '1970-01-01' + i, CASE WHEN i % 5 = 0 THEN NULL ELSE i * 1.5 END,
         jsonb_build_object('i', i, 'tags', jsonb_build_array('x', i)), decode(md5(i::text), 'hex'), timestamptz '2024-03-01 12:00+02' + i * interval '1 minute'
    FROM generate_series(1, 3000) AS i;
INSERT INTO orders (customer_id, total_cents, note) SELECT 1 + i % 3000, i * 3, CASE WHEN i % 4 = 0 THEN E'tab\\there "q" \\\\ ñ' END FROM generate_series(1, 6000) AS i;
INSERT INTO moods SELECT i, (ARRAY['sad','ok','happy'])[1 + i % 3]::mood, ARRAY['ok','happy']::mood[], ROW(i, 'p' || i)::pair, ARRAY[ROW(i, 'x')::pair] FROM generate_series(1, 200) AS i;
INSERT INTO "Odd Schema"."We""ird Table" SELECT i, 'v' || i FROM generate_series(1, 50) AS i;
INSERT INTO events SELECT i, date '2023-06-01' + (i % 400), 'e' || i FROM generate_series(1, 2000) AS i;
INSERT INTO big SELECT i, repeat('x', 200) FROM generate_series(1, 20000) AS i;
SELECT lo_from_bytea(424242, 'large object payload');
SELECT setval('customers_id_seq', 5000);
`;

let group: ProcessGroup;
let baseDir = '';
let source: PostgresInstance;
let target: PostgresInstance;

async function admin(server: PostgresInstance, sql: string): Promise<void> {
  const client = await connectPg(server.endpoint());
  try {
    await client.query(sql);
  } finally {
    await closePg(client);
  }
}

async function withClient<T>(server: PostgresInstance, database: string, use: (client: PgClient) => Promise<T>): Promise<T> {
  const client = await connectPg(server.endpoint(database));
  try {
    return await use(client);
  } finally {
    await closePg(client);
  }
}

/** Indexes and constraints by name and definition, as text to compare both sides. */
const structure = (client: PgClient) =>
  pgRows<{ d: string }>(
    client,
    `SELECT schemaname || '.' || indexname || ' ' || indexdef AS d FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
     UNION ALL
     SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
     ORDER BY 1`,
  ).then((rows) => rows.map((r) => r.d));

async function expectSameDatabase(database: string): Promise<void> {
  await withClient(source, 'app', async (s) =>
    withClient(target, database, async (t) => {
      const tables = await userTables(s);
      expect(tables.map((x) => `${x.schema}.${x.name}`)).toEqual((await userTables(t)).map((x) => `${x.schema}.${x.name}`));
      const sums = compareChecksums(await tableChecksums(s, tables), await tableChecksums(t, tables));
      expect(sums.tables.filter((x) => !x.match)).toEqual([]);
      expect(sums.match).toBe(true);
      expect(await structure(t)).toEqual(await structure(s));
      // Sequences carried: the next id continues after the source's.
      expect((await t.query<{ v: string }>("SELECT nextval('customers_id_seq') AS v")).rows[0].v).toBe('5001');
      // Large objects carried.
      expect((await t.query<{ v: string }>("SELECT convert_from(lo_get(424242), 'UTF8') AS v")).rows[0].v).toBe('large object payload');
      // Generated columns are recomputed on the target, foreign keys hold.
      expect((await t.query<{ v: string }>("SELECT email_domain AS v FROM customers WHERE id = 8")).rows[0].v).toBe('d1.example');
      await expect(t.query('INSERT INTO orders (customer_id, total_cents) VALUES (999999, 1)')).rejects.toThrow(/foreign key/);
    }),
  );
}

beforeAll(async () => {
  ensureDebianPackages(POSTGRES_REQUIREMENTS, silentLogger);
  baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-pg-copy-'));
  openForPostgres(baseDir);
  group = new ProcessGroup();
  const superuserPassword = generatePassword();
  source = new PostgresInstance({ name: 'copy-source', baseDir, version: 15, superuserPassword, group, log: silentLogger });
  target = new PostgresInstance({ name: 'copy-target', baseDir, version: 15, superuserPassword, group, log: silentLogger });
  await Promise.all([source.initialise(), target.initialise()]);
  await admin(source, 'CREATE DATABASE app');
  await withClient(source, 'app', (client) => client.query(SCHEMA));
  // relpages/pg_relation_size are current: the split test below really cuts "big" into ranges.
  await withClient(source, 'app', (client) => client.query('VACUUM ANALYZE'));
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  await group?.stopAll();
  if (baseDir) rmSync(baseDir, { recursive: true, force: true });
});

test('copies a database exactly: one FREEZE stream per table, text format where binary would carry local type OIDs', async () => {
  await admin(target, 'CREATE DATABASE copy_whole');
  const workDir = mkdtempSync(join(baseDir, 'work-'));
  const result = await parallelCopy(source.endpoint('app'), target.endpoint('copy_whole'), { jobs: 2, workDir, copySequences: true });
  // customers, orders, moods, odd table, 2 partitions, empty_one, big
  expect(result.streams).toBe(8);
  expect(result.frozen).toBe(8);
  expect(result.text).toBe(1); // moods: enum array and composite columns
  await expectSameDatabase('copy_whole');
});

test('copies a database exactly with big tables split into ctid ranges', async () => {
  await admin(target, 'CREATE DATABASE copy_split');
  const workDir = mkdtempSync(join(baseDir, 'work-'));
  const result = await parallelCopy(source.endpoint('app'), target.endpoint('copy_split'), { jobs: 2, workDir, copySequences: true, splitPages: 100 });
  expect(result.streams).toBeGreaterThan(8);
  expect(result.frozen).toBeLessThan(result.streams);
  await expectSameDatabase('copy_split');
});

test('a copy past its time limit stops with the reason', async () => {
  await admin(target, 'CREATE DATABASE copy_late');
  const workDir = mkdtempSync(join(baseDir, 'work-'));
  await expect(parallelCopy(source.endpoint('app'), target.endpoint('copy_late'), { jobs: 2, workDir, timeoutMs: 1 })).rejects.toThrow(/stopped after 1 ms/);
});
