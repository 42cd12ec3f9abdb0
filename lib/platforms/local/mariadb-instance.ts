import { mkdirSync, writeFileSync, renameSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import mysql from 'mysql2/promise';
import { ProcessGroup, runInOwnGroup } from '../../util/process-group';
import { freePort } from '../../util/ports';
import { waitFor } from '../../util/time';
import type { Logger } from '../../util/log';
import type { MysqlEndpoint } from '../../engines/mysql/endpoint';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from './debian-packages';

export type { MysqlEndpoint };


export interface MariadbInstanceOptions {
  name: string;
  /** Parent folder; the instance lives in `<baseDir>/<name>`. */
  baseDir: string;
  serverId: number;
  rootPassword: string;
  group: ProcessGroup;
  log: Logger;
  /**
   * Serve TLS with this certificate (PEM files), as RDS does: clients that require and verify
   * TLS (the AWS platform's connections, replication with MASTER_SSL=1) can then connect.
   * @default - no TLS (the rehearsal sandbox on loopback)
   */
  tls?: { caFile: string; certFile: string; keyFile: string };
  /**
   * Base name of the binlog (and relay log) files. A server that stands in for an instance
   * restored from a snapshot of another carries that one's binlog files under their names.
   * @default - the instance's name
   */
  logBasename?: string;
  /**
   * What the server answers to `SELECT VERSION()` (MariaDB's `version` option), e.g. `8.0.23` for
   * a server standing in for Aurora MySQL 3.02, so the client picks that server's dialect.
   * mariadb-backup refuses a server that reports a non-MariaDB version: use a logical dump then.
   * @default - MariaDB's own version string
   */
  reportedVersion?: string;
  /** Called right after the server process is spawned (its pid and port are known): a persistent sandbox records them. */
  onStarted?: (instance: MariadbInstance) => void;
  /**
   * Start with read_only ON (in my.cnf, so also after a restart): a clone of the source takes
   * no application write from its first second until the switch opens it.
   * @default false
   */
  readOnlyAtStartup?: boolean;
}

/** The longest Unix socket path (Linux sun_path is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * One real MariaDB server on a loopback port, started from Debian's binaries as a plain
 * background process with its own datadir, socket and config file.
 */
export class MariadbInstance {
  readonly dir: string;
  readonly datadir: string;
  readonly socket: string;
  readonly configFile: string;
  port = 0;
  private process: ChildProcess | undefined;
  private readOnlyAtStartup: boolean;
  /** A server started by another process (a persistent sandbox), known by its pid only. */
  private adoptedPid: number | undefined;

  constructor(private readonly options: MariadbInstanceOptions) {
    this.dir = join(options.baseDir, options.name);
    this.datadir = join(this.dir, 'data');
    this.socket = join(this.dir, 'mariadb.sock');
    this.configFile = join(this.dir, 'my.cnf');
    this.readOnlyAtStartup = options.readOnlyAtStartup ?? false;
  }

  /**
   * Whether the server comes up read_only after a restart (my.cnf). The switch opens a promoted
   * target with SET GLOBAL; this keeps it open across a restart too. Takes effect at the next start.
   */
  async setReadOnlyAtStartup(readOnly: boolean): Promise<void> {
    if (this.readOnlyAtStartup === readOnly && existsSync(this.configFile)) return;
    const before = this.readOnlyAtStartup;
    this.readOnlyAtStartup = readOnly;
    try {
      await this.writeConfig();
    } catch (error) {
      this.readOnlyAtStartup = before; // the file on disk still says the old value
      throw error;
    }
  }

  /** Whether the server comes up read_only at its next start (what its my.cnf says). */
  get startsReadOnly(): boolean {
    return this.readOnlyAtStartup;
  }

  get name(): string {
    return this.options.name;
  }

  get serverId(): number {
    return this.options.serverId;
  }

  /** The administrator endpoint over TCP (root@127.0.0.1). */
  endpoint(): MysqlEndpoint {
    return { name: this.options.name, host: '127.0.0.1', port: this.port, user: 'root', password: this.options.rootPassword };
  }

  /** Initialise an empty datadir, start the server and give root a password for TCP use. */
  async initialise(): Promise<void> {
    // Whoever starts a server gets the packages first (a fresh machine has none): a test or a
    // script that builds an instance directly must not depend on a sandbox having run before.
    ensureDebianPackages(MARIADB_REQUIREMENTS, this.options.log);
    this.checkSocketPath();
    mkdirSync(this.dir, { recursive: true });
    await this.writeConfig();
    await runInOwnGroup('mariadb-install-db', [
      `--defaults-file=${this.configFile}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--user=root',
    ]).catch((error: Error) => {
      // The bootstrap server's own words go to log-error, not to the script's output.
      throw new Error(`mariadb-install-db for ${this.options.name} failed: ${error.message.trim()}\n${this.errorLogTail()}`);
    });
    await this.start();
    // Fresh datadir: root@localhost has no password yet and is reached through the socket.
    const connection = await mysql.createConnection({ socketPath: this.socket, user: 'root' });
    try {
      const password = connection.escape(this.options.rootPassword);
      await connection.query(`ALTER USER root@localhost IDENTIFIED BY ${password}`);
      await connection.query(`CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY ${password}`);
      await connection.query(`ALTER USER root@'127.0.0.1' IDENTIFIED BY ${password}`);
      await connection.query(`GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION`);
    } finally {
      await connection.end();
    }
  }

  /**
   * Become a copy of a prepared mariadb-backup folder (the local stand-in for restoring an
   * RDS snapshot): the backup folder is moved into place as this server's datadir.
   */
  async restoreFrom(preparedBackupDir: string): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await this.writeConfig();
    renameSync(preparedBackupDir, this.datadir);
    await this.start();
  }

  /**
   * Take a consistent physical copy of this running server with mariadb-backup and prepare
   * it. Returns the folder and the binlog coordinates the copy corresponds to.
   */
  async backup(targetDir: string): Promise<{ dir: string; binlogFile?: string; binlogPosition?: number }> {
    // Its own process group (a terminal's Ctrl-C lets the step finish instead of killing the copy),
    // and it dies with this process: a killed orchestrator must not leave a backup copying into the sandbox.
    await runInOwnGroup('mariadb-backup', [`--defaults-file=${this.configFile}`, '--backup', `--target-dir=${targetDir}`], { maxBuffer: 64 * 1024 * 1024 });
    await runInOwnGroup('mariadb-backup', ['--prepare', `--target-dir=${targetDir}`], { maxBuffer: 64 * 1024 * 1024 });
    const infoFile = join(targetDir, 'mariadb_backup_binlog_info');
    const legacyInfo = join(targetDir, 'xtrabackup_binlog_info');
    const info = existsSync(infoFile) ? infoFile : existsSync(legacyInfo) ? legacyInfo : undefined;
    if (info === undefined) return { dir: targetDir };
    const [file, position] = readFileSync(info, 'utf8').trim().split(/\s+/);
    return { dir: targetDir, binlogFile: file, binlogPosition: Number(position) };
  }

  /** Take over a server another process started (recorded in a persistent sandbox's state). */
  adopt(port: number, pid: number): void {
    this.port = port;
    this.adoptedPid = pid;
  }

  /**
   * A Unix socket path has at most 107 bytes (sun_path, NUL included: 108). Longer, mariadbd
   * exits at start with the reason only in its error log, which goes with the sandbox's folder.
   */
  private checkSocketPath(): void {
    const length = Buffer.byteLength(this.socket);
    if (length > MAX_SOCKET_PATH_BYTES) {
      throw new Error(`${this.socket} is ${length} bytes long, over the ${MAX_SOCKET_PATH_BYTES} a Unix socket path may have: set TMPDIR to a shorter folder (e.g. TMPDIR=/tmp) and run again`);
    }
  }

  async start(): Promise<void> {
    this.checkSocketPath();
    const child = this.options.group.start(this.options.name, '/usr/sbin/mariadbd', [`--defaults-file=${this.configFile}`]);
    this.process = child;
    this.adoptedPid = undefined;
    this.options.onStarted?.(this);
    let onExit: ((code: number | null) => void) | undefined;
    const exited = new Promise<never>((_, reject) => {
      onExit = (code) => reject(new Error(`mariadbd ${this.options.name} exited with code ${code} while starting:\n${this.options.group.tail(child)}`));
      child.once('exit', onExit);
    });
    const ready = waitFor(`mariadbd ${this.options.name} to accept connections on ${this.socket}`, async () => {
      const connection = await mysql.createConnection({ socketPath: this.socket, user: 'root', password: this.options.rootPassword }).catch(async (error: { code?: string }) => {
        // Before initialise() has set a password, root@localhost has none.
        if (error.code === 'ER_ACCESS_DENIED_ERROR') return mysql.createConnection({ socketPath: this.socket, user: 'root' });
        throw error;
      });
      await connection.end();
      return true;
    }, { timeoutMs: 60000, intervalMs: 50 });
    await Promise.race([ready, exited]);
    // Only our own listener: ProcessGroup's keeps its list of live processes current.
    child.off('exit', onExit!);
    this.options.log.debug(`mariadbd ${this.options.name} (server_id ${this.options.serverId}) listening on 127.0.0.1:${this.port}`);
  }

  async stop(): Promise<void> {
    if (this.process) await this.options.group.stopProcess(this.process, 30000);
    else if (this.adoptedPid !== undefined) await ProcessGroup.stopPid(this.adoptedPid, this.dir, 30000);
    this.process = undefined;
    this.adoptedPid = undefined;
  }

  get pid(): number | undefined {
    return this.process?.pid ?? this.adoptedPid;
  }

  /** The last lines of the server's error log ('' when there is none). */
  errorLogTail(lines = 15): string {
    const file = join(this.dir, 'error.log');
    if (!existsSync(file)) return '';
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  private async writeConfig(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const password = this.options.rootPassword.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    // The [client] section lets mariadb-backup and the CLI connect without a password on argv;
    // the file is readable by its owner only.
    const config = `[mariadbd]
datadir=${this.datadir}
port=${this.port}
bind-address=127.0.0.1
socket=${this.socket}
pid-file=${join(this.dir, 'mariadbd.pid')}
log-error=${join(this.dir, 'error.log')}
tmpdir=${join(this.dir, 'tmp')}
user=root
server-id=${this.options.serverId}
log-bin=binlog
log-basename=${this.options.logBasename ?? this.options.name}
binlog_format=ROW
log_slave_updates=ON
slave_parallel_threads=4
slave_parallel_mode=optimistic
binlog_expire_logs_seconds=604800
sync_binlog=1
innodb_flush_log_at_trx_commit=1
skip-slave-start
skip-name-resolve
${this.readOnlyAtStartup ? 'read_only=ON\n' : ''}
performance_schema=OFF
innodb_buffer_pool_size=64M
innodb_log_file_size=48M
max_connections=300
${this.options.reportedVersion ? `version=${this.options.reportedVersion}\n` : ''}${this.options.tls ? `ssl-ca=${this.options.tls.caFile}\nssl-cert=${this.options.tls.certFile}\nssl-key=${this.options.tls.keyFile}\n` : ''}
[client]
user=root
password="${password}"
socket=${this.socket}
`;
    // Its own temporary folder: servers bootstrapped at the same moment collide on the shared
    // /tmp's '#sql-temptable-…' names and mariadb-install-db aborts.
    mkdirSync(join(this.dir, 'tmp'), { recursive: true });
    // Written beside and renamed over: on a full disk the write fails and the server's
    // configuration stays whole (written in place it would be left empty for the next start).
    const next = `${this.configFile}.next`;
    try {
      writeFileSync(next, config, { mode: 0o600 });
      renameSync(next, this.configFile);
    } catch (error) {
      rmSync(next, { force: true });
      throw new Error(`could not write ${this.configFile}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
