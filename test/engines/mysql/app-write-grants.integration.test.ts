/**
 * Read-only for the application accounts by grants (RDS: read_only is a parameter-group
 * setting), on a real MariaDB: writes refused, reads allowed, open sessions ended, and the grants
 * restored exactly from the journaled record.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariadbInstance } from '../../../lib/platforms/local/mariadb-instance';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from '../../../lib/platforms/local/debian-packages';
import { ProcessGroup } from '../../../lib/util/process-group';
import { silentLogger } from '../../../lib/util/log';
import { generatePassword } from '../../../lib/util/secrets';
import { connect, rows, type Connection } from '../../../lib/engines/mysql/connection';
import { dialectFor } from '../../../lib/engines/mysql/dialect';
import { accountsOf, sessionsOf } from '../../../lib/engines/mysql/server';
import { appWriteGrants, applyRestores, applyRevokes, type RevokedGrant } from '../../../lib/engines/mysql/app-write-grants';

const dialect = dialectFor('10.11.6-MariaDB');

describe('application accounts read-only by grants', () => {
  const group = new ProcessGroup();
  const baseDir = mkdtempSync(join(tmpdir(), 'rc-app-grants-'));
  const appPassword = generatePassword();
  const reportPassword = generatePassword();
  let server: MariadbInstance;
  let admin: Connection;
  const open: Connection[] = [];
  const as = async (user: string, password: string) => {
    const connection = await connect({ ...server.endpoint(), user, password }, { database: 'app' });
    open.push(connection);
    return connection;
  };
  const grantsOf = async (user: string, host: string) => (await rows<Record<string, string>>(admin, `SHOW GRANTS FOR '${user}'@'${host}'`)).map((r) => Object.values(r)[0]).sort();
  const errno = (promise: Promise<unknown>) => promise.then(() => 0, (error: { errno?: number }) => error.errno ?? -1);

  beforeAll(async () => {
    ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
    server = new MariadbInstance({ name: 'grants', baseDir, serverId: 21, rootPassword: generatePassword(), group, log: silentLogger });
    await server.initialise();
    admin = await connect(server.endpoint());
    await admin.query('CREATE DATABASE app');
    await admin.query('CREATE TABLE app.orders (id INT PRIMARY KEY, note VARCHAR(40))');
    await admin.query("INSERT INTO app.orders VALUES (1, 'first')");
    await admin.query('CREATE PROCEDURE app.bump() SQL SECURITY DEFINER INSERT INTO app.orders SELECT MAX(id) + 1, \'bumped\' FROM app.orders');
    await admin.query(`CREATE USER app@'127.0.0.1' IDENTIFIED BY ${admin.escape(appPassword)}`);
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO app@'127.0.0.1'`);
    await admin.query(`GRANT UPDATE (note) ON app.orders TO app@'127.0.0.1'`);
    await admin.query(`GRANT EXECUTE ON PROCEDURE app.bump TO app@'127.0.0.1'`);
    await admin.query(`CREATE USER report@'127.0.0.1' IDENTIFIED BY ${admin.escape(reportPassword)}`);
    await admin.query(`GRANT ALL PRIVILEGES ON app.* TO report@'127.0.0.1' WITH GRANT OPTION`);
    await admin.query(`GRANT SELECT, PROCESS ON *.* TO report@'127.0.0.1'`);
  });

  afterAll(async () => {
    for (const connection of open) await connection.end().catch(() => connection.destroy());
    await admin?.end();
    await group.stopAll();
    rmSync(baseDir, { recursive: true, force: true });
  });

  test('GIVEN app accounts with db, column, routine and ALL grants WHEN their writes are revoked THEN they can read but not write, their open sessions are gone, the record holds no secret, and the restore gives back exactly the grants of before', async () => {
    const before = { app: await grantsOf('app', '127.0.0.1'), report: await grantsOf('report', '127.0.0.1') };
    const openBefore = await as('app', appPassword);
    await openBefore.query('SELECT 1');
    const accounts = await accountsOf(admin, ['app', 'report']);

    const { grants, problems } = await appWriteGrants(admin, dialect, accounts);
    expect(problems).toEqual([]);
    const record: RevokedGrant[] = JSON.parse(JSON.stringify(grants)); // what the journal holds
    expect(JSON.stringify(record)).not.toMatch(/PASSWORD|IDENTIFIED|\*[0-9A-F]{40}/i);
    expect(record).toEqual(expect.arrayContaining([
      { account: "'app'@'127.0.0.1'", on: '`app`.*', privileges: ['INSERT', 'UPDATE', 'DELETE'] },
      { account: "'app'@'127.0.0.1'", on: '`app`.`orders`', privileges: ['UPDATE (`note`)'] },
      { account: "'app'@'127.0.0.1'", on: 'PROCEDURE `app`.`bump`', privileges: ['EXECUTE'] },
    ]));
    expect(record.find((g) => g.account.startsWith("'report'") && g.on === '`app`.*')?.privileges).toEqual(expect.arrayContaining(['INSERT', 'DROP', 'ALTER', 'DELETE HISTORY']));

    await applyRevokes(admin, dialect, record, ['app', 'report']);
    await applyRevokes(admin, dialect, record, ['app', 'report']); // a resumed run revokes again: no error
    expect(await sessionsOf(admin, ['app', 'report'])).toEqual([]);
    await expect(openBefore.query('SELECT 1')).rejects.toThrow();

    const app = await as('app', appPassword);
    expect(await rows(app, 'SELECT note FROM app.orders WHERE id = 1')).toEqual([{ note: 'first' }]);
    expect(await errno(app.query("INSERT INTO app.orders VALUES (2, 'x')"))).toBe(1142);
    expect(await errno(app.query("UPDATE app.orders SET note = 'y' WHERE id = 1"))).toBe(1142);
    expect(await errno(app.query('DELETE FROM app.orders'))).toBe(1142);
    expect(await errno(app.query('CALL app.bump()'))).toBe(1370);
    const report = await as('report', reportPassword);
    expect((await rows(report, 'SELECT COUNT(*) AS n FROM app.orders'))[0]).toEqual({ n: '1' });
    expect(await errno(report.query('DROP TABLE app.orders'))).toBe(1142);
    expect(await errno(report.query('CREATE TABLE app.sneaky (id INT)'))).toBe(1142);
    expect(await grantsOf('app', '127.0.0.1')).not.toEqual(before.app);

    await applyRestores(admin, record);
    expect({ app: await grantsOf('app', '127.0.0.1'), report: await grantsOf('report', '127.0.0.1') }).toEqual(before);
    const again = await as('app', appPassword);
    await again.query("INSERT INTO app.orders VALUES (2, 'after restore')");
    await again.query('CALL app.bump()');
    expect((await rows(again, 'SELECT COUNT(*) AS n FROM app.orders'))[0]).toEqual({ n: '3' });
  }, 120000);

  test('an account that gets its privileges through a role is reported, not half-revoked', async () => {
    await admin.query('CREATE ROLE writer');
    await admin.query('GRANT INSERT ON app.* TO writer');
    await admin.query(`CREATE USER viarole@'127.0.0.1' IDENTIFIED BY ${admin.escape(generatePassword())}`);
    await admin.query(`GRANT writer TO viarole@'127.0.0.1'`);
    const { problems } = await appWriteGrants(admin, dialect, await accountsOf(admin, ['viarole']));
    expect(problems).toEqual([expect.stringMatching(/'viarole'@'127.0.0.1' has a role granted .*writer/)]);
  }, 60000);
});
