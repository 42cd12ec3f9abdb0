import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { DescribeDBInstancesCommand, DescribeDBProxyTargetsCommand, DescribeDBSnapshotsCommand, type DBInstance } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
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
import { installRdsProcedures, mapEndpoint } from './rds-procedures';

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

export interface EmulatedIds {
  sourceInstanceId: string;
  replicaInstanceId: string;
  targetInstanceId: string;
  recordName: string;
  zoneId: string;
  /** With an RDS Proxy as the switch point: its name (HAProxy stands in for its endpoint). */
  proxyName?: string;
}

/**
 * Local MariaDB servers standing in for the RDS instances of an emulated account, and the
 * effects the emulator cannot have, supplied when the emulator shows their cause:
 * - a read replica appears → a copy of the source (mariadb-backup) that replicates from it;
 * - a snapshot of the replica appears → a backup of the (stopped) replica, the snapshot's data;
 * - a restored instance appears → a server made from that backup, with RDS's procedures and
 *   the source's endpoint name mapped to the source (VPC name resolution);
 * - the Route 53 record changes → the application's endpoint (HAProxy) follows it, as DNS does;
 *   with an RDS Proxy (`ids.proxyName`) HAProxy stands in for the proxy's endpoint instead and
 *   follows its target group (DescribeDBProxyTargets), both ways (switch and switch back).
 * Every server serves TLS with a certificate of a local CA (`caFile`), so the AWS platform's
 * connections run as on AWS: TLS required and verified against `aws.tlsCaFile`.
 */
export class EmulatedDataPlane {
  readonly group = new ProcessGroup();
  readonly baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-emulated-'));
  readonly rootPassword = generatePassword();
  readonly appPassword = generatePassword();
  readonly tunnels = new Map<string, HoldingTunnel>();
  readonly servers = new Map<string, MariadbInstance>();
  readonly haproxy: Haproxy;
  /** What the harness did, in order (for test assertions and failure messages). */
  readonly events: string[] = [];
  readonly errors: Error[] = [];
  private readonly snapshotData = new Map<string, string>();
  private readonly handled = new Set<string>();
  private following = false;
  private follower: Promise<void> | undefined;
  private tls!: { caFile: string; certFile: string; keyFile: string };
  private replicationPassword = generatePassword();
  private nextServerId = 2;
  /** Where the application's endpoint sends connections now (HAProxy slot blue = source, green = target). */
  private pointsAt: 'source' | 'target' = 'source';

  constructor(
    private readonly options: { log: Logger; adminPassword: string; ids: EmulatedIds; seedRows?: number },
  ) {
    this.haproxy = new Haproxy({ baseDir: this.baseDir, group: this.group, log: options.log });
  }

  get caFile(): string {
    return this.tls.caFile;
  }

  /** The source server, seeded, behind HAProxy (the application's endpoint) and its tunnel; a tunnel per instance id. */
  async start(): Promise<void> {
    ensureDebianPackages(MARIADB_REQUIREMENTS, this.options.log);
    this.tls = makeLocalCertificates(join(this.baseDir, 'tls'));
    const ids = this.options.ids;
    for (const id of [ids.sourceInstanceId, ids.replicaInstanceId, ids.targetInstanceId, ...(ids.proxyName ? [ids.proxyName] : [])]) {
      const tunnel = new HoldingTunnel();
      await tunnel.listen();
      this.tunnels.set(id, tunnel);
    }
    const source = this.newServer(ids.sourceInstanceId, 1);
    await source.initialise();
    const root = await connect(source.endpoint());
    try {
      await seed(root, { adminPassword: this.options.adminPassword, appPassword: this.appPassword, replicationPassword: this.replicationPassword, rows: this.options.seedRows ?? 2000 });
      await installRdsProcedures(root);
      await root.query("CALL mysql.rds_set_configuration('binlog retention hours', 24)");
    } finally {
      await root.end();
    }
    this.tunnels.get(ids.sourceInstanceId)!.open(source.port);
    await this.haproxy.start({ host: '127.0.0.1', port: source.port });
    // The scripts reach the proxy's endpoint through its tunnel, as the application does.
    if (ids.proxyName) this.tunnels.get(ids.proxyName)!.open(this.haproxy.port);
  }

  /** `aws.tunnels` of the environment: instance id → the tunnel's address. */
  tunnelConfig(): Record<string, string> {
    return Object.fromEntries([...this.tunnels].map(([id, tunnel]) => [id, `127.0.0.1:${tunnel.port}`]));
  }

  /** The application's endpoint and account (what the write load uses). */
  appEndpoint() {
    return { host: '127.0.0.1', port: this.haproxy.port, user: 'app', password: this.appPassword };
  }

  get targetId(): string {
    return this.options.ids.targetInstanceId;
  }

  get sourceId(): string {
    return this.options.ids.sourceInstanceId;
  }

  /** True while the application's endpoint sends connections to the target (it followed the record or the proxy there). */
  switched(): boolean {
    return this.pointsAt === 'target';
  }

  /** Root on the server standing in for an instance (reads the data, not through the flow). */
  rootConnection(instanceId: string): Promise<Connection> {
    return connect(this.servers.get(instanceId)!.endpoint(), { database: 'app' });
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

  /** @param targetClients - the target is restored in this other account (aws.targetAccount) */
  private async step(clients: AwsClients, targetClients?: AwsClients): Promise<void> {
    const ids = this.options.ids;
    const instances = (await clients.rds.send(new DescribeDBInstancesCommand({}))).DBInstances ?? [];
    const byId = new Map(instances.map((i) => [i.DBInstanceIdentifier!, i]));
    if (targetClients) {
      byId.delete(ids.targetInstanceId);
      const inTarget = (await targetClients.rds.send(new DescribeDBInstancesCommand({}))).DBInstances ?? [];
      const target = inTarget.find((i) => i.DBInstanceIdentifier === ids.targetInstanceId);
      if (target) byId.set(ids.targetInstanceId, target);
    }
    if (byId.has(ids.replicaInstanceId) && this.once(`replica ${ids.replicaInstanceId}`)) await this.makeReplica(ids.replicaInstanceId);
    if (this.servers.has(ids.replicaInstanceId)) {
      const snapshots = (await clients.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: ids.replicaInstanceId, SnapshotType: 'manual' }))).DBSnapshots ?? [];
      for (const snapshot of snapshots) {
        // The run's snapshot of the stopped replica (an encrypted copy shares its data).
        if (!snapshot.Encrypted && this.once(`snapshot ${snapshot.DBSnapshotIdentifier}`)) await this.snapshotReplica(snapshot.DBSnapshotIdentifier!);
      }
    }
    if (byId.has(ids.targetInstanceId) && this.snapshotData.size > 0 && this.once(`restore ${ids.targetInstanceId}`)) await this.restoreTarget(byId.get(ids.sourceInstanceId)!, byId.get(ids.targetInstanceId)!);
    if (this.servers.has(ids.targetInstanceId)) await this.followSwitchPoint(clients, byId.get(ids.sourceInstanceId)!, byId.get(ids.targetInstanceId)!);
  }

  private once(what: string): boolean {
    if (this.handled.has(what)) return false;
    this.handled.add(what);
    this.events.push(what);
    return true;
  }

  private newServer(instanceId: string, serverId: number): MariadbInstance {
    const server = new MariadbInstance({ name: instanceId, baseDir: this.baseDir, serverId, rootPassword: this.rootPassword, group: this.group, log: this.options.log, tls: this.tls });
    this.servers.set(instanceId, server);
    return server;
  }

  /** A read replica: a copy of the source at known coordinates, replicating from there. */
  private async makeReplica(instanceId: string): Promise<void> {
    const source = this.servers.get(this.options.ids.sourceInstanceId)!;
    const backup = await source.backup(join(this.baseDir, `backup-${instanceId}`));
    const replica = this.newServer(instanceId, this.nextServerId++);
    await replica.restoreFrom(backup.dir);
    const root = await connect(replica.endpoint());
    try {
      await root.query(
        `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${source.port}, MASTER_USER='rds_replication', MASTER_PASSWORD=${root.escape(this.replicationPassword)}, ` +
          `MASTER_LOG_FILE=${root.escape(backup.binlogFile!)}, MASTER_LOG_POS=${backup.binlogPosition}, MASTER_USE_GTID=no`,
      );
      await root.query('START SLAVE');
    } finally {
      await root.end();
    }
    this.tunnels.get(instanceId)!.open(replica.port);
    this.options.log.info(`emulated data plane: read replica ${instanceId} on 127.0.0.1:${replica.port}`);
  }

  /** The snapshot's data: a backup of the replica, which the flow stopped before snapshotting it. */
  private async snapshotReplica(snapshotId: string): Promise<void> {
    const replica = this.servers.get(this.options.ids.replicaInstanceId)!;
    const backup = await replica.backup(join(this.baseDir, `snapshot-${snapshotId}`));
    this.snapshotData.set(snapshotId, backup.dir);
    this.options.log.info(`emulated data plane: snapshot ${snapshotId} holds a backup of ${replica.name}`);
  }

  /** The restored target: a server made from the snapshot's data, replicating from nowhere yet. */
  private async restoreTarget(source: DBInstance, targetInstance: DBInstance): Promise<void> {
    const id = this.options.ids.targetInstanceId;
    const data = [...this.snapshotData.values()].at(-1)!;
    const copy = join(this.baseDir, `restore-${id}`);
    cpSync(data, copy, { recursive: true });
    const target = this.newServer(id, this.nextServerId++);
    await target.restoreFrom(copy);
    const root = await connect(target.endpoint());
    try {
      await root.query('STOP SLAVE');
      await root.query('RESET SLAVE ALL');
      await mapEndpoint(root, source.Endpoint!.Address!, { host: '127.0.0.1', port: this.servers.get(this.options.ids.sourceInstanceId)!.port });
    } finally {
      await root.end();
    }
    // The old source dials the target's endpoint name for the way back (VPC name resolution).
    const sourceRoot = await connect(this.servers.get(this.options.ids.sourceInstanceId)!.endpoint());
    try {
      await mapEndpoint(sourceRoot, targetInstance.Endpoint!.Address!, { host: '127.0.0.1', port: target.port });
    } finally {
      await sourceRoot.end();
    }
    this.tunnels.get(id)!.open(target.port);
    await this.haproxy.park('green', { host: '127.0.0.1', port: target.port });
    this.options.log.info(`emulated data plane: restored ${id} on 127.0.0.1:${target.port}`);
  }

  /**
   * The application's endpoint follows the switch point, both ways: DNS as the application sees
   * it (the record names the source's or the target's endpoint), or the RDS Proxy's target group
   * (one registered instance). While the proxy's group is empty or in between, connections keep
   * going where they went (a real proxy holds new ones up to its borrow timeout).
   */
  private async followSwitchPoint(clients: AwsClients, source: DBInstance, target: DBInstance): Promise<void> {
    const ids = this.options.ids;
    let wanted: 'source' | 'target' | undefined;
    if (ids.proxyName) {
      const registered = ((await clients.rds.send(new DescribeDBProxyTargetsCommand({ DBProxyName: ids.proxyName }))).Targets ?? []).filter((t) => t.Type === 'RDS_INSTANCE').map((t) => t.RdsResourceId);
      if (registered.length === 1) wanted = registered[0] === ids.targetInstanceId ? 'target' : registered[0] === ids.sourceInstanceId ? 'source' : undefined;
    } else {
      const records = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: ids.zoneId, StartRecordName: ids.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
      const value = records.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value?.replace(/\.$/, '');
      wanted = value === target.Endpoint?.Address ? 'target' : value === source.Endpoint?.Address ? 'source' : undefined;
    }
    if (!wanted || wanted === this.pointsAt) return;
    if (wanted === 'source') await this.haproxy.park('blue', { host: '127.0.0.1', port: this.servers.get(ids.sourceInstanceId)!.port });
    await this.haproxy.switchTo(wanted === 'target' ? 'green' : 'blue');
    this.pointsAt = wanted;
    this.events.push(`${ids.proxyName ? 'proxy' : 'dns'} moved to the ${wanted}`);
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

/**
 * A throwaway CA and a server certificate for 127.0.0.1 it signed (openssl, PEM).
 * @param dnsNames - more names the certificate carries (RDS endpoint names a client verifies through a tunnel). @default - none
 */
export function makeLocalCertificates(directory: string, dnsNames: string[] = []): { caFile: string; certFile: string; keyFile: string } {
  mkdirSync(directory, { recursive: true });
  const file = (name: string) => join(directory, name);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=rds-cutover emulated CA']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(file('server.ext'), `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...dnsNames.map((name) => `DNS:${name}`)].join(',')}\n`);
  openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.pem'), '-days', '2', '-extfile', file('server.ext')]);
  return { caFile: file('ca.pem'), certFile: file('server.pem'), keyFile: file('server.key') };
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
