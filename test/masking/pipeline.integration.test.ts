/**
 * The masked refresh against real servers: two MariaDB sandboxes (source with generated
 * personal data, staging), the local S3-compatible server reached by the real SDK through
 * AWS_ENDPOINT_URL, and the real mariadb-dump / mariadb clients.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, rows, type Connection } from '../../lib/engines/mysql/connection';
import { SchemaDriftError } from '../../lib/masking/transformers';
import { DumpFormatError } from '../../lib/masking/dump-rewriter';
import { leakCheck } from '../../lib/masking/leak-check';
import { MaskingSandbox, SANDBOX_BUCKET } from '../../lib/masking/local/sandbox';
import { NASTY_VALUES } from '../../lib/masking/local/personal-data';
import { decompressed, discardStagedDump, maskedDump, publishMaskedDump } from '../../lib/masking/pipeline';
import { restoreDump } from '../../lib/masking/restore';
import { loadRules, parseRules } from '../../lib/masking/rules';
import { createS3Client, downloadStream, getJson } from '../../lib/masking/s3-store';
import { parseS3Url, type MaskedDumpManifest } from '../../lib/masking/manifest';
import { createReadStream } from 'node:fs';
import { silentLogger } from '../../lib/util/log';
import { TEST_KEY } from './helpers';

jest.setTimeout(180000);

let sandbox: MaskingSandbox;
let source: Connection;
let staging: Connection;
let manifest: MaskedDumpManifest;
let staged: MaskedDumpManifest;
let objectsWhileStaged: string[];
const rules = loadRules('config/masking/app.rules.json');
const work = mkdtempSync(join(tmpdir(), 'mask-it-'));
const s3Objects = () => {
  const dir = join(sandbox.s3.rootDir, SANDBOX_BUCKET);
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name).slice(dir.length + 1)]));
  return existsSync(dir) ? walk(dir) : [];
};
const s3Destination = (prefix: string) => ({ kind: 's3' as const, client: createS3Client(), bucket: SANDBOX_BUCKET, prefix });
const openS3 = async (m: MaskedDumpManifest) => decompressed(await downloadStream(createS3Client(), parseS3Url(m.object)), m.compression);

beforeAll(async () => {
  sandbox = await MaskingSandbox.start({ log: silentLogger, customers: 3000 });
  source = await connect(sandbox.source.endpoint(), { database: 'app' });
  staged = await maskedDump({ source: sandbox.target(sandbox.source), rules, key: TEST_KEY, compression: 'zstd', destination: s3Destination('it/'), log: silentLogger });
  objectsWhileStaged = s3Objects();
  const report = await leakCheck({ source: sandbox.target(sandbox.source), rules, manifest: staged, dump: await openS3(staged) });
  manifest = await publishMaskedDump(s3Destination('it/'), staged, report, silentLogger);
  await restoreDump({ target: sandbox.target(sandbox.staging), dump: await openS3(manifest), log: silentLogger });
  staging = await connect(sandbox.staging.endpoint(), { database: 'app' });
});

afterAll(async () => {
  await source?.end();
  await staging?.end();
  await sandbox?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('GIVEN a dump just masked WHEN the leak check has not run THEN only a staged object exists: no manifest, no latest.json', () => {
  expect(staged.object).toMatch(/^s3:\/\/masked-dumps-local\/it\/app\/staged\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\/dump\.sql\.zst$/);
  expect(staged.verification).toBeUndefined();
  expect(objectsWhileStaged.filter((key) => key.startsWith('it/'))).toEqual([parseS3Url(staged.object).key]);
});

test('GIVEN a passing leak check WHEN published THEN the dump moves out of staged/, and its manifest and latest.json carry the check', async () => {
  expect(manifest.verification).toMatchObject({ ok: true, hits: 0 });
  expect(manifest.verification!.originals).toBeGreaterThan(3000);
  expect(s3Objects().filter((key) => key.startsWith('it/')).sort()).toEqual([parseS3Url(manifest.object).key, 'it/app/latest.json', parseS3Url(manifest.object).key.replace(/dump\.sql\.zst$/, 'manifest.json')].sort());
  expect((await getJson(createS3Client(), { bucket: SANDBOX_BUCKET, key: parseS3Url(manifest.object).key.replace(/dump\.sql\.zst$/, 'manifest.json') }))).toEqual(manifest);
});

test('a failing leak check publishes nothing: publishMaskedDump refuses it, discardStagedDump deletes the staged object', async () => {
  const before = s3Objects();
  const run = await maskedDump({ source: sandbox.target(sandbox.source), rules, key: TEST_KEY, compression: 'zstd', destination: s3Destination('it/'), log: silentLogger, now: new Date(Date.UTC(2030, 0, 1)) });
  const failed = { ...(await leakCheck({ source: sandbox.target(sandbox.source), rules, manifest: run, dump: await openS3(run) })), ok: false, hitCount: 1 };
  await expect(publishMaskedDump(s3Destination('it/'), run, failed, silentLogger)).rejects.toThrow(/refusing to publish a dump that did not pass the leak check/);
  await discardStagedDump(s3Destination('it/'), run, silentLogger);
  expect(s3Objects()).toEqual(before);
  expect(await getJson<MaskedDumpManifest>(createS3Client(), { bucket: SANDBOX_BUCKET, key: 'it/app/latest.json' })).toEqual(manifest);
});

test('GIVEN a masked dump in S3 THEN the manifest describes it and latest.json points at it', async () => {
  const latest = await getJson<MaskedDumpManifest>(createS3Client(), { bucket: SANDBOX_BUCKET, key: 'it/app/latest.json' });
  expect(latest).toEqual(manifest);
  expect(manifest).toMatchObject({ database: 'app', compression: 'zstd', rulesHash: rules.hash, rows: { customers: 3000, orders: 6000, products: NASTY_VALUES.length * 2 } });
  expect(manifest.object).toMatch(/^s3:\/\/masked-dumps-local\/it\/app\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\/dump\.sql\.zst$/);
  expect(manifest.keyFingerprint).toMatch(/^[0-9a-f]{12}$/);
  expect(JSON.stringify(manifest)).not.toContain(TEST_KEY.toString());
});

test('the masked round trip restores cleanly: same tables and row counts, no original email or name left', async () => {
  for (const table of ['customers', 'orders', 'products']) {
    const [a] = await rows<{ n: string }>(source, `SELECT COUNT(*) AS n FROM ${table}`);
    const [b] = await rows<{ n: string }>(staging, `SELECT COUNT(*) AS n FROM ${table}`);
    expect(b.n).toBe(a.n);
  }
  const query = 'SELECT id, email, phone FROM customers ORDER BY id';
  const masked = new Map((await rows<{ id: number; email: string; phone: string | null }>(staging, query)).map((r) => [r.id, r]));
  const originals = await rows<{ id: number; email: string; phone: string | null }>(source, query);
  expect(originals.filter((r) => masked.get(r.id)!.email === r.email)).toEqual([]);
  expect(originals.filter((r) => r.phone !== null && masked.get(r.id)!.phone === r.phone)).toEqual([]);
  expect(originals.filter((r) => r.phone === null).map((r) => masked.get(r.id)!.phone)).toEqual(originals.filter((r) => r.phone === null).map(() => null));
  const [notes] = await rows<{ n: string }>(staging, 'SELECT COUNT(*) AS n FROM customers WHERE support_notes IS NOT NULL');
  expect(Number(notes.n)).toBe(0);
});

test('joins still match after masking (orders.customer_email = customers.email, case-insensitively as in the source)', async () => {
  const join = 'SELECT COUNT(*) AS n FROM orders o JOIN customers c ON c.email = o.customer_email AND c.id = o.customer_id';
  const [before] = await rows<{ n: string }>(source, join);
  const [after] = await rows<{ n: string }>(staging, join);
  expect(Number(before.n)).toBe(6000);
  expect(after.n).toBe(before.n);
});

test('nasty values (quotes, escapes, newlines, emoji, ),( in strings, NULLs) survive byte for byte where kept', async () => {
  const query = 'SELECT id, HEX(name) AS name, HEX(description) AS description, description IS NULL AS missing FROM products ORDER BY id';
  const before = await rows(source, query);
  expect(before.filter((r) => r.missing === 1 || r.missing === '1')).toHaveLength(2);
  expect(await rows(staging, query)).toEqual(before);
});

test('the exhaustive leak check reads every original of every personal column and finds 0 hits in the real masked dump; row counts match', async () => {
  const report = await leakCheck({ source: sandbox.target(sandbox.source), rules, manifest, dump: await openS3(manifest) });
  expect(report.hits).toEqual([]);
  expect(report.rowCountMismatches).toEqual([]);
  expect(report.columns).toEqual(expect.arrayContaining(['customers.email', 'customers.full_name', 'customers.support_notes', 'orders.customer_email', 'orders.shipping_address']));
  // Every non-NULL value of every personal column, not a sample: 3000 emails + 6000 order emails, …
  expect(report.originals).toBeGreaterThan(3000 * 8 + 6000 * 2);
  expect(report.ok).toBe(true);
});

test('the leak check finds planted unmasked values anywhere (a whole kept value, inside a kept text) and names table, column and row, never the value', async () => {
  const [{ email }] = await rows<{ email: string }>(source, 'SELECT email FROM customers WHERE id = 77');
  const [{ other }] = await rows<{ other: string }>(source, 'SELECT email AS other FROM customers WHERE id = 78');
  await source.query('INSERT INTO products (id, name, description) VALUES (9001, ?, NULL), (9002, ?, ?)', [email.toUpperCase(), 'gift card', `Bought for a friend (${other}); deliver Monday`]);
  try {
    const planted = await maskedDump({ source: sandbox.target(sandbox.source), rules, key: TEST_KEY, compression: 'gzip', destination: { kind: 'file', path: join(work, 'planted.sql.gz') }, log: silentLogger });
    expect(planted.object).toBe(join(work, 'planted.sql.gz.staged'));
    const report = await leakCheck({ source: sandbox.target(sandbox.source), rules, manifest: planted, dump: decompressed(createReadStream(planted.object), 'gzip') });
    expect(report.hits.filter((h) => h.kind === 'original')).toEqual([
      expect.objectContaining({ originalFrom: expect.stringMatching(/^(customers\.email|orders\.customer_email)$/), foundIn: 'products.name', row: 'id=9001' }),
      expect.objectContaining({ originalFrom: expect.stringMatching(/^(customers\.email|orders\.customer_email)$/), foundIn: 'products.description', row: 'id=9002' }),
    ]);
    expect(JSON.stringify(report)).not.toContain(email);
    expect(JSON.stringify(report)).not.toContain(other);
    expect(JSON.stringify(report).toLowerCase()).not.toContain(email.split('@')[0].toLowerCase());
    expect(report.ok).toBe(false);
  } finally {
    await source.query('DELETE FROM products WHERE id IN (9001, 9002)');
  }
});

test('the same input and key give identical output', async () => {
  const once = await maskedDump({ source: sandbox.target(sandbox.source), rules, key: TEST_KEY, compression: 'zstd', destination: { kind: 'file', path: join(work, 'a.sql.zst') }, log: silentLogger });
  const again = await maskedDump({ source: sandbox.target(sandbox.source), rules, key: TEST_KEY, compression: 'zstd', destination: { kind: 'file', path: join(work, 'b.sql.zst') }, log: silentLogger });
  expect(again.sha256).toBe(once.sha256);
  expect(readFileSync(again.object).equals(readFileSync(once.object))).toBe(true);
});

test('GIVEN a real dump of several tables WHEN masked by several threads THEN the output is byte for byte what this thread alone writes, with the same rows per table and bytes', async () => {
  const alone = await maskedDump({ source: sandbox.target(sandbox.source), rules, key: TEST_KEY, compression: 'zstd', destination: { kind: 'file', path: join(work, 'alone.sql.zst') }, log: silentLogger, threads: 0 });
  const threaded = await maskedDump({ source: sandbox.target(sandbox.source), rules, key: TEST_KEY, compression: 'zstd', destination: { kind: 'file', path: join(work, 'threaded.sql.zst') }, log: silentLogger, threads: 3 });
  expect(threaded.sha256).toBe(alone.sha256);
  expect(readFileSync(threaded.object).equals(readFileSync(alone.object))).toBe(true);
  expect(threaded.rows).toEqual(alone.rows);
  expect(Object.keys(threaded.rows)).toEqual(['customers', 'orders', 'products']);
  expect(threaded.dumpedBytes).toBe(alone.dumpedBytes);
});

describe('fails closed and leaves nothing behind', () => {
  test('an unclassified new column stops the run, named, before anything is uploaded', async () => {
    await source.query('ALTER TABLE orders ADD COLUMN gift_message VARCHAR(200) NULL');
    try {
      const before = s3Objects();
      const run = maskedDump({ source: sandbox.target(sandbox.source), rules, key: TEST_KEY, compression: 'zstd', destination: s3Destination('drift/'), log: silentLogger });
      await expect(run).rejects.toThrow(SchemaDriftError);
      await expect(run).rejects.toThrow(/table orders: column gift_message not classified/);
      expect(s3Objects()).toEqual(before);
    } finally {
      await source.query('ALTER TABLE orders DROP COLUMN gift_message');
    }
  });

  test('a new column in a table the rules mark as free of personal data stops the run too, unless a rule keeps it', async () => {
    await source.query('ALTER TABLE products ADD COLUMN colour VARCHAR(20) NULL');
    try {
      const before = s3Objects();
      await expect(maskedDump({ source: sandbox.target(sandbox.source), rules, key: TEST_KEY, compression: 'gzip', destination: s3Destination('drift/'), log: silentLogger })).rejects.toThrow(/table products: column colour not classified/);
      expect(s3Objects()).toEqual(before);
      const json = JSON.parse(readFileSync('config/masking/app.rules.json', 'utf8'));
      json.tables.products.columns.colour = { transform: 'keep', reason: 'a catalogue attribute' };
      const result = await maskedDump({ source: sandbox.target(sandbox.source), rules: parseRules(json, 'with colour'), key: TEST_KEY, compression: 'gzip', destination: { kind: 'file', path: join(work, 'products.sql.gz') }, log: silentLogger });
      expect(result.rows.products).toBe(NASTY_VALUES.length * 2);
    } finally {
      await source.query('ALTER TABLE products DROP COLUMN colour');
    }
  });

  test.each([
    ['a dump cut short that still exits 0', 2, 0, /truncated dump: it ends inside the INSERT of table customers/],
    ['a dump client that fails mid-way', 2, 3, /failed \(exit 3\)/],
    ['a dump cut short that still exits 0', 0, 0, /truncated dump: it ends inside the INSERT of table customers/],
    ['a dump client that fails mid-way', 0, 3, /failed \(exit 3\)/],
  ])('%s (masking threads: %i) leaves no file and no S3 object', async (_case, threads, exitCode, message) => {
    const wrapper = join(work, `dump-exit-${exitCode}.sh`);
    writeFileSync(wrapper, `#!/bin/bash\nmariadb-dump "$@" | head -c 300000\nexit ${exitCode}\n`);
    chmodSync(wrapper, 0o755);
    const path = join(work, 'cut.sql.zst');
    await expect(maskedDump({ source: sandbox.target(sandbox.source), rules, key: TEST_KEY, compression: 'zstd', destination: { kind: 'file', path }, log: silentLogger, dumpCommand: wrapper, threads })).rejects.toThrow(message);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.staged`)).toBe(false);
    expect(existsSync(`${path}.partial`)).toBe(false);
    const before = s3Objects();
    await expect(maskedDump({ source: sandbox.target(sandbox.source), rules, key: TEST_KEY, compression: 'zstd', destination: s3Destination('cut/'), log: silentLogger, dumpCommand: wrapper, threads })).rejects.toThrow(message);
    expect(s3Objects()).toEqual(before);
  });

  test('a dump of another database than the rules describe is refused', async () => {
    await expect(maskedDump({ source: { ...sandbox.target(sandbox.source), database: 'mysql' }, rules, key: TEST_KEY, compression: 'gzip', destination: { kind: 'file', path: join(work, 'x.gz') }, log: silentLogger })).rejects.toThrow(/describe database "app", but the source database is "mysql"/);
  });
});

test('DumpFormatError is what a truncated dump raises (type check for callers)', () => {
  expect(new DumpFormatError('x')).toBeInstanceOf(Error);
});
