/**
 * `terraform apply` of the synthesized cutover stack against moto (an AWS API emulator started
 * here): an environment like `dev` whose provider points every overridable service at the
 * emulator, on a VPC, subnets and the proxy's secret made in the emulator first. Then SDK calls
 * show the resources exist, the stack's outputs (terraform output, written in the `cdktf output`
 * file shape) pass the scripts' reader (`readInfraOutputs`), and `terraform destroy` removes
 * everything. Skipped, saying how to get it, without moto.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateSubnetCommand, CreateVpcCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { DescribeDBInstancesCommand, DescribeDBParameterGroupsCommand, DescribeDBProxiesCommand, DescribeDBSubnetGroupsCommand } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { parseInfraEnvironment, type InfraEnvironment } from '../../config/infra';
import { dev } from '../../config/infra/dev';
import { addEnvironmentStacks } from '../../stacks/app';
import { App } from '../../stacks/aws';
import { findProviderMirror, offlineTerraformEnvironment, terraformBinary, writeTerraformCliConfig } from '../../stacks/terraform/cli-config';
import { readInfraOutputs } from '../../lib/infra/outputs';
import { newClients, type AwsClients } from '../../lib/platforms/aws/clients';
import { locateMoto, MotoServer, MOTO_INSTALL_HINT } from '../../lib/rehearsal/aws-emulated/moto';

jest.setTimeout(1_800_000);

const projectRoot = resolve(__dirname, '../..');
const moto = locateMoto(projectRoot);
if (!moto) console.warn(`skipping terraform apply against the emulator: ${MOTO_INSTALL_HINT}`);
const describeWithMoto = moto ? describe : describe.skip;

const REGION = 'us-east-1';
/** moto's default account: what the provider and ARNs see. */
const ACCOUNT = '123456789012';

interface Ran {
  code: number;
  output: string;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => done({ code: 127, output: `${output}${error.message}` }));
    child.on('close', (code) => done({ code: code ?? 1, output }));
  });
}

describeWithMoto('terraform apply of the stacks against the AWS emulator (moto)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-tf-apply-'));
  let server: MotoServer;
  let clients: AwsClients;
  let environment: InfraEnvironment;
  let terraformEnv: NodeJS.ProcessEnv;
  const stackDirectories: Array<{ stack: string; directory: string }> = [];
  const applied: string[] = [];
  const savedEnvironment = { ...process.env };

  beforeAll(async () => {
    server = await MotoServer.start(moto!);
    Object.assign(process.env, server.sdkEnvironment(REGION));
    clients = newClients({ region: REGION });
    const vpc = await clients.ec2.send(new CreateVpcCommand({ CidrBlock: '10.30.0.0/16' }));
    const vpcId = vpc.Vpc!.VpcId!;
    const subnets = [];
    for (const [index, zone] of ['us-east-1a', 'us-east-1b'].entries()) {
      subnets.push((await clients.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.30.${index + 1}.0/24`, AvailabilityZone: zone }))).Subnet!.SubnetId!);
    }
    const secrets = new SecretsManagerClient({ region: REGION });
    const proxySecret = (await secrets.send(new CreateSecretCommand({ Name: 'rds-cutover/catalog-proxy', SecretString: '{"username":"cutover_admin","password":"not-a-real-one"}' }))).ARN!;
    secrets.destroy();

    const endpoints = Object.fromEntries(['codebuild', 'ec2', 'ecr', 'events', 'iam', 'kms', 'logs', 'rds', 'route53', 's3', 'secretsmanager', 'sts'].map((service) => [service, server.url]));
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
        provider: { endpoints, skipCredentialsValidation: true, skipRequestingAccountId: true, skipMetadataApiCheck: true, s3UsePathStyle: true },
        keyAdministratorArns: [`arn:aws:iam::${ACCOUNT}:role/rds-cutover-deployer`],
        network: { vpcId, vpcCidr: '10.30.0.0/16', subnetIds: subnets },
        proxy: { ...dev.proxy!, secretArn: proxySecret },
        dns: { ...dev.dns!, currentEndpoint: 'catalog.abcdefghijkl.us-east-1.rds.amazonaws.com' },
      },
      'the emulated infrastructure environment',
    );
    const outdir = join(scratch, 'cdktf.out');
    const app = new App({ outdir });
    const stacks = addEnvironmentStacks(app, environment, { projectRoot, offlineStateDirectory: join(scratch, 'state') });
    app.synth();
    for (const stack of stacks.all) stackDirectories.push({ stack: stack.node.id, directory: join(outdir, 'stacks', stack.node.id) });
    mkdirSync(join(scratch, 'terraform'), { recursive: true });
    terraformEnv = offlineTerraformEnvironment(writeTerraformCliConfig(join(scratch, 'terraform'), findProviderMirror()), savedEnvironment);
  });

  afterAll(async () => {
    // Destroy what was applied (reverse order), whatever the test saw; then nothing is left.
    const failures: string[] = [];
    for (const { stack, directory } of [...stackDirectories].reverse().filter((s) => applied.includes(s.stack))) {
      const destroyed = await run(terraformBinary(), ['destroy', '-auto-approve', '-input=false', '-no-color', '-lock=false'], directory, terraformEnv);
      if (destroyed.code !== 0) failures.push(`${stack}: ${destroyed.output.slice(-2000)}`);
    }
    clients?.rds.destroy();
    await server?.stop();
    for (const key of Object.keys(process.env)) if (!(key in savedEnvironment)) delete process.env[key];
    Object.assign(process.env, savedEnvironment);
    rmSync(scratch, { recursive: true, force: true });
    expect(server?.pids() ?? []).toEqual([]);
    expect(failures).toEqual([]);
  });

  test('GIVEN the cutover and snapshot-share stacks of a dev-like environment pointed at the emulator WHEN they are applied THEN the share key, the storage key, DB subnet and parameter groups, the encrypted target database, RDS Proxy, Route 53 record and security groups exist as its outputs say, the scripts\' reader accepts those outputs, a second plan right after shows no change, and destroy removes them', async () => {
    // One init at a time: concurrent inits race on the shared plugin cache.
    for (const { stack, directory } of stackDirectories) {
      const init = await run(terraformBinary(), ['init', '-input=false', '-no-color'], directory, terraformEnv);
      expect({ stack, code: init.code, output: init.code === 0 ? '' : init.output.slice(-3000) }).toEqual({ stack, code: 0, output: '' });
    }
    const results: Record<string, { code: number; tail: string }> = {};
    for (const { stack, directory } of stackDirectories) {
      const apply = await run(terraformBinary(), ['apply', '-auto-approve', '-input=false', '-no-color', '-lock=false'], directory, terraformEnv);
      applied.push(stack); // partially applied resources are destroyed too
      results[stack] = { code: apply.code, tail: apply.code === 0 ? (/Apply complete!.*/.exec(apply.output)?.[0] ?? '') : apply.output.slice(-4000) };
    }
    expect(Object.fromEntries(Object.entries(results).map(([stack, r]) => [stack, r.code === 0 ? 'applied' : r.tail]))).toEqual(Object.fromEntries(stackDirectories.map((s) => [s.stack, 'applied'])));

    // The outputs in the shape `npx cdktf output … --outputs-file` writes: { stack: { output: value } }.
    const outputs: Record<string, Record<string, unknown>> = {};
    for (const { stack, directory } of stackDirectories) {
      const printed = await run(terraformBinary(), ['output', '-json', '-no-color'], directory, terraformEnv);
      expect(printed.code).toBe(0);
      outputs[stack] = Object.fromEntries(Object.entries(JSON.parse(printed.output) as Record<string, { value: unknown }>).map(([name, { value }]) => [name, value]));
    }
    const outputsFile = join(scratch, 'outputs-emulated.json');
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
    const database = (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: read.database!.identifier }))).DBInstances![0];
    expect(database).toMatchObject({ Engine: 'postgres', StorageEncrypted: true, KmsKeyId: read.cutover.storageKeyArn });
    expect(database.VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId)).toContain(read.database!.securityGroupId);
    const subnetGroup = (await clients.rds.send(new DescribeDBSubnetGroupsCommand({ DBSubnetGroupName: database.DBSubnetGroup!.DBSubnetGroupName }))).DBSubnetGroups![0];
    expect(subnetGroup.Subnets!.map((s) => s.SubnetIdentifier).sort()).toEqual([...environment.network.subnetIds].sort());
    const groups = (await clients.rds.send(new DescribeDBParameterGroupsCommand({}))).DBParameterGroups!.map((g) => g.DBParameterGroupName);
    expect(groups).toEqual(expect.arrayContaining([read.database!.parameterGroupName, read.database!.frozenParameterGroupName]));
    const proxy = (await clients.rds.send(new DescribeDBProxiesCommand({ DBProxyName: read.proxy!.name }))).DBProxies![0];
    expect(proxy).toMatchObject({ EngineFamily: 'POSTGRESQL', RequireTLS: true, Endpoint: read.proxy!.endpoint });
    const record = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: read.dns!.zoneId, StartRecordName: read.dns!.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    expect(record.ResourceRecordSets?.[0]).toMatchObject({ Type: 'CNAME', TTL: read.dns!.ttlSeconds, ResourceRecords: [{ Value: environment.dns!.currentEndpoint }] });

    // The snapshot-share stack's customer-managed key, enabled, and the accounts it is shared with.
    const shareKey = await clients.kms.send(new DescribeKeyCommand({ KeyId: read.snapshotShare!.keyArn }));
    expect(shareKey.KeyMetadata).toMatchObject({ KeyState: 'Enabled', Arn: read.snapshotShare!.keyArn, KeyManager: 'CUSTOMER' });
    expect(read.snapshotShare!.targetAccountIds).toEqual(environment.snapshotShare!.targetAccountIds);

    // A second deploy right after the first must change nothing (no drift the stacks cause
    // themselves): `plan -detailed-exitcode` exits 0 for "no changes", 2 for a diff.
    const replans: Record<string, string> = {};
    for (const { stack, directory } of stackDirectories) {
      const plan = await run(terraformBinary(), ['plan', '-detailed-exitcode', '-input=false', '-no-color', '-lock=false'], directory, terraformEnv);
      replans[stack] = plan.code === 0 ? 'no changes' : plan.output.split('\n').filter((line) => /^\s*[-+~]|will be|must be|Error/.test(line)).slice(0, 40).join('\n');
    }
    expect(replans).toEqual(Object.fromEntries(stackDirectories.map((s) => [s.stack, 'no changes'])));
  });
});
