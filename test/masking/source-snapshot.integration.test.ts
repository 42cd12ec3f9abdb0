/**
 * The leak check reads the originals in the dump's own snapshot (lib/masking/source-snapshot.ts),
 * on a real MariaDB server with the real mariadb-dump.
 */
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, rows, type Connection } from '../../lib/engines/mysql/connection';
import { leakCheck, originalsPlan } from '../../lib/masking/leak-check';
import { seedPersonalData } from '../../lib/masking/local/personal-data';
import type { MysqlTarget } from '../../lib/masking/mysql-client';
import { decompressed, maskedDump } from '../../lib/masking/pipeline';
import { loadRules } from '../../lib/masking/rules';
import type { OriginalsReader } from '../../lib/masking/originals';
import { commitHoldStatements, DumpSnapshot, readOriginalPatterns, streamColumnBytes, streamColumnValues } from '../../lib/masking/source-snapshot';
import { buildPatterns } from '../../lib/masking/originals';
import { MariadbInstance } from '../../lib/platforms/local/mariadb-instance';
import { silentLogger } from '../../lib/util/log';
import { ProcessGroup } from '../../lib/util/process-group';
import { generatePassword } from '../../lib/util/secrets';
import { TEST_KEY } from './helpers';

jest.setTimeout(180000);

const rules = loadRules('config/masking/app.rules.json');
const baseDir = mkdtempSync(join(tmpdir(), 'mask-snapshot-'));
const group = new ProcessGroup();
let server: MariadbInstance;
let target: MysqlTarget;
let db: Connection;
let dumps = 0;
const dumpFile = () => join(baseDir, `dump-${++dumps}.sql.gz`);
const check = (staged: Awaited<ReturnType<typeof maskedDump>>, snapshot?: OriginalsReader) =>
  leakCheck({ source: target, rules, manifest: staged, dump: decompressed(createReadStream(staged.object), 'gzip'), originals: snapshot });

beforeAll(async () => {
  server = new MariadbInstance({ baseDir, rootPassword: generatePassword(), group, log: silentLogger, name: 'snapshot-source', serverId: 1 });
  await server.initialise();
  target = { ...server.endpoint(), name: 'source', database: 'app' };
  db = await connect(server.endpoint());
  await db.query('CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci');
  await db.query('USE app');
  mkdirSync(join(baseDir, 'seed'));
  await seedPersonalData(db, { customers: 300, workDir: join(baseDir, 'seed') });
});

afterAll(async () => {
  await db?.end();
  await group.stopAll();
  rmSync(baseDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

const CUSTOMER = "INSERT INTO customers (id, email, full_name, username, password_hash, api_token, tier, created_at) VALUES (?, ?, ?, ?, 'x', 'y', 'free', '2024-01-01')";

test('GIVEN a name leaked into kept text WHEN the customer changes it between the dump and the check THEN the check still reports the leak (originals from the dump snapshot)', async () => {
  // GIVEN a customer whose name (no other row has it) is copied into a kept column
  await db.query(CUSTOMER, [990001, 'snapshot.case@example.com', 'Quillon Brackenridge', 'snapshot_case']);
  await db.query('INSERT INTO products (id, name, description) VALUES (9901, ?, ?)', ['planted', 'Gift for Quillon Brackenridge, deliver on Monday']);
  try {
    // The old order (originals read after the dump) misses it: the dump holds the old email, the source the new one.
    const unaligned = await maskedDump({ source: target, rules, key: TEST_KEY, compression: 'gzip', destination: { kind: 'file', path: dumpFile() }, log: silentLogger });
    await db.query("UPDATE customers SET full_name = 'Quillon Ashcombe-Vane' WHERE id = 990001");
    const after = await check(unaligned);
    expect(after.originalsFrom).toBe('after the dump');
    expect(after.hits.filter((h) => h.row === 'id=9901')).toEqual([]);
    await db.query("UPDATE customers SET full_name = 'Quillon Brackenridge' WHERE id = 990001");

    // WHEN the snapshot is opened before the dump and the email changes after it
    // (the originals read by a worker thread while the dump runs, as --verify does)
    const snapshot = await DumpSnapshot.open(target, silentLogger, { readInBackground: originalsPlan(rules) });
    try {
      const staged = await maskedDump({ source: target, rules, key: TEST_KEY, compression: 'gzip', destination: { kind: 'file', path: dumpFile() }, log: silentLogger, snapshot });
      await db.query("UPDATE customers SET full_name = 'Quillon Ashcombe-Vane' WHERE id = 990001");
      const report = await check(staged, snapshot);
      // THEN the leak is reported at its row, from the customer's column
      expect(report.originalsFrom).toBe("in the dump's snapshot");
      expect(report.phases.readInBackground).toBe(true);
      expect(report.hits).toEqual([expect.objectContaining({ kind: 'original', originalFrom: 'customers.full_name', foundIn: 'products.description', row: 'id=9901' })]);
      expect(report.ok).toBe(false);
      // The same snapshot read on this thread gives the same originals, patterns and hits.
      const foreground = await check(staged, { describe: snapshot.describe, readValues: (table, columns, onValue) => snapshot.readValues(table, columns, onValue) });
      expect(foreground.phases.readInBackground).toBe(false);
      expect({ originals: foreground.originals, patterns: foreground.patterns, skipped: foreground.skippedOrdinary + foreground.skippedShort, hits: foreground.hits }).toEqual({
        originals: report.originals,
        patterns: report.patterns,
        skipped: report.skippedOrdinary + report.skippedShort,
        hits: report.hits,
      });
    } finally {
      await snapshot.close();
    }
  } finally {
    await db.query('DELETE FROM products WHERE id = 9901');
    await db.query('DELETE FROM customers WHERE id = 990001');
  }
});

/** A masking user as Amazon RDS allows it: no RELOAD (so no backup locks, no FTWRL), LOCK TABLES on the database. */
async function userWithout(name: string, grants: string): Promise<MysqlTarget> {
  const password = generatePassword();
  for (const host of ['%', 'localhost']) {
    await db.query(`CREATE USER IF NOT EXISTS '${name}'@'${host}' IDENTIFIED BY '${password}'`);
    await db.query(`GRANT ${grants} ON app.* TO '${name}'@'${host}'`);
  }
  return { ...target, user: name, password };
}

test.each([
  ['with the dialect\'s commit hold (MariaDB backup locks)', 'root', /^BACKUP STAGE/],
  ['as a user without RELOAD (Amazon RDS refuses FTWRL): LOCK TABLES … READ on every table instead', 'norel', /^LOCK TABLES `customers` READ, /],
])('GIVEN commits landing every moment WHEN the snapshot is opened %s and the dump starts THEN both see exactly the same committed rows (commits are held until the dump snapshot exists)', async (_case, who, hold) => {
  const source = who === 'root' ? target : await userWithout('masker_norel', 'SELECT, LOCK TABLES, SHOW VIEW, TRIGGER');
  // GIVEN a writer committing one row at a time, as fast as it can, on its own connection
  const writer = await connect(target, { database: 'app' });
  let stop = false;
  let written = 0;
  const writing = (async () => {
    for (let id = 500000; !stop; id++) {
      await writer.query('INSERT INTO products (id, name) VALUES (?, ?)', [id, `tick ${id}`]);
      written++;
    }
  })();
  try {
    // Let it commit for a while first, so the server is busy committing when the snapshot opens.
    while (written < 50) await new Promise((resolve) => setImmediate(resolve));
    const snapshot = await DumpSnapshot.open(source, silentLogger);
    try {
      expect(snapshot.holdStatements[0]).toMatch(hold);
      const staged = await maskedDump({ source, rules, key: TEST_KEY, compression: 'gzip', destination: { kind: 'file', path: dumpFile() }, log: silentLogger, snapshot });
      // WHEN the originals' session counts what it sees
      let seen = 0;
      await snapshot.readValues('products', ['name'], () => seen++);
      // THEN it is the dump's count, though commits went on around both snapshots
      expect(seen).toBe(staged.rows.products);
      const [{ now }] = await rows<{ now: number }>(db, 'SELECT COUNT(*) AS now FROM products');
      expect(Number(now)).toBeGreaterThan(staged.rows.products);
    } finally {
      await snapshot.close();
    }
  } finally {
    stop = true;
    await writing;
    await writer.end();
    await db.query('DELETE FROM products WHERE id >= 500000');
  }
});

test('a user who may neither hold commits nor lock the tables is refused before anything is dumped, naming the grants', async () => {
  const source = await userWithout('masker_nolock', 'SELECT, SHOW VIEW, TRIGGER');
  await expect(DumpSnapshot.open(source, silentLogger)).rejects.toThrow(/BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT was refused .*LOCK TABLES … READ on the \d+ tables of app was refused too .*GRANT SELECT, LOCK TABLES ON `app`\.\* TO .*GRANT RELOAD ON \*\.\* .*Nothing was dumped/);
  // Nothing is held: commits go on.
  await db.query('INSERT INTO products (id, name) VALUES (9903, ?)', ['after refusal']);
  await db.query('DELETE FROM products WHERE id = 9903');
});

test('a snapshot no dump ran through refuses to read originals (it would prove nothing)', async () => {
  const snapshot = await DumpSnapshot.open(target, silentLogger);
  try {
    await expect(snapshot.readValues('customers', ['email'], () => undefined)).rejects.toThrow(/not aligned with a dump/);
  } finally {
    await snapshot.close();
  }
  // Commits flow again once it is closed.
  await db.query('INSERT INTO products (id, name) VALUES (9902, ?)', ['after close']);
  await db.query('DELETE FROM products WHERE id = 9902');
});

test('a background read that fails fails the check (never an empty set of originals)', async () => {
  const plan = [{ table: 'no_such_table', columns: [{ name: 'email', rule: rules.tables.get('customers')!.columns.get('email')! }] }];
  const snapshot = await DumpSnapshot.open(target, silentLogger, { readInBackground: plan });
  try {
    await maskedDump({ source: target, rules, key: TEST_KEY, compression: 'gzip', destination: { kind: 'file', path: dumpFile() }, log: silentLogger, snapshot });
    await expect(snapshot.originalPatterns(plan)).rejects.toThrow(/reading the originals in the dump's snapshot failed: .*no_such_table/);
  } finally {
    await snapshot.close();
  }
});

test('commits are held with MariaDB backup locks, or the global read lock on MySQL', () => {
  expect(commitHoldStatements('10.11.6-MariaDB-0+deb12u1-log')).toEqual({ hold: ['BACKUP STAGE START', 'BACKUP STAGE BLOCK_COMMIT'], release: 'BACKUP STAGE END' });
  expect(commitHoldStatements('8.0.35')).toEqual({ hold: ['FLUSH TABLES WITH READ LOCK'], release: 'UNLOCK TABLES' });
  // BACKUP STAGE exists from MariaDB 10.4.1 (Amazon RDS for MariaDB reports e.g. "10.11.8-MariaDB-log"); older MariaDB has FTWRL only.
  expect(commitHoldStatements('10.4.1-MariaDB').hold[0]).toBe('BACKUP STAGE START');
  expect(commitHoldStatements('11.4.2-MariaDB-log').hold[0]).toBe('BACKUP STAGE START');
  expect(commitHoldStatements('10.3.39-MariaDB-log').hold).toEqual(['FLUSH TABLES WITH READ LOCK']);
  expect(commitHoldStatements('10.4.0-MariaDB').hold).toEqual(['FLUSH TABLES WITH READ LOCK']);
});

test('GIVEN the backup lock cannot be taken for a reason other than access denied (another backup holds it) WHEN the snapshot is opened THEN nothing is dumped, nothing stays held, and the error names the setting that fixes it; that setting then works', async () => {
  // GIVEN another backup in its first stage (BACKUP STAGE START admits one session at a time) and a 1 s lock wait for new sessions
  const otherBackup = await connect(target);
  await otherBackup.query('BACKUP STAGE START');
  const [{ wait }] = await rows<{ wait: number }>(db, 'SELECT @@GLOBAL.lock_wait_timeout AS wait');
  await db.query('SET GLOBAL lock_wait_timeout = 1');
  try {
    // WHEN / THEN: refused (a lock wait timeout, not access denied), the fix named
    await expect(DumpSnapshot.open(target, silentLogger)).rejects.toThrow(/BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT failed \(Lock wait timeout exceeded.*\)\. Nothing was dumped\. .*set holdCommitsWith: 'table-locks' for this environment in config\/masking\/environments\.ts .*LOCK TABLES on `app`/);
    // Nothing is held: commits go on.
    await db.query('INSERT INTO products (id, name) VALUES (9904, ?)', ['after the refusal']);
    // AND the named setting holds commits with table locks instead
    const snapshot = await DumpSnapshot.open(target, silentLogger, { holdWith: 'table-locks' });
    try {
      expect(snapshot.holdStatements[0]).toMatch(/^LOCK TABLES `customers` READ, /);
    } finally {
      await snapshot.close();
    }
  } finally {
    await db.query(`SET GLOBAL lock_wait_timeout = ${Number(wait)}`);
    await otherBackup.query('BACKUP STAGE END');
    await otherBackup.end();
    await db.query('DELETE FROM products WHERE id = 9904');
  }
});

test('the originals read as bytes from the protocol packets are the values read as strings, and build the same patterns', async () => {
  // GIVEN values of every length encoding (1, 2 and 3 length bytes), NULLs, 4-byte UTF-8 and binary bytes
  await db.query('CREATE TABLE raw_values (id INT PRIMARY KEY, a VARCHAR(20), b TEXT, c MEDIUMTEXT, d VARBINARY(8)) CHARACTER SET utf8mb4');
  try {
    await db.query('INSERT INTO raw_values VALUES (1, ?, ?, ?, ?), (2, NULL, ?, NULL, NULL), (3, ?, NULL, ?, ?)', ['Zoë 😀', 'x'.repeat(300), 'long '.repeat(14000), Buffer.from([0x41, 0x00, 0xff]), 'y'.repeat(251), '', 'é'.repeat(40000), Buffer.from('ok')]);
    const session = await connect(target, { database: 'app' });
    try {
      const asStrings: string[] = [];
      const asBytes: string[] = [];
      await streamColumnValues(session, 'raw_values', ['a', 'b', 'c', 'd'], (column, value) => asStrings.push(`${column}:${value}`));
      await streamColumnBytes(session, 'raw_values', ['a', 'b', 'c', 'd'], (column, bytes, start, end) => asBytes.push(`${column}:${bytes.toString('utf8', start, end)}`));
      expect(asStrings).toHaveLength(8);
      expect(asBytes).toEqual(asStrings);
      // WHEN the leak check's originals are read both ways from the seeded tables THEN the pattern sets are equal
      const plan = originalsPlan(rules);
      const fromStrings = await buildPatterns(plan, (table, columns, onValue) => streamColumnValues(session, table, columns, onValue));
      const fromBytes = await readOriginalPatterns(session, plan);
      expect(fromBytes.skippedOrdinary).toBe(fromStrings.skippedOrdinary);
      const content = (set: typeof fromBytes.patterns) => {
        const data = set.toTransferable();
        const entries: string[] = [];
        for (let at = 0; at < data.slots.length; at += 3) if (data.slots[at] !== 0 || data.slots[at + 1] !== 0) entries.push(`${data.slots[at]}/${data.slots[at + 1]}:${data.sources[data.slots[at + 2]]}`);
        return { entries: entries.sort(), originals: data.originals, skippedShort: data.skippedShort };
      };
      expect(fromStrings.patterns.originals).toBeGreaterThan(2000);
      expect(content(fromBytes.patterns)).toEqual(content(fromStrings.patterns));
      // A failing consumer fails the read (and the connection stays usable).
      await expect(streamColumnBytes(session, 'raw_values', ['a'], () => { throw new Error('consumer failed'); })).rejects.toThrow('consumer failed');
      await expect(streamColumnBytes(session, 'no_such_table', ['a'], () => undefined)).rejects.toThrow(/no_such_table/);
      expect(await rows(session, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await session.end();
    }
  } finally {
    await db.query('DROP TABLE raw_values');
  }
});

test('GIVEN a writer creating (and dropping) tables with an email column and committing rows while the run dumps and reads its originals WHEN it ends THEN either it stopped before staging anything (the new table reached the dump: schema drift, or the dump client refused it) or the dump and the check hold the same rows and no new table', async () => {
  const writer = await connect(target, { database: 'app' });
  let stop = false;
  let created = 0;
  const writing = (async () => {
    for (let n = 0; !stop; n++) {
      await writer.query(`CREATE TABLE drift_${n} (id INT PRIMARY KEY, email VARCHAR(100))`);
      await writer.query(`INSERT INTO drift_${n} VALUES (1, 'drift${n}@example.org')`);
      await writer.query('INSERT INTO products (id, name) VALUES (?, ?)', [600000 + n, `drift ${n}`]);
      // Each table lives only a moment: one the run meets was created while it ran.
      await writer.query(`DROP TABLE drift_${n}`);
      created = n + 1;
    }
  })();
  const outcomes: string[] = [];
  try {
    while (created < 3) await new Promise((resolve) => setImmediate(resolve));
    for (let attempt = 0; attempt < 3; attempt++) {
      const file = dumpFile();
      const snapshot = await DumpSnapshot.open(target, silentLogger, { readInBackground: originalsPlan(rules) });
      try {
        const staged = await maskedDump({ source: target, rules, key: TEST_KEY, compression: 'gzip', destination: { kind: 'file', path: file }, log: silentLogger, snapshot }).catch((error: Error) => error);
        if (staged instanceof Error) {
          // THEN the new table stopped the run, and nothing was staged
          expect(staged.message).toMatch(/drift_\d+/);
          expect(existsSync(`${file}.staged`) || existsSync(`${file}.partial`)).toBe(false);
          outcomes.push(`stopped: ${staged.message.slice(0, 160)}`);
          continue;
        }
        // THEN the dump holds no new table, and the check reads exactly the dump's rows
        const text = await new Promise<string>((resolve, reject) => {
          let all = '';
          decompressed(createReadStream(staged.object), 'gzip').on('data', (chunk: Buffer) => (all += chunk.toString())).on('end', () => resolve(all)).on('error', reject);
        });
        expect(text).not.toMatch(/drift_\d+/);
        let seen = 0;
        await snapshot.readValues('products', ['name'], () => seen++);
        expect(seen).toBe(staged.rows.products);
        const report = await leakCheck({ source: target, rules, manifest: staged, dump: decompressed(createReadStream(staged.object), 'gzip'), originals: snapshot });
        expect({ ok: report.ok, hits: report.hitCount, mismatches: report.rowCountMismatches }).toEqual({ ok: true, hits: 0, mismatches: [] });
        outcomes.push('consistent');
      } finally {
        await snapshot.close();
      }
    }
  } finally {
    stop = true;
    await writing;
    for (let n = 0; n < created + 1; n++) await writer.query(`DROP TABLE IF EXISTS drift_${n}`);
    await writer.end();
    await db.query('DELETE FROM products WHERE id >= 600000');
  }
  process.stderr.write(`outcomes: ${outcomes.join(', ')}\n`);
  expect(outcomes).toHaveLength(3);
});
