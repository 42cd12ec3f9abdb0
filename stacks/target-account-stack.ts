/**
 * Deployed in the account a database moves into (seed 004; the MySQL flow's `aws.targetAccount`):
 * the target's own storage key, and the role the source account's operators assume to copy the
 * shared snapshot under that key and restore it here.
 *
 * Why the role also needs the share key: a key policy alone does not let another account use a
 * key; the using account's IAM policy must allow it too, so the role is granted use of the source
 * account's share key — through RDS only, as the share key's own policy says.
 * https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
 */
import { IamRole, IamRolePolicy, type Construct } from './aws';
import { KEY_GRANT_ACTIONS, KEY_USE_ACTIONS, StorageEncryptionKey } from './constructs/customer-managed-key';
import { policyDocument, type PolicyStatement } from './constructs/policy';
import { EnvironmentStack, type EnvironmentStackProps } from './environment-stack';
import { exportOutputs } from './outputs';

/** What the role may do in RDS: copy and restore snapshots, tag what it creates, read state, clean up its copies. */
export const TARGET_ROLE_RDS_ACTIONS = [
  'rds:AddTagsToResource',
  'rds:CopyDBSnapshot',
  'rds:CopyDBClusterSnapshot',
  'rds:CreateDBInstance',
  'rds:DeleteDBSnapshot',
  'rds:DeleteDBClusterSnapshot',
  'rds:DescribeDBClusterSnapshots',
  'rds:DescribeDBClusters',
  'rds:DescribeDBInstances',
  'rds:DescribeDBSnapshots',
  'rds:DescribeDBSubnetGroups',
  'rds:ListTagsForResource',
  'rds:RestoreDBClusterFromSnapshot',
  'rds:RestoreDBInstanceFromDBSnapshot',
] as const;

/** The preflight's reads of the network path (route tables, peering, VPC ranges). */
export const TARGET_ROLE_EC2_READ_ACTIONS = ['ec2:DescribeRouteTables', 'ec2:DescribeSecurityGroups', 'ec2:DescribeSubnets', 'ec2:DescribeVpcPeeringConnections', 'ec2:DescribeVpcs'] as const;

export class TargetAccountStack extends EnvironmentStack {
  readonly key: StorageEncryptionKey;
  readonly role: IamRole;
  /** The role's permissions, kept for tests. */
  readonly roleStatements: readonly PolicyStatement[];

  constructor(scope: Construct, props: EnvironmentStackProps) {
    super(scope, 'target-account', props);
    const { name, accountId, region, keyAdministratorArns, targetAccount } = this.environment;
    if (!targetAccount) throw new Error(`${this.node.path}: the environment "${name}" has no targetAccount section; main.ts creates this stack only when it has one`);
    const viaRds = `rds.${region}.amazonaws.com`;

    this.key = new StorageEncryptionKey(this, 'key', { accountId, region, alias: `rds-cutover/${name}/target-storage`, administratorArns: keyAdministratorArns, description: 'rds-cutover target storage (cross-account move)' });

    this.role = new IamRole(this, 'role', {
      name: targetAccount.roleName,
      description: `Assumed by account ${targetAccount.sourceAccountId} to copy its shared snapshot and restore it in ${accountId}`,
      maxSessionDuration: 43200,
      assumeRolePolicy: policyDocument([
        {
          Sid: 'SourceAccountOperators',
          Effect: 'Allow',
          Principal: { AWS: targetAccount.assumerArns },
          Action: 'sts:AssumeRole',
          ...(targetAccount.externalId ? { Condition: { StringEquals: { 'sts:ExternalId': targetAccount.externalId } } } : {}),
        },
      ]),
    });

    this.roleStatements = [
      { Sid: 'CopyAndRestore', Effect: 'Allow', Action: TARGET_ROLE_RDS_ACTIONS, Resource: '*' },
      { Sid: 'ReadNetworkPath', Effect: 'Allow', Action: TARGET_ROLE_EC2_READ_ACTIONS, Resource: '*' },
      { Sid: 'UseKeysThroughRds', Effect: 'Allow', Action: KEY_USE_ACTIONS, Resource: [this.key.key.arn, targetAccount.shareKeyArn], Condition: { StringEquals: { 'kms:ViaService': viaRds } } },
      {
        Sid: 'GrantsForRds',
        Effect: 'Allow',
        Action: KEY_GRANT_ACTIONS,
        Resource: [this.key.key.arn, targetAccount.shareKeyArn],
        Condition: { StringEquals: { 'kms:ViaService': viaRds }, Bool: { 'kms:GrantIsForAWSResource': true } },
      },
    ];
    new IamRolePolicy(this, 'role-policy', { name: 'rds-cutover-target', role: this.role.id, policy: policyDocument(this.roleStatements) });

    exportOutputs(this, 'targetAccount', { keyArn: this.key.key.arn, roleArn: this.role.arn });
  }
}
