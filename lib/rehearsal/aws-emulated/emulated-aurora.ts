import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CreateDBClusterCommand,
  CreateDBClusterParameterGroupCommand,
  CreateDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBInstancesCommand,
  ModifyDBClusterParameterGroupCommand,
  type DBCluster,
  type Event,
} from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import type { AwsClients } from '../../platforms/aws/clients';
import { dieWithParent } from '../../util/process-group';
import { connect } from '../../engines/mysql/connection';
import { installRdsProcedures, mapEndpoint } from './rds-procedures';
import { createAccounts, MariadbDataPlane, type MariadbDataPlaneOptions } from './mariadb-data-plane';
import { seedApplication, seedStacksBasics, type EmulatedAccount } from './emulated-account';

const run = promisify(execFile);

/**
 * The Aurora MySQL 3 release the emulated cluster runs: 3.02 is MySQL 8.0.23, whose SQL (MySQL
 * 8.0 words, MASTER_POS_WAIT, the `mysql.rds_*` procedures) a MariaDB 10.11 server answers; from
 * 3.03 (8.0.26) the flow waits with SOURCE_POS_WAIT, which MariaDB does not have.
 */
export const EMULATED_AURORA = { engineVersion: '8.0.mysql_aurora.3.02.0', serverVersion: '8.0.23', parameterGroupFamily: 'aurora-mysql8.0' } as const;

export interface EmulatedAuroraIds {
  sourceClusterId: string;
  sourceWriterInstanceId: string;
  targetClusterId: string;
  targetWriterInstanceId: string;
  recordName: string;
  zoneId: string;
}

/** The Aurora account: the stacks' pieces, and the unencrypted Aurora MySQL 3 source cluster with its writer. */
export interface EmulatedAuroraAccount extends Omit<EmulatedAccount, 'sourceInstanceId' | 'sourceEndpoint'> {
  sourceClusterId: string;
  sourceEndpoint: string;
  clusterParameterGroup: string;
}

/**
 * Create, in the emulator, what the stacks and the application's own infrastructure would have,
 * and the source: an unencrypted Aurora MySQL 3 cluster (provisioned) with a writer, on a custom
 * cluster parameter group with `binlog_format=ROW` (Aurora's default group has binary logging
 * off and cannot be changed; the Aurora preflight checks this group).
 */
export async function seedEmulatedAuroraAccount(clients: AwsClients, options: { region: string; sourceClusterId: string; sourceWriterInstanceId: string; masterPassword: string }): Promise<EmulatedAuroraAccount> {
  const basics = await seedStacksBasics(clients);
  const clusterParameterGroup = `${options.sourceClusterId}-aurora-mysql8-binlog`;
  await clients.rds.send(new CreateDBClusterParameterGroupCommand({ DBClusterParameterGroupName: clusterParameterGroup, DBParameterGroupFamily: EMULATED_AURORA.parameterGroupFamily, Description: 'binary logging for the cutover' }));
  await clients.rds.send(new ModifyDBClusterParameterGroupCommand({ DBClusterParameterGroupName: clusterParameterGroup, Parameters: [{ ParameterName: 'binlog_format', ParameterValue: 'ROW', ApplyMethod: 'pending-reboot' }] }));
  await clients.rds.send(
    new CreateDBClusterCommand({
      DBClusterIdentifier: options.sourceClusterId,
      Engine: 'aurora-mysql',
      EngineVersion: EMULATED_AURORA.engineVersion,
      EngineMode: 'provisioned',
      MasterUsername: 'admin',
      MasterUserPassword: options.masterPassword,
      DBClusterParameterGroupName: clusterParameterGroup,
      VpcSecurityGroupIds: [basics.sourceSecurityGroupId],
      BackupRetentionPeriod: 1,
      StorageEncrypted: false,
      Tags: [{ Key: 'team', Value: 'orders' }],
    }),
  );
  await clients.rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: options.sourceWriterInstanceId, DBClusterIdentifier: options.sourceClusterId, Engine: 'aurora-mysql', DBInstanceClass: 'db.r6g.large', Tags: [{ Key: 'team', Value: 'orders' }] }));
  const cluster = (await clients.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: options.sourceClusterId }))).DBClusters![0];
  return { region: options.region, sourceClusterId: options.sourceClusterId, sourceEndpoint: cluster.Endpoint!, clusterParameterGroup, ...basics, ...(await seedApplication(clients, cluster.Endpoint!)) };
}

/**
 * Local MariaDB servers standing in for the Aurora clusters of an emulated account (one server
 * per cluster: its writer), reporting Aurora MySQL 3.02's server version (8.0.23) so the flow
 * speaks MySQL 8.0 through Aurora's procedures, and the effects the emulator cannot have,
 * supplied when the emulator shows their cause:
 * - a cluster snapshot of the source appears → a consistent dump of the source with the binlog
 *   position it ends at (mariadb-dump --single-transaction --master-data: mariadb-backup refuses a
 *   server reporting a MySQL version), the snapshot's data;
 * - the restored cluster and its writer appear → a server loaded from that dump, with RDS's
 *   procedures and the source's cluster endpoint mapped to the source; then the restored
 *   cluster's "Binlog position from crash recovery is <file> <position>" event (Aurora writes it
 *   when crash recovery runs on the new writer; see addDataPlaneEvents);
 * - the Route 53 record names the target cluster's endpoint → the application's endpoint
 *   (HAProxy) follows it, as DNS does.
 * What differs from Aurora and is not emulated: a cluster volume shared by several instances
 * (one server per cluster here), `read_only` on the writer (Aurora: parameter group; the flow
 * never sets it on RDS), enhanced binlog.
 */
export class EmulatedAuroraDataPlane extends MariadbDataPlane<MariadbDataPlaneOptions & { ids: EmulatedAuroraIds }> {
  /** The file RDS_CUTOVER_EMULATED_RDS_EVENTS names: the events the servers reported. */
  readonly eventsFile: string;
  private readonly reported: Array<Event & { Date: string }> = [];
  private readonly snapshotDumps = new Map<string, { file: string; binlogFile: string; binlogPosition: number }>();
  /** Where the application's endpoint sends connections now (HAProxy slot blue = source, green = target). */
  private pointsAt: 'source' | 'target' = 'source';

  constructor(options: MariadbDataPlaneOptions & { ids: EmulatedAuroraIds }) {
    super(options, 'rds-cutover-emulated-aurora-', EMULATED_AURORA.serverVersion);
    this.eventsFile = join(this.baseDir, 'rds-events.json');
    writeFileSync(this.eventsFile, '[]');
  }

  get targetId(): string {
    return this.options.ids.targetClusterId;
  }

  get sourceId(): string {
    return this.options.ids.sourceClusterId;
  }

  /** The source cluster's server, seeded, behind HAProxy and its tunnel; a tunnel per cluster id. */
  async start(): Promise<void> {
    await this.startSource(this.options.ids.sourceClusterId, [this.options.ids.targetClusterId]);
  }

  /** True while the application's endpoint sends connections to the target (it followed the record there). */
  switched(): boolean {
    return this.pointsAt === 'target';
  }

  protected async step(clients: AwsClients): Promise<void> {
    const ids = this.options.ids;
    const snapshots = (await clients.rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterIdentifier: ids.sourceClusterId, SnapshotType: 'manual' }))).DBClusterSnapshots ?? [];
    for (const snapshot of snapshots) {
      if (this.once(`cluster snapshot ${snapshot.DBClusterSnapshotIdentifier}`)) await this.snapshotSource(snapshot.DBClusterSnapshotIdentifier!);
    }
    if (this.snapshotDumps.size === 0) return;
    const clusters = (await clients.rds.send(new DescribeDBClustersCommand({}))).DBClusters ?? [];
    const byId = new Map(clusters.map((c) => [c.DBClusterIdentifier!, c]));
    const target = byId.get(ids.targetClusterId);
    if (!target) return;
    if (!this.servers.has(ids.targetClusterId)) {
      // Crash recovery runs when the restored cluster's first instance (the writer) starts.
      const writers = (await clients.rds.send(new DescribeDBInstancesCommand({}))).DBInstances ?? [];
      if (writers.some((i) => i.DBInstanceIdentifier === ids.targetWriterInstanceId && i.DBClusterIdentifier === ids.targetClusterId) && this.once(`restore ${ids.targetClusterId}`)) {
        await this.restoreTarget(byId.get(ids.sourceClusterId)!, target);
      }
      return;
    }
    await this.followDns(clients, target);
  }

  /** The cluster snapshot's data: a consistent dump of the source and the binlog position it ends at. */
  private async snapshotSource(snapshotId: string): Promise<void> {
    const source = this.servers.get(this.options.ids.sourceClusterId)!;
    const file = join(this.baseDir, `snapshot-${snapshotId}.sql`);
    await run(...dieWithParent('mariadb-dump', [`--defaults-file=${source.configFile}`, '--single-transaction', '--master-data=2', '--routines', '--databases', 'app', `--result-file=${file}`]), { maxBuffer: 16 * 1024 * 1024 });
    const head = readFileSync(file, 'utf8').slice(0, 4096);
    const match = /CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+)/.exec(head);
    if (!match) throw new Error(`the dump for cluster snapshot ${snapshotId} names no binlog position (mariadb-dump --master-data)`);
    this.snapshotDumps.set(snapshotId, { file, binlogFile: match[1], binlogPosition: Number(match[2]) });
    this.options.log.info(`emulated data plane: cluster snapshot ${snapshotId} holds a dump of the source at ${match[1]}:${match[2]}`);
  }

  /** The restored cluster's writer: a server with the snapshot's data, then its crash-recovery event. */
  private async restoreTarget(source: DBCluster, target: DBCluster): Promise<void> {
    const id = this.options.ids.targetClusterId;
    const dump = [...this.snapshotDumps.values()].at(-1)!;
    const server = this.newServer(id, 2);
    await server.initialise();
    const root = await connect(server.endpoint());
    try {
      // A restored cluster has the source's accounts; RDS's procedures come with the engine.
      await root.query('SET SESSION sql_log_bin = 0');
      await createAccounts(root, { adminPassword: this.options.adminPassword, appPassword: this.appPassword, replicationPassword: this.replicationPassword });
      await installRdsProcedures(root);
      await root.query("CALL mysql.rds_set_configuration('binlog retention hours', 24)");
      await mapEndpoint(root, source.Endpoint!, { host: '127.0.0.1', port: this.servers.get(this.options.ids.sourceClusterId)!.port });
    } finally {
      await root.end();
    }
    await run(...dieWithParent('sh', ['-c', `exec mariadb --defaults-file="$1" --init-command='SET SESSION sql_log_bin = 0' < "$2"`, 'load', server.configFile, dump.file]));
    // The old source dials the target cluster's endpoint name for the way back (VPC name resolution).
    const sourceRoot = await connect(this.servers.get(this.options.ids.sourceClusterId)!.endpoint());
    try {
      await mapEndpoint(sourceRoot, target.Endpoint!, { host: '127.0.0.1', port: server.port });
    } finally {
      await sourceRoot.end();
    }
    this.tunnels.get(id)!.open(server.port);
    await this.haproxy.park('green', { host: '127.0.0.1', port: server.port });
    this.reported.push({
      SourceIdentifier: id,
      SourceType: 'db-cluster',
      SourceArn: target.DBClusterArn,
      EventCategories: ['notification'],
      Message: `Binlog position from crash recovery is ${dump.binlogFile} ${dump.binlogPosition}`,
      Date: new Date().toISOString(),
    } as Event & { Date: string });
    writeFileSync(this.eventsFile, JSON.stringify(this.reported));
    this.options.log.info(`emulated data plane: restored ${id} on 127.0.0.1:${server.port}, crash recovery at ${dump.binlogFile}:${dump.binlogPosition}`);
  }

  /** The application's endpoint follows the record, both ways (the switch and a switch back), as DNS does. */
  private async followDns(clients: AwsClients, target: DBCluster): Promise<void> {
    const ids = this.options.ids;
    const records = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: ids.zoneId, StartRecordName: ids.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    const value = records.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value?.replace(/\.$/, '');
    const source = (await clients.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: ids.sourceClusterId }))).DBClusters?.[0];
    const wanted = value === target.Endpoint ? 'target' : value === source?.Endpoint ? 'source' : undefined;
    if (!wanted || wanted === this.pointsAt) return;
    if (wanted === 'source') await this.haproxy.park('blue', { host: '127.0.0.1', port: this.servers.get(ids.sourceClusterId)!.port });
    await this.haproxy.switchTo(wanted === 'target' ? 'green' : 'blue');
    this.pointsAt = wanted;
    this.events.push(`dns moved to the ${wanted}`);
  }
}
