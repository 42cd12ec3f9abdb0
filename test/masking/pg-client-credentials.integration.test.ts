/**
 * A killed run leaves nothing behind and secrets never reach argv or the disk, for the
 * PostgreSQL engine: the masking run's libpq tools (pg_dump for the dump, psql for the staging
 * restore) get the password in their environment (PGPASSWORD), and die with the run when it is
 * SIGKILLed (no handler of ours runs): no pg_dump keeps its transaction and connection open on
 * the source, no restore goes on dropping and re-creating the staging database. A real
 * PostgreSQL 15 (Debian's packages), the real code path in a child node process
 * (test/support/run-masking-client.ts), the real tools. The tool is held mid-run by a lock the
 * test holds, so the kill lands while it runs, and it must die although that lock still holds it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closePg, connectPg, pgRows, type PgClient } from '../../lib/engines/postgres/connection';
import { engineTools } from '../../lib/masking/engines';
import type { MysqlTarget } from '../../lib/masking/mysql-client';
import { ensureDebianPackages, POSTGRES_REQUIREMENTS } from '../../lib/platforms/local/debian-packages';
import { openForPostgres, PostgresInstance } from '../../lib/platforms/local/postgres-instance';
import { isAlive, ProcessGroup, signalProcess } from '../../lib/util/process-group';
import { silentLogger } from '../../lib/util/log';
import { generatePassword } from '../../lib/util/secrets';
import { expectNothingLeftBy, killWhileClientRuns, until } from '../support/killed-masking-run';

jest.setTimeout(180000);

let group: ProcessGroup;
let baseDir = '';
let server: PostgresInstance;

beforeAll(async () => {
  ensureDebianPackages(POSTGRES_REQUIREMENTS, silentLogger);
  baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-mask-pg-kill-'));
  openForPostgres(baseDir);
  group = new ProcessGroup();
  server = new PostgresInstance({ name: 'mask-pg-kill', baseDir, version: 15, superuserPassword: generatePassword(), group, log: silentLogger });
  await server.initialise();
  const admin = await connectPg(server.endpoint());
  try {
    // The dump's source (the rules describe database "app") and the restore's staging database.
    await admin.query('CREATE DATABASE app');
    await admin.query('CREATE DATABASE app_staging');
  } finally {
    await closePg(admin);
  }
  const app = await connectPg(server.endpoint('app'));
  try {
    await app.query('CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL)');
  } finally {
    await closePg(app);
  }
});

afterAll(async () => {
  await group?.stopAll();
  if (baseDir) rmSync(baseDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

describe.each([
  {
    mode: 'dump' as const,
    client: 'pg_dump',
    database: 'app',
    // pg_dump's LOCK TABLE … IN ACCESS SHARE MODE (taken on every table it dumps) waits for this.
    hold: (blocker: PgClient) => blocker.query('BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE'),
  },
  {
    mode: 'restore' as const,
    client: 'psql',
    database: 'app_staging',
    // DROP DATABASE … WITH (FORCE) locks the database before it ends the sessions in it; this
    // session is in another database and holds a lock on app_staging's pg_database entry.
    hold: (blocker: PgClient) => blocker.query("BEGIN; COMMENT ON DATABASE app_staging IS 'held by the test'"),
  },
])('a PostgreSQL masking $mode killed (SIGKILL) while $client runs', ({ mode, client, database, hold }) => {
  test('leaves no password in the temp dir and no tool running; the password was never on the tool\'s command line or in the run\'s output', async () => {
    const target: MysqlTarget = { ...server.endpoint(database), name: `mask-pg-kill ${database}` };
    const work = mkdtempSync(join(tmpdir(), 'mask-pg-kill-'));
    const blocker = await connectPg(server.endpoint(mode === 'dump' ? 'app' : 'postgres'));
    // Another session watches: pg_stat_activity stays as it was for the rest of a transaction (the blocker's).
    const observer = await connectPg(server.endpoint());
    let clientPid = 0;
    try {
      await hold(blocker);
      const clientWaits = async () => (await pgRows(observer, "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [client])).length > 0;
      const run = await killWhileClientRuns({ mode, engine: 'postgres', target, client, clientWaits, work });
      clientPid = run.clientPid;

      await expectNothingLeftBy(run, client, target.password);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await closePg(blocker);
      await closePg(observer);
      // An orphaned tool ends once unblocked (pg_dump on its closed pipe, the restore's statements done).
      if (clientPid > 0) await until(() => !isAlive(clientPid), `${client} ${clientPid} to end`).finally(() => signalProcess(clientPid, 'SIGKILL'));
      rmSync(work, { recursive: true, force: true });
    }
  });
});

test('a dump tool that is not installed fails naming the package to install, also started through setpriv', async () => {
  const dump = engineTools('postgres').startDump({ ...server.endpoint('app'), name: 'mask-pg-kill app' }, 'no-such-pg_dump');
  dump.stdout.resume();
  await expect(dump.exited).rejects.toThrow(/no-such-pg_dump .*\(install postgresql-client\)/);
});
