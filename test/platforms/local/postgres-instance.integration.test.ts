/**
 * A sandbox PostgreSQL server's socket folder (lib/platforms/local/postgres-instance.ts), as the
 * MariaDB sandbox's (mariadb-instance.integration.test.ts): a long TMPDIR must be named at once.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresInstance } from '../../../lib/platforms/local/postgres-instance';
import { silentLogger } from '../../../lib/util/log';
import { ProcessGroup } from '../../../lib/util/process-group';
import { generatePassword } from '../../../lib/util/secrets';

describe('a sandbox PostgreSQL server', () => {
  // Its socket is <folder>/.s.PGSQL.<port>: a folder of ~90 bytes or more (a user's long TMPDIR)
  // makes it longer than a Unix socket path may be (108 bytes with its NUL), and the server stops
  // with "could not create any Unix-domain sockets", which names neither TMPDIR nor the fix.
  test('GIVEN a folder so deep that the socket path exceeds 107 bytes THEN initialise fails at once, naming the path, the limit and TMPDIR, and starts nothing', async () => {
    const group = new ProcessGroup();
    const baseDir = mkdtempSync(join(tmpdir(), 'rc-instance-'));
    const deep = join(baseDir, 'x'.repeat(50), 'y'.repeat(50));
    const server = new PostgresInstance({ name: 'deep', baseDir: deep, version: 15, superuserPassword: generatePassword(), group, log: silentLogger });
    try {
      await expect(server.initialise()).rejects.toThrow(/deep\/\.s\.PGSQL\.\d+ is \d+ bytes long, over the 107 a Unix socket path may have: set TMPDIR to a shorter folder \(e\.g\. TMPDIR=\/tmp\) and run again/);
      expect(group.pids()).toEqual([]);
      expect(existsSync(join(deep, 'deep', 'data'))).toBe(false);
    } finally {
      await group.stopAll();
      rmSync(baseDir, { recursive: true, force: true });
    }
  });
});
