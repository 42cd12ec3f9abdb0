import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redact } from '../util/secrets';
import type { MysqlEndpoint } from '../engines/mysql/endpoint';

/** A MySQL-family server and the database the masking tools work on. */
export interface MysqlTarget extends MysqlEndpoint {
  database: string;
}

/**
 * An options file with the credentials for the mariadb/mysql command-line tools, so the
 * password is never on argv (visible in `ps`). Readable by the owner only; removed by `dispose`.
 */
export function clientOptionsFile(target: MysqlTarget): { path: string; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'rds-cutover-mask-client-'));
  const path = join(dir, 'client.cnf');
  const quoted = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  writeFileSync(path, `[client]\nhost=${target.host}\nport=${target.port}\nuser=${quoted(target.user)}\npassword=${quoted(target.password)}\nprotocol=TCP\n`, { mode: 0o600 });
  return { path, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The dump options: consistent without locks, binary as hex, deterministic (no date), with
 * triggers and routines. No --events: production's scheduled events must not start running
 * against staging or a developer's copy.
 */
export const DUMP_OPTIONS = ['--single-transaction', '--skip-lock-tables', '--hex-blob', '--no-tablespaces', '--skip-dump-date', '--default-character-set=utf8mb4', '--triggers', '--routines'];

/** Start a tool with an options file; `exited` resolves on exit 0 and rejects with its (redacted) stderr otherwise. */
export function startClient(command: string, optionsFile: string, args: string[], stdio: 'read' | 'write'): { child: ChildProcess; exited: Promise<void> } {
  const child = spawn(command, [`--defaults-extra-file=${optionsFile}`, ...args], { stdio: stdio === 'read' ? ['ignore', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`${command} could not start: ${error.message} (install mariadb-client)`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.filter((a) => a.startsWith('--') === false).join(' ')} failed (${signal ?? `exit ${code}`}): ${redact(stderr.trim()) || 'no error output'}`));
    });
  });
  exited.catch(() => undefined); // observed by the caller; avoid an unhandled rejection in between
  return { child, exited };
}
