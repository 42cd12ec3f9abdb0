/**
 * Secrets never reach argv or the disk, and a killed run leaves nothing behind: the masking
 * run's MariaDB clients (mariadb-dump for the dump, mariadb for the staging restore) get the
 * database password without a file, so a run SIGKILLed while a client runs (no handler of
 * ours runs) leaves no password in the temp dir. Real servers (the masking sandbox), the real
 * code path in a child node process (test/support/run-masking-client.ts), the real clients.
 * The client is held mid-run by a table lock the test takes, so the kill lands while it runs;
 * the client must die with the run although that lock still holds it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, rows } from '../../lib/engines/mysql/connection';
import { MaskingSandbox } from '../../lib/masking/local/sandbox';
import { isAlive, signalProcess } from '../../lib/util/process-group';
import { silentLogger } from '../../lib/util/log';
import { expectNothingLeftBy, killWhileClientRuns, until } from '../support/killed-masking-run';

jest.setTimeout(180000);

let sandbox: MaskingSandbox;

beforeAll(async () => {
  sandbox = await MaskingSandbox.start({ log: silentLogger, customers: 200 });
});

afterAll(async () => {
  await sandbox?.stop();
});

describe.each([
  { mode: 'dump' as const, client: 'mariadb-dump', server: () => sandbox.source, lockedTable: 'customers' },
  { mode: 'restore' as const, client: 'mariadb', server: () => sandbox.staging, lockedTable: 'held' },
])('a masking $mode killed (SIGKILL) while $client runs', ({ mode, client, server, lockedTable }) => {
  test('leaves no password in the temp dir and no client running; the password was never on the client\'s command line or in the run\'s output', async () => {
    const target = sandbox.target(server());
    const work = mkdtempSync(join(tmpdir(), 'mask-kill-'));
    const blocker = await connect(server().endpoint());
    let clientPid = 0;
    try {
      await blocker.query('CREATE DATABASE IF NOT EXISTS app');
      await blocker.query('USE app');
      if (mode === 'restore') await blocker.query(`CREATE TABLE IF NOT EXISTS ${lockedTable} (id int)`);
      // The dump's SELECT of the table, or the restore's DROP DATABASE, waits for this lock.
      await blocker.query(`LOCK TABLES ${lockedTable} WRITE`);
      const clientWaits = async () => (await rows(blocker, "SELECT ID FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for % metadata lock'")).length > 0;
      const run = await killWhileClientRuns({ mode, engine: 'mysql', target, client, clientWaits, work });
      clientPid = run.clientPid;

      await expectNothingLeftBy(run, client, target.password);
    } finally {
      await blocker.query('UNLOCK TABLES').catch(() => undefined);
      await blocker.end();
      // The orphaned client ends once unblocked (the dump on its closed pipe, the restore's statement done).
      if (clientPid > 0) await until(() => !isAlive(clientPid), `${client} ${clientPid} to end`).finally(() => signalProcess(clientPid, 'SIGKILL'));
      rmSync(work, { recursive: true, force: true });
    }
  });
});
