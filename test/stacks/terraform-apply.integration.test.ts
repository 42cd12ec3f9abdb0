/**
 * `terraform apply` of the synthesized stacks against moto (an AWS API emulator started here):
 * an environment like `dev` whose provider points every overridable service at the emulator,
 * on a VPC, subnets, the proxy's secret and the live database `catalog` made in the emulator
 * first. Then SDK calls show the resources exist, the stack's outputs (terraform output, written
 * in the `cdktf output` file shape) pass the scripts' reader (`readInfraOutputs`), a second plan
 * shows no change; then the switch's own calls move traffic (Route 53 UPSERT + INSYNC, the RDS
 * Proxy target swapped, the old database fenced) and the deploy after the switch still plans no
 * change (docs/DEPLOY.md step 6); `terraform destroy` removes everything. Skipped, saying how to
 * get it, without moto.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { CreateDBInstanceCommand, DescribeDBInstancesCommand, DescribeDBParameterGroupsCommand, DescribeDBProxiesCommand, DescribeDBProxyTargetsCommand, DescribeDBSubnetGroupsCommand } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { parseInfraEnvironment, type InfraEnvironment } from '../../config/infra';
import { dev } from '../../config/infra/dev';
import { parseEnvironment } from '../../config/cutover';
import prodPg from '../../config/cutover/prod-pg';
import { readInfraOutputs } from '../../lib/infra/outputs';
import { AwsGateway } from '../../lib/platforms/aws/gateway';
import { RdsReader } from '../../lib/platforms/aws/rds-reader';
import { RdsProxySwitch } from '../../lib/platforms/aws/proxy-switch';
import { resolveAwsPostgresSettings } from '../../lib/platforms/aws/settings';
import { AwsSwitch } from '../../lib/platforms/aws/switch';
import { silentLogger } from '../../lib/util/log';
import { ACCOUNT, describeWithMoto, failure, pendingChanges, REGION, TerraformWorld } from './terraform-moto';

jest.setTimeout(1_800_000);

const SOURCE = 'catalog';

describeWithMoto('terraform apply against the emulator')('terraform apply of the stacks against the AWS emulator (moto)', () => {
  let world: TerraformWorld;
  let environment: InfraEnvironment;
  let stacks: Array<{ stack: string; directory: string }> = [];

  beforeAll(async () => {
    world = await TerraformWorld.start({ scratchPrefix: 'rds-cutover-tf-apply-', vpcCidr: '10.30.0.0/16' });
    const { clients } = world;
    const proxySecret = (await clients.secretsmanager.send(new CreateSecretCommand({ Name: 'rds-cutover/catalog-proxy', SecretString: '{"username":"cutover_admin","password":"not-a-real-one"}' }))).ARN!;
    // The database that is live before the cutover: the record's first value and the proxy's first target.
    const source = (
      await clients.rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: SOURCE, Engine: 'postgres', EngineVersion: '15.8', DBInstanceClass: 'db.t4g.medium', AllocatedStorage: 20, MasterUsername: 'cutover_admin', MasterUserPassword: 'not-a-real-one' }))
    ).DBInstance!;
    environment = parseInfraEnvironment(
      {
        ...structuredClone(dev),
        // dev's cutover sections (database, DNS, proxy) on the emulator's account, network and secret, and
        // dev's snapshot-share stack (issue 11: a second apply of the cutover and snapshot-share stacks plans
        // no change). Not the masking stack: ~5 min at load average 30, most of it the provider's KMS
        // propagation waits, and its CodeBuild project is one of the emulator's gaps (tools/moto README).
        masking: undefined,
        name: 'emulated',
        accountId: ACCOUNT,
        region: REGION,
        provider: world.provider(['codebuild', 'ec2', 'ecr', 'events', 'iam', 'kms', 'logs', 'rds', 'route53', 's3', 'secretsmanager', 'sts']),
        keyAdministratorArns: [`arn:aws:iam::${ACCOUNT}:role/rds-cutover-deployer`],
        network: { vpcId: world.vpcId, vpcCidr: world.vpcCidr, subnetIds: world.subnetIds },
        proxy: { ...dev.proxy!, secretArn: proxySecret, initialTarget: { kind: 'instance', identifier: SOURCE } },
        dns: { ...dev.dns!, currentEndpoint: source.Endpoint?.Address ?? 'catalog.abcdefghijkl.us-east-1.rds.amazonaws.com' },
      },
      'the emulated infrastructure environment',
    );
    stacks = await world.synthAndInit(environment, 'cdktf.out');
  });

  afterAll(async () => {
    // Destroy what was applied (reverse order), whatever the test saw; then nothing is left.
    expect(await world?.close()).toEqual([]);
  });

  test('GIVEN the cutover and snapshot-share stacks of a dev-like environment pointed at the emulator WHEN they are applied, then traffic is switched by the flow\'s own calls THEN the resources exist as the outputs say, the scripts\' reader accepts the outputs, and the plans right after the deploy and after the switch (record flipped, proxy target swapped, source fenced) both show no change', async () => {
    const { clients } = world;
    const results: Record<string, string> = {};
    for (const { stack, directory } of stacks) results[stack] = failure(await world.apply(stack, directory)) || 'applied';
    expect(results).toEqual(Object.fromEntries(stacks.map((s) => [s.stack, 'applied'])));

    // The outputs in the shape `npx cdktf output … --outputs-file` writes: { stack: { output: value } }.
    const outputs: Record<string, Record<string, unknown>> = {};
    for (const { stack, directory } of stacks) outputs[stack] = await world.outputs(directory);
    const outputsFile = join(world.scratch, 'outputs-emulated.json');
    writeFileSync(outputsFile, JSON.stringify(outputs));
    // The scripts' reader (lib/infra/outputs.ts) validates them against what the environment's stacks export.
    const read = readInfraOutputs('emulated', { file: outputsFile, environment });

    // What the emulator holds, by the outputs' values.
    const key = await clients.kms.send(new DescribeKeyCommand({ KeyId: read.cutover.storageKeyArn }));
    expect(key.KeyMetadata).toMatchObject({ KeyState: 'Enabled', Arn: read.cutover.storageKeyArn });
    const fence = (await clients.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [read.cutover.fenceSecurityGroupId] }))).SecurityGroups![0];
    // Inbound-only: nothing in; out only to the database ports inside the VPC (the way back).
    expect(fence.IpPermissions ?? []).toEqual([]);
    expect((fence.IpPermissionsEgress ?? []).map((rule) => [rule.IpProtocol, rule.FromPort, rule.ToPort, rule.IpRanges?.map((r) => r.CidrIp)]).sort()).toEqual([
      ['tcp', 3306, 3306, [environment.network.vpcCidr]],
      ['tcp', 5432, 5432, [environment.network.vpcCidr]],
    ]);
    const describe = async (id: string) => (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances![0];
    const database = await describe(read.database!.identifier);
    expect(database).toMatchObject({ Engine: 'postgres', StorageEncrypted: true, KmsKeyId: read.cutover.storageKeyArn });
    expect(database.VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId)).toContain(read.database!.securityGroupId);
    const subnetGroup = (await clients.rds.send(new DescribeDBSubnetGroupsCommand({ DBSubnetGroupName: database.DBSubnetGroup!.DBSubnetGroupName }))).DBSubnetGroups![0];
    expect(subnetGroup.Subnets!.map((s) => s.SubnetIdentifier).sort()).toEqual([...environment.network.subnetIds].sort());
    const groups = (await clients.rds.send(new DescribeDBParameterGroupsCommand({}))).DBParameterGroups!.map((g) => g.DBParameterGroupName);
    expect(groups).toEqual(expect.arrayContaining([read.database!.parameterGroupName, read.database!.frozenParameterGroupName]));
    const proxy = (await clients.rds.send(new DescribeDBProxiesCommand({ DBProxyName: read.proxy!.name }))).DBProxies![0];
    expect(proxy).toMatchObject({ EngineFamily: 'POSTGRESQL', RequireTLS: true, Endpoint: read.proxy!.endpoint });
    const record = async () => (await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: read.dns!.zoneId, StartRecordName: read.dns!.recordName, StartRecordType: 'CNAME', MaxItems: 1 }))).ResourceRecordSets?.[0];
    expect(await record()).toMatchObject({ Type: 'CNAME', TTL: read.dns!.ttlSeconds, ResourceRecords: [{ Value: environment.dns!.currentEndpoint }] });

    // The snapshot-share stack's customer-managed key, enabled, and the accounts it is shared with.
    const shareKey = await clients.kms.send(new DescribeKeyCommand({ KeyId: read.snapshotShare!.keyArn }));
    expect(shareKey.KeyMetadata).toMatchObject({ KeyState: 'Enabled', Arn: read.snapshotShare!.keyArn, KeyManager: 'CUSTOMER' });
    expect(read.snapshotShare!.targetAccountIds).toEqual(environment.snapshotShare!.targetAccountIds);

    // A second deploy right after the first must change nothing (no drift the stacks cause themselves).
    const replan = async () => Object.fromEntries(await Promise.all(stacks.map(async ({ stack, directory }) => [stack, pendingChanges(await world.plan(directory))] as const)));
    const nothing = Object.fromEntries(stacks.map((s) => [s.stack, []]));
    expect(await replan()).toEqual(nothing);

    // The switch, by the flow's own AWS calls, with the settings the CLI resolves from these outputs:
    // the proxy gets its first target (the run does that, not the stack), then is swapped to the
    // stack's database; the record is UPSERTed to it (INSYNC); the old database is fenced.
    // prod-pg's secrets are in its region (eu-west-1): moved with the region, as a user's would be
    // (a secret of another region is refused at load).
    const postgres = { ...prodPg.aws!.postgres!, appRolePasswords: { billing_app: { secretArn: `arn:aws:secretsmanager:${REGION}:222222222222:secret:rds-cutover/billing-app-AbCdEf` } } };
    const cutover = parseEnvironment(
      { ...prodPg, aws: { ...prodPg.aws!, region: REGION, assumeRole: undefined, infraEnvironment: 'emulated', outputsFile, source: { instanceId: SOURCE }, tunnels: {}, postgres } },
      'the emulated cutover',
    );
    const settings = resolveAwsPostgresSettings(cutover, { cleanup: false, infraEnvironment: environment });
    expect(settings.missing.filter((m) => !m.includes('appRolePasswords'))).toEqual([]);
    const gateway = new AwsGateway({ mode: 'live', clients, log: silentLogger, waits: { pollSeconds: 1 } });
    const proxySwitch = new RdsProxySwitch({ name: read.proxy!.name, targetGroupName: read.proxy!.targetGroupName, endpoint: read.proxy!.endpoint, port: 5432 }, gateway, { log: silentLogger, retryBudgetMs: 60_000 });
    await proxySwitch.ensureInitialTarget(SOURCE, settings.target.id);
    await proxySwitch.swap(SOURCE, settings.target.id);
    const dnsSwitch = new AwsSwitch(settings, gateway, new RdsReader(gateway));
    await dnsSwitch.upsert(database.Endpoint!.Address!, '20261201-120000-switch');
    await dnsSwitch.waitInSync();
    await dnsSwitch.fence({ kind: 'instance', id: SOURCE }, silentLogger);

    // Traffic moved: the record, the proxy and the old database's groups say so.
    expect((await record())?.ResourceRecords).toEqual([{ Value: database.Endpoint!.Address }]);
    const targets = (await clients.rds.send(new DescribeDBProxyTargetsCommand({ DBProxyName: read.proxy!.name, TargetGroupName: read.proxy!.targetGroupName }))).Targets ?? [];
    expect(targets.filter((t) => t.Type === 'RDS_INSTANCE').map((t) => t.RdsResourceId)).toEqual([read.database!.identifier]);
    expect((await describe(SOURCE)).VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId)).toEqual([read.cutover.fenceSecurityGroupId]);

    // The deploy after the switch: still no change. The record's value is the run's (ignore_changes =
    // [records]), the proxy's target is not declared, the target database is untouched.
    expect(await replan()).toEqual(nothing);
  });
});
