/**
 * The restored target is what the cutover stack declares, even where a restore did not take a
 * setting (issue 15): moto keeps the snapshot's value for a false MultiAZ / DeletionProtection
 * (it drops falsy restore overrides); RDS documents both as restore parameters that default to
 * false. The flow reads the restored instance back (DescribeDBInstances) and sends
 * ModifyDBInstance for exactly the settings that differ, so the deploy that imports the
 * instance changes nothing. Against moto; skipped, saying how to get it, without it.
 */
import { resolve } from 'node:path';
import { RunResources } from '../../../lib/runbook/resources';
import { CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand } from '@aws-sdk/client-ec2';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { CreateDBInstanceCommand, CreateDBParameterGroupCommand, CreateDBSubnetGroupCommand, CreateOptionGroupCommand, DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { AwsGateway } from '../../../lib/platforms/aws/gateway';
import { awsMysqlPlatform } from '../../../lib/platforms/aws/aws-mysql-platform';
import { resolveAwsMysqlSettings } from '../../../lib/platforms/aws/settings';
import type { Facts, StepContext } from '../../../lib/runbook/step';
import { locateMoto, MotoServer, MOTO_INSTALL_HINT } from '../../../lib/rehearsal/aws-emulated/moto';
import { OUTPUTS_FIXTURE, prodEnvironment, recordingLogger } from './helpers';

const moto = locateMoto(resolve(__dirname, '../../..'));
if (!moto) console.warn(`skipping the restored target's settings check against the emulator: ${MOTO_INSTALL_HINT}`);
const describeWithMoto = moto ? describe : describe.skip;

const REGION = 'eu-west-1';

describeWithMoto('the restored target gets the settings the stack declares (moto)', () => {
  let server: MotoServer;
  let clients: AwsClients;
  const saved = { ...process.env };

  beforeAll(async () => {
    server = await MotoServer.start(moto!);
    Object.assign(process.env, server.sdkEnvironment(REGION));
    process.env.PROD_ORDERS_ADMIN_PASSWORD = 'not-a-real-one';
    clients = newClients({ region: REGION });
  }, 180_000);

  afterAll(async () => {
    for (const client of Object.values(clients ?? {})) client.destroy();
    await server?.stop();
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    expect(server?.pids() ?? []).toEqual([]);
  });

  test('GIVEN a Multi-AZ source with deletion protection and a stack that declares single-AZ without it WHEN the flow restores the target THEN DescribeDBInstances shows single-AZ without deletion protection, through one ModifyDBInstance of exactly the setting the restore did not take', async () => {
    const vpcId = (await clients.ec2.send(new CreateVpcCommand({ CidrBlock: '10.50.0.0/16' }))).Vpc!.VpcId!;
    const subnets: string[] = [];
    for (const [index, zone] of ['eu-west-1a', 'eu-west-1b'].entries()) subnets.push((await clients.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.50.${index + 1}.0/24`, AvailabilityZone: zone }))).Subnet!.SubnetId!);
    const group = (await clients.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'orders-encrypted', Description: 'target', VpcId: vpcId }))).GroupId!;
    await clients.rds.send(new CreateDBSubnetGroupCommand({ DBSubnetGroupName: 'orders-encrypted', DBSubnetGroupDescription: 'target', SubnetIds: subnets }));
    await clients.rds.send(new CreateDBParameterGroupCommand({ DBParameterGroupName: 'orders-encrypted-replication', DBParameterGroupFamily: 'mysql8.0', Description: 'target' }));
    await clients.rds.send(new CreateOptionGroupCommand({ OptionGroupName: 'orders-mysql80', EngineName: 'mysql', MajorEngineVersion: '8.0', OptionGroupDescription: 'orders' }));
    await clients.rds.send(
      new CreateDBInstanceCommand({ DBInstanceIdentifier: 'orders', Engine: 'mysql', EngineVersion: '8.0.39', DBInstanceClass: 'db.t3.micro', AllocatedStorage: 20, MasterUsername: 'admin', MasterUserPassword: 'not-a-real-one', BackupRetentionPeriod: 1, OptionGroupName: 'orders-mysql80', MultiAZ: true, DeletionProtection: true }),
    );
    const keyArn = (await clients.kms.send(new CreateKeyCommand({ Description: 'storage' }))).KeyMetadata!.Arn!;

    const resolved = resolveAwsMysqlSettings(prodEnvironment({ outputsFile: OUTPUTS_FIXTURE, waits: { instanceSeconds: 60, snapshotSeconds: 60 } }), { cleanup: false });
    const declared = { ...resolved.declaredTarget!, instanceClass: 'db.t3.micro', storageType: 'gp2', allocatedStorageGb: 20, subnetGroupName: 'orders-encrypted', securityGroupIds: [group], parameterGroupName: 'orders-encrypted-replication', multiAz: false, deletionProtection: false };
    const settings = { ...resolved, aws: { ...resolved.aws, region: REGION, assumeRole: undefined, tunnels: {} }, kmsKeyId: keyArn, declaredTarget: declared };
    const log = recordingLogger();
    const gateway = new AwsGateway({ mode: 'live', clients, log, waits: { pollSeconds: 0.2 } });
    const platform = awsMysqlPlatform(settings, gateway);
    const facts: Facts = {};
    const context: StepContext = { runId: '20261201-120000-restore', dryRun: false, log, facts, resources: new RunResources(), record: (learned) => void Object.assign(facts, learned) };
    Object.assign(facts, await platform.seeding.createReplica(context));
    Object.assign(facts, await platform.cloneTarget(context));

    const target = (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'orders-encrypted' }))).DBInstances![0];
    expect({ MultiAZ: target.MultiAZ, DeletionProtection: target.DeletionProtection, class: target.DBInstanceClass, groups: target.VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId) }).toEqual({ MultiAZ: false, DeletionProtection: false, class: 'db.t3.micro', groups: [group] });
    const modifies = gateway.calls.filter((c) => c.kind === 'write' && c.command === 'ModifyDBInstance').map((c) => c.input);
    // moto's replica (and so its snapshot) is single-AZ: the restore's false MultiAZ agrees with it;
    // its deletion protection comes from the source, and the restore's false was dropped.
    expect(modifies).toEqual([{ DBInstanceIdentifier: 'orders-encrypted', DeletionProtection: false, ApplyImmediately: true }]);
    expect(facts.targetSettingsCorrected).toEqual(['DeletionProtection']);
  }, 600_000);
});
