import { chownSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  CreateDBInstanceCommand,
  CreateDBParameterGroupCommand,
  DescribeDBInstancesCommand,
  DescribeDBParametersCommand,
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
import { makeLocalCertificates } from './emulated-data-plane';

/** PostgreSQL major version of both stand-in servers (Debian's; the AWS flow compares majors only). */
export const EMULATED_POSTGRES_VERSION = 15;
/** What RDS for PostgreSQL 15 answers as EngineVersion. */
const ENGINE_VERSION = '15.8';

export interface EmulatedPostgresIds {
  sourceInstanceId: string;
  targetInstanceId: string;
  /** The source's custom DB parameter group (the freeze modifies it). */
  parameterGroup: string;
  database: string;
  appRole: string;
}

/** What the stacks (and the application's own infrastructure) would have created for a PostgreSQL move. */
export interface EmulatedPostgresAccount extends EmulatedAccount {
  targetInstanceId: string;
  targetEndpoint: string;
  parameterGroup: string;
}

/**
 * Create, in the emulator, the account a PostgreSQL move on RDS starts from: the cutover
 * stack's key, fence group and CNAME (pointing at the source), an ECS service, the unencrypted
 * RDS for PostgreSQL 15 source on a custom parameter group with `rds.logical_replication=1`
 * (applied: the reboot happened before the window), and the stacks' encrypted target instance
 * (empty; the flow creates the database and roles). The source's endpoint port is the data
 * plane's VPC path (a relay to the local server standing in for the source), so the target's
 * subscription, which dials the source's endpoint (name and port) as inside a VPC, reaches it.
 */
export async function seedEmulatedPostgresAccount(
  clients: AwsClients,
  options: { region: string; ids: EmulatedPostgresIds; masterPassword: string; targetMasterPassword: string; sourcePort: number },
): Promise<EmulatedPostgresAccount> {
  const { ids } = options;
  const basics = await seedStacksBasics(clients);
  await clients.rds.send(new CreateDBParameterGroupCommand({ DBParameterGroupName: ids.parameterGroup, DBParameterGroupFamily: 'postgres15', Description: 'orders (logical replication on)' }));
  await clients.rds.send(
    new ModifyDBParameterGroupCommand({ DBParameterGroupName: ids.parameterGroup, Parameters: [{ ParameterName: 'rds.logical_replication', ParameterValue: '1', ApplyMethod: 'pending-reboot' }] }),
  );
  const common = { Engine: 'postgres', EngineVersion: ENGINE_VERSION, DBInstanceClass: 'db.t3.micro', AllocatedStorage: 20, MasterUsername: 'postgres', BackupRetentionPeriod: 1, VpcSecurityGroupIds: [basics.sourceSecurityGroupId] };
  await clients.rds.send(
    new CreateDBInstanceCommand({
      ...common,
      DBInstanceIdentifier: ids.sourceInstanceId,
      MasterUserPassword: options.masterPassword,
      Port: options.sourcePort,
      DBParameterGroupName: ids.parameterGroup,
      StorageEncrypted: false,
      Tags: [{ Key: 'team', Value: 'orders' }],
    }),
  );
  // The stacks' target: encrypted with the stacks' key from the start (the flow checks it, never creates it).
  await clients.rds.send(
    new CreateDBInstanceCommand({
      ...common,
      DBInstanceIdentifier: ids.targetInstanceId,
      MasterUserPassword: options.targetMasterPassword,
      StorageEncrypted: true,
      KmsKeyId: basics.kmsKeyArn,
      Tags: [{ Key: 'project', Value: 'rds-cutover' }],
    }),
  );
  const endpoint = async (id: string) => (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances![0].Endpoint!.Address!;
  const sourceEndpoint = await endpoint(ids.sourceInstanceId);
  return {
    region: options.region,
    sourceInstanceId: ids.sourceInstanceId,
    sourceEndpoint,
    targetInstanceId: ids.targetInstanceId,
    targetEndpoint: await endpoint(ids.targetInstanceId),
    parameterGroup: ids.parameterGroup,
    ...basics,
    ...(await seedApplication(clients, sourceEndpoint)),
  };
}

/**
 * Local PostgreSQL 15 servers standing in for the RDS instances of an emulated account, and the
 * effects the emulator cannot have, supplied when the emulator (or the server) shows their cause:
 * - the source's parameter group gets `default_transaction_read_only` → the source server
 *   applies it (ALTER SYSTEM + reload), as RDS applies a dynamic parameter;
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
  private appliedReadOnly: boolean | undefined;
  private dnsMoved = false;
  /** The VPC's path to the source: what the source instance's endpoint port reaches. */
  private vpcPath: Server | undefined;
  private readonly vpcSockets = new Set<Socket>();
  vpcPathPort = 0;

  constructor(
    private readonly options: { log: Logger; ids: EmulatedPostgresIds; adminPassword: string; targetAdminPassword: string; appPassword: string; seedRows?: number },
  ) {
    openForPostgres(this.baseDir);
    this.haproxy = new Haproxy({ baseDir: this.baseDir, group: this.group, log: options.log });
    const common = { baseDir: this.baseDir, version: EMULATED_POSTGRES_VERSION, group: this.group, log: options.log };
    this.source = new PostgresInstance({ ...common, name: options.ids.sourceInstanceId, superuserPassword: options.adminPassword });
    this.target = new PostgresInstance({ ...common, name: options.ids.targetInstanceId, superuserPassword: options.targetAdminPassword, environment: { PGHOSTADDR: '127.0.0.1' } });
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
    await this.startVpcPath();
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
  follow(clients: AwsClients, account: Pick<EmulatedPostgresAccount, 'targetEndpoint' | 'dns'>): void {
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
          this.followerClient = undefined;
        }
        await sleep(50);
      }
    })();
  }

  private async step(clients: AwsClients, account: Pick<EmulatedPostgresAccount, 'targetEndpoint' | 'dns'>): Promise<void> {
    this.followerClient ??= await connectPg(this.source.endpoint(), { writable: true });
    const admin = this.followerClient;
    // RDS applies a dynamic parameter of the instance's group without a reboot.
    const parameters = await clients.rds.send(new DescribeDBParametersCommand({ DBParameterGroupName: this.options.ids.parameterGroup, Source: 'user' }));
    const value = parameters.Parameters?.find((p) => p.ParameterName === FREEZE_PARAMETER)?.ParameterValue;
    const readOnly = value === '1' || value === 'on';
    if (value !== undefined && readOnly !== this.appliedReadOnly) {
      await setServerReadOnly(admin, readOnly);
      this.appliedReadOnly = readOnly;
      this.record(`source ${FREEZE_PARAMETER}=${readOnly ? 'on' : 'off'} (parameter group ${this.options.ids.parameterGroup})`);
    }
    if (!this.dnsMoved) {
      const records = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, StartRecordName: account.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
      if (records.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value === account.targetEndpoint) {
        this.dnsMoved = true;
        await this.haproxy.switchTo('green');
        this.record('dns moved: the application endpoint sends new connections to the target');
      }
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
   * A TCP relay to the source server: each new connection waits until the members of
   * rds_replication may replicate, then its bytes pass through unchanged (TLS included).
   */
  private async startVpcPath(): Promise<void> {
    const server = createServer((client) => {
      this.vpcSockets.add(client);
      client.once('close', () => this.vpcSockets.delete(client));
      client.pause();
      void (async () => {
        const admin = await connectPg(this.source.endpoint());
        try {
          await this.grantReplicationToMembers(admin);
        } finally {
          await closePg(admin);
        }
      })().then(
        () => {
          if (client.destroyed) return;
          const upstream = createConnection({ host: '127.0.0.1', port: this.source.port });
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
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.vpcPath = server;
    this.vpcPathPort = (server.address() as { port: number }).port;
  }

  private async stopVpcPath(): Promise<void> {
    for (const socket of this.vpcSockets) socket.destroy();
    await new Promise<void>((resolve) => (this.vpcPath ? this.vpcPath.close(() => resolve()) : resolve()));
    this.vpcPath = undefined;
  }

  private record(event: string): void {
    this.events.push(event);
    this.options.log.info(`emulated data plane: ${event}`);
  }

  async stopFollowing(): Promise<void> {
    this.following = false;
    await this.follower;
    await closePg(this.followerClient);
    this.followerClient = undefined;
  }

  pids(): number[] {
    return this.group.pids();
  }

  async stop(): Promise<void> {
    await this.stopFollowing();
    await this.stopVpcPath();
    await this.haproxy.stop().catch(() => undefined);
    for (const server of [this.target, this.source]) await server.stop().catch(() => undefined);
    await this.group.stopAll();
    rmSync(this.baseDir, { recursive: true, force: true });
  }
}
