import { readFileSync, writeFileSync } from 'node:fs';
import { RunResources } from '../../../lib/runbook/resources';
import { join } from 'node:path';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { RDSClient, AddTagsToResourceCommand, DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, ListTagsForResourceCommand, RemoveTagsFromResourceCommand, type DBInstance, type Tag } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { KMSClient } from '@aws-sdk/client-kms';
import { STSClient } from '@aws-sdk/client-sts';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { loadEnvironment, type CutoverEnvironment } from '../../../config/cutover';
import type { AwsClients } from '../../../lib/platforms/aws/clients';
import { isReadOnlyCommand, newClients } from '../../../lib/platforms/aws/clients';
import { AwsGateway } from '../../../lib/platforms/aws/gateway';
import { awsMysqlPlatform, RUN_ID_TAG } from '../../../lib/platforms/aws/aws-mysql-platform';
import { resolveAwsMysqlSettings } from '../../../lib/platforms/aws/settings';
import type { Logger } from '../../../lib/util/log';
import { detachedContext, type StepContext } from '../../../lib/runbook/step';

export const OUTPUTS_FIXTURE = join(__dirname, 'fixtures', 'outputs-prod.json');
export const KMS_KEY = 'arn:aws:kms:eu-west-1:111111111111:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0';
export const FENCE_SG = 'sg-0f3e2d1c0b0a09081';
export const RUN_ID = '20261122-120000-abc123';

export type TestEnvironmentOverrides = { waits?: Partial<NonNullable<CutoverEnvironment['aws']>['waits']>; outputsFile?: string };

/** The example prod environment, reading the committed outputs fixture, with waits short enough for tests. */
export function prodEnvironment(overrides: TestEnvironmentOverrides = {}): CutoverEnvironment {
  return exampleEnvironment('prod', overrides);
}

/** An example AWS environment on the committed outputs fixture, with waits short enough for tests. */
export function exampleEnvironment(name: string, overrides: TestEnvironmentOverrides = {}): CutoverEnvironment {
  const environment = loadEnvironment(name);
  return {
    ...environment,
    aws: {
      ...environment.aws!,
      outputsFile: overrides.outputsFile ?? OUTPUTS_FIXTURE,
      waits: { instanceSeconds: 2, snapshotSeconds: 2, dnsSeconds: 2, servicesSeconds: 2, pollSeconds: 0.01, freezeSeconds: 2, coordinatesSeconds: 2, ...overrides.waits },
    },
  };
}

/** The unencrypted source as DescribeDBInstances returns it. */
export const SOURCE: DBInstance = {
  DBInstanceIdentifier: 'orders',
  DBInstanceArn: 'arn:aws:rds:eu-west-1:111111111111:db:orders',
  DBInstanceStatus: 'available',
  Engine: 'mysql',
  EngineVersion: '8.0.39',
  DBInstanceClass: 'db.r6g.large',
  DBSubnetGroup: { DBSubnetGroupName: 'orders-private' },
  VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0a1b2c3d4e5f60021', Status: 'active' }],
  DBParameterGroups: [{ DBParameterGroupName: 'orders-mysql80', ParameterApplyStatus: 'in-sync' }],
  OptionGroupMemberships: [{ OptionGroupName: 'default:mysql-8-0', Status: 'in-sync' }],
  MultiAZ: true,
  StorageType: 'gp3',
  Iops: 3000,
  StorageThroughput: 125,
  Endpoint: { Address: 'orders.abcdefghijkl.eu-west-1.rds.amazonaws.com', Port: 3306 },
  MasterUsername: 'admin',
  PubliclyAccessible: false,
  BackupRetentionPeriod: 7,
  PreferredBackupWindow: '02:00-02:30',
  AutoMinorVersionUpgrade: true,
  DeletionProtection: true,
  CopyTagsToSnapshot: true,
  IAMDatabaseAuthenticationEnabled: false,
  EnabledCloudwatchLogsExports: ['error'],
  CACertificateIdentifier: 'rds-ca-rsa2048-g1',
  StorageEncrypted: false,
  TagList: [{ Key: 'team', Value: 'orders' }, { Key: 'aws:cloudformation:stack-name', Value: 'x' }],
};

/** orders-encrypted as DescribeDBInstances shows it after a restore that took every setting the fixture's databaseRestoreSettings declare. */
export const RESTORED_AS_DECLARED: Partial<DBInstance> = {
  DBInstanceClass: 'db.r6g.large',
  VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0a1b2c3d4e5f60031', Status: 'active' }],
  DBParameterGroups: [{ DBParameterGroupName: 'orders-encrypted-replication', ParameterApplyStatus: 'in-sync' }],
  MultiAZ: true,
  StorageType: 'gp3',
  AllocatedStorage: 200,
  PubliclyAccessible: false,
  BackupRetentionPeriod: 7,
  AutoMinorVersionUpgrade: true,
  DeletionProtection: true,
  CopyTagsToSnapshot: true,
  IAMDatabaseAuthenticationEnabled: true,
};

export const ourTags = (runId = RUN_ID) => [{ Key: RUN_ID_TAG, Value: runId }];

export const instance = (id: string, status: string, extra: Partial<DBInstance> = {}): DBInstance => ({
  DBInstanceIdentifier: id,
  DBInstanceStatus: status,
  Engine: 'mysql',
  Endpoint: { Address: `${id}.abcdefghijkl.eu-west-1.rds.amazonaws.com`, Port: 3306 },
  MasterUsername: 'admin',
  TagList: ourTags(),
  ...extra,
});

export function notFound(kind: 'DBInstanceNotFoundFault' | 'DBSnapshotNotFoundFault'): Error {
  return Object.assign(new Error(`${kind}: not found`), { name: kind });
}

export interface MockedAws {
  clients: AwsClients;
  rds: AwsClientStub<RDSClient>;
  route53: AwsClientStub<Route53Client>;
  ecs: AwsClientStub<ECSClient>;
  ec2: AwsClientStub<EC2Client>;
  kms: AwsClientStub<KMSClient>;
  sts: AwsClientStub<STSClient>;
  secretsmanager: AwsClientStub<SecretsManagerClient>;
  /** Every command sent to any client, in the order sent: `rds.CreateDBSnapshot`. */
  sent(): string[];
  /** Commands sent that are not Describe/List/Get. */
  mutating(): string[];
  reset(): void;
}

/** Real SDK clients with `send` stubbed by aws-sdk-client-mock (nothing leaves the process). */
export function mockedAws(): MockedAws {
  const config = { region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' } };
  const clients = newClients(config);
  const stubs = {
    rds: mockClient(clients.rds),
    route53: mockClient(clients.route53),
    ecs: mockClient(clients.ecs),
    ec2: mockClient(clients.ec2),
    kms: mockClient(clients.kms),
    sts: mockClient(clients.sts),
    secretsmanager: mockClient(clients.secretsmanager),
  };
  // sinon numbers every spy call globally (callId): sorting by it gives the order across clients.
  const sent = () =>
    Object.entries(stubs)
      .flatMap(([service, stub]) => stub.calls().map((call) => ({ id: (call as unknown as { callId: number }).callId, name: `${service}.${(call.args[0] as object).constructor.name.replace(/Command$/, '')}` })))
      .sort((a, b) => a.id - b.id)
      .map((call) => call.name);
  return {
    clients,
    ...stubs,
    sent,
    mutating: () => sent().filter((name) => !isReadOnlyCommand(name.split('.')[1])),
    reset: () => Object.values(stubs).forEach((stub) => stub.reset()),
  };
}

/** DescribeDBInstances / DescribeDBSnapshots answers by identifier (reads only). */
export function describeState(aws: MockedAws, state: { instances: Record<string, DBInstance[] | 'missing'>; snapshots?: Record<string, Array<{ Status: string; PercentProgress?: number; TagList?: { Key: string; Value: string }[] }> | 'missing'> }): void {
  for (const [id, answers] of Object.entries(state.instances)) {
    const behaviour = aws.rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: id });
    if (answers === 'missing') behaviour.rejects(notFound('DBInstanceNotFoundFault'));
    else {
      answers.slice(0, -1).forEach((answer) => behaviour.resolvesOnce({ DBInstances: [answer] }));
      behaviour.resolves({ DBInstances: [answers[answers.length - 1]] });
    }
  }
  for (const [id, answers] of Object.entries(state.snapshots ?? {})) {
    const behaviour = aws.rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: id });
    if (answers === 'missing') behaviour.rejects(notFound('DBSnapshotNotFoundFault'));
    else {
      answers.slice(0, -1).forEach((answer) => behaviour.resolvesOnce({ DBSnapshots: [{ DBSnapshotIdentifier: id, ...answer }] }));
      behaviour.resolves({ DBSnapshots: [{ DBSnapshotIdentifier: id, ...answers[answers.length - 1] }] });
    }
  }
}

export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string) => lines.push(`${level} ${message}`);
  return { lines, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

export function livePlatform(aws: MockedAws, environment = prodEnvironment(), options: { cleanup?: boolean; log?: Logger } = {}) {
  const log = options.log ?? recordingLogger();
  const gateway = new AwsGateway({ mode: 'live', clients: aws.clients, log, waits: { pollSeconds: environment.aws!.waits.pollSeconds } });
  const platform = awsMysqlPlatform(resolveAwsMysqlSettings(environment, { cleanup: options.cleanup ?? false }), gateway);
  return { platform, gateway, log };
}

export function stepContext(log: Logger, facts: Record<string, unknown> = {}, runId = RUN_ID): StepContext {
  return detachedContext({ runId, dryRun: false, log, facts, resources: new RunResources() });
}

/** A resource that does not exist at the first look, then answers `answers` in turn (the last one for good). */
export function missingThen(aws: MockedAws, kind: 'instance' | 'snapshot', id: string, ...answers: Array<DBInstance | Record<string, unknown>>): void {
  const behaviour =
    kind === 'instance'
      ? aws.rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: id }).rejectsOnce(notFound('DBInstanceNotFoundFault'))
      : aws.rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: id }).rejectsOnce(notFound('DBSnapshotNotFoundFault'));
  const wrap = (answer: object) => (kind === 'instance' ? { DBInstances: [answer] } : { DBSnapshots: [{ DBSnapshotIdentifier: id, ...answer }] });
  answers.slice(0, -1).forEach((answer) => (behaviour as { resolvesOnce(v: object): unknown }).resolvesOnce(wrap(answer)));
  (behaviour as { resolves(v: object): unknown }).resolves(wrap(answers[answers.length - 1]));
}

/** A committed plan, asserted line by line (UPDATE_PLAN_FIXTURES=1 rewrites it from `out`). */
export function expectPlanFixture(out: string[], fixture: string): void {
  if (process.env.UPDATE_PLAN_FIXTURES) writeFileSync(fixture, out.join('\n') + '\n');
  const expected = readFileSync(fixture, 'utf8').trimEnd().split('\n');
  expect(out).toHaveLength(expected.length);
  out.forEach((line, index) => expect(`${index + 1}: ${line}`).toBe(`${index + 1}: ${expected[index]}`));
}

/**
 * Tags that behave like RDS's (AddTagsToResource overwrites a key, ListTagsForResource reads,
 * RemoveTagsFromResource deletes), per resource ARN: what the run lock needs.
 */
export function statefulTags(aws: MockedAws): Map<string, Tag[]> {
  const store = new Map<string, Tag[]>();
  aws.rds.on(ListTagsForResourceCommand).callsFake((input: { ResourceName: string }) => ({ TagList: [...(store.get(input.ResourceName) ?? [])] }));
  aws.rds.on(AddTagsToResourceCommand).callsFake((input: { ResourceName: string; Tags: Tag[] }) => {
    const tags = (store.get(input.ResourceName) ?? []).filter((t) => !input.Tags.some((n) => n.Key === t.Key));
    store.set(input.ResourceName, [...tags, ...input.Tags]);
    return {};
  });
  aws.rds.on(RemoveTagsFromResourceCommand).callsFake((input: { ResourceName: string; TagKeys: string[] }) => {
    store.set(input.ResourceName, (store.get(input.ResourceName) ?? []).filter((t) => !input.TagKeys.includes(t.Key!)));
    return {};
  });
  return store;
}
