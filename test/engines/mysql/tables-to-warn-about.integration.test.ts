import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariadbInstance } from '../../../lib/platforms/local/mariadb-instance';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from '../../../lib/platforms/local/debian-packages';
import { ProcessGroup } from '../../../lib/util/process-group';
import { silentLogger } from '../../../lib/util/log';
import { generatePassword } from '../../../lib/util/secrets';
import { connect, type Connection } from '../../../lib/engines/mysql/connection';
import { tablesToWarnAbout } from '../../../lib/engines/mysql/server';

/**
 * Preflight names the tables a move cannot carry as they are: MEMORY tables (no snapshot, clone or
 * restored copy holds their rows, so the target starts with them empty and an UPDATE of such a row
 * stops replication) and tables without a primary key. Read on a real MariaDB.
 */
describe('the tables preflight warns about, on a real MariaDB', () => {
  const group = new ProcessGroup();
  let connection: Connection;
  let baseDir: string;

  beforeAll(async () => {
    ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
    const server = new MariadbInstance({ name: 'warn', baseDir: (baseDir = mkdtempSync(join(tmpdir(), 'rc-warn-tables-'))), serverId: 11, rootPassword: generatePassword(), group, log: silentLogger });
    await server.initialise();
    connection = await connect(server.endpoint());
    await connection.query('CREATE DATABASE shop');
    await connection.query('CREATE DATABASE other');
    await connection.query('CREATE TABLE shop.items (id INT PRIMARY KEY) ENGINE=InnoDB');
    await connection.query('CREATE TABLE shop.sessions (id INT PRIMARY KEY, token VARCHAR(40)) ENGINE=MEMORY');
    await connection.query('CREATE TABLE shop.cache_nokey (k VARCHAR(40)) ENGINE=MEMORY');
    await connection.query('CREATE TABLE shop.audit (at DATETIME) ENGINE=Aria');
    await connection.query('CREATE TABLE other.hot (id INT PRIMARY KEY) ENGINE=MEMORY');
    await connection.query('CREATE VIEW shop.v AS SELECT id FROM shop.items');
  }, 120000);

  afterAll(async () => {
    await connection?.end();
    await group.stopAll();
    if (baseDir) rmSync(baseDir, { recursive: true, force: true });
  });

  test('GIVEN MEMORY, Aria and InnoDB tables WHEN preflight reads them THEN every MEMORY table and every table without a primary key is named, views and other databases are not', async () => {
    expect(await tablesToWarnAbout(connection, ['shop'])).toEqual({
      withoutPrimaryKey: ['shop.audit', 'shop.cache_nokey'],
      memory: ['shop.cache_nokey', 'shop.sessions'],
    });
    expect((await tablesToWarnAbout(connection, ['shop', 'other'])).memory).toEqual(['other.hot', 'shop.cache_nokey', 'shop.sessions']);
    expect(await tablesToWarnAbout(connection, [])).toEqual({ withoutPrimaryKey: [], memory: [] });
  });
});
