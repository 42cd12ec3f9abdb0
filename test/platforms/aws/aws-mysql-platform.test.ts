/**
 * The AWS MySQL platform against aws-sdk-client-mock: the exact command sequence of each
 * operation and the parameters that matter (source settings mirrored, KMS key on the copy,
 * UPSERT with the target's endpoint and the configured TTL, deny-all fence, ECS recycle).
 */
import {
  CopyDBSnapshotCommand,
  CreateDBInstanceReadReplicaCommand,
  CreateDBSnapshotCommand,
  DeleteDBInstanceCommand,
  DeleteDBSnapshotCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { DescribeServicesCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { AwsWaitError } from '../../../lib/platforms/aws/gateway';
import { mysqlEncryptRunbook, type MysqlFlowSettings } from '../../../lib/flows/mysql-encrypt';
import { describeState, FENCE_SG, instance, missingThen, KMS_KEY, livePlatform, mockedAws, ourTags, prodEnvironment, recordingLogger, RESTORED_AS_DECLARED, RUN_ID, SOURCE, stepContext } from './helpers';

const REPLICA = 'orders-cutover-replica';
const TARGET = 'orders-encrypted';
const SNAPSHOT = `${REPLICA}-${RUN_ID}`;
const COPY = 'orders-cutover-seed';

const FLOW_SETTINGS: MysqlFlowSettings = { databases: ['orders'], appUsers: ['orders_app'], replicationUser: 'cutover_repl', lagThresholdMs: 1000, switchTimeoutMs: 10000, catchUpTimeoutMs: 60000, minBinlogRetentionHours: 24 };

describe('the seeding steps (RDS instance: a temporary read replica)', () => {
  test('GIVEN an RDS MySQL source THEN the runbook creates the read replica, waits for it, stops it for the start coordinates, clones it and removes it last', () => {
    const { platform } = livePlatform(mockedAws());
    expect(mysqlEncryptRunbook(platform, FLOW_SETTINGS).steps.map((s) => s.id)).toEqual([
      'mysql.preflight', 'mysql.replica.create', 'mysql.replica.catch-up', 'mysql.replica.stop', 'mysql.target.clone',
      'mysql.replication.start', 'mysql.replication.catch-up', 'mysql.switch', 'mysql.verify.checksums', 'mysql.source.fence', 'mysql.replica.remove',
    ]);
  });
});

describe('createReplica', () => {
  test('GIVEN no replica WHEN created THEN CreateDBInstanceReadReplica mirrors the source (class, security groups, parameter group) and waits until available', async () => {
    const aws = mockedAws();
    describeState(aws, { instances: { orders: [SOURCE] } });
    // first look: missing; then creating; then available (the SDK waiter polls).
    missingThen(aws, 'instance', REPLICA, instance(REPLICA, 'creating'), instance(REPLICA, 'available'));
    aws.rds.on(CreateDBInstanceReadReplicaCommand).resolves({});
    const { platform, log } = livePlatform(aws);

    const facts = await platform.seeding.createReplica(stepContext(log));

    expect(facts).toEqual({ replicaId: REPLICA });
    const create = aws.rds.commandCalls(CreateDBInstanceReadReplicaCommand);
    expect(create).toHaveLength(1);
    expect(create[0].args[0].input).toEqual({
      DBInstanceIdentifier: REPLICA,
      SourceDBInstanceIdentifier: 'orders',
      DBInstanceClass: 'db.r6g.large',
      VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60021'],
      DBParameterGroupName: 'orders-mysql80',
      MultiAZ: false,
      PubliclyAccessible: false,
      Tags: [{ Key: 'project', Value: 'rds-cutover' }, { Key: 'environment', Value: 'prod' }, { Key: 'rds-cutover:environment', Value: 'prod' }, ...ourTags()],
    });
    // Same-region replicas must not name a subnet group (DBSubnetGroupNotAllowedFault).
    expect(create[0].args[0].input).not.toHaveProperty('DBSubnetGroupName');
    expect(aws.mutating()).toEqual(['rds.CreateDBInstanceReadReplica']);
  });

  test('GIVEN a replica of this run already exists (resumed run) THEN nothing is created', async () => {
    const aws = mockedAws();
    describeState(aws, { instances: { orders: [SOURCE], [REPLICA]: [instance(REPLICA, 'available')] } });
    const { platform, log } = livePlatform(aws);
    await platform.seeding.createReplica(stepContext(log));
    expect(aws.mutating()).toEqual([]);
  });

  test('GIVEN an instance with the replica name that another run or a person created THEN it is refused, naming the setting', async () => {
    const aws = mockedAws();
    describeState(aws, { instances: { orders: [SOURCE], [REPLICA]: [instance(REPLICA, 'available', { TagList: [] })] } });
    const { platform, log } = livePlatform(aws);
    await expect(platform.seeding.createReplica(stepContext(log))).rejects.toThrow(/orders-cutover-replica already exists and was not created by this run.*aws\.replicaInstanceId/);
    expect(aws.mutating()).toEqual([]);
  });

  test('GIVEN the replica never becomes available THEN the waiter times out with an error naming the instance and the time waited', async () => {
    const aws = mockedAws();
    describeState(aws, { instances: { orders: [SOURCE], [REPLICA]: [instance(REPLICA, 'creating')] } });
    aws.rds.on(CreateDBInstanceReadReplicaCommand).resolves({});
    const { platform, log } = livePlatform(aws, prodEnvironment({ waits: { instanceSeconds: 0.2, pollSeconds: 0.02 } }));
    const error = await platform.seeding.createReplica(stepContext(log)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(AwsWaitError);
    expect((error as Error).message).toMatch(/^read replica orders-cutover-replica: not available \(timed out\) after waiting 0\.\d s$/);
    expect((error as AwsWaitError).waitedSeconds).toBeGreaterThanOrEqual(0.15);
  });
});

describe('cloneTarget', () => {
  test('GIVEN the stopped replica THEN snapshot → encrypted copy with the stacks\' KMS key → restore carrying the settings the cutover stack declares for it (databaseRestoreSettings), in that order', async () => {
    const aws = mockedAws();
    describeState(aws, { instances: { orders: [SOURCE] } });
    missingThen(aws, 'instance', TARGET, instance(TARGET, 'available', RESTORED_AS_DECLARED));
    missingThen(aws, 'snapshot', SNAPSHOT, { Status: 'available', TagList: ourTags() });
    missingThen(aws, 'snapshot', COPY, { Status: 'copying', PercentProgress: 40, TagList: ourTags() }, { Status: 'available', PercentProgress: 100, TagList: ourTags() });
    aws.rds.on(CreateDBSnapshotCommand).resolves({});
    aws.rds.on(CopyDBSnapshotCommand).resolves({});
    aws.rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    const log = recordingLogger();
    const { platform } = livePlatform(aws, prodEnvironment(), { log });

    const facts = await platform.cloneTarget(stepContext(log, { replicaId: REPLICA, startBinlogFile: 'mysql-bin-changelog.000042' }));

    expect(facts).toEqual({ targetId: TARGET, replicaSnapshotId: SNAPSHOT, encryptedSnapshotId: COPY });
    expect(aws.mutating()).toEqual(['rds.CreateDBSnapshot', 'rds.CopyDBSnapshot', 'rds.RestoreDBInstanceFromDBSnapshot']);
    expect(aws.rds.commandCalls(CreateDBSnapshotCommand)[0].args[0].input).toMatchObject({ DBInstanceIdentifier: REPLICA, DBSnapshotIdentifier: SNAPSHOT });
    expect(aws.rds.commandCalls(CopyDBSnapshotCommand)[0].args[0].input).toMatchObject({ SourceDBSnapshotIdentifier: SNAPSHOT, TargetDBSnapshotIdentifier: COPY, KmsKeyId: KMS_KEY });
    const restore = aws.rds.commandCalls(RestoreDBInstanceFromDBSnapshotCommand)[0].args[0].input;
    // config/infra/prod.ts declares orders-encrypted (restoredByCutover): the stack's settings, so
    // that its import later changes nothing; the source's only where the stack declares nothing.
    const { DBInstanceIdentifier: _id, DBSnapshotIdentifier: _snapshot, Tags, ...settings } = restore;
    expect(settings).toEqual({
      DBInstanceClass: 'db.r6g.large',
      DBSubnetGroupName: 'orders-encrypted',
      VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60031'],
      DBParameterGroupName: 'orders-encrypted-replication',
      OptionGroupName: 'default:mysql-8-0',
      MultiAZ: true,
      Port: 3306,
      PubliclyAccessible: false,
      StorageType: 'gp3',
      AllocatedStorage: 200,
      BackupRetentionPeriod: 7,
      PreferredBackupWindow: SOURCE.PreferredBackupWindow,
      AutoMinorVersionUpgrade: true,
      DeletionProtection: true,
      CopyTagsToSnapshot: true,
      EnableIAMDatabaseAuthentication: true,
      ...(SOURCE.CACertificateIdentifier ? { CACertificateIdentifier: SOURCE.CACertificateIdentifier } : {}),
    });
    expect(restore).toMatchObject({ DBInstanceIdentifier: TARGET, DBSnapshotIdentifier: COPY });
    // The stack's tags (what Terraform gives it), then the run's; not the source's (Terraform would remove them).
    expect(Tags).toEqual([
      { Key: 'rds-cutover:stack', Value: 'cutover' },
      { Key: 'project', Value: 'rds-cutover' },
      { Key: 'environment', Value: 'prod' },
      { Key: 'rds-cutover:environment', Value: 'prod' },
      ...ourTags(),
    ]);
    expect(log.lines).toContain('info encrypted copy orders-cutover-seed: copying, 40% copied');
  });

  test('GIVEN the stopped replica THEN snapshot → encrypted copy with the stacks\' KMS key → restore of a target the stacks do not declare carrying the source\'s settings, in that order', async () => {
    const aws = mockedAws();
    describeState(aws, { instances: { orders: [SOURCE] } });
    missingThen(aws, 'instance', 'orders-v2', instance('orders-v2', 'available'));
    missingThen(aws, 'snapshot', SNAPSHOT, { Status: 'available', TagList: ourTags() });
    missingThen(aws, 'snapshot', COPY, { Status: 'copying', PercentProgress: 40, TagList: ourTags() }, { Status: 'available', PercentProgress: 100, TagList: ourTags() });
    aws.rds.on(CreateDBSnapshotCommand).resolves({});
    aws.rds.on(CopyDBSnapshotCommand).resolves({});
    aws.rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    const log = recordingLogger();
    const environment = prodEnvironment();
    const { platform } = livePlatform(aws, { ...environment, aws: { ...environment.aws!, targetInstanceId: 'orders-v2', encryptedSnapshotId: COPY } }, { log });

    const facts = await platform.cloneTarget(stepContext(log, { replicaId: REPLICA, startBinlogFile: 'mysql-bin-changelog.000042' }));

    expect(facts).toEqual({ targetId: 'orders-v2', replicaSnapshotId: SNAPSHOT, encryptedSnapshotId: COPY });
    expect(aws.mutating()).toEqual(['rds.CreateDBSnapshot', 'rds.CopyDBSnapshot', 'rds.RestoreDBInstanceFromDBSnapshot']);
    expect(aws.rds.commandCalls(CreateDBSnapshotCommand)[0].args[0].input).toMatchObject({ DBInstanceIdentifier: REPLICA, DBSnapshotIdentifier: SNAPSHOT });
    expect(aws.rds.commandCalls(CopyDBSnapshotCommand)[0].args[0].input).toMatchObject({ SourceDBSnapshotIdentifier: SNAPSHOT, TargetDBSnapshotIdentifier: COPY, KmsKeyId: KMS_KEY });
    const restore = aws.rds.commandCalls(RestoreDBInstanceFromDBSnapshotCommand)[0].args[0].input;
    expect(restore).toMatchObject({
      DBInstanceIdentifier: 'orders-v2',
      DBSnapshotIdentifier: COPY,
      DBInstanceClass: 'db.r6g.large',
      DBSubnetGroupName: 'orders-private',
      VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60021'],
      DBParameterGroupName: 'orders-mysql80',
      OptionGroupName: 'default:mysql-8-0',
      MultiAZ: true,
      StorageType: 'gp3',
      Iops: 3000,
      BackupRetentionPeriod: 7,
      DeletionProtection: true,
      EnableCloudwatchLogsExports: ['error'],
    });
    // The source's own tags travel (not AWS-reserved ones), plus the run's.
    expect(restore.Tags).toEqual([{ Key: 'team', Value: 'orders' }, { Key: 'project', Value: 'rds-cutover' }, { Key: 'environment', Value: 'prod' }, { Key: 'rds-cutover:environment', Value: 'prod' }, ...ourTags()]);
    expect(log.lines).toContain('info encrypted copy orders-cutover-seed: copying, 40% copied');
  });

  test('GIVEN a run killed after the snapshot WHEN resumed THEN no second snapshot is taken: the copy starts from the existing one', async () => {
    const aws = mockedAws();
    describeState(aws, { instances: { orders: [SOURCE] }, snapshots: { [SNAPSHOT]: [{ Status: 'available', TagList: ourTags() }] } });
    missingThen(aws, 'instance', TARGET, instance(TARGET, 'available', RESTORED_AS_DECLARED));
    missingThen(aws, 'snapshot', COPY, { Status: 'available', PercentProgress: 100, TagList: ourTags() });
    const { platform, log } = livePlatform(aws);
    await platform.cloneTarget(stepContext(log, { replicaId: REPLICA }));
    expect(aws.mutating()).toEqual(['rds.CopyDBSnapshot', 'rds.RestoreDBInstanceFromDBSnapshot']);
  });

  test('GIVEN an encrypted copy of the same name from an earlier run THEN it is refused (it holds other coordinates)', async () => {
    const aws = mockedAws();
    describeState(aws, {
      instances: { orders: [SOURCE], [TARGET]: 'missing' },
      snapshots: { [SNAPSHOT]: [{ Status: 'available', TagList: ourTags() }], [COPY]: [{ Status: 'available', TagList: ourTags('20250101-000000-000000') }] },
    });
    const { platform, log } = livePlatform(aws);
    await expect(platform.cloneTarget(stepContext(log, { replicaId: REPLICA }))).rejects.toThrow(/DB snapshot orders-cutover-seed already exists.*aws\.encryptedSnapshotId/);
    expect(aws.mutating()).toEqual([]);
  });

  test('GIVEN the copy stalls THEN the wait fails naming the copy, its last progress and the time waited', async () => {
    const aws = mockedAws();
    describeState(aws, {
      instances: { orders: [SOURCE], [TARGET]: 'missing' },
      snapshots: { [SNAPSHOT]: [{ Status: 'available', TagList: ourTags() }], [COPY]: [{ Status: 'copying', PercentProgress: 7, TagList: ourTags() }] },
    });
    const { platform, log } = livePlatform(aws, prodEnvironment({ waits: { snapshotSeconds: 0.1, pollSeconds: 0.01 } }));
    await expect(platform.cloneTarget(stepContext(log, { replicaId: REPLICA }))).rejects.toThrow(/^encrypted copy orders-cutover-seed: not available \(timed out; last seen copying, 7% copied\) after waiting 0\.\d s$/);
    expect(aws.mutating()).toEqual([]);
  });
});

describe('switch, fence and recycle', () => {
  function switchState() {
    const aws = mockedAws();
    describeState(aws, {
      instances: {
        [TARGET]: [instance(TARGET, 'available')],
        orders: [SOURCE, { ...SOURCE, VpcSecurityGroups: [{ VpcSecurityGroupId: FENCE_SG, Status: 'adding' }] }, { ...SOURCE, VpcSecurityGroups: [{ VpcSecurityGroupId: FENCE_SG, Status: 'active' }] }],
      },
    });
    aws.route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: 'orders-db.prod.internal.example.com.', Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: SOURCE.Endpoint!.Address }] }], IsTruncated: false, MaxItems: 1 });
    aws.route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C123', Status: 'PENDING', SubmittedAt: new Date() } });
    aws.route53.on(GetChangeCommand).resolvesOnce({ ChangeInfo: { Id: '/change/C123', Status: 'PENDING', SubmittedAt: new Date() } }).resolves({ ChangeInfo: { Id: '/change/C123', Status: 'INSYNC', SubmittedAt: new Date() } });
    aws.rds.on(ModifyDBInstanceCommand).resolves({});
    aws.ecs.on(UpdateServiceCommand).resolves({});
    aws.ecs.on(DescribeServicesCommand).resolves({ services: ['orders-api', 'orders-worker'].map((serviceName) => ({ serviceName, status: 'ACTIVE', desiredCount: 2, runningCount: 2, deployments: [{ status: 'PRIMARY' }] })), failures: [] });
    return aws;
  }

  test('GIVEN a promoted target THEN UPSERT the CNAME to its endpoint with the configured TTL, wait INSYNC, fence with the deny-all group, recycle ECS', async () => {
    const aws = switchState();
    const { platform, log } = livePlatform(aws);
    const context = stepContext(log, { targetId: TARGET });
    await platform.prepareSwitch(context);
    await platform.switchEndpoint(context);
    const fence = await platform.fenceSource(context);
    await platform.recycleClients(context);

    expect(aws.mutating()).toEqual(['route53.ChangeResourceRecordSets', 'rds.ModifyDBInstance', 'ecs.UpdateService', 'ecs.UpdateService']);
    // INSYNC is awaited before the fence: GetChange calls come between the UPSERT and ModifyDBInstance.
    const sent = aws.sent();
    expect(sent.lastIndexOf('route53.GetChange')).toBeLessThan(sent.indexOf('rds.ModifyDBInstance'));
    const upsert = aws.route53.commandCalls(ChangeResourceRecordSetsCommand)[0].args[0].input;
    expect(upsert.HostedZoneId).toBe('Z0123456789PRODZONE01');
    expect(upsert.ChangeBatch!.Changes).toEqual([{ Action: 'UPSERT', ResourceRecordSet: { Name: 'orders-db.prod.internal.example.com', Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: `${TARGET}.abcdefghijkl.eu-west-1.rds.amazonaws.com` }] } }]);
    expect(aws.route53.commandCalls(GetChangeCommand).map((c) => c.args[0].input.Id)).toEqual(['/change/C123', '/change/C123']);
    expect(aws.rds.commandCalls(ModifyDBInstanceCommand)[0].args[0].input).toEqual({ DBInstanceIdentifier: 'orders', VpcSecurityGroupIds: [FENCE_SG], ApplyImmediately: true });
    expect(fence).toEqual({ fence: `sg:${FENCE_SG}`, sourcePreviousSecurityGroupIds: ['sg-0a1b2c3d4e5f60021'] });
    expect(aws.ecs.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input)).toEqual([
      { cluster: 'orders', service: 'orders-api', forceNewDeployment: true },
      { cluster: 'orders', service: 'orders-worker', forceNewDeployment: true },
    ]);
    expect(aws.ecs.commandCalls(DescribeServicesCommand)[0].args[0].input).toEqual({ cluster: 'orders', services: ['orders-api', 'orders-worker'] });
  });

  test('GIVEN the way back (aws.reverseReplication) and a fence group with no egress to the database port WHEN fencing THEN the old source is not fenced (it would cut reverse replication) and the error names the fix', async () => {
    const aws = switchState();
    aws.ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: FENCE_SG, IpPermissions: [], IpPermissionsEgress: [] }] });
    const environment = prodEnvironment();
    const { platform, log } = livePlatform(aws, { ...environment, aws: { ...environment.aws!, reverseReplication: true } });
    const context = stepContext(log, { targetId: TARGET });
    await platform.prepareSwitch(context);
    await platform.switchEndpoint(context);
    await expect(platform.fenceSource(context)).rejects.toThrow(/orders was not fenced .*no egress on tcp 3306: fencing the old source with it would cut replication target -> source \(the way back\)\. Deploy the stacks again/);
    expect(aws.mutating()).toEqual(['route53.ChangeResourceRecordSets']);
  });

  test('GIVEN the DNS change never gets INSYNC THEN the fence is not applied and the error names the change and the wait', async () => {
    const aws = switchState();
    aws.route53.on(GetChangeCommand).resolves({ ChangeInfo: { Id: '/change/C123', Status: 'PENDING', SubmittedAt: new Date() } });
    const { platform, log } = livePlatform(aws, prodEnvironment({ waits: { dnsSeconds: 0.1, pollSeconds: 0.01 } }));
    const context = stepContext(log, { targetId: TARGET });
    await platform.switchEndpoint(context);
    await expect(platform.fenceSource(context)).rejects.toThrow(/^Route 53 change \/change\/C123 for orders-db\.prod\.internal\.example\.com: not INSYNC \(timed out\) after waiting 0\.\d s$/);
    expect(aws.rds.commandCalls(ModifyDBInstanceCommand)).toHaveLength(0);
  });
});

describe('removeReplica and --cleanup', () => {
  test('GIVEN no --cleanup THEN nothing is deleted and the delete commands are printed', async () => {
    const aws = mockedAws();
    const { platform, log } = livePlatform(aws, prodEnvironment(), { cleanup: false });
    const facts = await platform.seeding.removeReplica(stepContext(log, { replicaId: REPLICA, replicaSnapshotId: SNAPSHOT }));
    expect(aws.sent()).toEqual([]);
    expect(facts).toEqual({ replicaRemoved: false, leftForCleanup: [REPLICA, SNAPSHOT] });
    expect((log as ReturnType<typeof recordingLogger>).lines.join('\n')).toContain(`aws rds delete-db-instance --region eu-west-1 --db-instance-identifier ${REPLICA} --skip-final-snapshot`);
  });

  test('GIVEN --cleanup THEN the replica and its unencrypted snapshot are deleted, the encrypted copy is kept', async () => {
    const aws = mockedAws();
    aws.rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: REPLICA })
      .resolvesOnce({ DBInstances: [instance(REPLICA, 'available')] })
      .rejects(Object.assign(new Error('gone'), { name: 'DBInstanceNotFoundFault' }));
    describeState(aws, { instances: {}, snapshots: { [SNAPSHOT]: [{ Status: 'available', TagList: ourTags() }] } });
    aws.rds.on(DeleteDBInstanceCommand).resolves({});
    aws.rds.on(DeleteDBSnapshotCommand).resolves({});
    const { platform, log } = livePlatform(aws, prodEnvironment(), { cleanup: true });
    await platform.seeding.removeReplica(stepContext(log, { replicaId: REPLICA, replicaSnapshotId: SNAPSHOT }));
    expect(aws.mutating()).toEqual(['rds.DeleteDBInstance', 'rds.DeleteDBSnapshot']);
    expect(aws.rds.commandCalls(DeleteDBInstanceCommand)[0].args[0].input).toEqual({ DBInstanceIdentifier: REPLICA, SkipFinalSnapshot: true, DeleteAutomatedBackups: true });
    expect(aws.rds.commandCalls(DeleteDBSnapshotCommand)[0].args[0].input).toEqual({ DBSnapshotIdentifier: SNAPSHOT });
  });

  test('GIVEN --cleanup and a replica someone else owns THEN it is not deleted', async () => {
    const aws = mockedAws();
    describeState(aws, { instances: { [REPLICA]: [instance(REPLICA, 'available', { TagList: [] })] } });
    const { platform, log } = livePlatform(aws, prodEnvironment(), { cleanup: true });
    await expect(platform.seeding.removeReplica(stepContext(log, { replicaId: REPLICA }))).rejects.toThrow(/not created by this run/);
    expect(aws.mutating()).toEqual([]);
  });
});

describe('administrator connections', () => {
  const saved = process.env.PROD_ORDERS_ADMIN_PASSWORD;
  afterEach(() => {
    if (saved === undefined) delete process.env.PROD_ORDERS_ADMIN_PASSWORD;
    else process.env.PROD_ORDERS_ADMIN_PASSWORD = saved;
  });

  test('GIVEN a tunnel and aws.tlsCaFile THEN the endpoint dials the tunnel with TLS verified against the bundle and the RDS name', async () => {
    process.env.PROD_ORDERS_ADMIN_PASSWORD = 'not-a-real-password';
    const aws = mockedAws();
    describeState(aws, { instances: { orders: [SOURCE] } });
    const { platform } = livePlatform(aws, { ...prodEnvironment(), aws: { ...prodEnvironment().aws!, tlsCaFile: '/etc/rds/global-bundle.pem' } });
    const endpoint = await platform.source();
    expect(endpoint).toMatchObject({ host: '127.0.0.1', port: 13306, user: 'admin' });
    expect(endpoint.tls).toEqual({ caFile: '/etc/rds/global-bundle.pem', rejectUnauthorized: true, serverName: SOURCE.Endpoint!.Address });
  });

  test('GIVEN no aws.tlsCaFile THEN TLS is still required and verified (Node\'s CAs)', async () => {
    process.env.PROD_ORDERS_ADMIN_PASSWORD = 'not-a-real-password';
    const aws = mockedAws();
    describeState(aws, { instances: { orders: [SOURCE] } });
    const environment = prodEnvironment();
    const { platform } = livePlatform(aws, { ...environment, aws: { ...environment.aws!, tlsCaFile: undefined } });
    expect((await platform.source()).tls).toEqual({ rejectUnauthorized: true, serverName: SOURCE.Endpoint!.Address });
  });
});
