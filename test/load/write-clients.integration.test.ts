/**
 * The built-in load's connections on real servers (MariaDB, PostgreSQL 15): a session the
 * server ends while it sits idle — what every switch does to the application's sessions — is
 * known as ended before the next request is sent on it, so the load replaces it at once, as a
 * pool does (lib/load/write-load.ts), instead of failing that request into the dead socket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariadbInstance } from '../../lib/platforms/local/mariadb-instance';
import { ensureDebianPackages, MARIADB_REQUIREMENTS, POSTGRES_REQUIREMENTS } from '../../lib/platforms/local/debian-packages';
import { openForPostgres, PostgresInstance } from '../../lib/platforms/local/postgres-instance';
import { ProcessGroup } from '../../lib/util/process-group';
import { silentLogger } from '../../lib/util/log';
import { generatePassword } from '../../lib/util/secrets';
import { connect } from '../../lib/engines/mysql/connection';
import { closePg, connectPg } from '../../lib/engines/postgres/connection';
import { mysqlWriteClient } from '../../lib/load/mysql-write-client';
import { postgresWriteClient } from '../../lib/load/postgres-write-client';
import type { WriteClient } from '../../lib/load/write-load';
import { sleep } from '../../lib/util/time';

jest.setTimeout(180000);

const group = new ProcessGroup();
const baseDir = mkdtempSync(join(tmpdir(), 'rc-write-clients-'));
const password = generatePassword();
const mariadb = new MariadbInstance({ name: 'mariadb', baseDir, serverId: 1, rootPassword: password, group, log: silentLogger });
let postgres: PostgresInstance;

beforeAll(async () => {
  ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
  ensureDebianPackages(POSTGRES_REQUIREMENTS, silentLogger);
  openForPostgres(baseDir);
  postgres = new PostgresInstance({ name: 'postgres', baseDir, version: 15, superuserPassword: password, group, log: silentLogger });
  await Promise.all([mariadb.initialise(), postgres.initialise()]);
  const admin = await connect(mariadb.endpoint());
  await admin.query('CREATE DATABASE app');
  await admin.query('CREATE TABLE app.cutover_load (id BIGINT UNSIGNED PRIMARY KEY, client SMALLINT UNSIGNED NOT NULL, seq INT UNSIGNED NOT NULL, payload VARCHAR(64) NOT NULL, written_at DATETIME(6) NOT NULL)');
  await admin.end();
  const pg = await connectPg(postgres.endpoint());
  await pg.query('CREATE TABLE cutover_load (id bigint PRIMARY KEY, client int NOT NULL, seq int NOT NULL, payload text NOT NULL, written_at timestamptz NOT NULL)');
  await closePg(pg);
});

afterAll(async () => {
  await group.stopAll();
  rmSync(baseDir, { recursive: true, force: true });
});

/** Until the client reports the end, for at most 10 s (a busy machine delivers the socket's close late). */
async function untilEnded(client: WriteClient): Promise<boolean> {
  for (let waited = 0; waited < 10000 && !client.ended; waited += 10) await sleep(10);
  return client.ended === true;
}

describe('a load connection the server ended while idle', () => {
  test('MariaDB: KILL of the idle session marks the mysql2 connection ended; one that was not killed is not', async () => {
    // GIVEN two load connections that each wrote a row
    const killed = await mysqlWriteClient(mariadb.endpoint(), 'app');
    const kept = await mysqlWriteClient(mariadb.endpoint(), 'app');
    await killed.write('1', 1, 1);
    await kept.write('2', 2, 1);
    expect(killed.ended).toBe(false);
    // WHEN the server kills one of them while it is idle (as the switch's KILL USER does)
    const admin = await connect(mariadb.endpoint());
    const [[{ id }]] = (await admin.query("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = 'app' ORDER BY ID LIMIT 1")) as unknown as [[{ id: number }]];
    await admin.query(`KILL ${Number(id)}`);
    await admin.end();
    // THEN that connection says so before any request is sent on it, and the other still writes
    expect(await untilEnded(killed)).toBe(true);
    expect(kept.ended).toBe(false);
    await expect(kept.write('3', 2, 2)).resolves.toBeUndefined();
    await killed.close();
    await kept.close();
  });

  test('PostgreSQL: pg_terminate_backend of the idle session marks the pg client ended', async () => {
    const client = await postgresWriteClient(postgres.endpoint());
    await client.write('1', 1, 1);
    expect(client.ended).toBe(false);
    const admin = await connectPg(postgres.endpoint());
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cutover-load'");
    await closePg(admin);
    expect(await untilEnded(client)).toBe(true);
    await client.close();
  });
});
