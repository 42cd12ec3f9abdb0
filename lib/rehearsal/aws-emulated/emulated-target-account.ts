import {
  AcceptVpcPeeringConnectionCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateRouteCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  CreateVpcPeeringConnectionCommand,
  DescribeRouteTablesCommand,
} from '@aws-sdk/client-ec2';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { CreateDBParameterGroupCommand, CreateDBSubnetGroupCommand, CreateOptionGroupCommand } from '@aws-sdk/client-rds';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { newClients, type AwsClients } from '../../platforms/aws/clients';
import { expectedShareStatements } from '../../platforms/aws/key-policy';
import { EMULATED_VPC_CIDR, type EmulatedAccount } from './emulated-account';

/** moto's default account is the source; the target is reached by AssumeRole into this id. */
export const EMULATED_SOURCE_ACCOUNT = '123456789012';
export const EMULATED_TARGET_ACCOUNT = '222222222222';
export const EMULATED_TARGET_ROLE = `arn:aws:iam::${EMULATED_TARGET_ACCOUNT}:role/rds-cutover-target`;
const SOURCE_CIDR = EMULATED_VPC_CIDR;
const TARGET_CIDR = '10.20.0.0/16';

/** What the target-account stack would have made (key, VPC, subnet group, security group, TLS parameter group), and the share key of the source's stack. */
export interface EmulatedTargetAccount {
  clients: AwsClients;
  accountId: string;
  roleArn: string;
  kmsKeyArn: string;
  shareKeyArn: string;
  vpcId: string;
  dbSubnetGroupName: string;
  securityGroupId: string;
  parameterGroupName: string;
  optionGroupName: string;
}

/** Clients acting in the target account (AssumeRole into its id, as the config's role would). */
export async function targetAccountClients(source: AwsClients, region: string): Promise<AwsClients> {
  const assumed = await source.sts.send(new AssumeRoleCommand({ RoleArn: EMULATED_TARGET_ROLE, RoleSessionName: 'emulated-target' }));
  return newClients({ region, credentials: { accessKeyId: assumed.Credentials!.AccessKeyId!, secretAccessKey: assumed.Credentials!.SecretAccessKey!, sessionToken: assumed.Credentials!.SessionToken } });
}

/**
 * Seed the target account and the source account's share key. The network path between the two
 * VPCs is NOT made here: `connectEmulatedNetworks` makes it (a test can plan without it first).
 */
export async function seedEmulatedTargetAccount(source: AwsClients, region: string): Promise<EmulatedTargetAccount> {
  const clients = await targetAccountClients(source, region);
  const admin = { Sid: 'KeyAdministration', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${EMULATED_SOURCE_ACCOUNT}:root` }, Action: ['kms:Describe*', 'kms:Get*'], Resource: '*' };
  const shareKeyArn = (await source.kms.send(new CreateKeyCommand({ Description: 'share key', Policy: JSON.stringify({ Version: '2012-10-17', Statement: [admin, ...expectedShareStatements(EMULATED_TARGET_ACCOUNT, region)] }) }))).KeyMetadata!.Arn!;
  const kmsKeyArn = (await clients.kms.send(new CreateKeyCommand({ Description: 'target storage key' }))).KeyMetadata!.Arn!;
  const vpcId = (await clients.ec2.send(new CreateVpcCommand({ CidrBlock: TARGET_CIDR }))).Vpc!.VpcId!;
  const subnets = await Promise.all(['a', 'b'].map(async (zone, index) => (await clients.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.20.${index}.0/24`, AvailabilityZone: `${region}${zone}` }))).Subnet!.SubnetId!));
  await clients.rds.send(new CreateDBSubnetGroupCommand({ DBSubnetGroupName: 'target-private', DBSubnetGroupDescription: 'target', SubnetIds: subnets }));
  const securityGroupId = (await clients.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'target-db', Description: 'target db', VpcId: vpcId }))).GroupId!;
  await clients.rds.send(new CreateDBParameterGroupCommand({ DBParameterGroupName: 'target-mysql-tls', DBParameterGroupFamily: 'mysql8.0', Description: 'require_secure_transport' }));
  // The emulator's restore refuses the default option group it reports itself.
  await clients.rds.send(new CreateOptionGroupCommand({ OptionGroupName: 'target-mysql80', EngineName: 'mysql', MajorEngineVersion: '8.0', OptionGroupDescription: 'target' }));
  return { clients, accountId: EMULATED_TARGET_ACCOUNT, roleArn: EMULATED_TARGET_ROLE, kmsKeyArn, shareKeyArn, vpcId, dbSubnetGroupName: 'target-private', securityGroupId, parameterGroupName: 'target-mysql-tls', optionGroupName: 'target-mysql80' };
}

/**
 * The network path the operator provides: a VPC peering connection requested by the target and
 * accepted by the source, a route to the source's range in the target VPC's main route table,
 * and the source's security group admitting the target's range on the MySQL port.
 */
export async function connectEmulatedNetworks(sourceClients: AwsClients, sourceAccount: EmulatedAccount, target: EmulatedTargetAccount): Promise<string> {
  const peering = await target.clients.ec2.send(new CreateVpcPeeringConnectionCommand({ VpcId: target.vpcId, PeerVpcId: sourceAccount.vpcId, PeerOwnerId: EMULATED_SOURCE_ACCOUNT }));
  const id = peering.VpcPeeringConnection!.VpcPeeringConnectionId!;
  await sourceClients.ec2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: id }));
  const tables = await target.clients.ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [target.vpcId] }] }));
  const main = tables.RouteTables!.find((t) => (t.Associations ?? []).some((a) => a.Main))!;
  await target.clients.ec2.send(new CreateRouteCommand({ RouteTableId: main.RouteTableId!, DestinationCidrBlock: SOURCE_CIDR, VpcPeeringConnectionId: id }));
  await sourceClients.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sourceAccount.sourceSecurityGroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 3306, ToPort: 3306, IpRanges: [{ CidrIp: TARGET_CIDR }] }] }));
  return id;
}
