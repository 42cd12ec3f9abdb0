import {
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeEventsCommand,
  RestoreDBClusterFromSnapshotCommand,
  waitUntilDBClusterAvailable,
  waitUntilDBClusterSnapshotAvailable,
  waitUntilDBInstanceAvailable,
  type DBCluster,
  type DBClusterSnapshot,
  type DBInstance,
  type DescribeDBClusterSnapshotsCommandOutput,
  type DescribeEventsCommandOutput,
  type Event,
  type RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import type { Facts, StepContext } from '../../runbook/step';
import type { SourceSnapshotSeeding } from '../mysql-platform';
import { AwsWaitError, type AwsGateway } from './gateway';
import type { AwsAuroraMysqlSettings } from './settings';
import { isNotFound, type RdsReader } from './rds-reader';
import { auroraMysql3Dialect } from './aurora-dialect';
import { carriedTags, defined, ownedBy, PLANNED_RUN_ID, RUN_ID_TAG, runScopedId, runTags } from './run-tags';
import { AwsMysqlFamilyPlatform, AwsMysqlSwitchover, type AwsMysqlEngineTraits, type AwsMysqlSwitching } from './aws-mysql-common';

/** The event a cluster restored from a snapshot reports once crash recovery ran on its writer. */
export const CRASH_RECOVERY_EVENT = /Binlog position from crash recovery is (\S+) (\d+)/;

/** Where the start coordinates are shown in plans, before they exist. */
export const PLANNED_COORDINATES = { file: '<startBinlogFile>', position: '<startBinlogPosition>' as unknown as number };

/** `Binlog position from crash recovery is mysql-bin-changelog.000003 4278` → file and position; undefined for any other message. */
export function parseCrashRecoveryPosition(message: string | undefined): { file: string; position: number } | undefined {
  const match = CRASH_RECOVERY_EVENT.exec(message ?? '');
  return match ? { file: match[1], position: Number(match[2]) } : undefined;
}

/** What the restored cluster and its writer carry over from the source cluster and its writer. */
export interface AuroraSourceSettings {
  engine: string;
  engineVersion: string;
  port: number;
  subnetGroup: string;
  securityGroupIds: string[];
  clusterParameterGroup: string;
  backupRetentionPeriod: number;
  preferredBackupWindow: string;
  deletionProtection: boolean;
  copyTagsToSnapshot: boolean;
  iamDatabaseAuthentication: boolean;
  cloudwatchLogsExports: string[];
  tags: Tag[];
  writer: {
    instanceClass: string;
    parameterGroup: string;
    publiclyAccessible: boolean;
    autoMinorVersionUpgrade: boolean;
    caCertificateIdentifier?: string;
  };
}

/** Read from DescribeDBClusters and the writer's DescribeDBInstances; offline, named placeholders. */
export function auroraSourceSettings(cluster: DBCluster | undefined, writer: DBInstance | undefined, id: string): AuroraSourceSettings {
  const p = <T>(value: T | undefined, field: string): T => (cluster ? (value as T) : (`<${id}.${field}>` as unknown as T));
  const w = <T>(value: T | undefined, field: string): T => (writer ? (value as T) : (`<${id} writer.${field}>` as unknown as T));
  return {
    engine: p(cluster?.Engine, 'Engine'),
    engineVersion: p(cluster?.EngineVersion, 'EngineVersion'),
    port: p(cluster?.Port, 'Port'),
    subnetGroup: p(cluster?.DBSubnetGroup, 'DBSubnetGroup'),
    securityGroupIds: cluster ? (cluster.VpcSecurityGroups ?? []).map((g) => g.VpcSecurityGroupId!).filter(Boolean) : [`<${id}.VpcSecurityGroups>`],
    clusterParameterGroup: p(cluster?.DBClusterParameterGroup, 'DBClusterParameterGroup'),
    backupRetentionPeriod: p(cluster?.BackupRetentionPeriod, 'BackupRetentionPeriod'),
    preferredBackupWindow: p(cluster?.PreferredBackupWindow, 'PreferredBackupWindow'),
    deletionProtection: p(cluster?.DeletionProtection, 'DeletionProtection'),
    copyTagsToSnapshot: p(cluster?.CopyTagsToSnapshot, 'CopyTagsToSnapshot'),
    iamDatabaseAuthentication: p(cluster?.IAMDatabaseAuthenticationEnabled, 'IAMDatabaseAuthenticationEnabled'),
    cloudwatchLogsExports: cluster ? cluster.EnabledCloudwatchLogsExports ?? [] : [`<${id}.EnabledCloudwatchLogsExports>`],
    tags: cluster ? (cluster.TagList ?? []).filter((t) => !t.Key?.startsWith('aws:') && t.Key !== RUN_ID_TAG) : [],
    writer: {
      instanceClass: w(writer?.DBInstanceClass, 'DBInstanceClass'),
      parameterGroup: w(writer?.DBParameterGroups?.[0]?.DBParameterGroupName, 'DBParameterGroup'),
      publiclyAccessible: w(writer?.PubliclyAccessible, 'PubliclyAccessible'),
      autoMinorVersionUpgrade: w(writer?.AutoMinorVersionUpgrade, 'AutoMinorVersionUpgrade'),
      caCertificateIdentifier: writer ? writer.CACertificateIdentifier : (`<${id} writer.CACertificateIdentifier>` as unknown as string),
    },
  };
}

/** The writer of a cluster, from DBClusterMembers. */
export function writerIdOf(cluster: DBCluster | undefined): string | undefined {
  return cluster?.DBClusterMembers?.find((m) => m.IsClusterWriter)?.DBInstanceIdentifier;
}

/**
 * The MySQL-family flow with an Aurora MySQL 3 cluster as the source. Same runbook, and the same
 * connections, switch, fence, recycle and way back by Route 53 as the instance platform (the
 * shared AwsMysqlSwitchover, with clusters' writer endpoints); its own seeding
 * (ClusterSnapshotSeeding); Aurora MySQL 3's engine traits (AURORA_MYSQL_3).
 *
 * The way back (aws.reverseReplication): replication target cluster -> source cluster from the
 * switch on (rds_set_external_source on the old source's writer, to the target cluster's
 * writer endpoint), switch-back and switch-forth by Route 53, complete (--delete-old: the
 * cluster's instances, then the cluster with a final snapshot).
 */
export type AwsAuroraMysqlPlatform = AwsMysqlFamilyPlatform<AwsAuroraMysqlSettings, ClusterSnapshotSeeding, AwsMysqlSwitching>;

export function awsAuroraMysqlPlatform(settings: AwsAuroraMysqlSettings, aws: AwsGateway): AwsAuroraMysqlPlatform {
  const switchover = new AwsMysqlSwitchover(settings, aws, {
    kind: 'cluster',
    sourceId: settings.sourceClusterId,
    targetName: "the target cluster's writer endpoint",
    targetFact: 'targetClusterId',
    targetId: settings.targetClusterId,
  });
  return new AwsMysqlFamilyPlatform(settings, switchover, new ClusterSnapshotSeeding(settings, switchover), switchover, AURORA_MYSQL_3);
}

/** What Aurora MySQL 3 changes in the flow's SQL. */
export const AURORA_MYSQL_3: AwsMysqlEngineTraits = {
  /** Aurora MySQL 3 reports 8.0.x but names its procedures like 8.4 (rds_set_external_source). */
  dialect: auroraMysql3Dialect,
  /**
   * Aurora MySQL 3 does not replicate account changes (the `mysql` schema) over binlog
   * replication: the replication account of a way back is set on both sides by the switch.
   */
  accountChangesReplicate: false,
};

/**
 * How an Aurora MySQL target is seeded: a snapshot of the source cluster (the flow's
 * mysql.snapshot.create and mysql.snapshot.remove; no replica is made, and no replica step runs):
 * - an Aurora cluster snapshot is consistent by itself, and the cluster restored from it reports
 *   the binlog position it ends at in a "Binlog position from crash recovery is <file> <position>"
 *   event (DescribeEvents), which is where replication starts (`startCoordinates`, read at the
 *   end of mysql.target.clone);
 * - an unencrypted cluster snapshot cannot be encrypted by copying (CopyDBClusterSnapshot
 *   refuses KmsKeyId for it), so the restore itself encrypts: RestoreDBClusterFromSnapshot with
 *   KmsKeyId, then CreateDBInstance for the writer (a restored cluster has no instance).
 */
export class ClusterSnapshotSeeding implements SourceSnapshotSeeding {
  readonly strategy = 'source-snapshot' as const;
  private readonly aws: AwsGateway;
  private readonly rds: RdsReader;

  constructor(
    readonly settings: AwsAuroraMysqlSettings,
    private readonly switchover: AwsMysqlSwitchover,
  ) {
    this.aws = switchover.aws;
    this.rds = switchover.rds;
  }

  private notOurs(kind: string, id: string, setting: string): Error {
    return this.switchover.notOurs(kind, id, setting);
  }

  // ---- reading state ---------------------------------------------------------------------

  /** The source cluster (or undefined offline / not found). */
  sourceCluster(): Promise<DBCluster | undefined> {
    return this.rds.cluster(this.settings.sourceClusterId);
  }

  /** The source's writer instance: its class and parameter group are the new writer's. */
  async sourceWriter(): Promise<DBInstance | undefined> {
    const cluster = await this.sourceCluster();
    const writerId = writerIdOf(cluster);
    if (this.aws.canRead && cluster && !writerId) throw new Error(`Aurora cluster ${this.settings.sourceClusterId} has no writer instance (DBClusterMembers has no IsClusterWriter): add one, then run again`);
    return this.rds.instance(writerId ?? `<${this.settings.sourceClusterId} writer>`);
  }

  private async sourceSettings(): Promise<AuroraSourceSettings> {
    return auroraSourceSettings(await this.sourceCluster(), await this.sourceWriter(), this.settings.sourceClusterId);
  }

  private async describeClusterSnapshot(id: string): Promise<DBClusterSnapshot | undefined> {
    try {
      const output = await this.aws.read<DescribeDBClusterSnapshotsCommandOutput>('rds', new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: id }));
      return output?.DBClusterSnapshots?.[0];
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The source's (unencrypted) cluster snapshot: named after the run, so a resumed run finds it again. */
  clusterSnapshotId(runId: string): string {
    return runScopedId(`${this.settings.sourceClusterId}-cutover`, runId);
  }

  /** Facts an offline plan runs the operations with (no run exists yet). */
  plannedFacts(): Facts {
    return { clusterSnapshotId: this.clusterSnapshotId(PLANNED_RUN_ID), targetClusterId: this.settings.targetClusterId, targetWriterInstanceId: this.settings.targetWriterInstanceId };
  }

  // ---- plan lines --------------------------------------------------------------------------

  readonly describe = {
    createSnapshot: () => [
      `CreateDBClusterSnapshot ${this.clusterSnapshotId(PLANNED_RUN_ID)} of ${this.settings.sourceClusterId} (tagged ${RUN_ID_TAG}); wait until it is available.`,
      'No temporary replica: a cluster snapshot is consistent by itself, and the cluster restored from it reports where in the binlog it ends.',
    ],
    cloneTarget: () => [
      `RestoreDBClusterFromSnapshot ${this.settings.targetClusterId} with KmsKeyId ${this.settings.kmsKeyId} (an unencrypted cluster snapshot cannot be encrypted by copying: the restore encrypts)`,
      "carrying the source's engine version, subnet group, security groups, cluster parameter group, backups and tags; wait until it is available;",
      `CreateDBInstance ${this.settings.targetWriterInstanceId} in it (the source writer's class and parameter group); wait until it is available;`,
      `read the start coordinates from the restored cluster's "Binlog position from crash recovery is <file> <position>" event (DescribeEvents, at most ${this.settings.aws.waits.coordinatesSeconds} s).`,
    ],
    removeSnapshot: () =>
      this.settings.cleanup
        ? [`--cleanup: DeleteDBClusterSnapshot ${this.clusterSnapshotId(PLANNED_RUN_ID)} (the source's unencrypted snapshot); the source cluster is fenced, never deleted.`]
        : [`Without --cleanup nothing is deleted: prints the command that deletes the source's unencrypted cluster snapshot ${this.clusterSnapshotId(PLANNED_RUN_ID)}.`],
  };

  // ---- operations --------------------------------------------------------------------------

  /** The source's cluster snapshot (a resumed run reuses it). */
  async createSnapshot(context: StepContext): Promise<Facts> {
    const snapshotId = this.clusterSnapshotId(context.runId);
    const snapshot = await this.describeClusterSnapshot(snapshotId);
    if (snapshot && !ownedBy(snapshot.TagList, context.runId)) throw this.notOurs('DB cluster snapshot', snapshotId, 'aws.source.clusterId');
    if (!snapshot) {
      await this.aws.write('rds', new CreateDBClusterSnapshotCommand({ DBClusterIdentifier: this.settings.sourceClusterId, DBClusterSnapshotIdentifier: snapshotId, Tags: runTags(this.settings.tags, context.runId) }));
    }
    await this.aws.wait<RDSClient>({ service: 'rds', command: 'DescribeDBClusterSnapshots', input: { DBClusterSnapshotIdentifier: snapshotId }, resource: `cluster snapshot ${snapshotId}`, state: 'available', timeoutSeconds: this.settings.aws.waits.snapshotSeconds }, (config) =>
      waitUntilDBClusterSnapshotAvailable(config, { DBClusterSnapshotIdentifier: snapshotId }),
    );
    return { clusterSnapshotId: snapshotId };
  }

  /** RestoreDBClusterFromSnapshot with the stacks' KMS key, then the writer instance. */
  async cloneTarget(context: StepContext): Promise<Facts> {
    const snapshotId = String(context.facts.clusterSnapshotId ?? this.clusterSnapshotId(context.runId));
    const { targetClusterId, targetWriterInstanceId } = this.settings;
    const tags = runTags(this.settings.tags, context.runId);
    const source = await this.sourceSettings();

    const cluster = await this.rds.cluster(targetClusterId, { fresh: true });
    if (cluster && !ownedBy(cluster.TagList, context.runId)) throw this.notOurs('Aurora cluster', targetClusterId, 'aws.targetClusterId');
    if (!cluster) await this.aws.write('rds', new RestoreDBClusterFromSnapshotCommand(restoreClusterInput(targetClusterId, snapshotId, this.settings.kmsKeyId, source, tags)));
    await this.aws.wait<RDSClient>({ service: 'rds', command: 'DescribeDBClusters', input: { DBClusterIdentifier: targetClusterId }, resource: `restored cluster ${targetClusterId}`, state: 'available', timeoutSeconds: this.settings.aws.waits.instanceSeconds }, (config) =>
      waitUntilDBClusterAvailable(config, { DBClusterIdentifier: targetClusterId }),
    );

    const writer = await this.rds.instance(targetWriterInstanceId, { fresh: true });
    if (writer && !ownedBy(writer.TagList, context.runId)) throw this.notOurs('RDS instance', targetWriterInstanceId, 'aws.targetWriterInstanceId');
    if (writer && writer.DBClusterIdentifier !== targetClusterId) throw new Error(`RDS instance ${targetWriterInstanceId} belongs to ${writer.DBClusterIdentifier ?? 'no cluster'}, not to ${targetClusterId}: choose another aws.targetWriterInstanceId`);
    if (!writer) await this.aws.write('rds', new CreateDBInstanceCommand(writerInput(targetWriterInstanceId, targetClusterId, source, tags)));
    await this.aws.wait<RDSClient>({ service: 'rds', command: 'DescribeDBInstances', input: { DBInstanceIdentifier: targetWriterInstanceId }, resource: `writer ${targetWriterInstanceId} of ${targetClusterId}`, state: 'available', timeoutSeconds: this.settings.aws.waits.instanceSeconds }, (config) =>
      waitUntilDBInstanceAvailable(config, { DBInstanceIdentifier: targetWriterInstanceId }),
    );
    this.rds.forget(targetClusterId); // the endpoint is known only now
    this.rds.forget(targetWriterInstanceId);
    return { targetClusterId, targetWriterInstanceId, clusterSnapshotId: snapshotId };
  }

  /**
   * The source binlog coordinates the restored cluster ends at: the first "Binlog position from
   * crash recovery is <file> <position>" event of the new cluster or its writer since the
   * cluster was created (a later one, after a reboot, would name the new cluster's own binlog).
   * Events are polled until one appears (aws.waits.coordinatesSeconds).
   */
  async startCoordinates(context: StepContext): Promise<{ file: string; position: number }> {
    const clusterId = String(context.facts.targetClusterId ?? this.settings.targetClusterId);
    const writerId = String(context.facts.targetWriterInstanceId ?? this.settings.targetWriterInstanceId);
    const cluster = await this.rds.cluster(clusterId, { fresh: true });
    // Events outlive their resource for 14 days: an older cluster of the same name must not answer.
    const since = cluster?.ClusterCreateTime;
    const sources = [
      { SourceType: 'db-cluster' as const, SourceIdentifier: clusterId },
      { SourceType: 'db-instance' as const, SourceIdentifier: writerId },
    ];
    let found: { file: string; position: number; at?: Date } | undefined;
    const look = async (): Promise<Event[]> => {
      const events: Event[] = [];
      for (const source of sources) {
        const input = since ? { ...source, StartTime: since } : { ...source, Duration: 20160 };
        const output = await this.aws.read<DescribeEventsCommandOutput>('rds', new DescribeEventsCommand(input));
        events.push(...(output?.Events ?? []));
      }
      return events;
    };
    const spec = {
      service: 'rds' as const,
      command: 'DescribeEvents',
      input: { SourceType: 'db-cluster', SourceIdentifier: clusterId, StartTime: since?.toISOString() ?? `<${clusterId}.ClusterCreateTime>` },
      resource: `start coordinates of Aurora cluster ${clusterId}`,
      state: 'reported by a "Binlog position from crash recovery is <file> <position>" event of the cluster or its writer',
      timeoutSeconds: this.settings.aws.waits.coordinatesSeconds,
    };
    try {
      await this.aws.poll(spec, async () => {
        const events = await look();
        const matches = events
          .map((event) => ({ ...parseCrashRecoveryPosition(event.Message), at: event.Date }))
          .filter((m): m is { file: string; position: number; at: Date | undefined } => typeof (m as { file?: string }).file === 'string')
          .sort((a, b) => (a.at?.getTime() ?? 0) - (b.at?.getTime() ?? 0));
        if (matches.length > 0) {
          found = matches[0];
          return { done: true };
        }
        return { done: false, progress: `${events.length} event(s) so far, none with a binlog position` };
      });
    } catch (error) {
      if (!(error instanceof AwsWaitError)) throw error;
      throw new AwsWaitError(
        error.resource,
        error.waitedSeconds,
        `${error.message.slice(error.resource.length + 2).replace(/ after waiting .*$/, '')} (DescribeEvents of db-cluster ${clusterId} and db-instance ${writerId}); replication cannot start without them: look for the event in the RDS console, raise aws.waits.coordinatesSeconds, then --resume`,
      );
    }
    if (this.aws.planning) return PLANNED_COORDINATES;
    context.log.info(`${clusterId} ends at the source's binlog ${found!.file}:${found!.position} (crash-recovery event${found!.at ? ` of ${found!.at.toISOString()}` : ''})`);
    return { file: found!.file, position: found!.position };
  }

  /** The source's unencrypted cluster snapshot goes only with --cleanup. */
  async removeSnapshot(context: StepContext): Promise<Facts> {
    const snapshotId = String(context.facts.clusterSnapshotId ?? this.clusterSnapshotId(context.runId));
    if (!this.settings.cleanup) {
      return { clusterSnapshotRemoved: false, ...this.switchover.leftInPlace(context, [`aws rds delete-db-cluster-snapshot --region ${this.settings.aws.region} --db-cluster-snapshot-identifier ${snapshotId}`], [snapshotId]) };
    }
    const snapshot = await this.describeClusterSnapshot(snapshotId);
    if (snapshot && !ownedBy(snapshot.TagList, context.runId)) throw this.notOurs('DB cluster snapshot', snapshotId, 'aws.source.clusterId');
    if (snapshot || this.aws.planning) await this.aws.write('rds', new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: snapshotId }));
    return { clusterSnapshotRemoved: true, deletedSnapshots: [snapshotId] };
  }
}

/** The restore that encrypts: the source cluster's settings, the stacks' KMS key. */
export function restoreClusterInput(id: string, snapshotId: string, kmsKeyId: string, source: AuroraSourceSettings, runTagList: Tag[]) {
  return defined({
    DBClusterIdentifier: id,
    SnapshotIdentifier: snapshotId,
    Engine: source.engine,
    EngineVersion: source.engineVersion,
    KmsKeyId: kmsKeyId,
    Port: source.port,
    DBSubnetGroupName: source.subnetGroup,
    VpcSecurityGroupIds: source.securityGroupIds,
    DBClusterParameterGroupName: source.clusterParameterGroup,
    BackupRetentionPeriod: source.backupRetentionPeriod,
    PreferredBackupWindow: source.preferredBackupWindow,
    DeletionProtection: source.deletionProtection,
    CopyTagsToSnapshot: source.copyTagsToSnapshot,
    EnableIAMDatabaseAuthentication: source.iamDatabaseAuthentication,
    EnableCloudwatchLogsExports: source.cloudwatchLogsExports.length > 0 ? source.cloudwatchLogsExports : undefined,
    Tags: carriedTags(source.tags, runTagList),
  });
}

/** The new cluster's writer: the source writer's class and parameter group. */
export function writerInput(id: string, clusterId: string, source: AuroraSourceSettings, runTagList: Tag[]) {
  return defined({
    DBInstanceIdentifier: id,
    DBClusterIdentifier: clusterId,
    Engine: source.engine,
    DBInstanceClass: source.writer.instanceClass,
    DBParameterGroupName: source.writer.parameterGroup,
    PubliclyAccessible: source.writer.publiclyAccessible,
    AutoMinorVersionUpgrade: source.writer.autoMinorVersionUpgrade,
    CACertificateIdentifier: source.writer.caCertificateIdentifier,
    PromotionTier: 0,
    Tags: carriedTags(source.tags, runTagList),
  });
}
