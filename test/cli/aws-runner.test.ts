/**
 * `zx scripts/cutover.mjs --env prod …` on the AWS platform: the committed offline plan, what a
 * dry run may send (reads only; nothing offline), refusals that change nothing, and an executed
 * run resumed after the snapshot whose copy stalls (fails before the switch, no second snapshot).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeDBInstancesCommand, CopyDBSnapshotCommand } from '@aws-sdk/client-rds';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { loadEnvironment, type CutoverEnvironment } from '../../config/cutover';
import { parseCutoverArgs, UsageError, EXIT } from '../../lib/cli/cutover';
import { runAws } from '../../lib/cli/aws';
import { Journal } from '../../lib/runbook/journal';
import { describeState, expectPlanFixture, missingThen, mockedAws, OUTPUTS_FIXTURE, ourTags, prodEnvironment, recordingLogger, SOURCE, statefulTags, type MockedAws } from '../platforms/aws/helpers';

const FIXTURE = join(__dirname, 'fixtures', 'aws-prod-offline.plan.txt');
const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-aws-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const noClients = () => {
  throw new Error('no AWS client may be created for this command');
};

async function run(argv: string[], environment: CutoverEnvironment, createClients: () => MockedAws['clients'] = noClients) {
  const out: string[] = [];
  const log = recordingLogger();
  const stateDir = mkdtempSync(join(scratch, 'state-'));
  const code = await runAws({ environment, args: parseCutoverArgs(argv), stateDir, log, out: (line) => out.push(...line.split('\n')) }, { createClients });
  return { code, out, log, stateDir };
}

function withOutputs(file: string): CutoverEnvironment {
  const environment = loadEnvironment('prod');
  return { ...environment, aws: { ...environment.aws!, outputsFile: file } };
}

describe('offline plan (--offline)', () => {
  test('the plan of --env prod --offline is the committed text, line by line, and no AWS client is even created', async () => {
    const { code, out } = await run(['--env', 'prod', '--offline'], withOutputs(OUTPUTS_FIXTURE));
    expect(code).toBe(EXIT.ok);
    expectPlanFixture(out, FIXTURE);
  });

  test('on a busy machine (every clock reading 40 ms after the last) the plan is still the committed text: a recorded wait\'s elapsed time is not a lag', async () => {
    // plans:examples wrote prod.md with an extra pre-freeze lag read now and then: the dry run
    // timed the recorder's instant answer with the real clock against the 25 ms settle limit.
    let tick = process.hrtime.bigint();
    const slow = jest.spyOn(process.hrtime, 'bigint').mockImplementation(() => (tick += 40_000_000n));
    try {
      const { code, out } = await run(['--env', 'prod', '--offline'], withOutputs(OUTPUTS_FIXTURE));
      expect(code).toBe(EXIT.ok);
      expectPlanFixture(out, FIXTURE);
    } finally {
      slow.mockRestore();
    }
  });

  test('the plan names every AWS call the issue asks for, with the stacks\' KMS key, fence group and DNS record', async () => {
    const { out } = await run(['--env', 'prod', '--offline'], withOutputs(OUTPUTS_FIXTURE));
    const text = out.join('\n');
    expect(text).toMatch(/CHANGE rds\.CreateDBInstanceReadReplica \{"DBInstanceIdentifier":"orders-cutover-replica","SourceDBInstanceIdentifier":"orders"/);
    expect(text).toMatch(/CHANGE rds\.CreateDBSnapshot /);
    expect(text).toMatch(/CHANGE rds\.CopyDBSnapshot .*"KmsKeyId":"arn:aws:kms:eu-west-1:111111111111:key\/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"/);
    expect(text).toMatch(/CHANGE rds\.RestoreDBInstanceFromDBSnapshot \{"DBInstanceIdentifier":"orders-encrypted","DBSnapshotIdentifier":"orders-cutover-seed"/);
    // Recorded from the step itself: the values only the run knows are named, and the password is masked.
    expect(text).toContain("CHANGE target: CALL mysql.rds_set_external_master('<source endpoint address>', 3306, 'cutover_repl', '***', '<executed binlog file>', <executed binlog position>, 1)");
    // The statement the hand-kept SQL list used to omit (issue 10): the flow resets the password of an existing account.
    expect(text).toContain("CHANGE source: ALTER USER 'cutover_repl'@'10.10.0.0/255.255.0.0' IDENTIFIED BY '***'");
    expect(text).toMatch(/CHANGE route53\.ChangeResourceRecordSets \{"HostedZoneId":"Z0123456789PRODZONE01".*"Action":"UPSERT".*"Name":"orders-db\.prod\.internal\.example\.com","Type":"CNAME","TTL":15/);
    expect(text).toMatch(/CHANGE rds\.ModifyDBInstance \{"DBInstanceIdentifier":"orders","VpcSecurityGroupIds":\["sg-0f3e2d1c0b0a09081"\],"ApplyImmediately":true\}/);
    expect(text).not.toMatch(/<storageKeyArn>|<fenceSecurityGroupId>|<dnsRecordName>/);
  });

  test('GIVEN no outputs file THEN the plan is still complete, with placeholders, and names the file, the command that writes it and what --execute needs', async () => {
    const { code, out } = await run(['--env', 'prod', '--offline'], withOutputs(join(scratch, 'missing-outputs.json')));
    const text = out.join('\n');
    expect(code).toBe(EXIT.ok);
    expect(text).toContain('"KmsKeyId":"<storageKeyArn>"');
    expect(text).toContain("npx cdktf output 'rds-cutover-prod-*' --outputs-file");
    expect(text).toContain('--execute needs them: aws.kmsKeyId (or the stacks\' output storageKeyArn)');
  });

  test('--cleanup adds the deletions to the plan; without it nothing is deleted', async () => {
    const without = (await run(['--env', 'prod', '--offline'], withOutputs(OUTPUTS_FIXTURE))).out.join('\n');
    const withCleanup = (await run(['--env', 'prod', '--offline', '--cleanup'], withOutputs(OUTPUTS_FIXTURE))).out.join('\n');
    expect(without).not.toMatch(/CHANGE rds\.Delete/);
    expect(withCleanup).toMatch(/CHANGE rds\.DeleteDBInstance \{"DBInstanceIdentifier":"orders-cutover-replica","SkipFinalSnapshot":true,"DeleteAutomatedBackups":true\}/);
    expect(withCleanup).toMatch(/CHANGE rds\.DeleteDBSnapshot \{"DBSnapshotIdentifier":"orders-cutover-replica-<run-id>"\}/);
    expect(withCleanup).not.toMatch(/DeleteDBSnapshot \{"DBSnapshotIdentifier":"orders-cutover-seed"/);
  });
});

describe('refusals change nothing', () => {
  test('--offline with --execute is a usage error', async () => {
    await expect(run(['--env', 'prod', '--offline', '--execute'], withOutputs(OUTPUTS_FIXTURE))).rejects.toThrow(UsageError);
  });

  test('GIVEN no outputs file WHEN --execute THEN it refuses before creating any client, naming each missing value and the fix', async () => {
    const error = await run(['--env', 'prod', '--execute'], withOutputs(join(scratch, 'missing-outputs.json'))).catch((e: Error) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/no value for\n {2}- aws\.kmsKeyId \(or the stacks' output storageKeyArn\)/);
    expect((error as Error).message).toContain('Nothing was changed.');
  });
});

function readableAccount(): MockedAws {
  const aws = mockedAws();
  describeState(aws, { instances: { orders: [SOURCE], 'orders-cutover-replica': 'missing', 'orders-encrypted': 'missing' }, snapshots: { 'orders-cutover-replica-<run-id>': 'missing', 'orders-cutover-seed': 'missing' } });
  aws.sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111', Arn: 'arn:aws:sts::111111111111:assumed-role/rds-cutover-operator/rds-cutover' });
  aws.kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'k', KeyState: 'Enabled' } });
  aws.ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-0f3e2d1c0b0a09081', IpPermissions: [], IpPermissionsEgress: [] }] });
  aws.route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: 'orders-db.prod.internal.example.com.', Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: SOURCE.Endpoint!.Address }] }], IsTruncated: false, MaxItems: 1 });
  aws.ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'orders-api', status: 'ACTIVE' }, { serviceName: 'orders-worker', status: 'ACTIVE' }], failures: [] });
  return aws;
}

describe('dry run with credentials', () => {
  const savedPassword = process.env.PROD_ORDERS_ADMIN_PASSWORD;
  beforeEach(() => delete process.env.PROD_ORDERS_ADMIN_PASSWORD);
  afterAll(() => {
    if (savedPassword !== undefined) process.env.PROD_ORDERS_ADMIN_PASSWORD = savedPassword;
  });

  test('GIVEN credentials THEN only read-only calls are sent, the plan shows the source\'s real settings, and the AWS checks pass', async () => {
    const aws = readableAccount();
    let readOnlyRequested: boolean | undefined;
    const { code, out } = await run(['--env', 'prod'], withOutputs(OUTPUTS_FIXTURE), ((_: unknown, options: { readOnly: boolean }) => {
      readOnlyRequested = options.readOnly;
      return aws.clients;
    }) as never);
    const text = out.join('\n');
    expect(readOnlyRequested).toBe(true);
    expect(aws.sent().length).toBeGreaterThan(5);
    expect(aws.mutating()).toEqual([]);
    expect(text).toMatch(/CHANGE rds\.CreateDBInstanceReadReplica .*"DBInstanceClass":"db\.r6g\.large","VpcSecurityGroupIds":\["sg-0a1b2c3d4e5f60021"\]/);
    expect(text).toContain("CALL mysql.rds_set_external_master('orders.abcdefghijkl.eu-west-1.rds.amazonaws.com', 3306");
    expect(text).toContain('check aws.preflight: checked');
    // The SQL preflight needs the master password: the failure names the variable to export.
    expect(text).toMatch(/PROD_ORDERS_ADMIN_PASSWORD is not set/);
    expect(code).toBe(EXIT.failed);
  });

  test('GIVEN no outputs file WHEN a dry run checks AWS THEN no <placeholder> is sent (KMS would answer "Invalid keyId") and the check names each missing output and the cdktf output command', async () => {
    const aws = readableAccount();
    // What KMS, EC2 and Route 53 answer for a value that is not an id: the SDK's own error.
    aws.kms.on(DescribeKeyCommand, { KeyId: '<storageKeyArn>' }).rejects(Object.assign(new Error('Invalid keyId <storageKeyArn>'), { name: 'NotFoundException' }));
    aws.ec2.on(DescribeSecurityGroupsCommand, { GroupIds: ['<fenceSecurityGroupId>'] }).rejects(Object.assign(new Error("Invalid id: '<fenceSecurityGroupId>'"), { name: 'InvalidGroupId.Malformed' }));
    const { code, out } = await run(['--env', 'prod'], withOutputs(join(scratch, 'missing-outputs.json')), () => aws.clients);
    const text = out.join('\n');
    const sentInputs = JSON.stringify([...aws.kms.calls(), ...aws.ec2.calls(), ...aws.route53.calls()].map((call) => (call.args[0] as { input: unknown }).input));
    expect(sentInputs).not.toMatch(/<[a-zA-Z, ]+>/);
    expect(text).not.toContain('Invalid keyId');
    expect(text).toContain('check aws.preflight: failed');
    expect(text).toMatch(/no value for aws\.kmsKeyId \(or the stacks' output storageKeyArn\)/);
    expect(text).toMatch(/no value for aws\.fenceSecurityGroupId \(or the stacks' output fenceSecurityGroupId\)/);
    expect(text).toContain("npx cdktf output 'rds-cutover-prod-*' --outputs-file");
    expect(code).toBe(EXIT.failed);
    expect(aws.mutating()).toEqual([]);
  });

  test('GIVEN an encrypted source without backups THEN the AWS check names both fixes, and still nothing is changed', async () => {
    const aws = readableAccount();
    aws.rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders' }).resolves({ DBInstances: [{ ...SOURCE, StorageEncrypted: true, KmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/old', BackupRetentionPeriod: 0 }] });
    const { code, out } = await run(['--env', 'prod'], withOutputs(OUTPUTS_FIXTURE), () => aws.clients);
    const text = out.join('\n');
    expect(code).toBe(EXIT.failed);
    expect(text).toContain('check aws.preflight: failed');
    expect(text).toContain('set aws.allowEncryptedSource: true');
    expect(text).toContain('ModifyDBInstance --backup-retention-period 1');
    expect(aws.mutating()).toEqual([]);
  });
});

describe('--execute, resumed after the snapshot', () => {
  test('GIVEN a run killed after its snapshot WHEN resumed and the encrypted copy stalls THEN no second snapshot is taken and the run fails before the switch', async () => {
    const environment = { ...prodEnvironment({ waits: { snapshotSeconds: 0.2, pollSeconds: 0.02 } }) };
    const runId = '20261122-130000-def456';
    const snapshotId = `orders-cutover-replica-${runId}`;
    const aws = mockedAws();
    describeState(aws, {
      instances: { orders: [SOURCE], 'orders-encrypted': 'missing' },
      snapshots: { [snapshotId]: [{ Status: 'available', TagList: ourTags(runId) }] },
    });
    missingThen(aws, 'snapshot', 'orders-cutover-seed', { Status: 'copying', PercentProgress: 12, TagList: ourTags(runId) });
    aws.rds.on(CopyDBSnapshotCommand).resolves({});
    const stateDir = mkdtempSync(join(scratch, 'resume-'));
    const journal = new Journal(stateDir, runId);
    const at = new Date().toISOString();
    journal.append({ type: 'run-start', at, runId, flow: 'mysql.encrypt', environment: 'prod', dryRun: false, options: {} });
    for (const [step, facts] of [
      ['aws.preflight', {}],
      ['mysql.preflight', { dialect: 'mysql80', databases: ['orders'] }],
      ['mysql.replica.create', { replicaId: 'orders-cutover-replica' }],
      ['mysql.replica.catch-up', {}],
      ['mysql.replica.stop', { startBinlogFile: 'mysql-bin-changelog.000042', startBinlogPosition: 1234 }],
    ] as const) {
      journal.append({ type: 'step-done', at, step, durationMs: 1, facts });
    }
    journal.append({ type: 'step-start', at, step: 'mysql.target.clone' });
    journal.close();

    const out: string[] = [];
    const tags = statefulTags(aws);
    const code = await runAws({ environment, args: parseCutoverArgs(['--env', 'prod', '--execute', '--resume', runId]), stateDir, log: recordingLogger(), out: (line) => out.push(line) }, { createClients: () => aws.clients, lockSettleMs: 1 });

    expect(code).toBe(EXIT.failed);
    // the run lock (a tag on the source) was taken and released around the run
    expect(aws.mutating()).toEqual(['rds.AddTagsToResource', 'rds.CopyDBSnapshot', 'rds.RemoveTagsFromResource']);
    expect(tags.get(SOURCE.DBInstanceArn!)).toEqual([]);
    expect(aws.rds.commandCalls(CopyDBSnapshotCommand)[0].args[0].input).toMatchObject({ SourceDBSnapshotIdentifier: snapshotId, TargetDBSnapshotIdentifier: 'orders-cutover-seed' });
    const report = JSON.parse(readFileSync(join(stateDir, 'runs', runId, 'report.json'), 'utf8'));
    expect(report.result).toBe('failed');
    expect(report.steps.find((s: { id: string }) => s.id === 'mysql.target.clone')).toMatchObject({ status: 'failed', error: expect.stringMatching(/^encrypted copy orders-cutover-seed: not available \(timed out; last seen copying, 12% copied\) after waiting/) });
    expect(report.steps.find((s: { id: string }) => s.id === 'mysql.switch').status).toBe('not-run');
    expect(out.join('\n')).toContain(`--resume ${runId}`);
  });
});
