/**
 * The deploy after a cutover must be a no-op for the target instance (docs/DEPLOY.md, step 6).
 * For an environment like `prod` the MySQL encrypt flow restores the target itself (the stack
 * cannot: the encrypted copy it restores from exists only during the run). Against moto:
 *
 *   1. `terraform apply` of the cutover stack with `restoredByCutover: "pending"`: key, fence,
 *      the target's subnet group, security group and parameter group, no instance;
 *   2. the flow's own platform (AwsMysqlPlatform, settings resolved from the stack's outputs
 *      file) creates the replica, snapshots it, copies it with the stack's key and restores the
 *      target: DescribeDBInstances shows the stack's groups, class and key, not the source's;
 *   3. `restoredByCutover: "done"`: the stack declares the instance with an import block; the
 *      plan imports it and changes only Terraform-only fields and the run's tag (no instance
 *      setting); after that apply the plan shows no change but one emulator gap (moto keeps the
 *      snapshotted replica's `replicate_source_db` on the restored instance; AWS does not).
 *
 * Skipped, saying how to get it, without moto.
 */
import { RunResources } from '../../lib/runbook/resources';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateSecurityGroupCommand } from '@aws-sdk/client-ec2';
import { CreateDBInstanceCommand, CreateDBParameterGroupCommand, CreateDBSubnetGroupCommand, CreateOptionGroupCommand, DescribeDBInstancesCommand, type DBInstance } from '@aws-sdk/client-rds';
import { parseInfraEnvironment, type InfraEnvironment } from '../../config/infra';
import { prod as prodInfra } from '../../config/infra/prod';
import prodCutover from '../../config/cutover/prod';
import { parseEnvironment } from '../../config/cutover';
import { readInfraOutputs } from '../../lib/infra/outputs';
import { AwsGateway } from '../../lib/platforms/aws/gateway';
import { awsMysqlPlatform, RUN_ID_TAG } from '../../lib/platforms/aws/aws-mysql-platform';
import { resolveAwsMysqlSettings } from '../../lib/platforms/aws/settings';
import type { Facts, StepContext } from '../../lib/runbook/step';
import { silentLogger } from '../../lib/util/log';
import { ACCOUNT, changedAttributes, describeWithMoto, failure, REGION, TerraformWorld } from './terraform-moto';

jest.setTimeout(1_800_000);

const RUN_ID = '20261201-120000-import';

describeWithMoto('the import of the restored target against the emulator')('the target the cutover run restored is taken over by the stack without a change (moto)', () => {
  let world: TerraformWorld;
  let pending: InfraEnvironment;

  beforeAll(async () => {
    world = await TerraformWorld.start({ scratchPrefix: 'rds-cutover-tf-import-', vpcCidr: '10.40.0.0/16' });
    const { clients, vpcId, subnetIds: subnets } = world;
    process.env.PROD_ORDERS_ADMIN_PASSWORD = 'not-a-real-one';
    // The source `orders` lives in groups of its own, none of which the stack declares.
    const sourceGroup = (await clients.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'orders-source', Description: 'orders source', VpcId: vpcId }))).GroupId!;
    await clients.rds.send(new CreateDBSubnetGroupCommand({ DBSubnetGroupName: 'orders-source-subnets', DBSubnetGroupDescription: 'orders source', SubnetIds: subnets }));
    await clients.rds.send(new CreateDBParameterGroupCommand({ DBParameterGroupName: 'orders-source-params', DBParameterGroupFamily: 'mysql8.0', Description: 'orders source' }));
    await clients.rds.send(new CreateOptionGroupCommand({ OptionGroupName: 'orders-mysql80', EngineName: 'mysql', MajorEngineVersion: '8.0', OptionGroupDescription: 'orders' }));
    await clients.rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: 'orders',
        Engine: 'mysql',
        EngineVersion: prodInfra.database!.engineVersion,
        DBInstanceClass: 'db.t3.micro',
        AllocatedStorage: 20,
        MasterUsername: 'admin',
        MasterUserPassword: 'not-a-real-one',
        BackupRetentionPeriod: 1,
        DBSubnetGroupName: 'orders-source-subnets',
        VpcSecurityGroupIds: [sourceGroup],
        DBParameterGroupName: 'orders-source-params',
        OptionGroupName: 'orders-mysql80',
        StorageEncrypted: false,
        Tags: [{ Key: 'team', Value: 'orders' }],
      }),
    );
    // prod's cutover stack (the database the run restores), on the emulator's account and network;
    // without the DNS record (an existing zone: moto's zone ids do not look like Route 53's, which
    // the config checks; the record after a switch is covered by terraform-apply.integration.test.ts),
    // masking and snapshot-share stacks.
    pending = parseInfraEnvironment(
      {
        ...structuredClone(prodInfra),
        tier: 'development',
        masking: undefined,
        snapshotShare: undefined,
        dns: undefined,
        accountId: ACCOUNT,
        region: REGION,
        provider: world.provider(['ec2', 'iam', 'kms', 'rds', 'sts']),
        keyAdministratorArns: [`arn:aws:iam::${ACCOUNT}:role/rds-cutover-deployer`],
        network: { vpcId, vpcCidr: world.vpcCidr, subnetIds: subnets },
        // So that the test can destroy it.
        database: { ...prodInfra.database!, deletionProtection: false, clientSecurityGroupIds: [] },
      },
      'the emulated prod infrastructure',
    );
  });

  afterAll(async () => {
    expect(await world?.close()).toEqual([]);
  });

  test('GIVEN prod\'s cutover stack applied before the run WHEN the flow restores orders-encrypted from the stack\'s outputs and the stack is switched to "done" THEN the instance has the stack\'s groups, class and key, the import changes none of its settings, and the plan after it shows no change but moto\'s replica-link gap', async () => {
    const { clients } = world;
    // 1. The deploy before the run: no instance yet, its groups and the restore settings as outputs.
    const [{ stack, directory: before }] = await world.synthAndInit(pending, 'before');
    expect(failure(await world.apply(stack, before))).toBe('');
    const outputsFile = join(world.scratch, 'outputs-prod.json');
    writeFileSync(outputsFile, JSON.stringify({ [stack]: await world.outputs(before) }));
    const outputs = readInfraOutputs(pending.name, { file: outputsFile, environment: pending });
    expect(outputs.database?.endpoint).toBeUndefined();
    const declared = outputs.database!.restoreSettings!;

    // 2. The flow's restore, with settings resolved the way the CLI resolves them (key and fence from
    // the outputs file; the record, not in this stack here, configured).
    const cutover = parseEnvironment(
      { ...prodCutover, aws: { ...prodCutover.aws!, region: REGION, assumeRole: undefined, outputsFile, tunnels: {}, dns: { zoneId: 'Z0123456789PRODZONE01', recordName: 'orders-db.prod.internal.example.com' } } },
      'the emulated prod cutover',
    );
    const settings = resolveAwsMysqlSettings(cutover, { cleanup: false, infraEnvironment: pending });
    expect(settings.missing).toEqual([]);
    expect(settings.declaredTarget).toEqual(declared);
    expect(settings.kmsKeyId).toBe(outputs.cutover.storageKeyArn);
    const gateway = new AwsGateway({ mode: 'live', clients, log: silentLogger, waits: { pollSeconds: 1 } });
    const platform = awsMysqlPlatform(settings, gateway);
    const facts: Facts = {};
    const context: StepContext = { runId: RUN_ID, dryRun: false, log: silentLogger, facts, resources: new RunResources(), record: (learned) => void Object.assign(facts, learned) };
    Object.assign(facts, await platform.seeding.createReplica(context));
    Object.assign(facts, await platform.cloneTarget(context));

    const describe = async (id: string): Promise<DBInstance> => (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances![0];
    const [source, target] = [await describe('orders'), await describe('orders-encrypted')];
    const settingsOf = (instance: DBInstance) => ({
      class: instance.DBInstanceClass,
      subnetGroup: instance.DBSubnetGroup?.DBSubnetGroupName,
      securityGroups: instance.VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId),
      parameterGroup: instance.DBParameterGroups?.map((g) => g.DBParameterGroupName),
    });
    expect(settingsOf(target)).toEqual({ class: declared.instanceClass, subnetGroup: declared.subnetGroupName, securityGroups: declared.securityGroupIds, parameterGroup: [declared.parameterGroupName] });
    expect(settingsOf(source)).not.toEqual(settingsOf(target)); // the old behaviour: the source's, which the stack would change
    expect(target).toMatchObject({ StorageEncrypted: true, KmsKeyId: outputs.cutover.storageKeyArn, AllocatedStorage: declared.allocatedStorageGb, MultiAZ: declared.multiAz, BackupRetentionPeriod: declared.backupRetentionDays, DeletionProtection: declared.deletionProtection });

    // 3. After the run: "done" declares the instance with an import block; the plan imports it.
    const [{ directory: after }] = await world.synthAndInit(parseInfraEnvironment({ ...structuredClone(pending), database: { ...pending.database!, restoredByCutover: 'done' } }, 'the emulated prod infrastructure after the run'), 'after');
    const changes = await world.plan(after, 'import.tfplan');
    const instance = changes.find((c) => c.type === 'aws_db_instance')!;
    const changed = changedAttributes(instance.change);
    const value = (side: 'before' | 'after', key: string) => (instance.change[side] ?? {})[key] ?? null;
    expect({
      importing: instance.change.importing?.id,
      actions: instance.change.actions,
      changed: Object.fromEntries(changed.map((key) => [key, { before: value('before', key), after: value('after', key) }])),
      others: changes.filter((c) => c !== instance && c.change.actions.join() !== 'no-op').map((c) => `${c.address}: ${c.change.actions.join()}`),
    }).toEqual({
      importing: 'orders-encrypted',
      actions: ['update'],
      changed: {
        // Terraform-only arguments the import cannot read (the importer sets them; no AWS call).
        apply_immediately: { before: null, after: false },
        final_snapshot_identifier: { before: null, after: 'orders-encrypted-final' },
        skip_final_snapshot: { before: true, after: false },
        // The run's id tag goes (RemoveTagsFromResource); every other tag is already the stack's.
        tags: { before: { [RUN_ID_TAG]: RUN_ID }, after: {} },
        tags_all: { before: { ...declared.tags, [RUN_ID_TAG]: RUN_ID }, after: declared.tags },
        // moto gap, not AWS: its restore copies every attribute of the snapshotted instance, here
        // the replica's link to its source (moto/rds/models.py restore_db_instance_from_db_snapshot);
        // on AWS an instance restored from a snapshot is no replica.
        replicate_source_db: { before: 'orders', after: null },
      },
      others: [],
    });
    expect(failure(await world.apply(stack, after, 'import.tfplan'))).toBe('');
    const afterImport = await describe('orders-encrypted');
    expect(afterImport.TagList?.some((t) => t.Key === RUN_ID_TAG)).toBe(false);

    // The deploy after that: nothing to do but the moto gap above (on AWS: `plan -detailed-exitcode` 0).
    const remaining = (await world.plan(after, 'after.tfplan')).filter((c) => c.change.actions.join() !== 'no-op');
    expect(remaining.map((c) => ({ address: c.address, actions: c.change.actions, changed: changedAttributes(c.change) }))).toEqual(
      // moto's PromoteReadReplica (what the apply sent for it) leaves the link too: the gap stays.
      [{ address: instance.address, actions: ['update'], changed: ['replicate_source_db'] }],
    );
  });
});
