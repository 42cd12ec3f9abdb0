/**
 * `zx scripts/cutover.mjs --env prod-aurora …`: the MySQL flow with an Aurora MySQL 3 source.
 * The committed offline plan, what it names (cluster snapshot, encrypted restore, writer,
 * crash-recovery coordinates, rds_set_external_source, cluster fence) and its seeding steps
 * (the cluster snapshot's own, no replica), a dry run that only reads, and the resume of a
 * journal written before the snapshot steps had their own names. The executed flow runs on
 * the AWS emulator in test/platforms/aws/emulated-aurora-mysql*.integration.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeDBClusterParametersCommand, DescribeDBClusterSnapshotsCommand, RestoreDBClusterFromSnapshotCommand } from '@aws-sdk/client-rds';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { loadEnvironment, type CutoverEnvironment } from '../../config/cutover';
import { parseCutoverArgs, EXIT } from '../../lib/cli/cutover';
import { runAws } from '../../lib/cli/aws';
import { Journal } from '../../lib/runbook/journal';
import { expectPlanFixture, FENCE_SG, mockedAws, OUTPUTS_FIXTURE, recordingLogger, statefulTags, type MockedAws } from '../platforms/aws/helpers';
import { auroraEnvironment, describeAurora, SOURCE_CLUSTER, SOURCE_WRITER } from '../platforms/aws/aurora-helpers';

const FIXTURE = join(__dirname, 'fixtures', 'aws-prod-aurora-offline.plan.txt');
const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-aurora-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const noClients = () => {
  throw new Error('no AWS client may be created for this command');
};

async function run(argv: string[], environment: CutoverEnvironment, createClients: (environment: CutoverEnvironment, options: { readOnly: boolean }) => MockedAws['clients'] = noClients) {
  const out: string[] = [];
  const code = await runAws({ environment, args: parseCutoverArgs(argv), stateDir: mkdtempSync(join(scratch, 'state-')), log: recordingLogger(), out: (line) => out.push(...line.split('\n')) }, { createClients });
  return { code, out };
}

/** prod-aurora as committed (its own waits), reading the outputs fixture. */
function planEnvironment(): CutoverEnvironment {
  const environment = loadEnvironment('prod-aurora');
  return { ...environment, aws: { ...environment.aws!, outputsFile: OUTPUTS_FIXTURE } };
}

describe('offline plan (--offline)', () => {
  test('the plan of --env prod-aurora --offline is the committed text, line by line, and no AWS client is created', async () => {
    const { code, out } = await run(['--env', 'prod-aurora', '--offline'], planEnvironment());
    expect(code).toBe(EXIT.ok);
    expectPlanFixture(out, FIXTURE);
  });

  test('the plan\'s seeding steps are the cluster snapshot\'s own (mysql.snapshot.create, mysql.snapshot.remove): no mysql.replica.* step, none that says it does nothing', async () => {
    const text = (await run(['--env', 'prod-aurora', '--offline'], planEnvironment())).out.join('\n');
    expect(text).toMatch(/^ 3\. mysql\.snapshot\.create \[action\]\n {6}CreateDBClusterSnapshot catalog-cutover-<run-id> of catalog/m);
    expect(text).toMatch(/^ {2}mysql\.snapshot\.create\n.*read {3}rds\.DescribeDBClusterSnapshots/m);
    expect(text).toMatch(/^\d+\. mysql\.snapshot\.remove \[action\]$/m);
    expect(text).not.toMatch(/mysql\.replica\.|Nothing to do/);
  });

  test('the plan names the Aurora calls: cluster snapshot, restore with the stacks\' KmsKeyId, the writer, the crash-recovery event, rds_set_external_source, the cluster fence; no replica, no snapshot copy', async () => {
    const text = (await run(['--env', 'prod-aurora', '--offline'], planEnvironment())).out.join('\n');
    expect(text).toMatch(/CHANGE rds\.CreateDBClusterSnapshot \{"DBClusterIdentifier":"catalog","DBClusterSnapshotIdentifier":"catalog-cutover-<run-id>"/);
    expect(text).toMatch(/CHANGE rds\.RestoreDBClusterFromSnapshot \{"DBClusterIdentifier":"catalog-encrypted","SnapshotIdentifier":"catalog-cutover-<run-id>",.*"KmsKeyId":"arn:aws:kms:eu-west-1:111111111111:key\/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"/);
    expect(text).toMatch(/CHANGE rds\.CreateDBInstance \{"DBInstanceIdentifier":"catalog-encrypted-writer","DBClusterIdentifier":"catalog-encrypted"/);
    expect(text).toMatch(/wait {3}rds\.DescribeEvents .*Binlog position from crash recovery is <file> <position>/);
    expect(text).toContain("CALL mysql.rds_set_external_source('<source endpoint address>', 3306, 'cutover_repl', '***', '<start binlog file from the crash-recovery event>', <start binlog position from the crash-recovery event>, 1)");
    expect(text).toContain('CALL mysql.rds_reset_external_source');
    expect(text).toContain(`CHANGE rds.ModifyDBCluster {"DBClusterIdentifier":"catalog","VpcSecurityGroupIds":["${FENCE_SG}"],"ApplyImmediately":true}`);
    expect(text).toMatch(/CHANGE route53\.ChangeResourceRecordSets .*"Name":"catalog-db\.prod\.internal\.example\.com","Type":"CNAME","TTL":15,"ResourceRecords":\[\{"Value":"<catalog-encrypted\.Endpoint>"\}\]/);
    expect(text).not.toMatch(/CreateDBInstanceReadReplica|CopyDBSnapshot|CopyDBClusterSnapshot|rds_set_external_master/);
  });

  test('--cleanup adds the deletion of the source\'s unencrypted cluster snapshot; nothing else is deleted', async () => {
    const text = (await run(['--env', 'prod-aurora', '--offline', '--cleanup'], planEnvironment())).out.join('\n');
    expect(text.match(/CHANGE rds\.Delete\w+ .*/g)).toEqual(['CHANGE rds.DeleteDBClusterSnapshot {"DBClusterSnapshotIdentifier":"catalog-cutover-<run-id>"}']);
  });
});

describe('dry run with credentials', () => {
  test('GIVEN credentials THEN only read-only calls are sent, the plan shows the source writer\'s class, and the AWS checks pass', async () => {
    const aws = mockedAws();
    describeAurora(aws, { clusters: { catalog: [SOURCE_CLUSTER], 'catalog-encrypted': ['missing'] }, instances: { 'catalog-writer-1': [SOURCE_WRITER], 'catalog-encrypted-writer': ['missing'] } });
    aws.rds.on(DescribeDBClusterSnapshotsCommand).rejects(Object.assign(new Error('none'), { name: 'DBClusterSnapshotNotFoundFault' }));
    aws.rds.on(DescribeDBClusterParametersCommand).resolves({ Parameters: [{ ParameterName: 'binlog_format', ParameterValue: 'ROW' }] });
    aws.sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111', Arn: 'arn:aws:sts::111111111111:assumed-role/rds-cutover-operator/rds-cutover' });
    aws.kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'k', KeyState: 'Enabled' } });
    aws.ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: FENCE_SG, IpPermissions: [], IpPermissionsEgress: [] }] });
    aws.route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: 'catalog-db.prod.internal.example.com.', Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: SOURCE_CLUSTER.Endpoint! }] }] });
    aws.ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'catalog-api', status: 'ACTIVE' }], failures: [] });
    let readOnly: boolean | undefined;
    const { out } = await run(['--env', 'prod-aurora'], auroraEnvironment(), (_e, options) => {
      readOnly = options.readOnly;
      return aws.clients;
    });
    const text = out.join('\n');
    expect(readOnly).toBe(true);
    expect(aws.mutating()).toEqual([]);
    expect(text).toMatch(/CHANGE rds\.CreateDBInstance .*"DBInstanceClass":"db\.r6g\.xlarge","DBParameterGroupName":"catalog-aurora-mysql80-instance"/);
    expect(text).toContain("CALL mysql.rds_set_external_source('catalog.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com', 3306");
    expect(text).toContain('check aws.preflight: checked');
  });
});

describe('--resume of a journal written before the snapshot steps had their own names', () => {
  test('GIVEN an Aurora run journaled by an older version (mysql.replica.create took the cluster snapshot; catch-up and stop did nothing) and killed in the clone WHEN resumed THEN the snapshot step counts as done (no second snapshot, not even looked for), the clone restores the journaled snapshot, and the report names the new steps only', async () => {
    const runId = '20261122-130000-abc123';
    const snapshotId = `catalog-cutover-${runId}`;
    const aws = mockedAws();
    describeAurora(aws, {
      clusters: { catalog: [{ ...SOURCE_CLUSTER, DBClusterArn: 'arn:aws:rds:eu-west-1:111111111111:cluster:catalog' }], 'catalog-encrypted': ['missing'] },
      instances: { 'catalog-writer-1': [SOURCE_WRITER] },
    });
    aws.rds.on(RestoreDBClusterFromSnapshotCommand).resolves({});
    statefulTags(aws);
    const stateDir = mkdtempSync(join(scratch, 'old-journal-'));
    const journal = new Journal(stateDir, runId);
    const at = new Date().toISOString();
    journal.append({ type: 'run-start', at, runId, flow: 'mysql.encrypt', environment: 'prod-aurora', dryRun: false, options: {} });
    for (const [step, facts] of [
      ['aws.preflight', {}],
      ['mysql.preflight', { dialect: 'mysql80', databases: ['catalog'] }],
      ['mysql.replica.create', { clusterSnapshotId: snapshotId }],
      ['mysql.replica.catch-up', {}],
      ['mysql.replica.stop', {}],
    ] as const) {
      journal.append({ type: 'step-done', at, step, durationMs: 7, facts });
    }
    journal.append({ type: 'step-start', at, step: 'mysql.target.clone' });
    journal.close();

    const environment = auroraEnvironment({ waits: { instanceSeconds: 0.05, pollSeconds: 0.01 } });
    const out: string[] = [];
    const code = await runAws({ environment, args: parseCutoverArgs(['--env', 'prod-aurora', '--execute', '--resume', runId]), stateDir, log: recordingLogger(), out: (line) => out.push(...line.split('\n')) }, { createClients: () => aws.clients, lockSettleMs: 1 });

    // The restored cluster never becomes available here: the run fails in the clone, resumable.
    expect(code).toBe(EXIT.failed);
    expect(aws.mutating()).toEqual(['rds.AddTagsToResource', 'rds.RestoreDBClusterFromSnapshot', 'rds.RemoveTagsFromResource']);
    expect(aws.rds.commandCalls(DescribeDBClusterSnapshotsCommand)).toHaveLength(0);
    expect(aws.rds.commandCalls(RestoreDBClusterFromSnapshotCommand)[0].args[0].input).toMatchObject({ DBClusterIdentifier: 'catalog-encrypted', SnapshotIdentifier: snapshotId });
    const report = JSON.parse(readFileSync(join(stateDir, 'runs', runId, 'report.json'), 'utf8')) as { steps: Array<{ id: string; status: string; durationMs: number }> };
    expect(report.steps.slice(0, 4).map((s) => [s.id, s.status])).toEqual([
      ['aws.preflight', 'done-earlier'],
      ['mysql.preflight', 'done-earlier'],
      ['mysql.snapshot.create', 'done-earlier'],
      ['mysql.target.clone', 'failed'],
    ]);
    expect(report.steps.find((s) => s.id === 'mysql.snapshot.create')!.durationMs).toBe(7);
    expect(report.steps.map((s) => s.id).filter((id) => id.startsWith('mysql.replica.'))).toEqual([]);
    expect(out.join('\n')).toContain(`--resume ${runId}`);
  });
});
