import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup } from '../../util/process-group';
import { generatePassword } from '../../util/secrets';
import type { Logger } from '../../util/log';
import { connect } from '../../engines/mysql/connection';
import type { MysqlEndpoint } from '../../engines/mysql/endpoint';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from './debian-packages';
import { MariadbInstance } from './mariadb-instance';
import { Haproxy } from './haproxy';
import { InstanceRegistry } from './instance-registry';

export const SANDBOX_DATABASE = 'app';
export const SANDBOX_APP_USER = 'app';

export interface MysqlSandboxOptions {
  log: Logger;
  /** Rows of sample customers (orders are three times as many). */
  seedRows?: number;
  /** Keep the temp folder after stopping (for debugging a failed rehearsal). */
  keepFiles?: boolean;
}

/**
 * The local world a MySQL-family rehearsal runs in: a MariaDB source with sample data and an
 * application account, HAProxy in front of it as the application's endpoint, and room for the
 * replica and target servers the flow creates. Everything lives in a fresh temp folder on
 * free loopback ports and is stopped by `stop()` (also on Ctrl-C, through ProcessGroup).
 */
export class MysqlSandbox {
  readonly group = new ProcessGroup();
  readonly baseDir: string;
  readonly rootPassword = generatePassword();
  readonly appPassword = generatePassword();
  readonly instances = new InstanceRegistry<MariadbInstance>();
  readonly haproxy: Haproxy;
  private stopped = false;

  private constructor(private readonly options: MysqlSandboxOptions) {
    this.baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-mysql-'));
    this.haproxy = new Haproxy({ baseDir: this.baseDir, group: this.group, log: options.log });
  }

  get log(): Logger {
    return this.options.log;
  }

  static async start(options: MysqlSandboxOptions): Promise<MysqlSandbox> {
    ensureDebianPackages(MARIADB_REQUIREMENTS, options.log);
    const sandbox = new MysqlSandbox(options);
    try {
      const source = sandbox.newInstance('source', 1);
      await source.initialise();
      await sandbox.seed(source.endpoint(), options.seedRows ?? 20000);
      await sandbox.haproxy.start({ host: '127.0.0.1', port: source.port });
      options.log.info(`sandbox: source MariaDB on 127.0.0.1:${source.port}, application endpoint (HAProxy) on 127.0.0.1:${sandbox.haproxy.port}, files in ${sandbox.baseDir}`);
      return sandbox;
    } catch (error) {
      await sandbox.stop();
      throw error;
    }
  }

  newInstance(name: string, serverId: number): MariadbInstance {
    return this.instances.add(name, new MariadbInstance({ name, baseDir: this.baseDir, serverId, rootPassword: this.rootPassword, group: this.group, log: this.options.log }));
  }

  instance(name: string): MariadbInstance {
    return this.instances.get(name);
  }

  removeInstance(name: string): Promise<void> {
    return this.instances.remove(name);
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
    await this.group.stopAll();
    if (!this.options.keepFiles) rmSync(this.baseDir, { recursive: true, force: true });
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
