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
  // A user's long TMPDIR made the socket path longer than a Unix socket allows (108 bytes with
  // its NUL): the server failed with "mariadbd … exited with code 1 while starting:" and nothing
  // after it (the reason was in its error log, deleted with the sandbox).
  test('GIVEN a folder so deep that the socket path exceeds 107 bytes THEN initialise fails at once, naming the path, the limit and TMPDIR, and starts nothing', async () => {
    const group = new ProcessGroup();
    const baseDir = mkdtempSync(join(tmpdir(), 'rc-instance-'));
    const deep = join(baseDir, 'x'.repeat(60), 'y'.repeat(60));
    const server = new MariadbInstance({ name: 'deep', baseDir: deep, serverId: 8, rootPassword: generatePassword(), group, log: silentLogger });
    try {
      await expect(server.initialise()).rejects.toThrow(/deep\/mariadb\.sock is \d+ bytes long, over the 107 a Unix socket path may have: set TMPDIR to a shorter folder/);
      expect(group.pids()).toEqual([]);
    } finally {
      await group.stopAll();
      rmSync(baseDir, { recursive: true, force: true });
    }
  });

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

  // CI failed on this (stop 17): mariadb-install-db's bootstrap server writes its temporary
  // tables to the shared /tmp under names that collide between servers bootstrapped at the same
  // moment ("Error on delete of '/tmp/#sql-temptable-…'"), so one of two servers initialised
  // together failed now and then. Each server has its own tmpdir inside its folder.
  test('GIVEN six servers initialised at the same moment THEN all come up, each with its own temporary folder inside its own directory', async () => {
    ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
    const group = new ProcessGroup();
    const baseDir = mkdtempSync(join(tmpdir(), 'rc-instances-'));
    const servers = Array.from({ length: 6 }, (_, i) => new MariadbInstance({ name: `twin-${i}`, baseDir, serverId: 20 + i, rootPassword: generatePassword(), group, log: silentLogger }));
    try {
      const outcomes = await Promise.allSettled(servers.map((server) => server.initialise()));
      expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason).slice(0, 400))).toEqual([]);
      for (const server of servers) {
        const connection = await connect(server.endpoint());
        const { dir } = (await row<{ dir: string }>(connection, 'SELECT @@tmpdir AS dir'))!;
        await connection.end();
        expect(dir).toBe(join(baseDir, server.name, 'tmp'));
      }
    } finally {
      await group.stopAll();
      rmSync(baseDir, { recursive: true, force: true });
    }
  });
});
