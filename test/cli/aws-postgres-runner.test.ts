/**
 * `zx scripts/cutover.mjs --env prod-pg --engine postgres …` on the AWS platform: the committed
 * offline plan (line by line), no AWS client offline, a dry run that sends reads only, refusals
 * that change nothing, and the local behaviour of --engine postgres untouched.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { DescribeDBClusterParametersCommand, DescribeDBClustersCommand } from '@aws-sdk/client-rds';
import { loadEnvironment, type CutoverEnvironment } from '../../config/cutover';
import { parseCutoverArgs, UsageError, EXIT } from '../../lib/cli/cutover';
import { runPostgres } from '../../lib/cli/postgres';
import type { Tag } from '@aws-sdk/client-rds';
import { expectPlanFixture, mockedAws, recordingLogger, statefulTags, type MockedAws } from '../platforms/aws/helpers';
import { AwsGateway } from '../../lib/platforms/aws/gateway';
import { sourceTagLock } from '../../lib/cli/aws';
import { RunLockHeld } from '../../lib/runbook/lock';
import { checkRunArgs } from '../../lib/cli/settings';
import { PG_OUTPUTS_FIXTURE, PG_SOURCE, PG_TARGET } from '../platforms/aws/postgres-helpers';

const FIXTURE = join(__dirname, 'fixtures', 'aws-prod-pg-logical-offline.plan.txt');
const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-aws-pg-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const noClients = () => {
  throw new Error('no AWS client may be created for this command');
};

function environment(outputsFile = PG_OUTPUTS_FIXTURE): CutoverEnvironment {
  const loaded = loadEnvironment('prod-pg');
  return { ...loaded, aws: { ...loaded.aws!, outputsFile } };
}

async function run(argv: string[], env: CutoverEnvironment, createClients: (e: unknown, o: { readOnly: boolean }) => MockedAws['clients'] = noClients) {
  // lockSettleMs: the tag lock's read-back settle, short here (the mocks answer at once).
  const out: string[] = [];
  const log = recordingLogger();
  const stateDir = mkdtempSync(join(scratch, 'state-'));
  // runPostgres is what `--engine postgres` dispatches to; the AWS branch takes the same dependencies as runAws.
  const { runAwsPostgres } = await import('../../lib/cli/aws-postgres');
  const code = await runAwsPostgres({ environment: env, args: parseCutoverArgs(argv), stateDir, log, out: (line) => out.push(...line.split('\n')) }, { createClients, lockSettleMs: 1 });
  return { code, out, log };
}

describe('offline plan (--offline)', () => {
  test('the plan of --env prod-pg --engine postgres --method logical --offline is the committed text, line by line, and no AWS client is created', async () => {
    const { code, out } = await run(['--env', 'prod-pg', '--engine', 'postgres', '--method', 'logical', '--offline'], environment());
    expect(code).toBe(EXIT.ok);
    expectPlanFixture(out, FIXTURE);
  });

  test('the plan names the freeze on the source\'s cluster parameter group, the UPSERT with the TTL, and the deny-all fence as the last call', async () => {
    const { out } = await run(['--env', 'prod-pg', '--engine', 'postgres', '--offline'], environment());
    const text = out.join('\n');
    expect(text).toMatch(/CHANGE rds\.ModifyDBClusterParameterGroup \{"DBClusterParameterGroupName":"<billing\.DBClusterParameterGroup>","Parameters":\[\{"ParameterName":"default_transaction_read_only","ParameterValue":"1","ApplyMethod":"immediate"\}\]\}/);
    expect(text).toMatch(/CHANGE route53\.ChangeResourceRecordSets \{"HostedZoneId":"Z0123456789STGZONE001".*"Name":"billing-db\.stg\.internal","Type":"CNAME","TTL":15/);
    expect(text).toContain('needs a REBOOT');
    expect(text).toContain('no pooler on AWS: application writes fail read-only');
    const calls = out.filter((line) => /^ +\d+\. (read|CHANGE|wait)/.test(line));
    expect(calls[calls.length - 2]).toMatch(/CHANGE rds\.ModifyDBCluster \{"DBClusterIdentifier":"billing","VpcSecurityGroupIds":\["sg-0e2d1c0b0a0908172"\],"ApplyImmediately":true\}/);
    expect(text).not.toMatch(/secret-value|AbCdEf"\}/);
  });

  test('--method dump freezes in its own step before the copy', async () => {
    const { out } = await run(['--env', 'prod-pg', '--engine', 'postgres', '--method', 'dump', '--offline'], environment());
    const text = out.join('\n');
    expect(text).toMatch(/ {2}postgres\.source\.freeze\n +\d+\. CHANGE rds\.ModifyDBClusterParameterGroup .*"ParameterValue":"1"/);
    expect(text.indexOf('  postgres.source.freeze')).toBeLessThan(text.indexOf('CHANGE route53.ChangeResourceRecordSets'));
    expect(text).not.toContain('rds.logical_replication = 1 applied');
  });

  test('GIVEN no outputs file THEN placeholders, and --execute is refused naming each missing value before any client exists', async () => {
    const missing = environment(join(scratch, 'none.json'));
    const planned = await run(['--env', 'prod-pg', '--engine', 'postgres', '--offline'], missing);
    expect(planned.out.join('\n')).toContain('--execute needs them: aws.kmsKeyId (or the stacks\' output storageKeyArn)');
    const error = await run(['--env', 'prod-pg', '--engine', 'postgres', '--execute'], missing).catch((e: Error) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain("aws.postgres.target (or the stacks' output databaseKind, databaseIdentifier)");
  });

  test('GIVEN an application role without a password source THEN --execute is refused, naming the setting', async () => {
    const env = environment();
    const error = await run(['--env', 'prod-pg', '--engine', 'postgres', '--execute'], { ...env, aws: { ...env.aws!, postgres: { appRolePasswords: {} } } }).catch((e: Error) => e);
    expect((error as Error).message).toContain('aws.postgres.appRolePasswords.billing_app');
  });
});

describe('dry run with credentials', () => {
  function account(): MockedAws {
    const aws = mockedAws();
    aws.sts.on(GetCallerIdentityCommand).resolves({ Account: '222222222222', Arn: 'arn:aws:sts::222222222222:assumed-role/rds-cutover-operator/x' });
    aws.rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing' }).resolves({ DBClusters: [PG_SOURCE] });
    aws.rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing-pg16' }).resolves({ DBClusters: [PG_TARGET] });
    aws.rds.on(DescribeDBClusterParametersCommand).resolves({ Parameters: [{ ParameterName: 'rds.logical_replication', ParameterValue: '1' }] });
    aws.ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-0e2d1c0b0a0908172', IpPermissions: [], IpPermissionsEgress: [] }] });
    aws.route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: 'billing-db.stg.internal.', Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: PG_SOURCE.Endpoint! }] }], IsTruncated: false, MaxItems: 1 });
    aws.ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'billing-api', status: 'ACTIVE' }], failures: [] });
    return aws;
  }

  test('GIVEN credentials THEN read-only clients are asked for, only reads are sent, the AWS checks pass and the plan shows the real parameter group', async () => {
    const aws = account();
    let readOnly: boolean | undefined;
    const { out } = await run(['--env', 'prod-pg', '--engine', 'postgres'], environment(), (_e, options) => {
      readOnly = options.readOnly;
      return aws.clients;
    });
    const text = out.join('\n');
    expect(readOnly).toBe(true);
    expect(aws.mutating()).toEqual([]);
    expect(aws.sent()).toContain('rds.DescribeDBClusterParameters');
    expect(text).toContain('check aws.preflight: checked');
    expect(text).toMatch(/CHANGE rds\.ModifyDBClusterParameterGroup \{"DBClusterParameterGroupName":"billing-pg15-custom"/);
  });

  test('GIVEN rds.logical_replication off and the default parameter group THEN the check names both fixes and the reboot', async () => {
    const aws = account();
    aws.rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing' }).resolves({ DBClusters: [{ ...PG_SOURCE, DBClusterParameterGroup: 'default.aurora-postgresql15' }] });
    aws.rds.on(DescribeDBClusterParametersCommand).resolves({ Parameters: [] });
    const { code, out } = await run(['--env', 'prod-pg', '--engine', 'postgres'], environment(), () => aws.clients);
    const text = out.join('\n');
    expect(code).toBe(EXIT.failed);
    expect(text).toContain('check aws.preflight: failed');
    expect(text).toContain('uses the default parameter group default.aurora-postgresql15, which cannot be modified');
    expect(text).toMatch(/rds\.logical_replication is not 1 in default\.aurora-postgresql15: set it \(static: it applies after a REBOOT of billing/);
    expect(aws.mutating()).toEqual([]);
  });
});

describe('--engine postgres dispatch', () => {
  test('an AWS environment goes to the AWS runner (no "not available yet" refusal); --offline needs no client', async () => {
    const out: string[] = [];
    const code = await runPostgres({ environment: environment(), args: parseCutoverArgs(['--env', 'prod-pg', '--engine', 'postgres', '--offline']), stateDir: scratch, log: recordingLogger(), out: (line) => out.push(line) });
    expect(code).toBe(EXIT.ok);
    expect(out[0]).toBe('Flow postgres.logical');
    expect(out).toContain("Dry run (--offline): planned from config and the stacks' outputs alone; no AWS call was made and nothing was changed.");
  });
});

describe('one run per environment on AWS PostgreSQL: the run lock is a tag on the source cluster, and --break-lock releases it', () => {
  const HOLDER = '20261201-070000-abc123';
  function lockedAccount(): { aws: MockedAws; tags: Map<string, Tag[]> } {
    const aws = mockedAws();
    aws.rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing' }).resolves({ DBClusters: [{ ...PG_SOURCE, DBClusterArn: SOURCE_ARN }] });
    aws.rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing-pg16' }).resolves({ DBClusters: [PG_TARGET] });
    const tags = statefulTags(aws);
    return { aws, tags };
  }
  const SOURCE_ARN = 'arn:aws:rds:eu-west-1:222222222222:cluster:billing';

  async function holdLock(aws: MockedAws): Promise<void> {
    const gateway = new AwsGateway({ mode: 'live', clients: aws.clients, log: recordingLogger(), waits: { pollSeconds: 1 } });
    await sourceTagLock(gateway, { kind: 'cluster', id: 'billing' }, 1).acquire({ runId: HOLDER, environment: 'prod-pg', host: 'operator-host', pid: 4242, startedAt: '2026-12-01T07:00:00.000Z' });
  }

  test('GIVEN another run holds the lock WHEN a second --execute starts THEN it refuses naming the holder and the --break-lock command, and sends no change', async () => {
    const { aws, tags } = lockedAccount();
    await holdLock(aws);
    const before = aws.mutating().length;
    const stateDir = mkdtempSync(join(scratch, 'state-'));
    const { runAwsPostgres } = await import('../../lib/cli/aws-postgres');
    const error = await runAwsPostgres({ environment: environment(), args: parseCutoverArgs(['--env', 'prod-pg', '--engine', 'postgres', '--execute']), stateDir, log: recordingLogger(), out: () => undefined }, { createClients: () => aws.clients, lockSettleMs: 1 }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(RunLockHeld);
    expect((error as Error).message).toContain(`locked by run ${HOLDER} (host operator-host, pid 4242`);
    expect((error as Error).message).toContain(`npx zx scripts/cutover.mjs --env prod-pg --break-lock ${HOLDER}`);
    expect(aws.mutating().slice(before)).toEqual([]);
    expect(tags.get(SOURCE_ARN)?.map((tag) => tag.Key)).toContain('rds-cutover:lock');
  });

  test('GIVEN a lock left by a killed run WHEN --break-lock RUN_ID THEN the tag is removed and the output says whose lock was released (not a credentials message)', async () => {
    const { aws, tags } = lockedAccount();
    await holdLock(aws);
    const { code, out } = await run(['--env', 'prod-pg', '--engine', 'postgres', '--break-lock', HOLDER], environment(), () => aws.clients);
    expect(code).toBe(EXIT.ok);
    expect(out.join('\n')).toMatch(new RegExp(`released the lock \\(tag rds-cutover:lock on source cluster billing\\) held by run ${HOLDER} \\(host operator-host, pid 4242`));
    expect(tags.get(SOURCE_ARN)?.map((tag) => tag.Key) ?? []).not.toContain('rds-cutover:lock');
  });

  test('--break-lock with --offline names the real fix: the lock is a tag on the source, drop --offline', () => {
    expect(() => checkRunArgs(environment(), parseCutoverArgs(['--env', 'prod-pg', '--engine', 'postgres', '--break-lock', HOLDER, '--offline']))).toThrow(/tag on the source.*drop --offline/);
  });
});
