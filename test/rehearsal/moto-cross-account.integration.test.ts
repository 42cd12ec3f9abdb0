/**
 * The cross-account snapshot patch (lib/rehearsal/aws-emulated/moto-cross-account/sitecustomize.py)
 * must take with every moto the locator can return: the shared copy (../shared/tools/moto) and
 * `moto_server` on the PATH (the image's moto 5.2.1, what a clone without the shared copy gets).
 * Without it the share-snapshot tests fail with "DBSnapshot … not found" in the target account.
 * Each moto found runs the same short exchange; a moto that is not on this machine is skipped
 * with the reason.
 */
import { resolve } from 'node:path';
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  CreateDBClusterCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  CreateOptionGroupCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBClusterSnapshotAttributeCommand,
  ModifyDBSnapshotAttributeCommand,
} from '@aws-sdk/client-rds';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { newClients, type AwsClients } from '../../lib/platforms/aws/clients';
import { locateMoto, MOTO_ENV_VAR, MotoServer, type MotoCommand } from '../../lib/rehearsal/aws-emulated/moto';

const REGION = 'eu-west-1';
const SOURCE_ACCOUNT = '123456789012';
const TARGET_ACCOUNT = '222222222222';
const projectRoot = resolve(__dirname, '../..');

const withoutOverride = { ...process.env, [MOTO_ENV_VAR]: '' };
const shared = locateMoto(projectRoot, { ...withoutOverride, PATH: '' });
const onPath = locateMoto('/', withoutOverride);
const motos: Array<[string, MotoCommand | undefined]> = [
  ['the shared copy (../shared/tools/moto)', shared],
  ['moto_server on the PATH', onPath?.kind === 'binary' ? onPath : undefined],
];

describe.each(motos)('cross-account snapshot copies with %s', (label, moto) => {
  if (!moto) {
    test.skip(`${label} is not on this machine`, () => undefined);
    return;
  }
  let server: MotoServer;
  let source: AwsClients;
  let target: AwsClients;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    server = await MotoServer.start(moto, { crossAccountSnapshots: true });
    // The SDK reads the endpoint from the environment (lib/platforms/aws/clients.ts).
    for (const [key, value] of Object.entries(server.sdkEnvironment(REGION))) {
      saved[key] = process.env[key];
      process.env[key] = value;
    }
    const base = { region: REGION };
    source = newClients(base);
    const assumed = await source.sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${TARGET_ACCOUNT}:role/rds-cutover-target`, RoleSessionName: 'patch-test' }));
    target = newClients({ ...base, credentials: { accessKeyId: assumed.Credentials!.AccessKeyId!, secretAccessKey: assumed.Credentials!.SecretAccessKey!, sessionToken: assumed.Credentials!.SessionToken } });
  });

  afterAll(async () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    for (const clients of [source, target]) if (clients) for (const client of Object.values(clients)) client.destroy();
    await server?.stop();
    expect(server?.pids() ?? []).toEqual([]);
  });

  test('GIVEN a snapshot the source account shares with the target WHEN the target copies it by ARN THEN the copy exists in the target account; after the share is removed the same copy is refused as not found (as RDS does)', async () => {
    await source.rds.send(new CreateOptionGroupCommand({ OptionGroupName: 'orders-mysql80', EngineName: 'mysql', MajorEngineVersion: '8.0', OptionGroupDescription: 'orders' }));
    await source.rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: 'orders', Engine: 'mysql', EngineVersion: '8.0.39', DBInstanceClass: 'db.t3.micro', AllocatedStorage: 20, MasterUsername: 'admin', MasterUserPassword: 'source-password-1', OptionGroupName: 'orders-mysql80' }));
    await source.rds.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'orders', DBSnapshotIdentifier: 'orders-share' }));
    const arn = `arn:aws:rds:${REGION}:${SOURCE_ACCOUNT}:snapshot:orders-share`;
    const targetKey = (await target.kms.send(new CreateKeyCommand({ Description: 'target key' }))).KeyMetadata!.Arn!;
    const copy = (id: string) => target.rds.send(new CopyDBSnapshotCommand({ SourceDBSnapshotIdentifier: arn, TargetDBSnapshotIdentifier: id, KmsKeyId: targetKey }));

    await expect(copy('before-share')).rejects.toThrow(/not found/i);
    await source.rds.send(new ModifyDBSnapshotAttributeCommand({ DBSnapshotIdentifier: 'orders-share', AttributeName: 'restore', ValuesToAdd: [TARGET_ACCOUNT] }));
    await copy('orders-seed');
    const copied = (await target.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: 'orders-seed' }))).DBSnapshots ?? [];
    expect(copied.map((s) => [s.DBSnapshotArn, s.Encrypted])).toEqual([[`arn:aws:rds:${REGION}:${TARGET_ACCOUNT}:snapshot:orders-seed`, true]]);

    await source.rds.send(new ModifyDBSnapshotAttributeCommand({ DBSnapshotIdentifier: 'orders-share', AttributeName: 'restore', ValuesToRemove: [TARGET_ACCOUNT] }));
    await expect(copy('after-unshare')).rejects.toThrow(/not found/i);
  });

  test('GIVEN a cluster snapshot shared with the target WHEN the target copies it by ARN THEN the copy exists in the target account', async () => {
    await source.rds.send(new CreateDBClusterCommand({ DBClusterIdentifier: 'catalog', Engine: 'aurora-mysql', EngineVersion: '8.0.mysql_aurora.3.05.2', MasterUsername: 'admin', MasterUserPassword: 'source-password-1' }));
    await source.rds.send(new CreateDBClusterSnapshotCommand({ DBClusterIdentifier: 'catalog', DBClusterSnapshotIdentifier: 'catalog-share' }));
    await source.rds.send(new ModifyDBClusterSnapshotAttributeCommand({ DBClusterSnapshotIdentifier: 'catalog-share', AttributeName: 'restore', ValuesToAdd: [TARGET_ACCOUNT] }));
    const copied = await target.rds.send(new CopyDBClusterSnapshotCommand({ SourceDBClusterSnapshotIdentifier: `arn:aws:rds:${REGION}:${SOURCE_ACCOUNT}:cluster-snapshot:catalog-share`, TargetDBClusterSnapshotIdentifier: 'catalog-seed' }));
    expect(copied.DBClusterSnapshot?.DBClusterSnapshotArn).toBe(`arn:aws:rds:${REGION}:${TARGET_ACCOUNT}:cluster-snapshot:catalog-seed`);
  });
});
