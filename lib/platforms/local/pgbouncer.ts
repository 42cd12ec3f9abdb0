import { chownSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ProcessGroup } from '../../util/process-group';
import type { Logger } from '../../util/log';
import { freePort } from '../../util/ports';
import { waitFor } from '../../util/time';
import { closePg, connectPg, type PgClient } from '../../engines/postgres/connection';
import type { PostgresEndpoint } from '../../engines/postgres/endpoint';
import { osUser, postgresOwnedDir, postgresServerCommand } from './postgres-instance';

export interface PgbouncerUser {
  name: string;
  password: string;
}

export interface PgbouncerBackend {
  host: string;
  port: number;
  dbname: string;
}

/**
 * pgbouncer in transaction pooling mode as the application's endpoint: the local stand-in
 * for RDS Proxy / the DNS name a real cutover moves. Its admin console switches servers
 * without failing clients: `PAUSE db` (clients queue), rewrite the ini, `RELOAD`, `RESUME db`.
 * Runs as the postgres account (pgbouncer refuses root). Passwords live only in its
 * auth_file (mode 0600), never on a command line.
 */
export class Pgbouncer {
  readonly dir: string;
  readonly configFile: string;
  port = 0;
  private process: ChildProcess | undefined;
  private backend: PgbouncerBackend | undefined;
  private adminClient: PgClient | undefined;
  /** A pgbouncer started by another process (a persistent sandbox), known by its pid only. */
  private adoptedPid: number | undefined;

  constructor(private readonly options: { baseDir: string; group: ProcessGroup; log: Logger; database: string; admin: PgbouncerUser; users: PgbouncerUser[]; poolSize?: number }) {
    this.dir = join(options.baseDir, 'pgbouncer');
    this.configFile = join(this.dir, 'pgbouncer.ini');
  }

  get database(): string {
    return this.options.database;
  }

  /** Where the pooled database currently points. */
  get currentBackend(): PgbouncerBackend | undefined {
    return this.backend;
  }

  /** `port`: a restart on the port the application already uses (@default - a free port). */
  async start(backend: PgbouncerBackend, port?: number): Promise<void> {
    postgresOwnedDir(this.dir);
    this.port = port ?? (await freePort());
    const authFile = join(this.dir, 'userlist.txt');
    const quote = (value: string) => `"${value.replace(/"/g, '""')}"`;
    const users = [this.options.admin, ...this.options.users];
    this.writeOwned(authFile, users.map((u) => `${quote(u.name)} ${quote(u.password)}`).join('\n') + '\n');
    this.writeConfig(backend);
    const [command, args] = postgresServerCommand(this.options.group, '/usr/sbin/pgbouncer', [this.configFile]);
    this.process = this.options.group.start('pgbouncer', command, args);
    this.adoptedPid = undefined;
    const child = this.process;
    let onExit: (code: number | null) => void = () => undefined;
    const exited = new Promise<never>((_, reject) => {
      onExit = (code) => reject(new Error(`pgbouncer exited with code ${code} while starting:\n${this.options.group.tail(child)}`));
      child.once('exit', onExit);
    });
    await Promise.race([waitFor('pgbouncer admin console', async () => (await this.command('SHOW VERSION')) && true, { timeoutMs: 15000, intervalMs: 50 }), exited]);
    child.off('exit', onExit);
    this.options.log.debug(`pgbouncer listening on 127.0.0.1:${this.port}, ${this.options.database} -> ${backend.host}:${backend.port}`);
  }

  /** The application's view through the pooler, as one of the pooled users. */
  endpoint(user: PgbouncerUser): PostgresEndpoint {
    return { name: 'endpoint', host: '127.0.0.1', port: this.port, user: user.name, password: user.password, database: this.options.database };
  }

  /** One admin-console command on a kept-open connection (simple query protocol). */
  async command(sql: string): Promise<Array<Record<string, unknown>>> {
    if (!this.adminClient) {
      this.adminClient = await connectPg({ ...this.endpoint(this.options.admin), database: 'pgbouncer' }, { connectTimeoutMs: 2000 });
    }
    try {
      return (await this.adminClient.query(sql)).rows;
    } catch (error) {
      const broken = this.adminClient;
      this.adminClient = undefined;
      await closePg(broken);
      throw error;
    }
  }

  /**
   * Hold new transactions of the pooled database: pgbouncer waits for running transactions
   * to end, closes its server connections and queues clients (they see a pause, no error).
   * Gives up after `timeoutMs` (and resumes) if a transaction does not end.
   */
  async pause(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const paused = this.command(`PAUSE ${this.options.database}`).then(() => true as const);
    const outcome = await Promise.race([paused, timedOut]);
    clearTimeout(timer);
    if (!outcome) {
      paused.catch(() => undefined);
      // The console connection still waits on PAUSE: drop it and resume from a fresh one.
      const stuck = this.adminClient;
      this.adminClient = undefined;
      await this.resume();
      await closePg(stuck);
    }
    return outcome;
  }

  /** Let queued clients go on (from a pause or an unfinished PAUSE). */
  async resume(): Promise<void> {
    const admin = await connectPg({ ...this.endpoint(this.options.admin), database: 'pgbouncer' }, { connectTimeoutMs: 2000 });
    try {
      await admin.query(`RESUME ${this.options.database}`).catch((error: Error) => {
        if (!/not paused/i.test(error.message)) throw error;
      });
    } finally {
      await closePg(admin);
    }
  }

  /** Resume on the console connection (fast path, inside the switch). */
  async resumeNow(): Promise<void> {
    await this.command(`RESUME ${this.options.database}`);
  }

  /** Point the pooled database at another server: new ini atomically in place, then RELOAD. */
  async repoint(backend: PgbouncerBackend): Promise<void> {
    this.writeConfig(backend);
    await this.command('RELOAD');
  }

  /** Server addresses pgbouncer uses for the pooled database (from SHOW DATABASES). */
  async showDatabase(): Promise<{ host: string; port: number; paused: boolean } | undefined> {
    const rows = await this.command('SHOW DATABASES');
    const row = rows.find((r) => r.name === this.options.database);
    return row ? { host: String(row.host), port: Number(row.port), paused: Number(row.paused) === 1 } : undefined;
  }

  /** Take over a pgbouncer another process started (a persistent sandbox): its port, pid and backend. */
  adopt(port: number, pid: number, backend: PgbouncerBackend): void {
    this.port = port;
    this.adoptedPid = pid;
    this.backend = backend;
  }

  async stop(): Promise<void> {
    await closePg(this.adminClient);
    this.adminClient = undefined;
    if (this.process) await this.options.group.stopProcess(this.process, 5000);
    else if (this.adoptedPid !== undefined) await ProcessGroup.stopPid(this.adoptedPid, this.dir, 5000);
    this.process = undefined;
    this.adoptedPid = undefined;
  }

  /** Close the kept admin-console connection (the end of a run against a persistent sandbox). */
  async disconnect(): Promise<void> {
    await closePg(this.adminClient);
    this.adminClient = undefined;
  }

  get pid(): number | undefined {
    return this.process?.pid ?? this.adoptedPid;
  }

  private writeConfig(backend: PgbouncerBackend): void {
    const next = join(this.dir, 'pgbouncer.ini.next');
    this.writeOwned(next, `[databases]
${this.options.database} = host=${backend.host} port=${backend.port} dbname=${backend.dbname}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${this.port}
unix_socket_dir = ${this.dir}
auth_type = scram-sha-256
auth_file = ${join(this.dir, 'userlist.txt')}
admin_users = ${this.options.admin.name}
pool_mode = transaction
default_pool_size = ${this.options.poolSize ?? 20}
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
server_lifetime = 3600
query_wait_timeout = 120
; After a failed server login pgbouncer waits this long before trying again (default 15 s):
; during a cutover that wait is pure write downtime.
server_login_retry = 0.05
log_connections = 0
log_disconnections = 0
`);
    renameSync(next, this.configFile);
    this.backend = backend;
  }

  private writeOwned(path: string, content: string): void {
    writeFileSync(path, content, { mode: 0o600 });
    const { uid, gid } = osUser();
    chownSync(path, uid, gid);
  }
}
