import { DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand, DescribeDBInstancesCommand, type DBCluster, type DBInstance } from '@aws-sdk/client-rds';
import type { CutoverEnvironment } from '../../../config/cutover';
import { AwsGateway } from '../../../lib/platforms/aws/gateway';
import { awsAuroraMysqlPlatform } from '../../../lib/platforms/aws/aws-aurora-mysql-platform';
import { resolveAwsAuroraMysqlSettings } from '../../../lib/platforms/aws/settings';
import type { Logger } from '../../../lib/util/log';
import { exampleEnvironment, ourTags, recordingLogger, type MockedAws, type TestEnvironmentOverrides } from './helpers';

/** The example prod-aurora environment on the committed outputs fixture, with short waits. */
export function auroraEnvironment(overrides: TestEnvironmentOverrides = {}): CutoverEnvironment {
  return exampleEnvironment('prod-aurora', overrides);
}

export const CLUSTER_CREATED = new Date('2026-11-22T12:30:00Z');

/** The unencrypted Aurora MySQL 3 source as DescribeDBClusters returns it. */
export const SOURCE_CLUSTER: DBCluster = {
  DBClusterIdentifier: 'catalog',
  Status: 'available',
  Engine: 'aurora-mysql',
  EngineVersion: '8.0.mysql_aurora.3.05.2',
  EngineMode: 'provisioned',
  Port: 3306,
  Endpoint: 'catalog.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com',
  MasterUsername: 'admin',
  DBSubnetGroup: 'catalog-private',
  VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0a1b2c3d4e5f60041', Status: 'active' }],
  DBClusterParameterGroup: 'catalog-aurora-mysql80',
  BackupRetentionPeriod: 7,
  PreferredBackupWindow: '02:00-02:30',
  DeletionProtection: true,
  CopyTagsToSnapshot: true,
  IAMDatabaseAuthenticationEnabled: false,
  EnabledCloudwatchLogsExports: ['error', 'slowquery'],
  StorageEncrypted: false,
  DBClusterMembers: [
    { DBInstanceIdentifier: 'catalog-reader-1', IsClusterWriter: false, DBClusterParameterGroupStatus: 'in-sync' },
    { DBInstanceIdentifier: 'catalog-writer-1', IsClusterWriter: true, DBClusterParameterGroupStatus: 'in-sync' },
  ],
  TagList: [{ Key: 'team', Value: 'catalog' }, { Key: 'aws:cloudformation:stack-name', Value: 'x' }],
};

/** The source's writer instance. */
export const SOURCE_WRITER: DBInstance = {
  DBInstanceIdentifier: 'catalog-writer-1',
  DBInstanceStatus: 'available',
  Engine: 'aurora-mysql',
  DBClusterIdentifier: 'catalog',
  DBInstanceClass: 'db.r6g.xlarge',
  DBParameterGroups: [{ DBParameterGroupName: 'catalog-aurora-mysql80-instance', ParameterApplyStatus: 'in-sync' }],
  PubliclyAccessible: false,
  AutoMinorVersionUpgrade: false,
  CACertificateIdentifier: 'rds-ca-rsa2048-g1',
};

export const targetCluster = (status: string, extra: Partial<DBCluster> = {}): DBCluster => ({
  DBClusterIdentifier: 'catalog-encrypted',
  Status: status,
  Engine: 'aurora-mysql',
  Port: 3306,
  Endpoint: 'catalog-encrypted.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com',
  MasterUsername: 'admin',
  StorageEncrypted: true,
  ClusterCreateTime: CLUSTER_CREATED,
  TagList: ourTags(),
  ...extra,
});

export const targetWriter = (status: string, extra: Partial<DBInstance> = {}): DBInstance => ({
  DBInstanceIdentifier: 'catalog-encrypted-writer',
  DBInstanceStatus: status,
  Engine: 'aurora-mysql',
  DBClusterIdentifier: 'catalog-encrypted',
  TagList: ourTags(),
  ...extra,
});

const notFound = (name: string) => Object.assign(new Error(`${name}: not found`), { name });

/** DescribeDBClusters / DescribeDBInstances / DescribeDBClusterSnapshots answers by id, in turn (the last for good); 'missing' = NotFound. */
export function describeAurora(
  aws: MockedAws,
  state: { clusters?: Record<string, Array<DBCluster | 'missing'>>; instances?: Record<string, Array<DBInstance | 'missing'>>; snapshots?: Record<string, Array<Record<string, unknown> | 'missing'>> },
): void {
  const answer = <T>(behaviour: { resolvesOnce(v: unknown): T; rejectsOnce(e: Error): T; resolves(v: unknown): unknown; rejects(e: Error): unknown }, answers: unknown[], wrap: (a: unknown) => unknown, fault: string) => {
    let current = behaviour as unknown as typeof behaviour;
    answers.slice(0, -1).forEach((a) => {
      current = (a === 'missing' ? current.rejectsOnce(notFound(fault)) : current.resolvesOnce(wrap(a))) as unknown as typeof behaviour;
    });
    const last = answers[answers.length - 1];
    if (last === 'missing') current.rejects(notFound(fault));
    else current.resolves(wrap(last));
  };
  for (const [id, answers] of Object.entries(state.clusters ?? {})) answer(aws.rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: id }) as never, answers, (a) => ({ DBClusters: [a] }), 'DBClusterNotFoundFault');
  for (const [id, answers] of Object.entries(state.instances ?? {})) answer(aws.rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: id }) as never, answers, (a) => ({ DBInstances: [a] }), 'DBInstanceNotFoundFault');
  for (const [id, answers] of Object.entries(state.snapshots ?? {})) answer(aws.rds.on(DescribeDBClusterSnapshotsCommand, { DBClusterSnapshotIdentifier: id }) as never, answers, (a) => ({ DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: id, ...(a as object) }] }), 'DBClusterSnapshotNotFoundFault');
}

export function liveAurora(aws: MockedAws, environment = auroraEnvironment(), options: { cleanup?: boolean; log?: Logger } = {}) {
  const log = options.log ?? recordingLogger();
  const gateway = new AwsGateway({ mode: 'live', clients: aws.clients, log, waits: { pollSeconds: environment.aws!.waits.pollSeconds } });
  const platform = awsAuroraMysqlPlatform(resolveAwsAuroraMysqlSettings(environment, { cleanup: options.cleanup ?? false }), gateway);
  return { platform, gateway, log };
}
