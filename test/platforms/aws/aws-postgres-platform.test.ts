import { fromProjectRoot } from '../../../lib/util/project-root';
/**
 * The AWS PostgreSQL platform against aws-sdk-client-mock: the freeze on the source's own
 * parameter group (and its wait on the server's reset_val), the switch sequence (UPSERT,
 * INSYNC, roles fenced, ECS recycled) and the security-group fence last, for an Aurora cluster
 * and for an RDS instance; the stacks' target checked before anything is created on it.
 */
import {
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  ModifyDBClusterCommand,
  ModifyDBClusterParameterGroupCommand,
  ModifyDBInstanceCommand,
  ModifyDBParameterGroupCommand,
} from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { DescribeServicesCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { loadEnvironment, type CutoverEnvironment } from '../../../config/cutover';
import { AwsGateway } from '../../../lib/platforms/aws/gateway';
import { AwsPostgresPlatform } from '../../../lib/platforms/aws/aws-postgres-platform';
import { POSTGRES_ADMIN } from '../../../lib/platforms/postgres-platform';
import type { PgClient } from '../../../lib/engines/postgres/connection';
import { resolveAwsPostgresSettings } from '../../../lib/platforms/aws/settings';
import { mockedAws, recordingLogger, stepContext, type MockedAws } from './helpers';
import { PG_FENCE_SG, PG_OUTPUTS_FIXTURE, PG_SOURCE, PG_TARGET } from './postgres-helpers';

// The freeze's wait is long (a slow, busy machine still sees the server report the change in
// time); the test of a change that never arrives sets a short one of its own.
const WAITS = { instanceSeconds: 2, snapshotSeconds: 2, dnsSeconds: 2, servicesSeconds: 2, pollSeconds: 0.01, freezeSeconds: 60, coordinatesSeconds: 2 };

function environment(aws: Partial<NonNullable<CutoverEnvironment['aws']>> = {}): CutoverEnvironment {
  const loaded = loadEnvironment('prod-pg');
  return { ...loaded, aws: { ...loaded.aws!, outputsFile: PG_OUTPUTS_FIXTURE, waits: WAITS, ...aws } };
}

function platformOn(mock: MockedAws, env = environment(), method: 'logical' | 'dump' = 'logical') {
  const log = recordingLogger();
  const gateway = new AwsGateway({ mode: 'live', clients: mock.clients, log, waits: { pollSeconds: 0.01 } });
  return { platform: new AwsPostgresPlatform(resolveAwsPostgresSettings(env, { cleanup: false }), gateway, { method, appUsers: ['billing_app'] }), log };
}

/** A stand-in for the kept administrator session on the source: records SQL, answers reset_val in turn. */
function fakeSourceAdmin(resetValues: string[]) {
  const sql: string[] = [];
  return {
    sql,
    client: {
      async query(text: string) {
        sql.push(text);
        if (text.includes('reset_val')) return { rows: [{ reset_val: resetValues.length > 1 ? resetValues.shift() : resetValues[0] }], rowCount: 1 };
        if (text.includes('pg_terminate_backend')) return { rows: [{ n: '3' }], rowCount: 1 };
        return { rows: [], rowCount: 0 };
      },
    },
  };
}

function withAdmin(context: ReturnType<typeof stepContext>, admin: ReturnType<typeof fakeSourceAdmin>) {
  context.resources.set(POSTGRES_ADMIN.source, admin.client as unknown as PgClient);
  return context;
}

function clusterAccount(): MockedAws {
  const mock = mockedAws();
  mock.rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing' }).resolves({ DBClusters: [PG_SOURCE] });
  mock.rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing-pg16' }).resolves({ DBClusters: [PG_TARGET] });
  mock.rds.on(ModifyDBClusterParameterGroupCommand).resolves({ DBClusterParameterGroupName: 'billing-pg15-custom' });
  mock.route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: 'billing-db.stg.internal.', Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: PG_SOURCE.Endpoint! }] }], IsTruncated: false, MaxItems: 1 });
  mock.route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C9', Status: 'PENDING', SubmittedAt: new Date() } });
  mock.route53.on(GetChangeCommand).resolvesOnce({ ChangeInfo: { Id: '/change/C9', Status: 'PENDING', SubmittedAt: new Date() } }).resolves({ ChangeInfo: { Id: '/change/C9', Status: 'INSYNC', SubmittedAt: new Date() } });
  mock.ecs.on(UpdateServiceCommand).resolves({});
  mock.ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'billing-api', status: 'ACTIVE', desiredCount: 2, runningCount: 2, deployments: [{ status: 'PRIMARY' }] }], failures: [] });
  mock.rds.on(ModifyDBClusterCommand).resolves({});
  return mock;
}

describe('freeze', () => {
  test('GIVEN an Aurora source THEN ModifyDBClusterParameterGroup sets default_transaction_read_only=1 (immediate) on the group it already uses, and waits until the server reports it', async () => {
    const mock = clusterAccount();
    const { platform, log } = platformOn(mock);
    const admin = fakeSourceAdmin(['off', 'off', 'on']);
    await platform.setSourceReadOnly(withAdmin(stepContext(log), admin), true);
    expect(mock.mutating()).toEqual(['rds.ModifyDBClusterParameterGroup']);
    expect(mock.rds.commandCalls(ModifyDBClusterParameterGroupCommand)[0].args[0].input).toEqual({
      DBClusterParameterGroupName: 'billing-pg15-custom',
      Parameters: [{ ParameterName: 'default_transaction_read_only', ParameterValue: '1', ApplyMethod: 'immediate' }],
    });
    expect(admin.sql.filter((q) => q.includes('reset_val'))).toHaveLength(3);
  });

  test('GIVEN the change never reaches the server THEN the freeze fails naming the group and the wait', async () => {
    const mock = clusterAccount();
    const { platform, log } = platformOn(mock, environment({ waits: { ...WAITS, freezeSeconds: 0.5 } }));
    await expect(platform.setSourceReadOnly(withAdmin(stepContext(log), fakeSourceAdmin(['off'])), true)).rejects.toThrow(/billing: default_transaction_read_only did not become on within 0\.5 s after modifying parameter group billing-pg15-custom/);
  });

  test('GIVEN an RDS instance source THEN the instance\'s DB parameter group is modified, and reopening sets 0', async () => {
    const mock = mockedAws();
    mock.rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'catalog' }).resolves({ DBInstances: [{ DBInstanceIdentifier: 'catalog', DBInstanceStatus: 'available', Engine: 'postgres', Endpoint: { Address: 'catalog.abc.eu-west-1.rds.amazonaws.com', Port: 5432 }, DBParameterGroups: [{ DBParameterGroupName: 'catalog-pg15', ParameterApplyStatus: 'in-sync' }] }] });
    mock.rds.on(ModifyDBParameterGroupCommand).resolves({});
    const { platform, log } = platformOn(mock, environment({ source: { instanceId: 'catalog' } }));
    await platform.setSourceReadOnly(withAdmin(stepContext(log), fakeSourceAdmin(['off'])), false);
    expect(mock.rds.commandCalls(ModifyDBParameterGroupCommand)[0].args[0].input).toEqual({ DBParameterGroupName: 'catalog-pg15', Parameters: [{ ParameterName: 'default_transaction_read_only', ParameterValue: '0', ApplyMethod: 'immediate' }] });
    expect(mock.mutating()).toEqual(['rds.ModifyDBParameterGroup']);
  });
});

describe('switch and fence', () => {
  test('GIVEN a frozen source THEN UPSERT to the target\'s writer endpoint with the TTL, INSYNC, roles NOLOGIN, ECS recycled; the deny-all group comes last', async () => {
    const mock = clusterAccount();
    const { platform, log } = platformOn(mock);
    const admin = fakeSourceAdmin(['on']);
    const context = withAdmin(stepContext(log), admin);
    await platform.prepareSwitch(context);
    expect(await platform.pauseClients(context)).toBe(true);
    await platform.switchEndpoint(context);
    await platform.resumeClients();
    const facts = await platform.fenceSource(context);
    expect(mock.mutating()).toEqual(['route53.ChangeResourceRecordSets', 'ecs.UpdateService']);
    const sent = mock.sent();
    expect(sent.lastIndexOf('route53.GetChange')).toBeLessThan(sent.indexOf('ecs.UpdateService'));
    expect(admin.sql).toEqual(expect.arrayContaining(['ALTER ROLE "billing_app" NOLOGIN']));
    expect(facts).toMatchObject({ fence: 'roles-nologin', fenceSessionsEnded: 3 });
    expect(mock.route53.commandCalls(ChangeResourceRecordSetsCommand)[0].args[0].input.ChangeBatch!.Changes).toEqual([
      { Action: 'UPSERT', ResourceRecordSet: { Name: 'billing-db.stg.internal', Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: PG_TARGET.Endpoint }] } },
    ]);
    expect(log.lines).toContain('warn no pooler to pause on AWS: application writes fail (read-only) from the freeze until clients follow the DNS change');

    // The last step, after the flow stopped reading the source.
    mock.rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing' }).resolvesOnce({ DBClusters: [PG_SOURCE] }).resolves({ DBClusters: [{ ...PG_SOURCE, VpcSecurityGroups: [{ VpcSecurityGroupId: PG_FENCE_SG, Status: 'active' }] }] });
    const fenced = await platform.fenceWithSecurityGroup(context);
    expect(mock.rds.commandCalls(ModifyDBClusterCommand)[0].args[0].input).toEqual({ DBClusterIdentifier: 'billing', VpcSecurityGroupIds: [PG_FENCE_SG], ApplyImmediately: true });
    expect(fenced).toEqual({ fence: `sg:${PG_FENCE_SG}`, sourcePreviousSecurityGroupIds: ['sg-0a1b2c3d4e5f60041'] });
    expect(log.lines.join('\n')).toContain('to undo: ModifyDBCluster VpcSecurityGroupIds [sg-0a1b2c3d4e5f60041]');
  });

  test('GIVEN a switch killed after its UPSERT WHEN a fresh process fences the source THEN it waits for the journaled change, without a second UPSERT', async () => {
    const mock = clusterAccount();
    const first = platformOn(mock);
    const recorded: Array<Record<string, unknown>> = [];
    const context = withAdmin(stepContext(first.log), fakeSourceAdmin(['on']));
    await first.platform.prepareSwitch(context);
    await first.platform.switchEndpoint({ ...context, record: async (learned) => void recorded.push(learned) });
    // Journaled at once: the change id lived only in this process's memory.
    expect(recorded).toEqual([{ route53ChangeId: '/change/C9' }]);

    const resumed = platformOn(mock);
    await resumed.platform.fenceSource(withAdmin(stepContext(resumed.log, { route53ChangeId: '/change/C9' }), fakeSourceAdmin(['on'])));
    expect(mock.route53.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(1);
    expect([...new Set(mock.route53.commandCalls(GetChangeCommand).map((c) => c.args[0].input.Id))]).toEqual(['/change/C9']);
  });

  test('GIVEN no change id in memory nor in the journal (killed between the UPSERT and its journal line, or a resumed switch-back that never moved traffic) WHEN the source is fenced THEN the record is UPSERTed to the value it has and that change is waited for: never a GetChange of a placeholder', async () => {
    const mock = clusterAccount();
    mock.route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: 'billing-db.stg.internal.', Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: PG_TARGET.Endpoint! }] }], IsTruncated: false, MaxItems: 1 });
    const { platform, log } = platformOn(mock);
    await platform.fenceSource(withAdmin(stepContext(log), fakeSourceAdmin(['on'])));
    const upserts = mock.route53.commandCalls(ChangeResourceRecordSetsCommand).map((c) => c.args[0].input.ChangeBatch!.Changes![0].ResourceRecordSet!.ResourceRecords);
    expect(upserts).toEqual([[{ Value: PG_TARGET.Endpoint }]]);
    expect([...new Set(mock.route53.commandCalls(GetChangeCommand).map((c) => c.args[0].input.Id))]).toEqual(['/change/C9']);
  });

  test('GIVEN the way back and no change id of this run (a resumed switch-forth that never moved traffic) WHEN the target is fenced THEN the record is UPSERTed to the old source it points at and that change is waited for: never a GetChange of a placeholder', async () => {
    const mock = clusterAccount();
    const { platform, log } = platformOn(mock, environment({ reverseReplication: true }));
    const context = withAdmin(stepContext(log), fakeSourceAdmin(['on']));
    context.resources.set(POSTGRES_ADMIN.target, fakeSourceAdmin(['on']).client as unknown as PgClient);
    await platform.wayBack!.fenceTarget(context);
    const upserts = mock.route53.commandCalls(ChangeResourceRecordSetsCommand).map((c) => c.args[0].input.ChangeBatch!.Changes![0].ResourceRecordSet!.ResourceRecords);
    expect(upserts).toEqual([[{ Value: PG_SOURCE.Endpoint }]]);
    expect([...new Set(mock.route53.commandCalls(GetChangeCommand).map((c) => c.args[0].input.Id))]).toEqual(['/change/C9']);
    expect(context.facts.route53ChangeIdBack).toBe('/change/C9');
  });

  test('GIVEN an RDS instance source THEN the fence is ModifyDBInstance with the deny-all group', async () => {
    const mock = mockedAws();
    const source = { DBInstanceIdentifier: 'catalog', DBInstanceStatus: 'available', Engine: 'postgres', Endpoint: { Address: 'catalog.abc.eu-west-1.rds.amazonaws.com', Port: 5432 }, VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0aaaaaaaaaaaaaaa1', Status: 'active' }] };
    mock.rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'catalog' }).resolvesOnce({ DBInstances: [source] }).resolves({ DBInstances: [{ ...source, VpcSecurityGroups: [{ VpcSecurityGroupId: PG_FENCE_SG, Status: 'active' }] }] });
    mock.rds.on(ModifyDBInstanceCommand).resolves({});
    const { platform, log } = platformOn(mock, environment({ source: { instanceId: 'catalog' } }));
    await platform.fenceWithSecurityGroup(stepContext(log));
    expect(mock.mutating()).toEqual(['rds.ModifyDBInstance']);
    expect(mock.rds.commandCalls(ModifyDBInstanceCommand)[0].args[0].input).toEqual({ DBInstanceIdentifier: 'catalog', VpcSecurityGroupIds: [PG_FENCE_SG], ApplyImmediately: true });
  });
});

describe('createTarget', () => {
  test('GIVEN the stacks\' target is not encrypted THEN it is refused before any connection or change', async () => {
    const mock = clusterAccount();
    mock.rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing-pg16' }).resolves({ DBClusters: [{ ...PG_TARGET, StorageEncrypted: false }] });
    const { platform, log } = platformOn(mock);
    await expect(platform.createTarget(stepContext(log), { database: 'billing', version: 16 })).rejects.toThrow(/Aurora cluster billing-pg16 is not encrypted: it must be the stacks' target/);
    expect(mock.mutating()).toEqual([]);
  });

  test('GIVEN a target of another major version than postgres.targetVersion THEN it is refused naming both settings', async () => {
    const mock = clusterAccount();
    const { platform, log } = platformOn(mock);
    await expect(platform.createTarget(stepContext(log), { database: 'billing', version: 17 })).rejects.toThrow(/runs PostgreSQL 16\.4, not 17: fix postgres\.targetVersion or the stacks' database\.engineVersion/);
  });

  test('GIVEN the target never becomes available THEN the waiter error names it', async () => {
    const mock = clusterAccount();
    mock.rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'billing-pg16' }).resolves({ DBClusters: [{ ...PG_TARGET, Status: 'creating' }] });
    const { platform, log } = platformOn(mock, environment({ waits: { instanceSeconds: 0.2, snapshotSeconds: 2, dnsSeconds: 2, servicesSeconds: 2, pollSeconds: 0.02, freezeSeconds: 1, coordinatesSeconds: 2 } }));
    await expect(platform.createTarget(stepContext(log), { database: 'billing' })).rejects.toThrow(/^target billing-pg16: not available \(timed out\) after waiting/);
  });
});

describe('endpoints', () => {
  const saved = process.env.BILLING_ADMIN_PASSWORD;
  afterEach(() => {
    if (saved === undefined) delete process.env.BILLING_ADMIN_PASSWORD;
    else process.env.BILLING_ADMIN_PASSWORD = saved;
  });

  test('the source is reached through its tunnel with TLS verified against the bundle and the writer endpoint\'s name; the subscription dials the VPC endpoint', async () => {
    process.env.BILLING_ADMIN_PASSWORD = 'not-a-real-password';
    const mock = clusterAccount();
    const { platform } = platformOn(mock);
    const endpoint = await platform.source('billing');
    expect(endpoint).toMatchObject({ host: '127.0.0.1', port: 15432, user: 'postgres', database: 'billing', tls: { caFile: fromProjectRoot('.rds-cutover/rds-global-bundle.pem'), rejectUnauthorized: true, serverName: PG_SOURCE.Endpoint } });
    expect(await platform.sourceForSubscription()).toEqual({ host: PG_SOURCE.Endpoint, port: 5432, sslmode: 'require' });
  });
});
