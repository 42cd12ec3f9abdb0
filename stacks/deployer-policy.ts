/**
 * The IAM policy the deploying role needs for `cdktf deploy` / `cdktf destroy` of an
 * environment's stacks, generated from what the stacks synthesize: one statement per Terraform
 * resource type they declare (the API calls hashicorp/aws 5.x makes to create, read, update,
 * tag and delete it), the state backend (bucket prefix, lock), and the provider's own identity
 * call. `npm run deployer-policy -- --env prod` writes it; test/stacks/deployer-policy.test.ts
 * fails when a stack declares a type this table does not cover.
 *
 * Resources are "*" per statement except the state backend: the names of most resources are
 * only known after creation. Not verified against real AWS (moto does not enforce IAM): a
 * missing action shows as AccessDenied naming it in the first deploy; add it here.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InfraEnvironment } from '../config/infra';
import { addEnvironmentStacks } from './app';
import { App } from './aws';

const tags = (service: string) => [`${service}:TagResource`, `${service}:UntagResource`, `${service}:ListTagsForResource`];
const rdsTags = ['rds:AddTagsToResource', 'rds:RemoveTagsFromResource', 'rds:ListTagsForResource'];
const ec2Tags = ['ec2:CreateTags', 'ec2:DeleteTags'];
const s3BucketReads = ['s3:ListBucket', 's3:GetBucketAcl', 's3:GetBucketCORS', 's3:GetBucketLocation', 's3:GetBucketLogging', 's3:GetBucketObjectLockConfiguration', 's3:GetBucketOwnershipControls', 's3:GetBucketPolicy', 's3:GetBucketPolicyStatus', 's3:GetBucketPublicAccessBlock', 's3:GetBucketRequestPayment', 's3:GetBucketTagging', 's3:GetBucketVersioning', 's3:GetBucketWebsite', 's3:GetAccelerateConfiguration', 's3:GetEncryptionConfiguration', 's3:GetLifecycleConfiguration', 's3:GetReplicationConfiguration'];

/** Per resource type: the actions the provider calls for its whole life cycle. */
export const DEPLOYER_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  aws_cloudwatch_event_rule: ['events:PutRule', 'events:DeleteRule', 'events:DescribeRule', 'events:EnableRule', 'events:DisableRule', ...tags('events')],
  aws_cloudwatch_event_target: ['events:PutTargets', 'events:RemoveTargets', 'events:ListTargetsByRule', 'iam:PassRole'],
  aws_cloudwatch_log_group: ['logs:CreateLogGroup', 'logs:DeleteLogGroup', 'logs:DescribeLogGroups', 'logs:PutRetentionPolicy', 'logs:DeleteRetentionPolicy', 'logs:AssociateKmsKey', 'logs:DisassociateKmsKey', 'logs:ListTagsLogGroup', 'logs:TagLogGroup', 'logs:UntagLogGroup', ...tags('logs')],
  aws_codebuild_project: ['codebuild:CreateProject', 'codebuild:UpdateProject', 'codebuild:DeleteProject', 'codebuild:BatchGetProjects', 'iam:PassRole', 'ec2:DescribeSubnets', 'ec2:DescribeSecurityGroups', 'ec2:DescribeVpcs'],
  aws_db_instance: ['rds:CreateDBInstance', 'rds:RestoreDBInstanceFromDBSnapshot', 'rds:ModifyDBInstance', 'rds:DeleteDBInstance', 'rds:RebootDBInstance', 'rds:DescribeDBInstances', 'rds:CreateDBSnapshot', 'rds:DescribeDBSnapshots', ...rdsTags, 'kms:DescribeKey', 'kms:CreateGrant', 'secretsmanager:CreateSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:RotateSecret', 'secretsmanager:TagResource'],
  aws_db_parameter_group: ['rds:CreateDBParameterGroup', 'rds:ModifyDBParameterGroup', 'rds:ResetDBParameterGroup', 'rds:DeleteDBParameterGroup', 'rds:DescribeDBParameterGroups', 'rds:DescribeDBParameters', ...rdsTags],
  aws_db_proxy: ['rds:CreateDBProxy', 'rds:ModifyDBProxy', 'rds:DeleteDBProxy', 'rds:DescribeDBProxies', ...rdsTags, 'iam:PassRole', 'ec2:DescribeSubnets', 'ec2:DescribeSecurityGroups', 'ec2:DescribeVpcs'],
  aws_db_proxy_default_target_group: ['rds:ModifyDBProxyTargetGroup', 'rds:DescribeDBProxyTargetGroups', 'rds:DescribeDBProxies'],
  aws_db_subnet_group: ['rds:CreateDBSubnetGroup', 'rds:ModifyDBSubnetGroup', 'rds:DeleteDBSubnetGroup', 'rds:DescribeDBSubnetGroups', ...rdsTags, 'ec2:DescribeSubnets'],
  aws_ecr_lifecycle_policy: ['ecr:PutLifecyclePolicy', 'ecr:GetLifecyclePolicy', 'ecr:DeleteLifecyclePolicy'],
  aws_ecr_repository: ['ecr:CreateRepository', 'ecr:DeleteRepository', 'ecr:DescribeRepositories', 'ecr:PutImageScanningConfiguration', 'ecr:PutImageTagMutability', ...tags('ecr')],
  aws_ecr_repository_policy: ['ecr:SetRepositoryPolicy', 'ecr:GetRepositoryPolicy', 'ecr:DeleteRepositoryPolicy'],
  aws_iam_role: ['iam:CreateRole', 'iam:DeleteRole', 'iam:GetRole', 'iam:UpdateRole', 'iam:UpdateRoleDescription', 'iam:UpdateAssumeRolePolicy', 'iam:TagRole', 'iam:UntagRole', 'iam:ListRoleTags', 'iam:ListRolePolicies', 'iam:ListAttachedRolePolicies', 'iam:ListInstanceProfilesForRole'],
  aws_iam_role_policy: ['iam:PutRolePolicy', 'iam:GetRolePolicy', 'iam:DeleteRolePolicy'],
  aws_kms_alias: ['kms:CreateAlias', 'kms:UpdateAlias', 'kms:DeleteAlias', 'kms:ListAliases'],
  // PutKeyPolicy: KMS's lockout check (stacks/README.md, security review).
  aws_kms_key: ['kms:CreateKey', 'kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy', 'kms:GetKeyRotationStatus', 'kms:EnableKeyRotation', 'kms:DisableKeyRotation', 'kms:UpdateKeyDescription', 'kms:EnableKey', 'kms:DisableKey', 'kms:ScheduleKeyDeletion', 'kms:ListResourceTags', 'kms:TagResource', 'kms:UntagResource'],
  aws_rds_cluster: ['rds:CreateDBCluster', 'rds:RestoreDBClusterFromSnapshot', 'rds:ModifyDBCluster', 'rds:DeleteDBCluster', 'rds:DescribeDBClusters', 'rds:CreateDBClusterSnapshot', 'rds:DescribeDBClusterSnapshots', 'rds:DescribeGlobalClusters', ...rdsTags, 'kms:DescribeKey', 'kms:CreateGrant', 'secretsmanager:CreateSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:RotateSecret', 'secretsmanager:TagResource'],
  aws_rds_cluster_instance: ['rds:CreateDBInstance', 'rds:ModifyDBInstance', 'rds:DeleteDBInstance', 'rds:DescribeDBInstances', ...rdsTags],
  aws_rds_cluster_parameter_group: ['rds:CreateDBClusterParameterGroup', 'rds:ModifyDBClusterParameterGroup', 'rds:ResetDBClusterParameterGroup', 'rds:DeleteDBClusterParameterGroup', 'rds:DescribeDBClusterParameterGroups', 'rds:DescribeDBClusterParameters', ...rdsTags],
  aws_route53_record: ['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets', 'route53:GetChange', 'route53:GetHostedZone'],
  aws_route53_zone: ['route53:CreateHostedZone', 'route53:DeleteHostedZone', 'route53:GetHostedZone', 'route53:UpdateHostedZoneComment', 'route53:GetChange', 'route53:ListResourceRecordSets', 'route53:ChangeTagsForResource', 'route53:ListTagsForResource', 'route53:AssociateVPCWithHostedZone', 'route53:DisassociateVPCFromHostedZone', 'ec2:DescribeVpcs'],
  aws_s3_bucket: ['s3:CreateBucket', 's3:DeleteBucket', 's3:PutBucketTagging', ...s3BucketReads],
  aws_s3_bucket_lifecycle_configuration: ['s3:PutLifecycleConfiguration', 's3:GetLifecycleConfiguration'],
  aws_s3_bucket_ownership_controls: ['s3:PutBucketOwnershipControls', 's3:GetBucketOwnershipControls'],
  aws_s3_bucket_policy: ['s3:PutBucketPolicy', 's3:GetBucketPolicy', 's3:DeleteBucketPolicy'],
  aws_s3_bucket_public_access_block: ['s3:PutBucketPublicAccessBlock', 's3:GetBucketPublicAccessBlock'],
  aws_s3_bucket_server_side_encryption_configuration: ['s3:PutEncryptionConfiguration', 's3:GetEncryptionConfiguration'],
  aws_s3_bucket_versioning: ['s3:PutBucketVersioning', 's3:GetBucketVersioning'],
  aws_security_group: ['ec2:CreateSecurityGroup', 'ec2:DeleteSecurityGroup', 'ec2:DescribeSecurityGroups', 'ec2:AuthorizeSecurityGroupEgress', 'ec2:RevokeSecurityGroupEgress', 'ec2:RevokeSecurityGroupIngress', 'ec2:DescribeNetworkInterfaces', ...ec2Tags],
  aws_sns_topic: ['sns:CreateTopic', 'sns:DeleteTopic', 'sns:GetTopicAttributes', 'sns:SetTopicAttributes', ...tags('sns')],
  aws_sns_topic_policy: ['sns:SetTopicAttributes', 'sns:GetTopicAttributes'],
  aws_vpc_endpoint: ['ec2:CreateVpcEndpoint', 'ec2:ModifyVpcEndpoint', 'ec2:DeleteVpcEndpoints', 'ec2:DescribeVpcEndpoints', 'ec2:DescribeVpcEndpointServices', 'ec2:DescribePrefixLists', 'ec2:DescribeRouteTables', ...ec2Tags],
  aws_vpc_security_group_egress_rule: ['ec2:AuthorizeSecurityGroupEgress', 'ec2:RevokeSecurityGroupEgress', 'ec2:DescribeSecurityGroupRules', 'ec2:ModifySecurityGroupRules', ...ec2Tags],
  aws_vpc_security_group_ingress_rule: ['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress', 'ec2:DescribeSecurityGroupRules', 'ec2:ModifySecurityGroupRules', ...ec2Tags],
  'data.aws_ec2_managed_prefix_list': ['ec2:DescribeManagedPrefixLists', 'ec2:GetManagedPrefixListEntries'],
};

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
}
export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/** The Terraform resource types (and data sources, as `data.<type>`) each stack of the environment synthesizes. */
export function synthesizedTypes(environment: InfraEnvironment): Record<string, string[]> {
  const outdir = mkdtempSync(join(tmpdir(), 'rds-cutover-deployer-policy-'));
  try {
    const app = new App({ outdir });
    // The deploy after the cutover run declares (and imports) the instance the run restored: the
    // deployer needs those actions too, from the first deploy on.
    const afterTheRun = environment.database?.restoredByCutover === 'pending' ? { ...environment, database: { ...environment.database, restoredByCutover: 'done' as const } } : environment;
    addEnvironmentStacks(app, afterTheRun, { projectRoot: outdir });
    app.synth();
    const stacks = join(outdir, 'stacks');
    return Object.fromEntries(
      readdirSync(stacks).map((stack) => {
        const json = JSON.parse(readFileSync(join(stacks, stack, 'cdk.tf.json'), 'utf8')) as { resource?: object; data?: object };
        return [stack, [...Object.keys(json.resource ?? {}), ...Object.keys(json.data ?? {}).map((type) => `data.${type}`)].sort()];
      }),
    );
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const sid = (type: string) => type.replace(/^data\./, 'Read_').replace(/(^|_)([a-z0-9])/g, (_m, _u, c: string) => c.toUpperCase());

/** The policy document for deploying (and destroying) `types`, with the environment's state backend. */
export function deployerPolicy(environment: InfraEnvironment, types: readonly string[]): PolicyDocument {
  const missing = types.filter((type) => !(type in DEPLOYER_ACTIONS));
  if (missing.length > 0) throw new Error(`stacks/deployer-policy.ts has no actions for ${missing.join(', ')}: add them to DEPLOYER_ACTIONS (the provider's create/read/update/delete/tag calls)`);
  const statements: PolicyStatement[] = [{ Sid: 'ProviderIdentity', Effect: 'Allow', Action: ['sts:GetCallerIdentity'], Resource: '*' }];
  const backend = environment.backend;
  if (backend.type === 's3') {
    statements.push({ Sid: 'StateBucketList', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: `arn:aws:s3:::${backend.bucket}` });
    // The state objects and, with `lockfile`, their `.tflock` siblings.
    statements.push({ Sid: 'StateObjects', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: `arn:aws:s3:::${backend.bucket}/${backend.keyPrefix}/*` });
    if (backend.locking.type === 'dynamodb') {
      statements.push({ Sid: 'StateLockTable', Effect: 'Allow', Action: ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'], Resource: `arn:aws:dynamodb:${environment.region}:${environment.accountId}:table/${backend.locking.table}` });
    }
  }
  for (const type of [...new Set(types)].sort()) statements.push({ Sid: sid(type), Effect: 'Allow', Action: [...new Set(DEPLOYER_ACTIONS[type])].sort(), Resource: '*' });
  return { Version: '2012-10-17', Statement: statements };
}

/** Everything the environment's stacks declare, as one policy document. */
export function environmentDeployerPolicy(environment: InfraEnvironment): PolicyDocument {
  return deployerPolicy(environment, Object.values(synthesizedTypes(environment)).flat());
}
