/**
 * The one place that imports the Terraform bindings. CDKTF is deprecated and its fork
 * (CDK Terrain, `cdktn`) is a drop-in rename: moving means editing this file only.
 *
 * Provider classes come from their submodules (`@cdktf/provider-aws/lib/<resource>`):
 * the package root would load ~360 MB of bindings.
 */
export { App, Fn, LocalBackend, S3Backend, TerraformOutput, TerraformStack, Testing } from 'cdktf';
export type { TerraformResource } from 'cdktf';
export { Construct } from 'constructs';

export { AwsProvider } from '@cdktf/provider-aws/lib/provider';
export { CloudwatchEventRule } from '@cdktf/provider-aws/lib/cloudwatch-event-rule';
export { CloudwatchEventTarget } from '@cdktf/provider-aws/lib/cloudwatch-event-target';
export { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
export { DataAwsEc2ManagedPrefixList } from '@cdktf/provider-aws/lib/data-aws-ec2-managed-prefix-list';
export { CodebuildProject } from '@cdktf/provider-aws/lib/codebuild-project';
export { DbInstance } from '@cdktf/provider-aws/lib/db-instance';
export { DbParameterGroup } from '@cdktf/provider-aws/lib/db-parameter-group';
export { DbProxy } from '@cdktf/provider-aws/lib/db-proxy';
export { DbProxyDefaultTargetGroup } from '@cdktf/provider-aws/lib/db-proxy-default-target-group';
export { DbSubnetGroup } from '@cdktf/provider-aws/lib/db-subnet-group';
export { EcrLifecyclePolicy } from '@cdktf/provider-aws/lib/ecr-lifecycle-policy';
export { EcrRepository } from '@cdktf/provider-aws/lib/ecr-repository';
export { EcrRepositoryPolicy } from '@cdktf/provider-aws/lib/ecr-repository-policy';
export { IamRole } from '@cdktf/provider-aws/lib/iam-role';
export { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
export { KmsAlias } from '@cdktf/provider-aws/lib/kms-alias';
export { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
export { RdsCluster } from '@cdktf/provider-aws/lib/rds-cluster';
export { RdsClusterInstance } from '@cdktf/provider-aws/lib/rds-cluster-instance';
export { RdsClusterParameterGroup } from '@cdktf/provider-aws/lib/rds-cluster-parameter-group';
export { Route53Record } from '@cdktf/provider-aws/lib/route53-record';
export { Route53Zone } from '@cdktf/provider-aws/lib/route53-zone';
export { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
export { S3BucketLifecycleConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration';
export { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
export { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
export { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
export { S3BucketServerSideEncryptionConfigurationA as S3BucketServerSideEncryption } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
export { S3BucketVersioningA as S3BucketVersioning } from '@cdktf/provider-aws/lib/s3-bucket-versioning';
export { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
export { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
export { SnsTopicPolicy } from '@cdktf/provider-aws/lib/sns-topic-policy';
export { VpcEndpoint } from '@cdktf/provider-aws/lib/vpc-endpoint';
export { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
export { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
