/**
 * `--flow share-snapshot` (seed 004) end to end against moto with two accounts: the source
 * account (moto's default credentials) and a target account reached by sts:AssumeRole into
 * another 12-digit account id, exactly as the config names it. The CLI's share runner runs as a
 * child process and is killed (SIGKILL, lib/runbook/kill-point.ts) at every step boundary and
 * right after every create call, then resumed; nothing may be created twice.
 * moto looks a shared snapshot's ARN up in the caller's own account; MotoServer's
 * crossAccountSnapshots option closes that gap (lib/rehearsal/aws-emulated/moto-cross-account).
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  CreateDBClusterCommand,
  CreateDBClusterParameterGroupCommand,
  CreateDBInstanceCommand,
  CreateDBParameterGroupCommand,
  CreateDBSubnetGroupCommand,
  CreateOptionGroupCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
} from '@aws-sdk/client-rds';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand } from '@aws-sdk/client-ec2';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { expectedShareStatements } from '../../../lib/platforms/aws/key-policy';
import { RUN_ID_TAG } from '../../../lib/platforms/aws/run-tags';
import { SHARE_STEP } from '../../../lib/platforms/aws/snapshot-share';
import { locateMoto, MOTO_INSTALL_HINT, MotoServer } from '../../../lib/rehearsal/aws-emulated/moto';

const projectRoot = resolve(__dirname, '../../..');
const moto = locateMoto(projectRoot);
if (!moto) console.warn(`skipping the share-snapshot emulator tests: ${MOTO_INSTALL_HINT}`);
const describeWithMoto = moto ? describe : describe.skip;

const REGION = 'eu-west-1';
const SOURCE_ACCOUNT = '123456789012'; // moto's default account
const TARGET_ACCOUNT = '222222222222';
const TARGET_ROLE = `arn:aws:iam::${TARGET_ACCOUNT}:role/rds-cutover-target`;

type Run = { code: number | null; signal: string | null; stdout: string; stderr: string };

describeWithMoto('share-snapshot across two emulated accounts (moto, AssumeRole into another account id)', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'rds-cutover-share-state-'));
  let server: MotoServer;
  let source: AwsClients;
  let target: AwsClients;
  let sdkEnv: Record<string, string>;
  const saved: Record<string, string | undefined> = {};
  const ids = { shareKey: '', badShareKey: '', targetKey: '', targetSecurityGroup: '' };

  function environmentFile(name: string, input: Record<string, unknown>): string {
    const file = join(stateDir, `${name}.json`);
    writeFileSync(file, JSON.stringify(input));
    return file;
  }

  function environment(name: string, sourceRef: object, restore: object, overrides: { shareKeyArn?: string; parameterGroupName?: string; optionGroupName?: string } = {}) {
    return {
      name,
      platform: 'aws',
      aws: {
        region: REGION,
        source: sourceRef,
        adminPassword: { env: 'UNUSED_ADMIN_PASSWORD' },
        tags: { project: 'share-test' },
        waits: { pollSeconds: 0.2, snapshotSeconds: 120, instanceSeconds: 120 },
        shareSnapshot: {
          shareKeyArn: overrides.shareKeyArn ?? ids.shareKey,
          target: {
            accountId: TARGET_ACCOUNT,
            assumeRole: { roleArn: TARGET_ROLE },
            kmsKeyArn: ids.targetKey,
            restore,
            dbSubnetGroupName: 'target-private',
            vpcSecurityGroupIds: [ids.targetSecurityGroup],
            parameterGroupName: overrides.parameterGroupName ?? 'target-mysql-tls',
            ...(overrides.optionGroupName ? { optionGroupName: overrides.optionGroupName } : {}),
            instanceClass: 'db.t3.micro',
            multiAz: false,
            deletionProtection: false,
          },
        },
      },
    };
  }

  /** One `cutover --flow share-snapshot` in its own process; RDS_CUTOVER_KILL_AT makes it SIGKILL itself there. */
  function runShare(file: string, args: string[], killAt?: string): Promise<Run> {
    const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(__dirname, '../../support/run-share-snapshot.ts'), file, stateDir, '--flow', 'share-snapshot', ...args], {
      env: { ...process.env, ...sdkEnv, ...(killAt ? { RDS_CUTOVER_KILL_AT: killAt } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((done) => child.once('close', (code, signal) => done({ code, signal, stdout, stderr })));
  }

  const sharedWithTarget = async (kind: 'instance' | 'cluster') =>
    kind === 'instance'
      ? ((await target.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'shared', IncludeShared: true }))).DBSnapshots ?? []).map((s) => s.DBSnapshotArn)
      : ((await target.rds.send(new DescribeDBClusterSnapshotsCommand({ SnapshotType: 'shared', IncludeShared: true }))).DBClusterSnapshots ?? []).map((s) => s.DBClusterSnapshotArn);

  beforeAll(async () => {
    server = await MotoServer.start(moto!, { crossAccountSnapshots: true });
    sdkEnv = server.sdkEnvironment(REGION);
    for (const [key, value] of Object.entries(sdkEnv)) {
      saved[key] = process.env[key];
      process.env[key] = value;
    }
    source = newClients({ region: REGION });
    const assumed = await source.sts.send(new AssumeRoleCommand({ RoleArn: TARGET_ROLE, RoleSessionName: 'test-setup' }));
    target = newClients({ region: REGION, credentials: { accessKeyId: assumed.Credentials!.AccessKeyId!, secretAccessKey: assumed.Credentials!.SecretAccessKey!, sessionToken: assumed.Credentials!.SessionToken } });

    // Source account: what the snapshot-share stack declares (the key and its policy), and the databases.
    const admin = { Sid: 'KeyAdministration', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${SOURCE_ACCOUNT}:role/Admin` }, Action: ['kms:Describe*', 'kms:Get*'], Resource: '*' };
    const policy = (statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: [admin, ...statements] });
    ids.shareKey = (await source.kms.send(new CreateKeyCommand({ Description: 'share key', Policy: policy(expectedShareStatements(TARGET_ACCOUNT, REGION)) }))).KeyMetadata!.Arn!;
    // A key whose policy lets the target account use it but not create grants: RDS could not copy.
    ids.badShareKey = (await source.kms.send(new CreateKeyCommand({ Description: 'share key without grants', Policy: policy([expectedShareStatements(TARGET_ACCOUNT, REGION)[0]]) }))).KeyMetadata!.Arn!;
    await source.rds.send(new CreateOptionGroupCommand({ OptionGroupName: 'orders-mysql80', EngineName: 'mysql', MajorEngineVersion: '8.0', OptionGroupDescription: 'orders' }));
    await source.rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: 'orders', Engine: 'mysql', EngineVersion: '8.0.39', DBInstanceClass: 'db.t3.micro', AllocatedStorage: 20, MasterUsername: 'admin', MasterUserPassword: 'source-password-1', BackupRetentionPeriod: 1, OptionGroupName: 'orders-mysql80' }));
    await source.rds.send(new CreateDBClusterCommand({ DBClusterIdentifier: 'catalog', Engine: 'aurora-mysql', EngineVersion: '8.0.mysql_aurora.3.05.2', MasterUsername: 'admin', MasterUserPassword: 'source-password-1' }));

    // Target account: its own key, network and TLS parameter groups (what the target stack would declare).
    ids.targetKey = (await target.kms.send(new CreateKeyCommand({ Description: 'target storage key' }))).KeyMetadata!.Arn!;
    const vpc = (await target.ec2.send(new CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }))).Vpc!.VpcId!;
    const subnets = await Promise.all(['a', 'b'].map(async (zone, index) => (await target.ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: `10.20.${index}.0/24`, AvailabilityZone: `${REGION}${zone}` }))).Subnet!.SubnetId!));
    await target.rds.send(new CreateDBSubnetGroupCommand({ DBSubnetGroupName: 'target-private', DBSubnetGroupDescription: 'target', SubnetIds: subnets }));
    ids.targetSecurityGroup = (await target.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'target-db', Description: 'target db', VpcId: vpc }))).GroupId!;
    await target.rds.send(new CreateDBParameterGroupCommand({ DBParameterGroupName: 'target-mysql-tls', DBParameterGroupFamily: 'mysql8.0', Description: 'require_secure_transport' }));
    await target.rds.send(new CreateDBClusterParameterGroupCommand({ DBClusterParameterGroupName: 'target-aurora-tls', DBParameterGroupFamily: 'aurora-mysql8.0', Description: 'require_secure_transport' }));
    await target.rds.send(new CreateOptionGroupCommand({ OptionGroupName: 'orders-mysql80', EngineName: 'mysql', MajorEngineVersion: '8.0', OptionGroupDescription: 'orders' }));
  });

  afterAll(async () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    for (const clients of [source, target]) if (clients) for (const client of Object.values(clients)) client.destroy();
    await server?.stop();
    rmSync(stateDir, { recursive: true, force: true });
    expect(server?.pids() ?? []).toEqual([]);
  });

  test('GIVEN a share key whose policy lacks the grants statement for the target account WHEN planned THEN the check fails naming the missing statement and nothing is created in either account', async () => {
    const file = environmentFile('share-bad-key', environment('share-bad-key', { instanceId: 'orders' }, { instanceId: 'orders-moved' }, { shareKeyArn: ids.badShareKey }));
    const run = await runShare(file, []);
    expect({ code: run.code, out: run.stdout.slice(-3000) }).toMatchObject({ code: 1 });
    expect(run.stdout).toContain('check share.preflight: failed');
    expect(run.stdout).toContain(`does not let account ${TARGET_ACCOUNT} create grants for RDS (missing kms:CreateGrant)`);
    expect(run.stdout).toContain('"TargetAccountsGrantsForRds" is missing');
    // The plan lists both accounts' calls; only reads were sent.
    expect(run.stdout).toMatch(/\[source\] CHANGE\s+rds\.CopyDBSnapshot .*"KmsKeyId":"arn:aws:kms/);
    expect(run.stdout).toMatch(/\[target\] CHANGE\s+rds\.CopyDBSnapshot/);
    expect((await source.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'orders', SnapshotType: 'manual' }))).DBSnapshots ?? []).toEqual([]);
    expect((await target.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))).DBSnapshots ?? []).toEqual([]);
  });

  test('GIVEN an RDS instance WHEN the flow runs with --execute, is killed (-9) after every create call and at every step boundary and resumed each time THEN the target account restored one instance encrypted with its own key, the snapshot was visible to it while shared and not after, no second copy exists, and --cleanup removes the temporary copies', async () => {
    const file = environmentFile('share-instance', environment('share-instance', { instanceId: 'orders' }, { instanceId: 'orders-moved' }, { optionGroupName: 'orders-mysql80' }));
    const killPoints = [
      `step-progress:${SHARE_STEP.snapshot}:1`,
      `step-done:${SHARE_STEP.snapshot}`,
      `step-progress:${SHARE_STEP.copy}:1`,
      `step-done:${SHARE_STEP.copy}`,
      `step-done:${SHARE_STEP.share}`,
      `step-progress:${SHARE_STEP.targetCopy}:1`,
      `step-done:${SHARE_STEP.targetCopy}`,
      `step-progress:${SHARE_STEP.restore}:1`,
      `step-done:${SHARE_STEP.restore}`,
      `step-done:${SHARE_STEP.unshare}`,
    ];
    const crashes: Array<{ at: string; signal: string | null; tail?: string }> = [];
    let resume: string[] = [];
    let runId = '';
    let visibleWhileShared: Array<string | undefined> = [];
    for (const killAt of killPoints) {
      const run = await runShare(file, ['--execute', ...resume], killAt);
      crashes.push({ at: killAt, signal: run.signal, ...(run.signal ? {} : { tail: `${run.stdout.slice(-1500)}\n${run.stderr.slice(-2500)}` }) });
      runId ||= readdirSync(join(stateDir, 'runs'))[0];
      resume = ['--resume', runId];
      if (killAt === `step-done:${SHARE_STEP.share}`) visibleWhileShared = await sharedWithTarget('instance');
    }
    expect(crashes).toEqual(killPoints.map((at) => ({ at, signal: 'SIGKILL' })));
    const shareCopyArn = `arn:aws:rds:${REGION}:${SOURCE_ACCOUNT}:snapshot:orders-share-${runId}`;
    expect(visibleWhileShared).toEqual([shareCopyArn]);

    // Killed after the unshare: the share is gone; one of each copy exists, each under its key.
    expect(await sharedWithTarget('instance')).toEqual([]);
    const sourceSnapshots = (await source.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'orders', SnapshotType: 'manual' }))).DBSnapshots ?? [];
    expect(sourceSnapshots.map((s) => [s.DBSnapshotIdentifier, s.Encrypted, s.KmsKeyId ?? null]).sort()).toEqual(
      [
        [`orders-share-source-${runId}`, false, null],
        [`orders-share-${runId}`, true, ids.shareKey],
      ].sort(),
    );
    // (the emulator adds an automated snapshot of each new instance: manual ones are the run's)
    const targetSnapshots = (await target.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))).DBSnapshots ?? [];
    expect(targetSnapshots.map((s) => [s.DBSnapshotIdentifier, s.Encrypted, s.KmsKeyId])).toEqual([[`orders-moved-seed-${runId}`, true, ids.targetKey]]);
    const restored = (await target.rds.send(new DescribeDBInstancesCommand({}))).DBInstances ?? [];
    expect(restored.map((i) => i.DBInstanceIdentifier)).toEqual(['orders-moved']);
    expect(restored[0]).toMatchObject({ StorageEncrypted: true, KmsKeyId: ids.targetKey, DBSubnetGroup: expect.objectContaining({ DBSubnetGroupName: 'target-private' }) });
    expect(restored[0].DBParameterGroups?.map((g) => g.DBParameterGroupName)).toEqual(['target-mysql-tls']);
    expect(restored[0].TagList).toContainEqual({ Key: RUN_ID_TAG, Value: runId });

    // The last resume, with --cleanup: the temporary copies go, the restored instance stays.
    const last = await runShare(file, ['--execute', '--cleanup', ...resume]);
    expect({ code: last.code, tail: `${last.stdout.slice(-2000)}\n${last.stderr.slice(-2000)}` }).toMatchObject({ code: 0 });
    expect(last.stdout).toContain('aws.share-snapshot on share-instance: SUCCESS');
    expect((await source.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'orders', SnapshotType: 'manual' }))).DBSnapshots ?? []).toEqual([]);
    expect((await target.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))).DBSnapshots ?? []).toEqual([]);
    expect(((await target.rds.send(new DescribeDBInstancesCommand({}))).DBInstances ?? []).map((i) => i.DBInstanceIdentifier)).toEqual(['orders-moved']);
    expect(readdirSync(join(stateDir, 'runs'))).toEqual([runId]);
  }, 1_800_000); // a dozen CLI processes, each loading the SDK: minutes on a busy machine

  test('GIVEN an Aurora cluster WHEN the flow runs with --execute, is killed after the share copy, the share, the target copy, the cluster restore and the writer were requested, and resumed THEN the target account has one cluster restored with its own key (KmsKeyId) and its writer, and no second copy', async () => {
    const file = environmentFile('share-cluster', environment('share-cluster', { clusterId: 'catalog' }, { clusterId: 'catalog-moved' }, { parameterGroupName: 'target-aurora-tls' }));
    const before = new Set(readdirSync(join(stateDir, 'runs')));
    const killPoints = [`step-progress:${SHARE_STEP.copy}:1`, `step-done:${SHARE_STEP.share}`, `step-progress:${SHARE_STEP.targetCopy}:1`, `step-progress:${SHARE_STEP.restore}:1`, `step-progress:${SHARE_STEP.restore}:1`];
    // The second restore kill point is the writer's creation: the resumed step finds the cluster
    // (this run's) and requests only the writer, its first sub-phase in that process.
    let resume: string[] = [];
    let runId = '';
    let visibleWhileShared: Array<string | undefined> = [];
    const signals: Array<string | null> = [];
    for (const killAt of killPoints) {
      const run = await runShare(file, ['--execute', ...resume], killAt);
      signals.push(run.signal ?? `exit ${run.code}: ${run.stderr.slice(-1500)}`);
      runId ||= readdirSync(join(stateDir, 'runs')).find((id) => !before.has(id))!;
      resume = ['--resume', runId];
      if (killAt === `step-done:${SHARE_STEP.share}`) visibleWhileShared = await sharedWithTarget('cluster');
    }
    expect(signals).toEqual(killPoints.map(() => 'SIGKILL'));
    expect(visibleWhileShared).toEqual([`arn:aws:rds:${REGION}:${SOURCE_ACCOUNT}:cluster-snapshot:catalog-share-${runId}`]);
    const last = await runShare(file, ['--execute', ...resume]);
    expect({ code: last.code, tail: `${last.stdout.slice(-2000)}\n${last.stderr.slice(-2000)}` }).toMatchObject({ code: 0 });
    expect(await sharedWithTarget('cluster')).toEqual([]);
    const clusters = (await target.rds.send(new DescribeDBClustersCommand({}))).DBClusters ?? [];
    expect(clusters.map((c) => [c.DBClusterIdentifier, c.StorageEncrypted, c.KmsKeyId])).toEqual([['catalog-moved', true, ids.targetKey]]);
    const writer = ((await target.rds.send(new DescribeDBInstancesCommand({}))).DBInstances ?? []).filter((i) => i.DBClusterIdentifier === 'catalog-moved');
    expect(writer.map((i) => i.DBInstanceIdentifier)).toEqual(['catalog-moved-writer']);
    const targetCopies = (await target.rds.send(new DescribeDBClusterSnapshotsCommand({ SnapshotType: 'manual' }))).DBClusterSnapshots ?? [];
    expect(targetCopies.map((s) => [s.DBClusterSnapshotIdentifier, s.KmsKeyId])).toEqual([[`catalog-moved-seed-${runId}`, ids.targetKey]]);
    const shareCopies = ((await source.rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterIdentifier: 'catalog', SnapshotType: 'manual' }))).DBClusterSnapshots ?? []).map((s) => s.DBClusterSnapshotIdentifier).sort();
    expect(shareCopies).toEqual([`catalog-share-${runId}`, `catalog-share-source-${runId}`].sort());
  }, 1_800_000);
});
