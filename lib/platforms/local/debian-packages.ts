import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import type { Logger } from '../../util/log';

/** How long apt-get waits for another apt/dpkg's lock before it gives up. */
const APT_LOCK_WAIT_SECONDS = 600;

/** A server binary the sandbox needs, and the Debian package that provides it. */
export interface Requirement {
  binary: string;
  packageName: string;
}

export const MARIADB_REQUIREMENTS: Requirement[] = [
  { binary: '/usr/sbin/mariadbd', packageName: 'mariadb-server' },
  { binary: '/usr/bin/mariadb-install-db', packageName: 'mariadb-server' },
  { binary: '/usr/bin/mariadb', packageName: 'mariadb-client' },
  { binary: '/usr/bin/mariadb-dump', packageName: 'mariadb-client' },
  { binary: '/usr/bin/mariadb-backup', packageName: 'mariadb-backup' },
  { binary: '/usr/sbin/haproxy', packageName: 'haproxy' },
];

export const POSTGRES_REQUIREMENTS: Requirement[] = [
  { binary: '/usr/lib/postgresql/15/bin/postgres', packageName: 'postgresql-15' },
  { binary: '/usr/lib/postgresql/15/bin/pg_dump', packageName: 'postgresql-client-15' },
  { binary: '/usr/sbin/pgbouncer', packageName: 'pgbouncer' },
];

/** Headless Chromium, for the test that opens the report page in a real browser. */
export const CHROMIUM_REQUIREMENTS: Requirement[] = [{ binary: '/usr/bin/chromium', packageName: 'chromium' }];

/**
 * Make sure the servers the sandbox runs are installed. As root, install what is missing
 * with apt-get (after `apt-get update`, as a fresh Debian image has no package lists);
 * otherwise fail with the exact command a person should run.
 */
export function ensureDebianPackages(requirements: Requirement[], log: Logger, options: { isRoot?: boolean } = {}): void {
  const missing = [...new Set(requirements.filter((r) => !existsSync(r.binary)).map((r) => r.packageName))];
  if (missing.length === 0) return;
  const isRoot = options.isRoot ?? process.getuid?.() === 0;
  const command = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (!isRoot) {
    throw new Error(`The local sandbox needs Debian packages that are not installed: ${missing.join(', ')}. Run as root: sudo sh -c '${command}'`);
  }
  log.info(`Installing Debian packages for the sandbox: ${missing.join(', ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Wait for another apt/dpkg (unattended upgrades on a fresh machine, a second run installing
  // at the same moment) instead of failing at once on its lock.
  const waitForLock = ['-o', `DPkg::Lock::Timeout=${APT_LOCK_WAIT_SECONDS}`];
  execFileSync('apt-get', [...waitForLock, 'update', '-qq'], { stdio: 'inherit', env });
  // policy-rc.d may refuse to start the packaged services; we never use them anyway.
  execFileSync('apt-get', [...waitForLock, 'install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  const stillMissing = requirements.filter((r) => !existsSync(r.binary));
  if (stillMissing.length > 0) {
    throw new Error(`apt-get finished but these are still missing: ${stillMissing.map((r) => r.binary).join(', ')}`);
  }
}
