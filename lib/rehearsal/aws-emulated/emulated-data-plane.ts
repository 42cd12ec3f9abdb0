import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeDBInstancesCommand, DescribeDBProxyTargetsCommand, DescribeDBSnapshotsCommand, type DBInstance } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import type { AwsClients } from '../../platforms/aws/clients';
import { connect } from '../../engines/mysql/connection';
import { mapEndpoint } from './rds-procedures';
import { MariadbDataPlane, type MariadbDataPlaneOptions } from './mariadb-data-plane';

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
export class EmulatedDataPlane extends MariadbDataPlane<MariadbDataPlaneOptions & { ids: EmulatedIds }> {
  private readonly snapshotData = new Map<string, string>();
  private nextServerId = 2;
  /** Where the application's endpoint sends connections now (HAProxy slot blue = source, green = target). */
  private pointsAt: 'source' | 'target' = 'source';

  constructor(options: MariadbDataPlaneOptions & { ids: EmulatedIds }) {
    super(options, 'rds-cutover-emulated-');
  }

  /** The source server, seeded, behind HAProxy (the application's endpoint) and its tunnel; a tunnel per instance id. */
  async start(): Promise<void> {
    const ids = this.options.ids;
    await this.startSource(ids.sourceInstanceId, [ids.replicaInstanceId, ids.targetInstanceId, ...(ids.proxyName ? [ids.proxyName] : [])]);
    // The scripts reach the proxy's endpoint through its tunnel, as the application does.
    if (ids.proxyName) this.tunnels.get(ids.proxyName)!.open(this.haproxy.port);
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

  /** @param targetClients - the target is restored in this other account (aws.targetAccount) */
  protected async step(clients: AwsClients, targetClients?: AwsClients): Promise<void> {
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
}
