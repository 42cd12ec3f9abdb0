import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariadbInstance } from '../../../lib/platforms/local/mariadb-instance';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from '../../../lib/platforms/local/debian-packages';
import { ProcessGroup, isAlive } from '../../../lib/util/process-group';
import { silentLogger } from '../../../lib/util/log';
import { generatePassword } from '../../../lib/util/secrets';
import { connect, row } from '../../../lib/engines/mysql/connection';

describe('a sandbox MariaDB server', () => {
  test('starts on a free loopback port with binlogs in ROW format, and its process group forgets it once stopped', async () => {
    ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
    const group = new ProcessGroup();
    const baseDir = mkdtempSync(join(tmpdir(), 'rc-instance-'));
    const server = new MariadbInstance({ name: 'lonely', baseDir, serverId: 7, rootPassword: generatePassword(), group, log: silentLogger });
    try {
      await server.initialise();
      const connection = await connect(server.endpoint());
      const settings = await row<{ id: string; format: string; bin: string | number }>(connection, 'SELECT @@server_id AS id, @@binlog_format AS format, @@log_bin AS bin');
      await connection.end();
      expect(settings).toEqual({ id: '7', format: 'ROW', bin: '1' });
      const pid = server.pid!;
      expect(group.pids()).toEqual([pid]);
      await server.stop();
      expect(isAlive(pid)).toBe(false);
      // The group's list must follow reality: a stale pid would be signalled later by mistake.
      expect(group.pids()).toEqual([]);
    } finally {
      await group.stopAll();
      rmSync(baseDir, { recursive: true, force: true });
    }
  });
});
