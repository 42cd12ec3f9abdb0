/**
 * The Aurora MySQL platform against aws-sdk-client-mock: cluster snapshot instead of a replica,
 * RestoreDBClusterFromSnapshot with the stacks' KMS key carrying the source's settings, the
 * writer instance, start coordinates from the restored cluster's crash-recovery event, the
 * cluster fence, --cleanup, the Aurora MySQL 3 procedure names and the preflight's binlog checks.
 */
import {
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClusterParametersCommand,
  DescribeEventsCommand,
  ModifyDBClusterCommand,
  RestoreDBClusterFromSnapshotCommand,
} from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { DescribeServicesCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { dialectFor } from '../../../lib/engines/mysql/dialect';
import { AwsWaitError } from '../../../lib/platforms/aws/gateway';
import { parseCrashRecoveryPosition } from '../../../lib/platforms/aws/aws-aurora-mysql-platform';
import { auroraPreflight } from '../../../lib/platforms/aws/preflight';
import { resolveAwsAuroraMysqlSettings } from '../../../lib/platforms/aws/settings';
import { mysqlEncryptRunbook, type MysqlFlowSettings } from '../../../lib/flows/mysql-encrypt';
import { runInStep } from '../../../lib/runbook/current-step';
import { OUTSIDE_A_STEP } from '../../../lib/platforms/aws/gateway';
import { FENCE_SG, KMS_KEY, mockedAws, ourTags, recordingLogger, RUN_ID, stepContext, type MockedAws } from './helpers';
import { auroraEnvironment, CLUSTER_CREATED, describeAurora, liveAurora, SOURCE_CLUSTER, SOURCE_WRITER, targetCluster, targetWriter } from './aurora-helpers';

const SNAPSHOT = `catalog-cutover-${RUN_ID}`;
const TARGET = 'catalog-encrypted';
const WRITER = 'catalog-encrypted-writer';

describe('parseCrashRecoveryPosition', () => {
  test('reads file and position from the event message; anything else is not a position', () => {
    expect(parseCrashRecoveryPosition('Binlog position from crash recovery is mysql-bin-changelog.000003 4278')).toEqual({ file: 'mysql-bin-changelog.000003', position: 4278 });
    expect(parseCrashRecoveryPosition('DB instance restarted')).toBeUndefined();
    expect(parseCrashRecoveryPosition(undefined)).toBeUndefined();
  });
});

const FLOW_SETTINGS: MysqlFlowSettings = { databases: ['catalog'], appUsers: ['catalog_app'], replicationUser: 'cutover_repl', lagThresholdMs: 1000, switchTimeoutMs: 10000, catchUpTimeoutMs: 60000, minBinlogRetentionHours: 24 };

describe('the seeding steps (Aurora: a cluster snapshot, no replica)', () => {
  test('GIVEN an Aurora MySQL source THEN the runbook seeds under the cluster snapshot\'s own step names (mysql.snapshot.create before the clone, mysql.snapshot.remove last) and has no mysql.replica.* step', () => {
    const { platform } = liveAurora(mockedAws());
    const ids = mysqlEncryptRunbook(platform, FLOW_SETTINGS).steps.map((s) => s.id);
    expect(ids.filter((id) => id.startsWith('mysql.replica.'))).toEqual([]);
    expect(ids).toEqual(['mysql.preflight', 'mysql.snapshot.create', 'mysql.target.clone', 'mysql.replication.start', 'mysql.replication.catch-up', 'mysql.switch', 'mysql.verify.checksums', 'mysql.source.fence', 'mysql.snapshot.remove']);
  });
});

describe('call labels', () => {
  test('GIVEN platform operations WHEN they run inside a step THEN every AWS call they make is labelled with that step (the engine\'s), and one made outside any step says so', async () => {
    const aws = mockedAws();
    describeAurora(aws, { snapshots: { [SNAPSHOT]: [{ Status: 'available', TagList: ourTags() }] } });
    const { platform, gateway, log } = liveAurora(aws);
    await runInStep('mysql.snapshot.create', () => platform.seeding.createSnapshot(stepContext(log)));
    await runInStep('mysql.snapshot.remove', () => platform.seeding.removeSnapshot(stepContext(log, { clusterSnapshotId: SNAPSHOT })));
    await platform.seeding.sourceCluster();
    expect(gateway.calls.map((c) => `${c.step} ${c.command}`)).toEqual([
      'mysql.snapshot.create DescribeDBClusterSnapshots',
      'mysql.snapshot.create DescribeDBClusterSnapshots',
      `${OUTSIDE_A_STEP} DescribeDBClusters`,
    ]);
  });
});

describe('createSnapshot (Aurora: the source cluster snapshot, no replica)', () => {
  test('GIVEN no snapshot THEN CreateDBClusterSnapshot of the source, tagged with the run, waits until available; no replica is created', async () => {
    const aws = mockedAws();
    describeAurora(aws, { snapshots: { [SNAPSHOT]: ['missing', { Status: 'creating', TagList: ourTags() }, { Status: 'available', TagList: ourTags() }] } });
    aws.rds.on(CreateDBClusterSnapshotCommand).resolves({});
    const { platform, log } = liveAurora(aws);
    const facts = await platform.seeding.createSnapshot(stepContext(log));
    expect(facts).toEqual({ clusterSnapshotId: SNAPSHOT });
    expect(aws.mutating()).toEqual(['rds.CreateDBClusterSnapshot']);
    expect(aws.rds.commandCalls(CreateDBClusterSnapshotCommand)[0].args[0].input).toEqual({
      DBClusterIdentifier: 'catalog',
      DBClusterSnapshotIdentifier: SNAPSHOT,
      Tags: [{ Key: 'project', Value: 'rds-cutover' }, { Key: 'environment', Value: 'prod' }, { Key: 'rds-cutover:environment', Value: 'prod' }, ...ourTags()],
    });
  });

  test('GIVEN a run killed after the snapshot WHEN resumed THEN no second snapshot', async () => {
    const aws = mockedAws();
    describeAurora(aws, { snapshots: { [SNAPSHOT]: [{ Status: 'available', TagList: ourTags() }] } });
    const { platform, log } = liveAurora(aws);
    await platform.seeding.createSnapshot(stepContext(log));
    expect(aws.mutating()).toEqual([]);
  });

  test('GIVEN a snapshot of that name another run made THEN it is refused and nothing is created', async () => {
    const aws = mockedAws();
    describeAurora(aws, { snapshots: { [SNAPSHOT]: [{ Status: 'available', TagList: ourTags('20250101-000000-000000') }] } });
    const { platform, log } = liveAurora(aws);
    await expect(platform.seeding.createSnapshot(stepContext(log))).rejects.toThrow(/DB cluster snapshot catalog-cutover-.* already exists and was not created by this run/);
    expect(aws.mutating()).toEqual([]);
  });
});

describe('cloneTarget (encrypted restore + writer)', () => {
  function restoreState(): MockedAws {
    const aws = mockedAws();
    describeAurora(aws, {
      clusters: { catalog: [SOURCE_CLUSTER], [TARGET]: ['missing', targetCluster('creating'), targetCluster('available')] },
      instances: { 'catalog-writer-1': [SOURCE_WRITER], [WRITER]: ['missing', targetWriter('creating'), targetWriter('available')] },
    });
    aws.rds.on(RestoreDBClusterFromSnapshotCommand).resolves({});
    aws.rds.on(CreateDBInstanceCommand).resolves({});
    return aws;
  }

  test('GIVEN the snapshot THEN RestoreDBClusterFromSnapshot with the stacks\' KmsKeyId carrying the source\'s settings, wait, then CreateDBInstance for the writer, wait, in that order', async () => {
    const aws = restoreState();
    const { platform, log } = liveAurora(aws);
    const facts = await platform.cloneTarget(stepContext(log, { clusterSnapshotId: SNAPSHOT }));

    expect(facts).toEqual({ targetClusterId: TARGET, targetWriterInstanceId: WRITER, clusterSnapshotId: SNAPSHOT });
    expect(aws.mutating()).toEqual(['rds.RestoreDBClusterFromSnapshot', 'rds.CreateDBInstance']);
    const sent = aws.sent();
    // The cluster is waited for (DescribeDBClusters polls) before the writer is created.
    const restoreAt = sent.indexOf('rds.RestoreDBClusterFromSnapshot');
    const createAt = sent.indexOf('rds.CreateDBInstance');
    expect(sent.slice(restoreAt, createAt).filter((c) => c === 'rds.DescribeDBClusters').length).toBeGreaterThanOrEqual(1);
    expect(sent.slice(createAt).filter((c) => c === 'rds.DescribeDBInstances').length).toBeGreaterThanOrEqual(1);

    const restore = aws.rds.commandCalls(RestoreDBClusterFromSnapshotCommand)[0].args[0].input;
    expect(restore).toEqual({
      DBClusterIdentifier: TARGET,
      SnapshotIdentifier: SNAPSHOT,
      Engine: 'aurora-mysql',
      EngineVersion: '8.0.mysql_aurora.3.05.2',
      KmsKeyId: KMS_KEY,
      Port: 3306,
      DBSubnetGroupName: 'catalog-private',
      VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60041'],
      DBClusterParameterGroupName: 'catalog-aurora-mysql80',
      BackupRetentionPeriod: 7,
      PreferredBackupWindow: '02:00-02:30',
      DeletionProtection: true,
      CopyTagsToSnapshot: true,
      EnableIAMDatabaseAuthentication: false,
      EnableCloudwatchLogsExports: ['error', 'slowquery'],
      Tags: [{ Key: 'team', Value: 'catalog' }, { Key: 'project', Value: 'rds-cutover' }, { Key: 'environment', Value: 'prod' }, { Key: 'rds-cutover:environment', Value: 'prod' }, ...ourTags()],
    });
    expect(aws.rds.commandCalls(CreateDBInstanceCommand)[0].args[0].input).toMatchObject({
      DBInstanceIdentifier: WRITER,
      DBClusterIdentifier: TARGET,
      Engine: 'aurora-mysql',
      DBInstanceClass: 'db.r6g.xlarge',
      DBParameterGroupName: 'catalog-aurora-mysql80-instance',
      PubliclyAccessible: false,
      CACertificateIdentifier: 'rds-ca-rsa2048-g1',
    });
  });

  test('GIVEN a cluster of the target name this run did not create THEN it is refused, naming aws.targetClusterId, and nothing is created', async () => {
    const aws = mockedAws();
    describeAurora(aws, { clusters: { catalog: [SOURCE_CLUSTER], [TARGET]: [targetCluster('available', { TagList: [] })] }, instances: { 'catalog-writer-1': [SOURCE_WRITER] } });
    const { platform, log } = liveAurora(aws);
    await expect(platform.cloneTarget(stepContext(log))).rejects.toThrow(/Aurora cluster catalog-encrypted already exists.*aws\.targetClusterId/);
    expect(aws.mutating()).toEqual([]);
  });

  test('GIVEN a run resumed after the restore THEN only the writer is created', async () => {
    const aws = mockedAws();
    describeAurora(aws, {
      clusters: { catalog: [SOURCE_CLUSTER], [TARGET]: [targetCluster('available')] },
      instances: { 'catalog-writer-1': [SOURCE_WRITER], [WRITER]: ['missing', targetWriter('available')] },
    });
    aws.rds.on(CreateDBInstanceCommand).resolves({});
    const { platform, log } = liveAurora(aws);
    await platform.cloneTarget(stepContext(log));
    expect(aws.mutating()).toEqual(['rds.CreateDBInstance']);
  });
});

describe('startCoordinates (the restored cluster\'s crash-recovery event)', () => {
  test('GIVEN the event appears on the writer after a while THEN its file and position are returned; events are read since the cluster was created', async () => {
    const aws = mockedAws();
    describeAurora(aws, { clusters: { [TARGET]: [targetCluster('available')] } });
    aws.rds.on(DescribeEventsCommand, { SourceType: 'db-cluster' }).resolves({ Events: [{ SourceIdentifier: TARGET, Message: 'DB cluster created', Date: new Date('2026-11-22T12:31:00Z') }] });
    aws.rds
      .on(DescribeEventsCommand, { SourceType: 'db-instance' })
      .resolvesOnce({ Events: [] })
      .resolves({
        Events: [
          // A later reboot would report the new cluster's own binlog: the first event is the one.
          { SourceIdentifier: WRITER, Message: 'Binlog position from crash recovery is mysql-bin-changelog.000004 4', Date: new Date('2026-11-22T13:10:00Z') },
          { SourceIdentifier: WRITER, Message: 'Binlog position from crash recovery is mysql-bin-changelog.000003 4278', Date: new Date('2026-11-22T12:40:00Z') },
        ],
      });
    const { platform, log } = liveAurora(aws);
    const coordinates = await platform.seeding.startCoordinates(stepContext(log, { targetClusterId: TARGET, targetWriterInstanceId: WRITER }));
    expect(coordinates).toEqual({ file: 'mysql-bin-changelog.000003', position: 4278 });
    const inputs = aws.rds.commandCalls(DescribeEventsCommand).map((c) => c.args[0].input);
    expect(inputs).toContainEqual({ SourceType: 'db-cluster', SourceIdentifier: TARGET, StartTime: CLUSTER_CREATED });
    expect(inputs).toContainEqual({ SourceType: 'db-instance', SourceIdentifier: WRITER, StartTime: CLUSTER_CREATED });
    expect(aws.mutating()).toEqual([]);
  });

  test('GIVEN the event never appears THEN the wait fails naming the cluster, its writer, and how long it waited', async () => {
    const aws = mockedAws();
    describeAurora(aws, { clusters: { [TARGET]: [targetCluster('available')] } });
    aws.rds.on(DescribeEventsCommand).resolves({ Events: [{ SourceIdentifier: TARGET, Message: 'DB cluster created' }] });
    const { platform, log } = liveAurora(aws, auroraEnvironment({ waits: { coordinatesSeconds: 0.1, pollSeconds: 0.01 } }));
    const error = await platform.seeding.startCoordinates(stepContext(log)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(AwsWaitError);
    expect((error as Error).message).toMatch(
      /^start coordinates of Aurora cluster catalog-encrypted: not reported by a "Binlog position from crash recovery is <file> <position>" event of the cluster or its writer \(timed out; last seen \d+ event\(s\) so far, none with a binlog position\) \(DescribeEvents of db-cluster catalog-encrypted and db-instance catalog-encrypted-writer\); .*--resume after waiting 0\.\d s$/,
    );
  });
});

describe('switch, fence, clean-up', () => {
  test('GIVEN the promoted target THEN UPSERT to the target cluster\'s writer endpoint, INSYNC, then ModifyDBCluster with the deny-all group', async () => {
    const aws = mockedAws();
    describeAurora(aws, {
      clusters: {
        [TARGET]: [targetCluster('available')],
        catalog: [SOURCE_CLUSTER, SOURCE_CLUSTER, { ...SOURCE_CLUSTER, VpcSecurityGroups: [{ VpcSecurityGroupId: FENCE_SG, Status: 'active' }] }],
      },
    });
    aws.route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: 'catalog-db.prod.internal.example.com.', Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: SOURCE_CLUSTER.Endpoint! }] }], IsTruncated: false, MaxItems: 1 });
    aws.route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C9', Status: 'PENDING', SubmittedAt: new Date() } });
    aws.route53.on(GetChangeCommand).resolves({ ChangeInfo: { Id: '/change/C9', Status: 'INSYNC', SubmittedAt: new Date() } });
    aws.rds.on(ModifyDBClusterCommand).resolves({});
    aws.ecs.on(UpdateServiceCommand).resolves({});
    aws.ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'catalog-api', status: 'ACTIVE', desiredCount: 1, runningCount: 1, deployments: [{ status: 'PRIMARY' }] }], failures: [] });
    const { platform, log } = liveAurora(aws);
    const context = stepContext(log, { targetClusterId: TARGET });
    await platform.seeding.sourceCluster();
    await platform.prepareSwitch(context);
    await platform.switchEndpoint(context);
    await platform.recycleClients(context);
    await platform.fenceSource(context);
    expect(aws.mutating()).toEqual(['route53.ChangeResourceRecordSets', 'ecs.UpdateService', 'rds.ModifyDBCluster']);
    expect(aws.route53.commandCalls(ChangeResourceRecordSetsCommand)[0].args[0].input.ChangeBatch!.Changes![0].ResourceRecordSet).toEqual({
      Name: 'catalog-db.prod.internal.example.com', Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: 'catalog-encrypted.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com' }],
    });
    expect(aws.rds.commandCalls(ModifyDBClusterCommand)[0].args[0].input).toEqual({ DBClusterIdentifier: 'catalog', VpcSecurityGroupIds: [FENCE_SG], ApplyImmediately: true });
  });

  test('GIVEN no --cleanup THEN nothing is deleted and the delete command is printed; with --cleanup the source\'s unencrypted cluster snapshot is deleted', async () => {
    const aws = mockedAws();
    const { platform, log } = liveAurora(aws);
    expect(await platform.seeding.removeSnapshot(stepContext(log, { clusterSnapshotId: SNAPSHOT }))).toEqual({ clusterSnapshotRemoved: false, leftForCleanup: [SNAPSHOT] });
    expect(aws.sent()).toEqual([]);
    expect((log as ReturnType<typeof recordingLogger>).lines.join('\n')).toContain(`aws rds delete-db-cluster-snapshot --region eu-west-1 --db-cluster-snapshot-identifier ${SNAPSHOT}`);

    const withCleanup = mockedAws();
    describeAurora(withCleanup, { snapshots: { [SNAPSHOT]: [{ Status: 'available', TagList: ourTags() }] } });
    withCleanup.rds.on(DeleteDBClusterSnapshotCommand).resolves({});
    const live = liveAurora(withCleanup, auroraEnvironment(), { cleanup: true });
    await live.platform.seeding.removeSnapshot(stepContext(live.log, { clusterSnapshotId: SNAPSHOT }));
    expect(withCleanup.mutating()).toEqual(['rds.DeleteDBClusterSnapshot']);
  });
});

describe('Aurora MySQL 3 replication procedures', () => {
  test('the detected MySQL 8.0 dialect is given the Aurora MySQL 3 names: rds_set_external_source, rds_reset_external_source', () => {
    const { platform } = liveAurora(mockedAws());
    const dialect = platform.dialect!(dialectFor('8.0.32', { rdsProcedures: true }));
    expect(dialect.configureReplication({ host: 'catalog.cluster-x', port: 3306, user: 'cutover_repl', password: 'p', logFile: 'mysql-bin-changelog.000003', logPosition: 4278, ssl: true })).toEqual([
      "CALL mysql.rds_set_external_source('catalog.cluster-x', 3306, 'cutover_repl', 'p', 'mysql-bin-changelog.000003', 4278, 1)",
    ]);
    expect(dialect.resetReplication()).toBe('CALL mysql.rds_reset_external_source');
    expect(dialect.startReplication()).toBe('CALL mysql.rds_start_replication');
    expect(dialect.showReplicaStatus()).toBe('SHOW REPLICA STATUS');
    expect(dialect.name).toBe('mysql80');
  });
});

describe('preflight', () => {
  function account(parameters: Array<{ ParameterName: string; ParameterValue: string }>, cluster = SOURCE_CLUSTER): MockedAws {
    const aws = mockedAws();
    describeAurora(aws, { clusters: { catalog: [cluster] }, instances: { 'catalog-writer-1': [SOURCE_WRITER] } });
    aws.rds.on(DescribeDBClusterParametersCommand).resolves({ Parameters: parameters });
    aws.sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111', Arn: 'arn:aws:sts::111111111111:assumed-role/op/x' });
    aws.kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'k', KeyState: 'Enabled' } });
    aws.ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: FENCE_SG, IpPermissions: [], IpPermissionsEgress: [] }] });
    aws.route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: 'catalog-db.prod.internal.example.com.', Type: 'CNAME', ResourceRecords: [{ Value: SOURCE_CLUSTER.Endpoint! }] }] });
    aws.ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'catalog-api', status: 'ACTIVE' }], failures: [] });
    return aws;
  }

  test('GIVEN binlog_format=ROW applied THEN it passes, reading the source cluster\'s own parameter group', async () => {
    const aws = account([{ ParameterName: 'binlog_format', ParameterValue: 'ROW' }]);
    const { platform, gateway, log } = liveAurora(aws);
    const facts = await auroraPreflight(platform, gateway, { log });
    expect(facts).toMatchObject({ sourceEngineVersion: '8.0.mysql_aurora.3.05.2', sourceWriter: 'catalog-writer-1' });
    expect(aws.rds.commandCalls(DescribeDBClusterParametersCommand)[0].args[0].input).toEqual({ DBClusterParameterGroupName: 'catalog-aurora-mysql80', Source: 'user' });
    expect(aws.mutating()).toEqual([]);
  });

  test('GIVEN binlog off, a reboot pending and an encrypted Aurora MySQL 2 source THEN each problem is named with its fix', async () => {
    const aws = account([], {
      ...SOURCE_CLUSTER,
      EngineVersion: '5.7.mysql_aurora.2.12.1',
      StorageEncrypted: true,
      KmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/old',
      DBClusterMembers: [{ DBInstanceIdentifier: 'catalog-writer-1', IsClusterWriter: true, DBClusterParameterGroupStatus: 'pending-reboot' }],
    });
    const { platform, gateway, log } = liveAurora(aws);
    const error = await auroraPreflight(platform, gateway, { log }).catch((e: Error) => e);
    expect((error as Error).name).toBe('PreconditionFailed');
    const message = (error as Error).message;
    expect(message).toContain('Aurora MySQL 3 (8.0.mysql_aurora.3.*) only');
    expect(message).toContain('set aws.allowEncryptedSource: true');
    expect(message).toContain('binlog_format is not set (OFF) in catalog-aurora-mysql80: set binlog_format=ROW');
    expect(message).toContain('catalog-writer-1 of catalog: cluster parameter group changes are pending a reboot');
  });

  test('GIVEN the default cluster parameter group THEN it is refused: binary logging cannot be turned on there', async () => {
    const aws = account([], { ...SOURCE_CLUSTER, DBClusterParameterGroup: 'default.aurora-mysql8.0' });
    const { platform, gateway, log } = liveAurora(aws);
    await expect(auroraPreflight(platform, gateway, { log })).rejects.toThrow(/default cluster parameter group default\.aurora-mysql8\.0.*attach a custom cluster parameter group with binlog_format=ROW/);
  });
});

describe('settings', () => {
  test('instance-flow settings on an Aurora source are refused, naming the Aurora ones', () => {
    const environment = auroraEnvironment();
    expect(() => resolveAwsAuroraMysqlSettings({ ...environment, aws: { ...environment.aws!, replicaInstanceId: 'catalog-replica' } }, { cleanup: false })).toThrow(/aws\.replicaInstanceId belong to the RDS instance flow.*aws\.targetClusterId/);
  });
});
