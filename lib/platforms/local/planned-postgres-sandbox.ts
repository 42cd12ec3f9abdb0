import type { PostgresEndpoint } from '../../engines/postgres/endpoint';
import type { PgRecorder } from '../../engines/postgres/recording-client';
import type { PgbouncerBackend, PgbouncerUser } from './pgbouncer';
import type { LocalPostgresServer, LocalPostgresServers } from './local-postgres-platform';
import { createAppRole, PG_SANDBOX_APP_USER, PG_SANDBOX_DATABASE, PG_SANDBOX_SOURCE_VERSION } from './postgres-sandbox';
import { initdbArguments } from './postgres-instance';

/**
 * The local world for the dry-run plan (`--env local --engine postgres` without --execute): the
 * same LocalPostgresPlatform code a rehearsal runs, on a stand-in of the sandbox that records
 * what would be done and does nothing. initdb and the server start are recorded as command
 * lines, the pooler's console commands (PAUSE, RELOAD, RESUME, SHOW DATABASES) as statements
 * to `pgbouncer`, its ini rewrite as a change; every server endpoint carries the plan's
 * recorder, so the platform's SQL (ALTER SYSTEM + pg_reload_conf(), the roles, CREATE
 * DATABASE) and the flow's go through recording clients. Nothing starts, nothing is written.
 *
 * The stand-in answers as a fresh sandbox would: a PostgreSQL source behind pgbouncer, no
 * target until the flow creates it; ports are named run-time values (`<target port>`).
 */
export class PlannedPostgresSandbox implements LocalPostgresServers {
  readonly app: PgbouncerUser;
  private readonly servers = new Map<string, LocalPostgresServer>();
  private backend: { port: number; paused: boolean };

  constructor(private readonly recorder: PgRecorder, options: { version?: number; existing?: Array<{ name: string; version: number }> } = {}) {
    const { values } = recorder.options;
    this.app = { name: PG_SANDBOX_APP_USER, password: values.text('application role password (the same on every server)') };
    for (const server of options.existing ?? [{ name: 'source', version: options.version ?? PG_SANDBOX_SOURCE_VERSION }]) this.servers.set(server.name, this.server(server.name, server.version));
    this.backend = { port: this.servers.get('source')?.port ?? 0, paused: false };
  }

  readonly instances = {
    find: (name: string) => this.servers.get(name),
    has: (name: string) => this.servers.has(name),
  };

  instance(name: string): LocalPostgresServer {
    const server = this.servers.get(name);
    if (!server) throw new Error(`No server named ${name} in the sandbox`);
    return server;
  }

  async newInstance(name: string, version: number): Promise<LocalPostgresServer> {
    const server = this.server(name, version);
    this.recorder.process(name, 'initdb', initdbArguments(`<${name} data folder>`, '<superuser password file, removed after>'), 'change');
    this.recorder.process(name, 'postgres', ['-D', `<${name} data folder>`, `(PostgreSQL ${version}, port ${server.port})`], 'change');
    this.servers.set(name, server);
    return server;
  }

  async removeInstance(name: string): Promise<void> {
    if (!this.servers.has(name)) return;
    this.recorder.process(name, 'stop', [`postgres -D <${name} data folder>`, 'then rm -rf', `<${name} server folder>`], 'change');
    this.servers.delete(name);
  }

  async createAppRole(instance: LocalPostgresServer, options: { login?: boolean } = {}): Promise<void> {
    await createAppRole(instance.endpoint(), this.app, options);
  }

  readonly pgbouncer = {
    command: async (sql: string): Promise<Array<Record<string, unknown>>> => {
      this.console(sql, /^SHOW\b/i.test(sql) ? 'read' : 'change');
      if (/^SHOW DATABASES$/i.test(sql)) return [{ name: PG_SANDBOX_DATABASE, host: '127.0.0.1', port: this.backend.port, paused: this.backend.paused ? 1 : 0 }];
      if (/^PAUSE\b/i.test(sql)) this.backend.paused = true;
      if (/^RESUME\b/i.test(sql)) this.backend.paused = false;
      return [];
    },
    pause: async (_timeoutMs: number): Promise<boolean> => {
      await this.pgbouncer.command(`PAUSE ${PG_SANDBOX_DATABASE}`);
      return true;
    },
    resume: async (): Promise<void> => {
      await this.pgbouncer.command(`RESUME ${PG_SANDBOX_DATABASE}`);
    },
    resumeNow: async (): Promise<void> => {
      await this.pgbouncer.command(`RESUME ${PG_SANDBOX_DATABASE}`);
    },
    repoint: async (backend: PgbouncerBackend): Promise<void> => {
      this.recorder.options.record({ server: 'pgbouncer', channel: 'process', text: `rewrite pgbouncer.ini (renamed into place): [databases] ${PG_SANDBOX_DATABASE} = host=${backend.host} port=${backend.port} dbname=${backend.dbname}`, effect: 'change' });
      this.backend = { ...this.backend, port: backend.port };
      await this.pgbouncer.command('RELOAD');
    },
    showDatabase: async (): Promise<{ host: string; port: number; paused: boolean } | undefined> => {
      const [row] = await this.pgbouncer.command('SHOW DATABASES');
      return { host: String(row.host), port: Number(row.port), paused: Number(row.paused) === 1 };
    },
  };

  private console(sql: string, effect: 'read' | 'change'): void {
    this.recorder.options.record({ server: 'pgbouncer', channel: 'sql', text: sql, effect });
  }

  private server(name: string, version: number): LocalPostgresServer {
    const recorder = this.recorder;
    const port = recorder.options.values.number(`${name} port`);
    return {
      version,
      port,
      endpoint: (database = 'postgres'): PostgresEndpoint => ({ name, host: '127.0.0.1', port, user: 'postgres', password: '', database, pgRecorder: recorder }),
      serverLog: () => '',
    };
  }
}
