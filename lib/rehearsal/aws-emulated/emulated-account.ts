import { AuthorizeSecurityGroupEgressCommand, CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, RevokeSecurityGroupEgressCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { CreateDBInstanceCommand, CreateDBProxyCommand, CreateDBSubnetGroupCommand, CreateOptionGroupCommand, DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, CreateHostedZoneCommand, DeleteHostedZoneCommand } from '@aws-sdk/client-route-53';
import { CreateClusterCommand, CreateServiceCommand, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import type { AwsClients } from '../../platforms/aws/clients';

/** What the stacks would have created, and the source instance, in an emulated account. */
export interface EmulatedAccount {
  region: string;
  sourceInstanceId: string;
  sourceEndpoint: string;
  kmsKeyArn: string;
  fenceSecurityGroupId: string;
  sourceSecurityGroupId: string;
  /** The VPC the stacks' basics were made in (the source's, with a DB subnet group when asked for). */
  vpcId: string;
  dns: { zoneId: string; recordName: string; ttlSeconds: number };
  ecs: { cluster: string; service: string };
  /** The stacks' RDS Proxy, when the account was made with one (its target group empty, as after `cdktf deploy`). */
  proxy?: { name: string; endpoint: string };
}

/** The VPC of an emulated account (the fence's egress is limited to it). */
export const EMULATED_VPC_CIDR = '10.10.0.0/16';

/**
 * Create, in the emulator, what `cdktf deploy` of the cutover stack and the application's own
 * infrastructure would have: the storage key, the deny-all fence group, the CNAME the
 * application uses (pointing at the source), an ECS service, and the unencrypted source
 * instance (RDS for MySQL 8.0, as in the example prod environment: its data plane is a local
 * MariaDB, whose dialect the flow detects from SELECT VERSION(); with a custom option group,
 * which the emulator's restore needs, and backups on, which a read replica needs).
 */
export async function seedEmulatedAccount(clients: AwsClients, options: { region: string; sourceInstanceId: string; masterPassword: string; inSubnetGroup?: boolean; proxyName?: string }): Promise<EmulatedAccount> {
  const basics = await seedStacksBasics(clients);
  // A target in another account reaches the source through its VPC: the source needs one (a DB subnet group).
  if (options.inSubnetGroup) {
    const subnets = await Promise.all(['a', 'b'].map(async (zone, index) => (await clients.ec2.send(new CreateSubnetCommand({ VpcId: basics.vpcId, CidrBlock: `10.10.${index + 10}.0/24`, AvailabilityZone: `${options.region}${zone}` }))).Subnet!.SubnetId!));
    await clients.rds.send(new CreateDBSubnetGroupCommand({ DBSubnetGroupName: 'orders-private', DBSubnetGroupDescription: 'orders', SubnetIds: subnets }));
  }
  await clients.rds.send(new CreateOptionGroupCommand({ OptionGroupName: 'orders-mysql80', EngineName: 'mysql', MajorEngineVersion: '8.0', OptionGroupDescription: 'orders' }));
  await clients.rds.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: options.sourceInstanceId,
      Engine: 'mysql',
      EngineVersion: '8.0.39',
      DBInstanceClass: 'db.t3.micro',
      AllocatedStorage: 20,
      MasterUsername: 'admin',
      MasterUserPassword: options.masterPassword,
      BackupRetentionPeriod: 1,
      VpcSecurityGroupIds: [basics.sourceSecurityGroupId],
      OptionGroupName: 'orders-mysql80',
      ...(options.inSubnetGroup ? { DBSubnetGroupName: 'orders-private' } : {}),
      StorageEncrypted: false,
      Tags: [{ Key: 'team', Value: 'orders' }],
    }),
  );
  const source = (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: options.sourceInstanceId }))).DBInstances![0];
  const proxy = options.proxyName ? await seedProxy(clients, { name: options.proxyName, vpcId: basics.vpcId, region: options.region }) : undefined;
  return { region: options.region, sourceInstanceId: options.sourceInstanceId, sourceEndpoint: source.Endpoint!.Address!, ...basics, ...(await seedApplication(clients, source.Endpoint!.Address!)), ...(proxy ? { proxy } : {}) };
}

/**
 * The stacks' RDS Proxy (stacks/constructs/database-proxy.ts): MySQL, TLS required, in two
 * subnets of the VPC, its default target group empty (the stacks never declare the target; the
 * first run registers the source).
 */
async function seedProxy(clients: AwsClients, options: { name: string; vpcId: string; region: string }): Promise<{ name: string; endpoint: string }> {
  const subnets = await Promise.all(
    ['10.10.1.0/24', '10.10.2.0/24'].map((CidrBlock, i) => clients.ec2.send(new CreateSubnetCommand({ VpcId: options.vpcId, CidrBlock, AvailabilityZone: `${options.region}${'ab'[i]}` }))),
  );
  const created = await clients.rds.send(
    new CreateDBProxyCommand({
      DBProxyName: options.name,
      EngineFamily: 'MYSQL',
      RoleArn: 'arn:aws:iam::123456789012:role/rds-cutover-emulated-proxy',
      Auth: [{ AuthScheme: 'SECRETS', SecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-admin-AbCdEf', IAMAuth: 'DISABLED' }],
      VpcSubnetIds: subnets.map((s) => s.Subnet!.SubnetId!),
      RequireTLS: true,
    }),
  );
  return { name: options.name, endpoint: created.DBProxy!.Endpoint! };
}

/** What the cutover stack declares (storage key, deny-all fence) and the database's own security group. */
export async function seedStacksBasics(clients: AwsClients): Promise<{ kmsKeyArn: string; fenceSecurityGroupId: string; sourceSecurityGroupId: string; vpcId: string }> {
  const vpc = await clients.ec2.send(new CreateVpcCommand({ CidrBlock: EMULATED_VPC_CIDR }));
  const vpcId = vpc.Vpc!.VpcId!;
  const fence = await clients.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'rds-cutover-fence', Description: 'deny all', VpcId: vpcId }));
  // EC2 gives a new group allow-all egress; the stacks' fence is inbound-only: no ingress, egress
  // only to the database ports inside the VPC (the way back replicates out of the fenced source).
  const created = await clients.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [fence.GroupId!] }));
  const egress = created.SecurityGroups?.[0]?.IpPermissionsEgress ?? [];
  if (egress.length > 0) await clients.ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: fence.GroupId!, IpPermissions: egress }));
  await clients.ec2.send(
    new AuthorizeSecurityGroupEgressCommand({ GroupId: fence.GroupId!, IpPermissions: [3306, 5432].map((port) => ({ IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: [{ CidrIp: EMULATED_VPC_CIDR }] })) }),
  );
  const database = await clients.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'orders-db', Description: 'database', VpcId: vpcId }));
  const key = await clients.kms.send(new CreateKeyCommand({ Description: 'rds-cutover storage key', Tags: [{ TagKey: 'project', TagValue: 'rds-cutover' }] }));
  return { kmsKeyArn: key.KeyMetadata!.Arn!, fenceSecurityGroupId: fence.GroupId!, sourceSecurityGroupId: database.GroupId!, vpcId };
}

/** The application's side: the CNAME it connects to (pointing at the source's endpoint) and its ECS service. */
export async function seedApplication(clients: AwsClients, sourceEndpoint: string): Promise<Pick<EmulatedAccount, 'dns' | 'ecs'>> {
  const zoneId = await hostedZoneLikeRoute53s(clients, 'emulated.example.internal');
  const recordName = 'orders-db.emulated.example.internal';
  await clients.route53.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      ChangeBatch: { Changes: [{ Action: 'CREATE', ResourceRecordSet: { Name: recordName, Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: sourceEndpoint }] } }] },
    }),
  );
  await clients.ecs.send(new CreateClusterCommand({ clusterName: 'orders' }));
  await clients.ecs.send(new RegisterTaskDefinitionCommand({ family: 'orders-api', containerDefinitions: [{ name: 'api', image: 'orders-api:1', memory: 128 }] }));
  await clients.ecs.send(new CreateServiceCommand({ cluster: 'orders', serviceName: 'orders-api', taskDefinition: 'orders-api', desiredCount: 0 }));
  return { dns: { zoneId, recordName, ttlSeconds: 15 }, ecs: { cluster: 'orders', service: 'orders-api' } };
}

/**
 * Route 53 zone ids start with "Z" (the config schema checks it); the emulator draws them from
 * A-Z0-9. Zones are created (and the others deleted) until one has an id Route 53 could give.
 */
async function hostedZoneLikeRoute53s(clients: AwsClients, name: string): Promise<string> {
  for (let attempt = 0; attempt < 1000; attempt += 1) {
    const zone = await clients.route53.send(new CreateHostedZoneCommand({ Name: name, CallerReference: `rds-cutover-${attempt}-${Date.now()}` }));
    const id = zone.HostedZone!.Id!.replace('/hostedzone/', '');
    if (id.startsWith('Z')) return id;
    await clients.route53.send(new DeleteHostedZoneCommand({ Id: id }));
  }
  throw new Error('the emulator gave no hosted zone id starting with Z in 1000 attempts');
}
