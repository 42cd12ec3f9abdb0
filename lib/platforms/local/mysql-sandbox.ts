import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup } from '../../util/process-group';
import { generatePassword, registerSecret } from '../../util/secrets';
import type { Logger } from '../../util/log';
import { connect } from '../../engines/mysql/connection';
import type { MysqlEndpoint } from '../../engines/mysql/endpoint';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from './debian-packages';
import { MariadbInstance } from './mariadb-instance';
import { Haproxy } from './haproxy';
import { InstanceRegistry } from './instance-registry';
import { markRehearsalOwner, readSandboxState, removeAbandonedRehearsals, writeSandboxState, type SandboxState, REHEARSAL_OWNER_FILE } from './sandbox-state';

export const SANDBOX_DATABASE = 'app';
export const SANDBOX_APP_USER = 'app';

export interface MysqlSandboxOptions {
  log: Logger;
  /** Rows of sample customers (orders are three times as many). */
  seedRows?: number;
  /** Keep the temp folder after stopping (for debugging a failed rehearsal). */
  keepFiles?: boolean;
  /**
   * A sandbox that outlives this process (`npm run sandbox -- up`): servers live in this
   * folder, have no parent-death signal, and are recorded in its sandbox.json.
   * @default - a fresh temp folder whose servers die with this process
   */
  persistentFolder?: string;
}

const SECRET_ROOT = 'mysqlRootPassword';
const SECRET_APP = 'mysqlAppPassword';

/**
 * The local world a MySQL-family rehearsal runs in: a MariaDB source with sample data and an
 * application account, HAProxy in front of it as the application's endpoint, and room for the
 * replica and target servers the flow creates. Everything lives in a fresh temp folder on
 * free loopback ports and is stopped by `stop()` (also on Ctrl-C, through ProcessGroup).
 */
export class MysqlSandbox {
  readonly group: ProcessGroup;
  readonly baseDir: string;
  readonly rootPassword: string;
  readonly appPassword: string;
  readonly instances = new InstanceRegistry<MariadbInstance>();
  readonly haproxy: Haproxy;
  private stopped = false;
  private createdAt = new Date().toISOString();

  private constructor(private readonly options: MysqlSandboxOptions, secrets?: { root: string; app: string }) {
    if (options.persistentFolder) {
      this.baseDir = options.persistentFolder;
      mkdirSync(join(this.baseDir, 'logs'), { recursive: true, mode: 0o700 });
      this.group = new ProcessGroup({ persistentLogDir: join(this.baseDir, 'logs') });
    } else {
      this.baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-mysql-'));
      markRehearsalOwner(this.baseDir);
      this.group = new ProcessGroup(options.keepFiles ? {} : { removeOnHardStop: this.baseDir });
    }
    this.rootPassword = secrets?.root ?? generatePassword();
    this.appPassword = secrets?.app ?? generatePassword();
    this.haproxy = new Haproxy({ baseDir: this.baseDir, group: this.group, log: options.log });
  }

  /** True for a sandbox that outlives this process (`npm run sandbox -- up`). */
  get persistent(): boolean {
    return this.options.persistentFolder !== undefined;
  }

  get log(): Logger {
    return this.options.log;
  }

  static async start(options: MysqlSandboxOptions): Promise<MysqlSandbox> {
    ensureDebianPackages(MARIADB_REQUIREMENTS, options.log);
    if (!options.persistentFolder) {
      const removed = await removeAbandonedRehearsals();
      if (removed.length > 0) options.log.info(`removed ${removed.length} sandbox folder(s) left by killed rehearsals: ${removed.join(', ')}`);
    }
    const sandbox = new MysqlSandbox(options);
    try {
      const source = sandbox.newInstance('source', 1);
      await source.initialise();
      await sandbox.seed(source.endpoint(), options.seedRows ?? 20000);
      await sandbox.haproxy.start({ host: '127.0.0.1', port: source.port });
      sandbox.saveState();
      options.log.info(`sandbox: source MariaDB on 127.0.0.1:${source.port}, application endpoint (HAProxy) on 127.0.0.1:${sandbox.haproxy.port}, files in ${sandbox.baseDir}`);
      return sandbox;
    } catch (error) {
      await sandbox.stop();
      throw error;
    }
  }

  /**
   * A sandbox another process brought up (`npm run sandbox -- up`), read from its folder: the
   * servers keep running when this process ends, and servers it adds (replica, target) do too,
   * so that a killed run can be resumed against them.
   */
  static attach(folder: string, log: Logger): MysqlSandbox {
    const recorded = readSandboxState(folder);
    if (!recorded || recorded.state.engine !== 'mysql') throw new Error(`No MySQL sandbox in ${folder}: start one with npm run sandbox -- up --engine mysql`);
    const { state, secrets } = recorded;
    const sandbox = new MysqlSandbox({ log, persistentFolder: folder }, { root: registerSecret(secrets[SECRET_ROOT]), app: registerSecret(secrets[SECRET_APP]) });
    sandbox.createdAt = state.createdAt;
    for (const server of state.servers) sandbox.newInstance(server.name, server.serverId ?? 1).adopt(server.port, server.pid);
    sandbox.haproxy.adopt(state.endpoint.port, state.endpoint.pid);
    return sandbox;
  }

  /** A new server; `readOnlyAtStartup` for clones of the source (replica, target): see MariadbInstanceOptions. */
  newInstance(name: string, serverId: number, options: { readOnlyAtStartup?: boolean } = {}): MariadbInstance {
    return this.instances.add(name, new MariadbInstance({ name, baseDir: this.baseDir, serverId, rootPassword: this.rootPassword, group: this.group, log: this.options.log, onStarted: () => this.saveState(), ...options }));
  }

  /** An empty folder in the sandbox for a backup: whatever a killed run left there is removed. */
  freshFolder(name: string): string {
    const folder = join(this.baseDir, name);
    rmSync(folder, { recursive: true, force: true });
    return folder;
  }

  instance(name: string): MariadbInstance {
    return this.instances.get(name);
  }

  async removeInstance(name: string): Promise<void> {
    await this.instances.remove(name);
    this.saveState();
  }

  /** A persistent sandbox records where its servers run (also right after each start). */
  private saveState(): void {
    if (!this.persistent) return;
    const state: SandboxState = {
      engine: 'mysql',
      createdAt: this.createdAt,
      folder: this.baseDir,
      serversDir: this.baseDir,
      endpoint: { kind: 'haproxy', host: '127.0.0.1', port: this.haproxy.port, pid: this.haproxy.pid ?? 0, user: SANDBOX_APP_USER, database: SANDBOX_DATABASE },
      servers: this.instances.values().filter((i) => i.pid !== undefined).map((i) => ({ name: i.name, pid: i.pid!, port: i.port, serverId: i.serverId })),
    };
    writeSandboxState(state, { [SECRET_ROOT]: this.rootPassword, [SECRET_APP]: this.appPassword });
  }

  /** Let go of a persistent sandbox without stopping anything (the end of a run against it). */
  detach(): void {
    this.stopped = true;
  }

  /** The application's view: the app account through the switch point. */
  appEndpoint(): MysqlEndpoint {
    return { name: 'endpoint', host: '127.0.0.1', port: this.haproxy.port, user: SANDBOX_APP_USER, password: this.appPassword };
  }

  /** The administrator through the switch point (reads whatever server traffic goes to). */
  adminEndpoint(): MysqlEndpoint {
    return { name: 'endpoint', host: '127.0.0.1', port: this.haproxy.port, user: 'root', password: this.rootPassword };
  }

  pids(): number[] {
    return this.group.pids();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.persistent) {
      // Servers of a persistent sandbox may have been started by other processes: stop by pid.
      await this.haproxy.stop().catch(() => undefined);
      for (const instance of this.instances.values().reverse()) await instance.stop().catch(() => undefined);
    }
    await this.group.stopAll();
    // A kept folder is the user's (--keep-sandbox): without its owner file no later rehearsal takes it for abandoned.
    if (this.options.keepFiles) rmSync(join(this.baseDir, REHEARSAL_OWNER_FILE), { force: true });
    else rmSync(this.baseDir, { recursive: true, force: true });
  }

  private async seed(endpoint: MysqlEndpoint, customers: number): Promise<void> {
    const connection = await connect(endpoint);
    try {
      const password = connection.escape(this.appPassword);
      await connection.query('SET SESSION max_recursive_iterations = 100000000');
      await connection.query(`CREATE DATABASE ${SANDBOX_DATABASE}`);
      await connection.query(`CREATE USER '${SANDBOX_APP_USER}'@'127.0.0.1' IDENTIFIED BY ${password}`);
      await connection.query(`GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON ${SANDBOX_DATABASE}.* TO '${SANDBOX_APP_USER}'@'127.0.0.1'`);
      await connection.query(`CREATE TABLE ${SANDBOX_DATABASE}.customers (
        id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, email VARCHAR(120) NOT NULL UNIQUE, name VARCHAR(80) NOT NULL,
        balance DECIMAL(12,2) NOT NULL DEFAULT 0, note TEXT NULL, created_at DATETIME(6) NOT NULL) ENGINE=InnoDB`);
      await connection.query(`CREATE TABLE ${SANDBOX_DATABASE}.orders (
        id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, customer_id INT UNSIGNED NOT NULL, amount DECIMAL(12,2) NOT NULL,
        status ENUM('new','paid','shipped') NOT NULL, payload VARBINARY(32) NULL, created_at DATETIME(6) NOT NULL, KEY (customer_id)) ENGINE=InnoDB`);
      // No primary key on purpose: preflight lists it, checksums still compare it.
      await connection.query(`CREATE TABLE ${SANDBOX_DATABASE}.audit_log (at DATETIME(6) NOT NULL, message VARCHAR(200) NOT NULL) ENGINE=InnoDB`);
      await connection.query(`CREATE TABLE ${SANDBOX_DATABASE}.cutover_load (
        id BIGINT UNSIGNED PRIMARY KEY, client SMALLINT UNSIGNED NOT NULL, seq INT UNSIGNED NOT NULL,
        payload VARCHAR(64) NOT NULL, written_at DATETIME(6) NOT NULL) ENGINE=InnoDB`);
      await connection.query(`INSERT INTO ${SANDBOX_DATABASE}.customers (email, name, balance, note, created_at)
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${customers})
        SELECT CONCAT('user', i, '@example.com'), CONCAT('Customer ', i), (i * 37) % 10000 / 100, IF(i % 7 = 0, NULL, REPEAT('x', i % 50)),
               TIMESTAMP('2026-01-01') + INTERVAL i SECOND FROM n`);
      await connection.query(`INSERT INTO ${SANDBOX_DATABASE}.orders (customer_id, amount, status, payload, created_at)
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${customers * 3})
        SELECT 1 + i % ${customers}, (i * 13) % 100000 / 100, ELT(1 + i % 3, 'new', 'paid', 'shipped'), UNHEX(MD5(i)),
               TIMESTAMP('2026-02-01') + INTERVAL i SECOND FROM n`);
      await connection.query(`INSERT INTO ${SANDBOX_DATABASE}.audit_log
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
        SELECT TIMESTAMP('2026-03-01') + INTERVAL i MINUTE, CONCAT('event ', i) FROM n`);
    } finally {
      await connection.end();
    }
  }
}
