import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup } from '../../../lib/util/process-group';
import { silentLogger } from '../../../lib/util/log';

// The installer is replaced by one that records the call and stops there: nothing is installed or started.
const ensured: string[][] = [];
jest.mock('../../../lib/platforms/local/debian-packages', () => {
  const actual = jest.requireActual('../../../lib/platforms/local/debian-packages');
  return {
    ...actual,
    ensureDebianPackages: (requirements: Array<{ packageName: string }>) => {
      ensured.push(requirements.map((r) => r.packageName));
      throw new Error('stop: packages checked first');
    },
  };
});

import { MariadbInstance } from '../../../lib/platforms/local/mariadb-instance';

test('GIVEN a fresh machine WHEN a MariaDB server is initialised directly (no sandbox ran before) THEN its Debian packages are ensured before mariadb-install-db runs', async () => {
  const baseDir = mkdtempSync(join(tmpdir(), 'mariadb-packages-'));
  try {
    const server = new MariadbInstance({ baseDir, rootPassword: 'unused', group: new ProcessGroup(), log: silentLogger, name: 'fresh', serverId: 1 });
    await expect(server.initialise()).rejects.toThrow('stop: packages checked first');
    expect(ensured).toEqual([expect.arrayContaining(['mariadb-server', 'mariadb-client'])]);
  } finally {
    rmSync(baseDir, { recursive: true, force: true });
  }
});
