import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariadbInstance } from '../../lib/platforms/local/mariadb-instance';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from '../../lib/platforms/local/debian-packages';
import { ProcessGroup } from '../../lib/util/process-group';
import { silentLogger } from '../../lib/util/log';
import { generatePassword } from '../../lib/util/secrets';
import { connect } from '../../lib/engines/mysql/connection';
import { WriteLoadProcess } from '../../lib/load/write-load-process';
import { sleep } from '../../lib/util/time';

describe('the write load in its own process', () => {
  test('GIVEN a long run (a large "stopped" message) WHEN it stops THEN every attempt reaches the parent: the worker disconnects only once the message is sent', async () => {
    ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
    const group = new ProcessGroup();
    const baseDir = mkdtempSync(join(tmpdir(), 'rc-load-'));
    const server = new MariadbInstance({ name: 'db', baseDir, serverId: 1, rootPassword: generatePassword(), group, log: silentLogger });
    try {
      await server.initialise();
      const root = await connect(server.endpoint());
      await root.query('CREATE DATABASE app');
      await root.query('CREATE TABLE app.cutover_load (id BIGINT UNSIGNED PRIMARY KEY, client SMALLINT UNSIGNED NOT NULL, seq INT UNSIGNED NOT NULL, payload VARCHAR(64) NOT NULL, written_at DATETIME(6) NOT NULL)');
      await root.query('SET GLOBAL innodb_flush_log_at_trx_commit = 0, GLOBAL sync_binlog = 0');
      await root.end();
      const endpoint = server.endpoint();
      const load = new WriteLoadProcess({ engine: 'mysql', host: endpoint.host, port: endpoint.port, user: endpoint.user, password: endpoint.password, database: 'app', connections: 8, ratePerSecond: 3000 });
      await load.start();
      // Several thousand attempts: the "stopped" message is hundreds of kB.
      for (let waited = 0; waited < 60000; waited += 500) {
        await sleep(500);
        const check = await connect(server.endpoint(), { database: 'app' });
        const [[{ count }]] = (await check.query('SELECT COUNT(*) AS count FROM cutover_load')) as unknown as [[{ count: string }]];
        await check.end();
        if (Number(count) >= 15000) break;
      }
      await load.stop();
      expect(load.attempts.length).toBeGreaterThanOrEqual(15000);
    } finally {
      await group.stopAll();
      rmSync(baseDir, { recursive: true, force: true });
    }
  });
});
