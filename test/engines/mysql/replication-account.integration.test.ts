/**
 * A replication account's password never reaches the source's binary log: the binlog is kept for
 * days (168 h on the sandbox), replicated to the target and readable by anyone with REPLICATION
 * rights or mysqlbinlog. A new-user trial found `CREATE USER … IDENTIFIED BY '<password>'` for
 * cutover_repl and cutover_repl_back in plain text in MariaDB's binlog: the account is now set
 * from the password's hash, and the account still logs in with the password.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { MariadbInstance } from '../../../lib/platforms/local/mariadb-instance';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from '../../../lib/platforms/local/debian-packages';
import { ProcessGroup } from '../../../lib/util/process-group';
import { silentLogger } from '../../../lib/util/log';
import { generatePassword } from '../../../lib/util/secrets';
import { connect, rows, type Connection } from '../../../lib/engines/mysql/connection';
import { dialectFor } from '../../../lib/engines/mysql/dialect';
import { setReplicationAccount } from '../../../lib/engines/mysql/replication-account';

describe('replication account on a real MariaDB with its binary log on', () => {
  const group = new ProcessGroup();
  const baseDir = mkdtempSync(join(tmpdir(), 'rc-repl-account-'));
  let server: MariadbInstance;
  let admin: Connection;

  beforeAll(async () => {
    ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
    server = new MariadbInstance({ name: 'repl-account', baseDir, serverId: 31, rootPassword: generatePassword(), group, log: silentLogger });
    await server.initialise();
    admin = await connect(server.endpoint());
  }, 180_000);

  afterAll(async () => {
    await admin?.end().catch(() => undefined);
    await group.stopAll();
    rmSync(baseDir, { recursive: true, force: true });
  }, 60_000);

  test('created, then its password rotated: the password is in no binlog event, and the account logs in with it', async () => {
    const dialect = dialectFor(String((await rows<{ v: string }>(admin, 'SELECT VERSION() AS v'))[0].v));
    const first = generatePassword();
    const second = generatePassword();
    await setReplicationAccount(admin, dialect, "'cutover_repl'@'127.0.0.1'", first);
    await setReplicationAccount(admin, dialect, "'cutover_repl'@'127.0.0.1'", second);

    const events = await rows<{ Log_name: string; Info: string }>(admin, 'SHOW BINLOG EVENTS');
    const logged = events.map((e) => e.Info).join('\n');
    expect(logged).toContain('cutover_repl'); // the account statements are in the binlog…
    expect(logged).not.toContain(first); // …without either password
    expect(logged).not.toContain(second);
    const files = await rows<{ Log_name: string }>(admin, 'SHOW BINARY LOGS');
    const dump = execFileSync('mysqlbinlog', files.map((f) => join(server.datadir, f.Log_name)), { encoding: 'utf8' });
    expect(dump).not.toContain(first);
    expect(dump).not.toContain(second);

    const replication = await connect({ ...server.endpoint(), user: 'cutover_repl', password: second });
    await replication.end();
    await expect(connect({ ...server.endpoint(), user: 'cutover_repl', password: first })).rejects.toThrow(/Access denied/);
    const grants = (await rows<Record<string, string>>(admin, "SHOW GRANTS FOR 'cutover_repl'@'127.0.0.1'")).map((r) => Object.values(r)[0]).join('\n');
    expect(grants).toContain('REPLICATION SLAVE');
  }, 120_000);
});
