/**
 * The masked refresh for PostgreSQL on real servers: PostgreSQL 15 source and staging from
 * Debian's packages, pg_dump → mask → zstd → file, psql restore, leak check.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReadStream } from 'node:fs';
import { closePg, connectPg, pgRows, type PgClient } from '../../lib/engines/postgres/connection';
import { ensureDebianPackages, POSTGRES_REQUIREMENTS } from '../../lib/platforms/local/debian-packages';
import { openForPostgres, PostgresInstance } from '../../lib/platforms/local/postgres-instance';
import { ProcessGroup } from '../../lib/util/process-group';
import { generatePassword } from '../../lib/util/secrets';
import { silentLogger } from '../../lib/util/log';
import { NASTY_VALUES } from '../../lib/masking/local/personal-data';
import { leakCheck } from '../../lib/masking/leak-check';
import { PgDumpSnapshot } from '../../lib/masking/pg-snapshot';
import { decompressed, maskedDump } from '../../lib/masking/pipeline';
import { restoreDump } from '../../lib/masking/restore';
import { loadRules } from '../../lib/masking/rules';
import { SchemaDriftError } from '../../lib/masking/transformers';
import type { MysqlTarget } from '../../lib/masking/mysql-client';
import type { MaskedDumpManifest } from '../../lib/masking/manifest';
import { TEST_KEY } from './helpers';

jest.setTimeout(180000);

const PG_SCHEMA = `
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, full_name text, phone text, street text, city text, postcode text,
  born_on date, username text NOT NULL UNIQUE, password_hash text NOT NULL, api_token text NOT NULL, support_notes text, tier text NOT NULL, created_at timestamp NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id), customer_email text NOT NULL, shipping_address text,
  total_cents int NOT NULL, status text NOT NULL, created_at timestamp NOT NULL);
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, description text, thumbnail bytea);
INSERT INTO customers SELECT i, 'person.' || i || '@mail.example.org', 'Person ' || i || ' Ñoño', '+44 7700 ' || lpad(i::text, 6, '0'), i || ' High Street', 'Leeds',
  'LS' || (i % 20) || ' 1AB', date '1960-01-01' + i, 'user' || i, 'hash' || i, md5(i::text), CASE WHEN i % 3 = 0 THEN 'called on ' || i END, 'free', now()
  FROM generate_series(1, 2000) AS i;
INSERT INTO orders SELECT i, 1 + i % 2000, 'person.' || (1 + i % 2000) || '@mail.example.org', i || ' Mill Lane, Leeds', i * 7, 'paid', now() FROM generate_series(1, 4000) AS i;
`;

let group: ProcessGroup;
let baseDir = '';
let source: PostgresInstance;
let staging: PostgresInstance;
let sourceClient: PgClient;
let stagingClient: PgClient;
let manifest: MaskedDumpManifest;
const rules = loadRules('config/masking/app.rules.json');
const work = mkdtempSync(join(tmpdir(), 'mask-pg-'));
const target = (instance: PostgresInstance): MysqlTarget => ({ ...instance.endpoint('app'), name: instance.name });
const dumpFile = (name: string) => ({ kind: 'file' as const, path: join(work, name) });

beforeAll(async () => {
  ensureDebianPackages(POSTGRES_REQUIREMENTS, silentLogger);
  baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-mask-pg-'));
  openForPostgres(baseDir);
  group = new ProcessGroup();
  const superuserPassword = generatePassword();
  source = new PostgresInstance({ name: 'mask-pg-source', baseDir, version: 15, superuserPassword, group, log: silentLogger });
  staging = new PostgresInstance({ name: 'mask-pg-staging', baseDir, version: 15, superuserPassword, group, log: silentLogger });
  await source.initialise();
  await staging.initialise();
  const admin = await connectPg(source.endpoint());
  await admin.query('CREATE DATABASE app');
  await closePg(admin);
  sourceClient = await connectPg(source.endpoint('app'));
  await sourceClient.query(PG_SCHEMA);
  for (const [index, value] of NASTY_VALUES.entries()) await sourceClient.query('INSERT INTO products VALUES ($1, $2, $3, NULL)', [index + 1, `product ${index + 1}`, value === null ? null : value.replace(/\0/g, '')]);
  manifest = await maskedDump({ source: target(source), rules, key: TEST_KEY, compression: 'zstd', destination: dumpFile('pg.sql.zst'), log: silentLogger, engine: 'postgres' });
  const admin2 = await connectPg(staging.endpoint());
  await admin2.query('CREATE DATABASE app');
  await closePg(admin2);
  await restoreDump({ target: target(staging), dump: decompressed(createReadStream(manifest.object), 'zstd'), log: silentLogger, engine: 'postgres' });
  stagingClient = await connectPg(staging.endpoint('app'));
});

afterAll(async () => {
  await closePg(sourceClient);
  await closePg(stagingClient);
  await group?.stopAll();
  for (const dir of [baseDir, work]) if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

test('the masked PostgreSQL dump restores with the same row counts and no original personal values', async () => {
  expect(manifest).toMatchObject({ engine: 'postgres', rows: { customers: 2000, orders: 4000, products: NASTY_VALUES.length } });
  const [counts] = await pgRows<{ c: string; o: string; leaked: string }>(stagingClient, "SELECT (SELECT count(*) FROM customers) c, (SELECT count(*) FROM orders) o, (SELECT count(*) FROM customers WHERE email LIKE '%@mail.example.org' OR full_name LIKE 'Person %') leaked");
  expect(counts).toEqual({ c: '2000', o: '4000', leaked: '0' });
});

test('joins still match, and kept nasty values survive byte for byte', async () => {
  const join = 'SELECT count(*) AS n FROM orders o JOIN customers c ON c.email = o.customer_email AND c.id = o.customer_id';
  expect((await pgRows(stagingClient, join))[0]).toEqual({ n: '4000' });
  const products = 'SELECT id, encode(convert_to(description, \'UTF8\'), \'hex\') AS d FROM products ORDER BY id';
  expect(await pgRows(stagingClient, products)).toEqual(await pgRows(sourceClient, products));
});

test('the leak check reads every original (COPY … TO STDOUT) and finds 0 hits', async () => {
  const report = await leakCheck({ source: target(source), rules, manifest, dump: decompressed(createReadStream(manifest.object), 'zstd') });
  expect(report.hits).toEqual([]);
  expect(report.rowCountMismatches).toEqual([]);
  expect(report.originals).toBeGreaterThan(2000 * 8);
  expect(report.ok).toBe(true);
});

test('the leak check finds an email inside a bytea (dumped as \\x hex) and a name inside kept text, by row', async () => {
  await sourceClient.query("INSERT INTO products VALUES (9001, 'planted', 'for Person 42 Ñoño, thanks', convert_to('owner: person.7@mail.example.org', 'UTF8'))");
  try {
    const planted = await maskedDump({ source: target(source), rules, key: TEST_KEY, compression: 'zstd', destination: dumpFile('planted.sql.zst'), log: silentLogger, engine: 'postgres' });
    const report = await leakCheck({ source: target(source), rules, manifest: planted, dump: decompressed(createReadStream(planted.object), 'zstd') });
    expect(report.hits.map((h) => `${h.kind} ${h.originalFrom ?? ''} ${h.foundIn} ${h.row}`).sort()).toEqual([
      'email  products.thumbnail id=9001',
      'original customers.email products.thumbnail id=9001',
      'original customers.full_name products.description id=9001',
    ]);
    expect(report.ok).toBe(false);
  } finally {
    await sourceClient.query('DELETE FROM products WHERE id = 9001');
  }
});

test('an unclassified new column stops the run and leaves no file', async () => {
  await sourceClient.query('ALTER TABLE customers ADD COLUMN passport_number text');
  try {
    await expect(maskedDump({ source: target(source), rules, key: TEST_KEY, compression: 'zstd', destination: dumpFile('drift.sql.zst'), log: silentLogger, engine: 'postgres' })).rejects.toThrow(SchemaDriftError);
    expect(readdirSync(work).filter((name) => name.startsWith('drift'))).toEqual([]);
    expect(existsSync(join(work, 'drift.sql.zst'))).toBe(false);
  } finally {
    await sourceClient.query('ALTER TABLE customers DROP COLUMN passport_number');
  }
});

test("GIVEN a name leaked into kept text WHEN it is changed (and rows added) after the snapshot was exported THEN pg_dump dumps that snapshot and the check reads its originals there: the leak is still reported", async () => {
  // GIVEN a customer whose name is copied into a kept column
  await sourceClient.query("INSERT INTO customers (id, email, full_name, username, password_hash, api_token, tier, created_at) VALUES (990001, 'snapshot.case@example.org', 'Quillon Brackenridge', 'snapshot_case', 'x', 'y', 'free', now())");
  await sourceClient.query("INSERT INTO products (id, name, description) VALUES (9901, 'planted', 'Gift for Quillon Brackenridge, deliver on Monday')");
  const [{ products }] = await pgRows<{ products: string }>(sourceClient, 'SELECT count(*) AS products FROM products');
  const snapshot = await PgDumpSnapshot.open(target(source));
  try {
    // WHEN, after the export and before the dump starts, the name changes and a product is added
    await sourceClient.query("UPDATE customers SET full_name = 'Someone Else' WHERE id = 990001");
    await sourceClient.query("INSERT INTO products (id, name) VALUES (9902, 'added after the export')");
    const staged = await maskedDump({ source: target(source), rules, key: TEST_KEY, compression: 'zstd', destination: dumpFile('pg-snapshot.sql.zst'), log: silentLogger, engine: 'postgres', exportedSnapshot: snapshot.id });
    // THEN the dump holds the exported snapshot's rows, not the source's current ones
    expect(staged.rows.products).toBe(Number(products));
    const open = () => decompressed(createReadStream(staged.object), 'zstd');
    // The old order (originals read now) misses the leak: the source holds the new name.
    const after = await leakCheck({ source: target(source), rules, manifest: staged, dump: open() });
    expect(after.hits.filter((h) => h.originalFrom === 'customers.full_name')).toEqual([]);
    expect(after.originalsFrom).toBe('after the dump');
    // Read in the dump's snapshot, the check reports it where it leaked.
    const report = await leakCheck({ source: target(source), rules, manifest: staged, dump: open(), originals: snapshot });
    expect(report.originalsFrom).toBe("in the dump's snapshot");
    expect(report.hits).toContainEqual(expect.objectContaining({ kind: 'original', originalFrom: 'customers.full_name', foundIn: 'products.description', row: 'id=9901' }));
  } finally {
    await snapshot.close();
    await sourceClient.query('DELETE FROM products WHERE id IN (9901, 9902)');
    await sourceClient.query('DELETE FROM customers WHERE id = 990001');
  }
});
