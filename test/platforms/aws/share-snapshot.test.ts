/**
 * The share-snapshot runbook's errors across two accounts that the emulator cannot produce
 * (KMS access denied to the target identity, a copy that fails, a restore on the wrong key),
 * with aws-sdk-client-mock stubs for the source and the target account's clients.
 */
import { mockClient } from 'aws-sdk-client-mock';
import { RunResources } from '../../../lib/runbook/resources';
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, CopyDBSnapshotCommand, RestoreDBInstanceFromDBSnapshotCommand } from '@aws-sdk/client-rds';
import { DescribeKeyCommand, GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { AwsGateway } from '../../../lib/platforms/aws/gateway';
import { expectedShareStatements, shareKeyPolicyProblems } from '../../../lib/platforms/aws/key-policy';
import { SHARE_STEP, shareSnapshotRunbook, type ShareSnapshotResolved } from '../../../lib/platforms/aws/snapshot-share';
import { RUN_ID_TAG } from '../../../lib/platforms/aws/run-tags';
import { detachedContext, PreconditionFailed } from '../../../lib/runbook/step';
import { recordingLogger, RUN_ID } from './helpers';

const SHARE_KEY = 'arn:aws:kms:eu-west-1:111111111111:key/aaaaaaaa-0000-0000-0000-000000000001';
const TARGET_KEY = 'arn:aws:kms:eu-west-1:222222222222:key/bbbbbbbb-0000-0000-0000-000000000002';

const settings: ShareSnapshotResolved = {
  environment: 'prod',
  region: 'eu-west-1',
  source: { kind: 'instance', id: 'orders' },
  shareKeyArn: SHARE_KEY,
  target: {
    accountId: '222222222222',
    region: 'eu-west-1',
    assumeRole: { roleArn: 'arn:aws:iam::222222222222:role/rds-cutover-target', sessionName: 'rds-cutover-target' },
    kmsKeyArn: TARGET_KEY,
    restore: { instanceId: 'orders' },
    dbSubnetGroupName: 'private',
    vpcSecurityGroupIds: ['sg-0123456789abcdef0'],
    parameterGroupName: 'orders-tls',
    instanceClass: 'db.r6g.large',
    multiAz: true,
    deletionProtection: true,
  },
  restore: { kind: 'instance', id: 'orders' },
  tags: {},
  cleanup: false,
  waits: { snapshotSeconds: 2, instanceSeconds: 2 },
};

function accounts() {
  const source: AwsClients = newClients({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'a' } });
  const target: AwsClients = newClients({ region: 'eu-west-1', credentials: { accessKeyId: 'b', secretAccessKey: 'b' } });
  const mocks = {
    source: { rds: mockClient(source.rds), kms: mockClient(source.kms), sts: mockClient(source.sts) },
    target: { rds: mockClient(target.rds), kms: mockClient(target.kms), sts: mockClient(target.sts) },
  };
  const log = recordingLogger();
  const gateways = {
    source: new AwsGateway({ mode: 'live', clients: source, log, waits: { pollSeconds: 0.01 } }),
    target: new AwsGateway({ mode: 'live', clients: target, log, waits: { pollSeconds: 0.01 } }),
  };
  const context = detachedContext({ runId: RUN_ID, dryRun: false, log, facts: { sourceAccount: '111111111111' }, resources: new RunResources() });
  const step = (id: string) => shareSnapshotRunbook(settings, gateways).steps.find((s) => s.id === id)!;
  return { mocks, context, step };
}

const notFound = (name: string) => Object.assign(new Error(`${name} not found`), { name });

describe('share-snapshot across two accounts: errors the emulator cannot produce', () => {
  test('GIVEN the target identity is denied the target key WHEN preflight runs THEN it fails naming the key, the target identity and the fix', async () => {
    const { mocks, context, step } = accounts();
    mocks.source.sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111', Arn: 'arn:aws:sts::111111111111:assumed-role/operator/s' });
    mocks.target.sts.on(GetCallerIdentityCommand).resolves({ Account: '222222222222', Arn: 'arn:aws:sts::222222222222:assumed-role/rds-cutover-target/s' });
    mocks.source.rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceIdentifier: 'orders', Engine: 'mysql' }] });
    mocks.source.rds.on(DescribeDBSnapshotsCommand).rejects(notFound('DBSnapshotNotFoundFault'));
    mocks.target.rds.on(DescribeDBInstancesCommand).rejects(notFound('DBInstanceNotFoundFault'));
    mocks.target.rds.on(DescribeDBSnapshotsCommand).rejects(notFound('DBSnapshotNotFoundFault'));
    mocks.source.kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'k', Arn: SHARE_KEY, KeyState: 'Enabled', KeyManager: 'CUSTOMER' } });
    mocks.source.kms.on(GetKeyPolicyCommand).resolves({ Policy: JSON.stringify({ Statement: expectedShareStatements('222222222222', 'eu-west-1') }) });
    mocks.target.kms.on(DescribeKeyCommand).rejects(Object.assign(new Error('User is not authorized to perform: kms:DescribeKey'), { name: 'AccessDeniedException' }));
    const failure = await step(SHARE_STEP.preflight).apply(context).catch((error: Error) => error);
    expect(failure).toBeInstanceOf(PreconditionFailed);
    expect((failure as Error).message).toContain(`target key ${TARGET_KEY}: the target identity (arn:aws:sts::222222222222:assumed-role/rds-cutover-target/s) cannot use it (AccessDeniedException`);
    expect((failure as Error).message).toContain('let the target identity use it in the key policy');
  });

  test('GIVEN credentials for the wrong account on the target side and an AWS-managed share key WHEN preflight runs THEN every problem is reported at once', async () => {
    const { mocks, context, step } = accounts();
    mocks.source.sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111', Arn: 'arn:aws:sts::111111111111:assumed-role/operator/s' });
    mocks.target.sts.on(GetCallerIdentityCommand).resolves({ Account: '333333333333', Arn: 'arn:aws:sts::333333333333:assumed-role/other/s' });
    mocks.source.rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceIdentifier: 'orders', Engine: 'mysql' }] });
    mocks.source.rds.on(DescribeDBSnapshotsCommand).rejects(notFound('DBSnapshotNotFoundFault'));
    mocks.target.rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceIdentifier: 'orders', TagList: [] }] });
    mocks.target.rds.on(DescribeDBSnapshotsCommand).rejects(notFound('DBSnapshotNotFoundFault'));
    mocks.source.kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'k', Arn: SHARE_KEY, KeyState: 'Enabled', KeyManager: 'AWS' } });
    mocks.source.kms.on(GetKeyPolicyCommand).resolves({ Policy: JSON.stringify({ Statement: [] }) });
    mocks.target.kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'k', Arn: TARGET_KEY, KeyState: 'Enabled' } });
    const message = ((await step(SHARE_STEP.preflight).apply(context).catch((error: Error) => error)) as Error).message;
    expect(message).toContain('the target identity is arn:aws:sts::333333333333:assumed-role/other/s in account 333333333333, not in aws.shareSnapshot.target.accountId 222222222222');
    expect(message).toContain('is AWS-managed: snapshots encrypted with an AWS-managed key (aws/rds) cannot be shared');
    expect(message).toContain('"TargetAccountsUseThroughRds" is missing');
    expect(message).toContain('the target account already has a instance orders: choose another name');
  });

  test('GIVEN the target copy fails in the target account WHEN the step waits THEN it stops naming the copy and the way forward (no silent retry)', async () => {
    const { mocks, context, step } = accounts();
    const copyId = `orders-seed-${RUN_ID}`;
    mocks.target.rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: copyId }).resolvesOnce({ DBSnapshots: [] }).resolves({ DBSnapshots: [{ DBSnapshotIdentifier: copyId, Status: 'failed', TagList: [{ Key: RUN_ID_TAG, Value: RUN_ID }] }] });
    const shareArn = `arn:aws:rds:eu-west-1:111111111111:snapshot:orders-share-${RUN_ID}`;
    mocks.target.rds.on(DescribeDBSnapshotsCommand, { SnapshotType: 'shared', IncludeShared: true }).resolves({ DBSnapshots: [{ DBSnapshotIdentifier: `orders-share-${RUN_ID}`, DBSnapshotArn: shareArn }] });
    mocks.target.rds.on(CopyDBSnapshotCommand).resolves({});
    context.facts.shareCopyArn = shareArn;
    await expect(step(SHARE_STEP.targetCopy).apply(context)).rejects.toThrow(`target copy ${copyId} is failed: see the RDS events of the account, delete it, then --resume`);
    expect(mocks.target.rds.commandCalls(CopyDBSnapshotCommand)[0].args[0].input).toMatchObject({ SourceDBSnapshotIdentifier: shareArn, KmsKeyId: TARGET_KEY });
    expect(mocks.source.rds.calls()).toHaveLength(0);
  });

  test('GIVEN the share is not visible to the target account WHEN the target copy starts THEN nothing is copied and the message says which ARN was missing', async () => {
    const { mocks, context, step } = accounts();
    mocks.target.rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: `orders-seed-${RUN_ID}` }).rejects(notFound('DBSnapshotNotFoundFault'));
    mocks.target.rds.on(DescribeDBSnapshotsCommand, { SnapshotType: 'shared', IncludeShared: true }).resolves({ DBSnapshots: [] });
    context.facts.shareCopyArn = `arn:aws:rds:eu-west-1:111111111111:snapshot:orders-share-${RUN_ID}`;
    await expect(step(SHARE_STEP.targetCopy).apply(context)).rejects.toThrow(`the target account 222222222222 does not see arn:aws:rds:eu-west-1:111111111111:snapshot:orders-share-${RUN_ID} among the snapshots shared with it (none)`);
    expect(mocks.target.rds.commandCalls(CopyDBSnapshotCommand)).toHaveLength(0);
  });

  test('GIVEN a restored instance on another key WHEN the restore step verifies THEN the run fails saying not to use it', async () => {
    const { mocks, context, step } = accounts();
    mocks.target.rds.on(DescribeDBInstancesCommand).resolvesOnce({ DBInstances: [] }).resolves({ DBInstances: [{ DBInstanceIdentifier: 'orders', DBInstanceStatus: 'available', StorageEncrypted: true, KmsKeyId: SHARE_KEY, TagList: [{ Key: RUN_ID_TAG, Value: RUN_ID }] }] });
    mocks.target.rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    await expect(step(SHARE_STEP.restore).apply(context)).rejects.toThrow(`the restored instance orders is encrypted with ${SHARE_KEY}, not with the target key ${TARGET_KEY}: do not use it`);
    expect(mocks.target.rds.commandCalls(RestoreDBInstanceFromDBSnapshotCommand)[0].args[0].input).toMatchObject({ DBParameterGroupName: 'orders-tls', DBSubnetGroupName: 'private', PubliclyAccessible: false, VpcSecurityGroupIds: ['sg-0123456789abcdef0'] });
  });
});

describe('share key policy check', () => {
  const policy = (statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

  test('accepts the stacks\' statements, a kms:* grant to the account root, and wildcards such as kms:ReEncrypt*', () => {
    expect(shareKeyPolicyProblems(policy(expectedShareStatements('222222222222', 'eu-west-1')), '222222222222', 'eu-west-1', 'k')).toEqual([]);
    expect(shareKeyPolicyProblems(policy([{ Effect: 'Allow', Principal: { AWS: '222222222222' }, Action: 'kms:*', Resource: '*' }]), '222222222222', 'eu-west-1', 'k')).toEqual([]);
  });

  test('refuses use limited to another service or another region, and a Deny naming the account', () => {
    const [use, grants] = expectedShareStatements('222222222222', 'eu-west-1') as Array<Record<string, unknown>>;
    const viaSecrets = { ...use, Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } } };
    expect(shareKeyPolicyProblems(policy([viaSecrets, grants]), '222222222222', 'eu-west-1', 'k').join('\n')).toContain('missing kms:Decrypt, kms:DescribeKey, kms:ReEncryptFrom, kms:GenerateDataKey');
    expect(shareKeyPolicyProblems(policy([use, grants]), '222222222222', 'us-east-1', 'k')).not.toEqual([]);
    const deny = { Effect: 'Deny', Principal: { AWS: 'arn:aws:iam::222222222222:root' }, Action: 'kms:CreateGrant', Resource: '*' };
    expect(shareKeyPolicyProblems(policy([use, grants, deny]), '222222222222', 'eu-west-1', 'k').join('\n')).toContain('"TargetAccountsGrantsForRds" is missing');
  });
});

describe('the example environment prod-share', () => {
  test('GIVEN --offline WHEN planned THEN exit 0 and both accounts\' calls are listed in step order, nothing sent', async () => {
    const { loadEnvironment } = await import('../../../config/cutover');
    const { parseCutoverArgs } = await import('../../../lib/cli/cutover');
    const { runShareSnapshot } = await import('../../../lib/cli/aws-share-snapshot');
    const lines: string[] = [];
    const code = await runShareSnapshot({ environment: loadEnvironment('prod-share'), args: parseCutoverArgs(['--env', 'prod-share', '--flow', 'share-snapshot', '--offline']), stateDir: '/nonexistent-state', log: recordingLogger(), out: (line) => lines.push(line) });
    expect(code).toBe(0);
    const calls = lines.filter((line) => /^\s+\d+\. \[(source|target)\]/.test(line)).map((line) => line.replace(/^\s+\d+\. /, '').replace(/ \{.*\}( {2}— .*)?/, '').replace(/\s+/g, ' '));
    expect(calls.filter((call) => call.includes('CHANGE'))).toEqual([
      '[source] CHANGE rds.CreateDBSnapshot (share.snapshot.create)',
      '[source] CHANGE rds.CopyDBSnapshot (share.snapshot.copy-to-share-key)',
      '[source] CHANGE rds.ModifyDBSnapshotAttribute (share.snapshot.share)',
      '[target] CHANGE rds.CopyDBSnapshot (share.target.copy)',
      '[target] CHANGE rds.RestoreDBInstanceFromDBSnapshot (share.target.restore)',
      '[source] CHANGE rds.ModifyDBSnapshotAttribute (share.snapshot.unshare)',
    ]);
    expect(lines.join('\n')).toContain('no AWS call was made and nothing was changed');
  });

  test('GIVEN --plan-format json WHEN planned offline THEN the document on stdout lists both accounts\' calls, says no call moves traffic, has no downtime phases, and its rollback deletes what the run created, newest first, in the right account and region', async () => {
    const { loadEnvironment } = await import('../../../config/cutover');
    const { parseCutoverArgs } = await import('../../../lib/cli/cutover');
    const { runShareSnapshot } = await import('../../../lib/cli/aws-share-snapshot');
    const lines: string[] = [];
    const args = parseCutoverArgs(['--env', 'prod-share', '--flow', 'share-snapshot', '--offline', '--plan-format', 'json']);
    const code = await runShareSnapshot({ environment: loadEnvironment('prod-share'), args, stateDir: '/nonexistent-state', log: recordingLogger(), out: (line) => lines.push(line) });
    expect(code).toBe(0);
    // stdout is the JSON document alone (the text plan went to the log).
    const document = JSON.parse(lines.join('\n'));
    expect(document.flow).toBe('aws.share-snapshot');
    expect(document.pointOfNoReturn).toBeUndefined();
    expect(document.downtime).toMatchObject({ phases: [], budgetMs: 0 });
    const changes = document.steps.flatMap((step: { id: string; calls: Array<{ on: string; operation: string; effect: string }> }) => step.calls.filter((call) => call.effect === 'change').map((call) => `${call.on}.${call.operation} (${step.id})`));
    expect(changes).toEqual([
      '[source] rds.CreateDBSnapshot (share.snapshot.create)',
      '[source] rds.CopyDBSnapshot (share.snapshot.copy-to-share-key)',
      '[source] rds.ModifyDBSnapshotAttribute (share.snapshot.share)',
      '[target] rds.CopyDBSnapshot (share.target.copy)',
      '[target] rds.RestoreDBInstanceFromDBSnapshot (share.target.restore)',
      '[source] rds.ModifyDBSnapshotAttribute (share.snapshot.unshare)',
    ]);
    expect(document.rollback).toHaveLength(1);
    expect(document.rollback[0].operatorRuns.filter((line: string) => line.startsWith('  '))).toEqual([
      '  [target] aws rds delete-db-instance --region eu-west-1 --db-instance-identifier orders --skip-final-snapshot',
      '  [target] aws rds delete-db-snapshot --region eu-west-1 --db-snapshot-identifier orders-seed-<run-id>',
      '  [source] aws rds modify-db-snapshot-attribute --region eu-west-1 --db-snapshot-identifier orders-share-<run-id> --attribute-name restore --values-to-remove 222222222222   (the share)',
      '  [source] aws rds delete-db-snapshot --region eu-west-1 --db-snapshot-identifier orders-share-<run-id>',
      '  [source] aws rds delete-db-snapshot --region eu-west-1 --db-snapshot-identifier orders-share-source-<run-id>',
    ]);
    expect(document.rollback[0].operatorRuns).toContain('npx zx scripts/cutover.mjs --env prod-share --flow share-snapshot --execute --resume RUN_ID   (go on after fixing the cause)');
  });

  test('GIVEN the source credentials have expired (ExpiredToken, which the emulator cannot produce) WHEN the flow runs with --execute THEN it is refused before a run starts, saying they expired and how to renew them; nothing but GetCallerIdentity is sent', async () => {
    const { loadEnvironment } = await import('../../../config/cutover');
    const { parseCutoverArgs, UsageError } = await import('../../../lib/cli/cutover');
    const { runShareSnapshot } = await import('../../../lib/cli/aws-share-snapshot');
    const { mocks, clients } = (() => {
      const source = newClients({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'a' } });
      const target = newClients({ region: 'eu-west-1', credentials: { accessKeyId: 'b', secretAccessKey: 'b' } });
      return { clients: { source, target }, mocks: { source: { rds: mockClient(source.rds), sts: mockClient(source.sts) }, target: { rds: mockClient(target.rds), sts: mockClient(target.sts) } } };
    })();
    mocks.source.sts.on(GetCallerIdentityCommand).rejects(Object.assign(new Error('The security token included in the request is expired'), { name: 'ExpiredToken' }));
    mocks.target.sts.on(GetCallerIdentityCommand).resolves({ Account: '222222222222' });
    const stateDir = '/nonexistent-state';
    const run = runShareSnapshot(
      { environment: loadEnvironment('prod-share'), args: parseCutoverArgs(['--env', 'prod-share', '--flow', 'share-snapshot', '--execute']), stateDir, log: recordingLogger(), out: () => undefined },
      { createClients: (_identity, _options, side) => clients[side] },
    );
    const error = (await run.then(() => undefined, (e: Error) => e))!;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain('No usable AWS credentials for the source account (eu-west-1): ExpiredToken');
    expect(error.message).toContain('have expired: log in again (aws sso login');
    expect(error.message).toContain('(the role arn:aws:iam::111111111111:role/rds-cutover-operator is assumed with these base credentials)');
    expect([...mocks.source.rds.calls(), ...mocks.target.rds.calls()]).toEqual([]);
  });

  test('GIVEN --plan-format with --execute, or a rehearsal report WHEN started THEN refused before anything is read, naming the fix', async () => {
    const { loadEnvironment } = await import('../../../config/cutover');
    const { parseCutoverArgs } = await import('../../../lib/cli/cutover');
    const { runShareSnapshot } = await import('../../../lib/cli/aws-share-snapshot');
    const attempt = (words: string[]) => runShareSnapshot({ environment: loadEnvironment('prod-share'), args: parseCutoverArgs(['--env', 'prod-share', '--flow', 'share-snapshot', ...words]), stateDir: '/nonexistent-state', log: recordingLogger(), out: () => undefined }, { createClients: () => { throw new Error('no client may be created'); } });
    await expect(attempt(['--execute', '--plan-format', 'markdown'])).rejects.toThrow(/drop --execute to write it, or drop --plan-format to run/);
    await expect(attempt(['--offline', '--rehearsal-report', 'report.json'])).rejects.toThrow(/--rehearsal-report: nothing switches/);
  });
});
