import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, processesMentioning, ProcessGroup } from '../../util/process-group';
import { registerSecret } from '../../util/secrets';

export const SANDBOX_ENGINES = ['mysql', 'postgres'] as const;
export type SandboxEngine = (typeof SANDBOX_ENGINES)[number];

/** One server of a persistent sandbox, as recorded in its state file. */
export interface SandboxServerRecord {
  name: string;
  pid: number;
  port: number;
  /** MariaDB server_id. */
  serverId?: number;
  /** PostgreSQL major version. */
  version?: number;
}

/**
 * What `npm run sandbox -- up` leaves in `.rds-cutover/sandbox/<engine>/sandbox.json` (0600):
 * where every server runs, so that `status`, `down` and runs with `--env sandbox` (even a
 * resumed one, in another process) find them. No secret in here: those are in secrets.json.
 */
export interface SandboxState {
  engine: SandboxEngine;
  createdAt: string;
  /** The folder this state lives in (servers' datadirs, sockets and logs are under it). */
  folder: string;
  /** Where a PostgreSQL sandbox keeps its servers (a folder the postgres account can reach). */
  serversDir: string;
  /** The application's endpoint: HAProxy (MySQL) or pgbouncer (PostgreSQL). */
  endpoint: { kind: 'haproxy' | 'pgbouncer'; host: string; port: number; pid: number; user: string; database: string };
  servers: SandboxServerRecord[];
}

/** Generated passwords of a persistent sandbox (secrets.json, 0600): never printed. */
export type SandboxSecrets = Record<string, string>;

export function sandboxFolder(stateDir: string, engine: SandboxEngine): string {
  return join(stateDir, 'sandbox', engine);
}

const STATE_FILE = 'sandbox.json';
const SECRETS_FILE = 'secrets.json';

/** Write a file in one piece (temp file + rename), readable by its owner only. */
function writePrivate(path: string, content: string): void {
  const next = `${path}.next`;
  writeFileSync(next, content, { mode: 0o600 });
  chmodSync(next, 0o600);
  renameSync(next, path);
}

export function writeSandboxState(state: SandboxState, secrets?: SandboxSecrets): void {
  mkdirSync(state.folder, { recursive: true, mode: 0o700 });
  if (secrets) writePrivate(join(state.folder, SECRETS_FILE), JSON.stringify(secrets, null, 2) + '\n');
  writePrivate(join(state.folder, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}

/** The recorded state and secrets of a sandbox folder, or undefined when there is none. Secrets are registered for redaction. */
export function readSandboxState(folder: string): { state: SandboxState; secrets: SandboxSecrets } | undefined {
  const stateFile = join(folder, STATE_FILE);
  if (!existsSync(stateFile)) return undefined;
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as SandboxState;
  const secretsFile = join(folder, SECRETS_FILE);
  const secrets = existsSync(secretsFile) ? (JSON.parse(readFileSync(secretsFile, 'utf8')) as SandboxSecrets) : {};
  for (const value of Object.values(secrets)) registerSecret(value);
  return { state, secrets };
}

/** Which recorded processes still run. */
export function sandboxLiveness(state: SandboxState): { alive: string[]; dead: string[] } {
  const all = [...state.servers.map((s) => ({ name: s.name, pid: s.pid })), { name: state.endpoint.kind, pid: state.endpoint.pid }];
  return { alive: all.filter((p) => isAlive(p.pid)).map((p) => p.name), dead: all.filter((p) => !isAlive(p.pid)).map((p) => p.name) };
}

/**
 * Stop every process that runs from these folders (servers started by any process, also ones
 * a killed run never recorded) and delete the folders.
 */
export async function removeSandboxFolders(folders: string[]): Promise<void> {
  for (const folder of folders) {
    for (const pid of processesMentioning(folder)) await ProcessGroup.stopPid(pid, folder, 10000);
  }
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
}

/**
 * Rehearsal sandboxes live in a temp folder that `stop()` removes. A rehearsal killed outright
 * (SIGKILL, a crash) cannot; its servers die with it (parent-death signal) but the folder,
 * hundreds of MB, stays. Each such folder carries the owner's pid in this file, so the next
 * rehearsal removes folders whose owner is gone. Folders without the file are left alone
 * (another tool, or an older version, may be using them).
 */
export const REHEARSAL_OWNER_FILE = 'rds-cutover-owner.pid';
/** Rehearsals' sandboxes, and the masking sandbox of `npm run mask -- --env local` (lib/masking/local/sandbox.ts). */
export const REHEARSAL_PREFIXES = ['rds-cutover-mysql-', 'rds-cutover-pg-', 'rds-cutover-mask-'];

export function markRehearsalOwner(folder: string): void {
  writeFileSync(join(folder, REHEARSAL_OWNER_FILE), `${process.pid}\n`);
}

/** Rehearsal folders in the temp dir whose owner process is gone. */
export function abandonedRehearsalFolders(dir = tmpdir()): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries
    .filter((name) => REHEARSAL_PREFIXES.some((prefix) => name.startsWith(prefix)))
    .map((name) => join(dir, name))
    .filter((folder) => {
      try {
        const owner = Number(readFileSync(join(folder, REHEARSAL_OWNER_FILE), 'utf8').trim());
        return Number.isInteger(owner) && owner > 0 && !isAlive(owner);
      } catch {
        return false;
      }
    });
}

/** Remove what crashed rehearsals left in the temp dir; returns the folders removed. */
export async function removeAbandonedRehearsals(dir = tmpdir()): Promise<string[]> {
  const folders = abandonedRehearsalFolders(dir);
  await removeSandboxFolders(folders);
  return folders;
}
