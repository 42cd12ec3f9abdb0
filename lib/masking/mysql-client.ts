import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dieWithParent, processesMentioning } from '../util/process-group';
import { redact } from '../util/secrets';
import type { MysqlEndpoint } from '../engines/mysql/endpoint';

/** A MySQL-family server and the database the masking tools work on. */
export interface MysqlTarget extends MysqlEndpoint {
  database: string;
}

/**
 * How the mariadb/mysql command-line tools reach a server without the password ever touching
 * the disk or argv: host, port and user (not secret) as options, the password in the tool's
 * environment as MYSQL_PWD, which mariadb and mariadb-dump read when no password option is
 * given (MariaDB 10.11's client library; measured). The environment of a process is readable
 * only by its owner and root (/proc/PID/environ, like the 0600 options file this replaces) and
 * dies with it: a run killed with SIGKILL leaves no file holding the password behind, where the
 * options file in the temp dir stayed (a FIFO as --defaults-extra-file would also hold nothing
 * on disk, but leaves a folder to sweep after a kill). A `password` in the user's ~/.my.cnf
 * still wins, as it did over the options file. The tools are MariaDB's (the build image installs
 * mariadb-client); Oracle's libmysql deprecated MYSQL_PWD in 8.0 (https://dev.mysql.com/worklog/task/?id=13449),
 * so a `dumpCommand` of MySQL's mysqldump may stop reading it in a later release.
 */
export function clientConnection(target: MysqlTarget): { args: string[]; env: NodeJS.ProcessEnv } {
  return {
    args: [`--host=${target.host}`, `--port=${target.port}`, `--user=${target.user}`, '--protocol=TCP'],
    env: { ...process.env, MYSQL_PWD: target.password },
  };
}

/** Earlier versions wrote the password for the tools into `<temp dir>/rds-cutover-mask-client-XXXXXX/client.cnf`. */
const LEFTOVER_OPTIONS_PREFIX = 'rds-cutover-mask-client-';

/**
 * Remove the options folders that runs of earlier versions left in the temp dir when they were
 * killed before their clean-up: each holds a 0600 client.cnf with a database password. This
 * version writes none (`clientConnection`), so any such folder is a leftover, except one that
 * an earlier version still running uses: it stays while a living process names it on its
 * command line (that version's client, `--defaults-extra-file=…`) or while it is younger than a
 * minute (that version between writing it and starting its client). Only folders of this user.
 * Returns the folders removed.
 */
export function removeLeftoverClientOptionFiles(dir: string = tmpdir(), now: number = Date.now()): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(LEFTOVER_OPTIONS_PREFIX)) continue;
    const path = join(dir, name);
    try {
      const stat = lstatSync(path);
      if (!stat.isDirectory() || stat.uid !== process.getuid?.() || now - stat.mtimeMs < 60_000) continue;
      if (processesMentioning(path).length > 0) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      /* removed meanwhile, or not ours to read */
    }
  }
  return removed;
}

/**
 * The dump options: consistent without locks, binary as hex, deterministic (no date), with
 * triggers and routines. No --events: production's scheduled events must not start running
 * against staging or a developer's copy.
 */
export const DUMP_OPTIONS = ['--single-transaction', '--skip-lock-tables', '--hex-blob', '--no-tablespaces', '--skip-dump-date', '--default-character-set=utf8mb4', '--triggers', '--routines'];

/**
 * Start a tool connected to the target (`clientConnection`); `exited` resolves on exit 0 and
 * rejects with its (redacted) stderr otherwise. The tool dies with this process even when no
 * handler of ours runs (`dieWithParent`): a killed run leaves no dump holding a transaction open
 * on the source, and no restore going on against staging.
 */
export function startClient(command: string, target: MysqlTarget, args: string[], stdio: 'read' | 'write'): { child: ChildProcess; exited: Promise<void> } {
  const connection = clientConnection(target);
  const child = spawn(...dieWithParent(command, [...connection.args, ...args]), { env: connection.env, stdio: stdio === 'read' ? ['ignore', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`${command} could not start: ${error.message} (install mariadb-client)`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      // 127: setpriv (dieWithParent) found no such program to run.
      else reject(new Error(`${command} ${args.filter((a) => a.startsWith('--') === false).join(' ')} failed (${signal ?? `exit ${code}`}): ${redact(stderr.trim()) || 'no error output'}${code === 127 ? ' (install mariadb-client)' : ''}`));
    });
  });
  exited.catch(() => undefined); // observed by the caller; avoid an unhandled rejection in between
  return { child, exited };
}
