import { chownSync, mkdirSync, rmSync, writeFileSync, appendFileSync, chmodSync } from 'node:fs';
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dieWithParent, ProcessGroup, runInOwnGroup } from '../../util/process-group';
import type { Logger } from '../../util/log';
import { freePort } from '../../util/ports';
import { waitFor } from '../../util/time';
import { connectPg, closePg } from '../../engines/postgres/connection';
import type { PostgresEndpoint } from '../../engines/postgres/endpoint';
import { postgresServerBinDir } from './embedded-postgres';
import { MAX_SOCKET_PATH_BYTES } from './mariadb-instance';

const run = promisify(execFile);

/** The OS account PostgreSQL and pgbouncer run as (both refuse root). */
export const POSTGRES_OS_USER = 'postgres';

const osUsers = new Map<string, { uid: number; gid: number }>();

/** uid/gid of an OS account (looked up once: spawning `id` inside the switch costs milliseconds). */
export function osUser(name = POSTGRES_OS_USER): { uid: number; gid: number } {
  const known = osUsers.get(name);
  if (known) return known;
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  osUsers.set(name, { uid, gid });
  return { uid, gid };
}

/** A folder the postgres account owns (inside a sandbox folder it can traverse). */
export function postgresOwnedDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { uid, gid } = osUser();
  chownSync(dir, uid, gid);
  return dir;
}

/**
 * Run a server binary as the postgres account: `runuser -u postgres -- BINARY ARGS`. runuser
 * forks and switches user, which clears the parent-death signal, so it is set again inside.
 */
export function asPostgres(binary: string, args: string[]): [string, string[]] {
  const [program, programArgs] = dieWithParent(binary, args);
  return ['runuser', ['-u', POSTGRES_OS_USER, '--', program, ...programArgs]];
}

/**
 * The command that runs a server binary as the postgres account in a group: with the
 * parent-death signal (asPostgres), or without it for a persistent group whose servers must
 * outlive this process (`npm run sandbox -- up --engine postgres`).
 */
export function postgresServerCommand(group: ProcessGroup, binary: string, args: string[]): [string, string[]] {
  return group.persistent ? ['runuser', ['-u', POSTGRES_OS_USER, '--', binary, ...args]] : asPostgres(binary, args);
}

export interface PostgresInstanceOptions {
  name: string;
  /** Parent folder; the instance lives in `<baseDir>/<name>`. */
  baseDir: string;
  /** Major version: 15 from Debian, others (17) from embedded-postgres. */
  version: number;
  superuserPassword: string;
  group: ProcessGroup;
  log: Logger;
  /** Called right after the server process is spawned (its pid and port are known): a persistent sandbox records them. */
  onStarted?: (instance: PostgresInstance) => void;
  /**
   * Environment variables added to the server's own (libpq reads them for the connections the
   * server makes itself, e.g. a subscription's `PGHOSTADDR`). @default - this process's environment
   */
  environment?: Record<string, string>;
}

/**
 * One real PostgreSQL server on a loopback port, run as the postgres account from
 * Debian's (15) or embedded-postgres' (17) binaries with its own datadir and socket folder.
 * TCP with SCRAM passwords only; wal_level=logical so that it can be a publisher.
 */
export class PostgresInstance {
  readonly dir: string;
  readonly datadir: string;
  readonly bin: string;
  port = 0;
  private process: ChildProcess | undefined;
  /** A server started by another process (a persistent sandbox), known by its pid only. */
  private adoptedPid: number | undefined;

  constructor(private readonly options: PostgresInstanceOptions) {
    this.dir = join(options.baseDir, options.name);
    this.datadir = join(this.dir, 'data');
    this.bin = postgresServerBinDir(options.version, POSTGRES_OS_USER);
  }

  get name(): string {
    return this.options.name;
  }

  get version(): number {
    return this.options.version;
  }

  /** The superuser over TCP, in database `database` (default postgres). */
  endpoint(database = 'postgres'): PostgresEndpoint {
    return { name: this.options.name, host: '127.0.0.1', port: this.port, user: 'postgres', password: this.options.superuserPassword, database };
  }

  async initialise(): Promise<void> {
    this.port = await freePort();
    this.refuseLongSocketPath();
    postgresOwnedDir(this.dir);
    const passwordFile = join(this.dir, 'superuser.pw');
    writeFileSync(passwordFile, this.options.superuserPassword + '\n', { mode: 0o600 });
    const { uid, gid } = osUser();
    chownSync(passwordFile, uid, gid);
    try {
      const [command, args] = asPostgres(join(this.bin, 'initdb'), initdbArguments(this.datadir, passwordFile));
      // Its own process group: a terminal's Ctrl-C lets the step that creates a server finish.
      await runInOwnGroup(command, args, { maxBuffer: 16 * 1024 * 1024 });
    } finally {
      rmSync(passwordFile, { force: true });
    }
    // Durable commits (fsync, synchronous_commit) as in production: the load measures real stalls.
    appendFileSync(join(this.datadir, 'postgresql.conf'), `
# rds-cutover sandbox
listen_addresses = '127.0.0.1'
port = ${this.port}
unix_socket_directories = '${this.dir}'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
max_connections = 200
shared_buffers = 128MB
max_wal_size = 2GB
password_encryption = 'scram-sha-256'
log_min_messages = warning
log_line_prefix = '%m [%p] ${this.options.name}: '
`);
    await this.start();
  }

  /**
   * The server's socket is <dir>/.s.PGSQL.<port>, and a Unix socket path has at most 107 bytes
   * (MAX_SOCKET_PATH_BYTES, as for the MariaDB sandbox). Longer (a user's long TMPDIR), initdb or
   * the server failed with messages that name neither TMPDIR nor the fix.
   */
  private refuseLongSocketPath(): void {
    const socket = join(this.dir, `.s.PGSQL.${this.port}`);
    const length = Buffer.byteLength(socket);
    if (length > MAX_SOCKET_PATH_BYTES) {
      throw new Error(`${socket} is ${length} bytes long, over the ${MAX_SOCKET_PATH_BYTES} a Unix socket path may have: set TMPDIR to a shorter folder (e.g. TMPDIR=/tmp) and run again`);
    }
  }

  /** Take over a server another process started (recorded in a persistent sandbox's state). */
  adopt(port: number, pid: number): void {
    this.port = port;
    this.adoptedPid = pid;
  }

  async start(): Promise<void> {
    const [command, args] = postgresServerCommand(this.options.group, join(this.bin, 'postgres'), ['-D', this.datadir]);
    const child = this.options.group.start(`postgres-${this.options.name}`, command, args, this.options.environment ? { env: { ...process.env, ...this.options.environment } } : {});
    this.process = child;
    this.adoptedPid = undefined;
    this.options.onStarted?.(this);
    let onExit: (code: number | null) => void = () => undefined;
    const exited = new Promise<never>((_, reject) => {
      onExit = (code) => reject(new Error(`postgres ${this.options.name} exited with code ${code} while starting:\n${this.options.group.tail(child)}`));
      child.once('exit', onExit);
    });
    const ready = waitFor(`postgres ${this.options.name} to accept connections on 127.0.0.1:${this.port}`, async () => {
      const client = await connectPg(this.endpoint(), { connectTimeoutMs: 1000 });
      await closePg(client);
      return true;
    }, { timeoutMs: 60000, intervalMs: 50 });
    await Promise.race([ready, exited]);
    child.off('exit', onExit);
    this.options.log.debug(`postgres ${this.options.name} (${this.options.version}) listening on 127.0.0.1:${this.port}`);
  }

  /** The server's recent log lines (stderr; a sandbox another process started: its log file). */
  serverLog(lines = 50): string {
    return this.options.group.recentOutput(`postgres-${this.options.name}`, this.process, lines);
  }

  /** Fast shutdown (sessions are ended, no waiting for clients), then the process is reaped. */
  async stop(): Promise<void> {
    if (!this.process && this.adoptedPid === undefined) return;
    const running = this.process ? this.process.exitCode === null && this.process.signalCode === null : true;
    if (running) await this.fastShutdown();
    if (this.process) await this.options.group.stopProcess(this.process, 10000);
    else if (this.adoptedPid !== undefined) await ProcessGroup.stopPid(this.adoptedPid, this.dir, 10000);
    this.process = undefined;
    this.adoptedPid = undefined;
  }

  /** pg_ctl stop -m fast: sessions (also replication) are ended, no waiting for clients. */
  async fastShutdown(): Promise<void> {
    const [command, args] = asPostgres(join(this.bin, 'pg_ctl'), ['stop', '-D', this.datadir, '-m', 'fast', '-w', '-t', '30']);
    await run(command, args).catch((error) => this.options.log.debug(`pg_ctl stop ${this.options.name}: ${(error as Error).message}`));
  }

  get pid(): number | undefined {
    return this.process?.pid ?? this.adoptedPid;
  }
}

/** Make a sandbox folder traversable by the postgres account (mkdtemp creates it 0700). */
/** initdb's arguments for a sandbox server (the plan records the same line). */
export function initdbArguments(datadir: string, passwordFile: string): string[] {
  return [`--pgdata=${datadir}`, '--username=postgres', `--pwfile=${passwordFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync', '--no-instructions'];
}

export function openForPostgres(dir: string): void {
  chmodSync(dir, 0o755);
}
