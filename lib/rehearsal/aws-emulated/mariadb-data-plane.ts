import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AwsClients } from '../../platforms/aws/clients';
import { MariadbInstance } from '../../platforms/local/mariadb-instance';
import { Haproxy } from '../../platforms/local/haproxy';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from '../../platforms/local/debian-packages';
import { ProcessGroup } from '../../util/process-group';
import { freePort } from '../../util/ports';
import { generatePassword } from '../../util/secrets';
import { sleep } from '../../util/time';
import type { Logger } from '../../util/log';
import { connect, type Connection } from '../../engines/mysql/connection';
import { installRdsProcedures } from './rds-procedures';
import { makeLocalCertificates } from './local-certificates';

/**
 * A tunnel (as SSM port forwarding would be) that exists before the instance behind it: it
 * accepts connections at once and holds them until `open(port)` says where the local server
 * standing in for the instance listens. The emulator reports a new instance `available` at
 * once, while the local server still has to be made; the flow's first connection then waits
 * here instead of failing.
 */
export class HoldingTunnel {
  port = 0;
  private server: Server | undefined;
  private backend: number | undefined;
  private waiting: Array<() => void> = [];
  private readonly sockets = new Set<Socket>();

  async listen(): Promise<void> {
    this.port = await freePort();
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => this.server!.once('error', reject).listen(this.port, '127.0.0.1', () => resolve()));
  }

  open(backendPort: number): void {
    this.backend = backendPort;
    for (const wake of this.waiting.splice(0)) wake();
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    const pipe = () => {
      if (client.destroyed) return;
      const upstream = netConnect(this.backend!, '127.0.0.1');
      this.sockets.add(upstream);
      upstream.once('close', () => (this.sockets.delete(upstream), client.destroy()));
      upstream.on('error', () => upstream.destroy());
      client.once('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    };
    if (this.backend !== undefined) pipe();
    else this.waiting.push(pipe);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** What every MariaDB data plane is given: the log, the master user's password, how many customers to seed. */
export interface MariadbDataPlaneOptions {
  log: Logger;
  adminPassword: string;
  seedRows?: number;
}

/**
 * What the RDS MySQL and the Aurora MySQL data planes share: local MariaDB servers (one per
 * instance or cluster, TLS from a local CA), a tunnel per emulated resource, HAProxy as the
 * application's endpoint, and a loop that polls the emulator and supplies each data effect once
 * when its cause shows up (`step`, per data plane).
 */
export abstract class MariadbDataPlane<Options extends MariadbDataPlaneOptions> {
  readonly group = new ProcessGroup();
  readonly baseDir: string;
  readonly rootPassword = generatePassword();
  readonly appPassword = generatePassword();
  readonly tunnels = new Map<string, HoldingTunnel>();
  readonly servers = new Map<string, MariadbInstance>();
  readonly haproxy: Haproxy;
  /** What the harness did, in order (for test assertions and failure messages). */
  readonly events: string[] = [];
  readonly errors: Error[] = [];
  protected readonly replicationPassword = generatePassword();
  protected tls!: { caFile: string; certFile: string; keyFile: string };
  private readonly handled = new Set<string>();
  private following = false;
  private follower: Promise<void> | undefined;

  protected constructor(
    protected readonly options: Options,
    tempPrefix: string,
    /** The server version the servers report (e.g. Aurora MySQL's 8.0.23). @default - MariaDB's own */
    private readonly reportedVersion?: string,
  ) {
    this.baseDir = mkdtempSync(join(tmpdir(), tempPrefix));
    this.haproxy = new Haproxy({ baseDir: this.baseDir, group: this.group, log: options.log });
  }

  get caFile(): string {
    return this.tls.caFile;
  }

  /** `aws.tunnels` of the environment: resource id → the tunnel's address. */
  tunnelConfig(): Record<string, string> {
    return Object.fromEntries([...this.tunnels].map(([id, tunnel]) => [id, `127.0.0.1:${tunnel.port}`]));
  }

  /** The application's endpoint and account (what the write load uses). */
  appEndpoint() {
    return { host: '127.0.0.1', port: this.haproxy.port, user: 'app', password: this.appPassword };
  }

  /** Root on the server standing in for an instance or cluster (reads the data, not through the flow). */
  rootConnection(id: string): Promise<Connection> {
    return connect(this.servers.get(id)!.endpoint(), { database: 'app' });
  }

  /**
   * The source server, seeded with RDS's procedures, behind its tunnel and HAProxy (the
   * application's endpoint); a tunnel, not yet open, for each of the other resources.
   */
  protected async startSource(sourceId: string, otherIds: string[]): Promise<MariadbInstance> {
    ensureDebianPackages(MARIADB_REQUIREMENTS, this.options.log);
    this.tls = makeLocalCertificates(join(this.baseDir, 'tls'));
    for (const id of [sourceId, ...otherIds]) {
      const tunnel = new HoldingTunnel();
      await tunnel.listen();
      this.tunnels.set(id, tunnel);
    }
    const source = this.newServer(sourceId, 1);
    await source.initialise();
    const root = await connect(source.endpoint());
    try {
      await seed(root, { adminPassword: this.options.adminPassword, appPassword: this.appPassword, replicationPassword: this.replicationPassword, rows: this.options.seedRows ?? 2000 });
      await installRdsProcedures(root);
      await root.query("CALL mysql.rds_set_configuration('binlog retention hours', 24)");
    } finally {
      await root.end();
    }
    this.tunnels.get(sourceId)!.open(source.port);
    await this.haproxy.start({ host: '127.0.0.1', port: source.port });
    return source;
  }

  /** Poll the emulator and supply each data effect when its cause shows up. */
  follow(clients: AwsClients, targetClients?: AwsClients): void {
    this.following = true;
    this.follower = (async () => {
      while (this.following) {
        try {
          await this.step(clients, targetClients);
        } catch (error) {
          this.errors.push(error as Error);
          this.options.log.warn(`emulated data plane: ${(error as Error).message}`);
        }
        await sleep(50);
      }
    })();
  }

  /** One look at the emulator: supply what newly appeared. */
  protected abstract step(clients: AwsClients, targetClients?: AwsClients): Promise<void>;

  /** True the first time `what` is seen (and recorded in `events`), false after. */
  protected once(what: string): boolean {
    if (this.handled.has(what)) return false;
    this.handled.add(what);
    this.events.push(what);
    return true;
  }

  protected wasHandled(what: string): boolean {
    return this.handled.has(what);
  }

  protected newServer(id: string, serverId: number): MariadbInstance {
    const server = new MariadbInstance({ name: id, baseDir: this.baseDir, serverId, rootPassword: this.rootPassword, group: this.group, log: this.options.log, tls: this.tls, ...(this.reportedVersion ? { reportedVersion: this.reportedVersion } : {}) });
    this.servers.set(id, server);
    return server;
  }

  async stopFollowing(): Promise<void> {
    this.following = false;
    await this.follower;
  }

  pids(): number[] {
    return this.group.pids();
  }

  async stop(): Promise<void> {
    await this.stopFollowing();
    for (const tunnel of this.tunnels.values()) await tunnel.close();
    await this.group.stopAll();
    rmSync(this.baseDir, { recursive: true, force: true });
  }
}

/** The source's data and accounts: the master user (as RDS creates it), the application's, RDS's own replication account. */
export async function seed(root: Connection, options: { adminPassword: string; appPassword: string; replicationPassword: string; rows: number }): Promise<void> {
  await createAccounts(root, options);
  await root.query('SET SESSION max_recursive_iterations = 1000000');
  await root.query('CREATE DATABASE app');
  await root.query('CREATE TABLE app.customers (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, email VARCHAR(120) NOT NULL UNIQUE, balance DECIMAL(12,2) NOT NULL) ENGINE=InnoDB');
  await root.query('CREATE TABLE app.cutover_load (id BIGINT UNSIGNED PRIMARY KEY, client SMALLINT UNSIGNED NOT NULL, seq INT UNSIGNED NOT NULL, payload VARCHAR(64) NOT NULL, written_at DATETIME(6) NOT NULL) ENGINE=InnoDB');
  await root.query(`INSERT INTO app.customers (email, balance)
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${options.rows})
    SELECT CONCAT('user', i, '@example.com'), (i * 37) % 10000 / 100 FROM n`);
}

/** The accounts RDS and the application have on the source (a restored copy has the same). */
export async function createAccounts(root: Connection, options: { adminPassword: string; appPassword: string; replicationPassword: string }): Promise<void> {
  await root.query(`CREATE USER admin@'127.0.0.1' IDENTIFIED BY ${root.escape(options.adminPassword)}`);
  await root.query(`GRANT ALL PRIVILEGES ON *.* TO admin@'127.0.0.1' WITH GRANT OPTION`);
  await root.query(`CREATE USER rds_replication@'127.0.0.1' IDENTIFIED BY ${root.escape(options.replicationPassword)}`);
  await root.query(`GRANT REPLICATION SLAVE ON *.* TO rds_replication@'127.0.0.1'`);
  await root.query(`CREATE USER app@'127.0.0.1' IDENTIFIED BY ${root.escape(options.appPassword)}`);
  await root.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO app@'127.0.0.1'`);
}
