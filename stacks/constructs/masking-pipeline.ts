/**
 * Infrastructure of the masked refresh (seed 003): the bucket the masked dumps land in
 * (private, SSE-KMS, TLS only, readable by the staging account, expiring), the ECR
 * repository for the dev database image, the CodeBuild project that runs
 * `scripts/mask-refresh.mjs` with a least-privilege role, and the weekly EventBridge rule
 * whose role may start that one project and nothing else.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CloudwatchEventRule,
  CloudwatchEventTarget,
  CloudwatchLogGroup,
  CodebuildProject,
  Construct,
  EcrLifecyclePolicy,
  EcrRepository,
  EcrRepositoryPolicy,
  IamRole,
  IamRolePolicy,
  S3Bucket,
  S3BucketLifecycleConfiguration,
  S3BucketOwnershipControls,
  S3BucketPolicy,
  S3BucketPublicAccessBlock,
  S3BucketServerSideEncryption,
  SecurityGroup,
} from '../aws';
import { CustomerManagedKey } from './customer-managed-key';
import { accountRootArn, denyInsecureTransport, policyDocument, serviceTrustPolicy } from './policy';
import { ACCOUNT_ID, check } from './validation';

/** Project root: buildspec paths are relative to it, as CodeBuild resolves them in the checkout. */
const PROJECT_ROOT = join(__dirname, '..', '..');

export interface MaskingPipelineProps {
  /** Prefix of every name, e.g. "rds-cutover-prod". */
  readonly namePrefix: string;
  /** Value of `CUTOVER_ENV` in the build: the environment the script masks. */
  readonly environmentName: string;
  readonly accountId: string;
  readonly region: string;
  readonly keyAdministratorArns: readonly string[];
  /** Accounts that may read the dumps and pull the dev image. */
  readonly readerAccountIds: readonly string[];
  readonly sourceRepositoryUrl: string;
  /** The commit id or tag (refs/tags/NAME) CodeBuild builds; a branch is refused (it moves). */
  readonly sourceVersion: string;
  /** Secrets the build may read: the ones config/masking/environments.ts names for the environment. */
  readonly secretArns: readonly string[];
  readonly vpcId: string;
  /** The build reaches the source replica in this range on the database ports only. */
  readonly vpcCidr: string;
  readonly subnetIds: readonly string[];
  /** @default 14 */
  readonly dumpRetentionDays?: number;
  /** @default "cron(0 3 ? * MON *)" */
  readonly schedule?: string;
  /** @default "BUILD_GENERAL1_SMALL" */
  readonly computeType?: string;
  /** @default "aws/buildspec/mask-refresh.yml" - must exist in this repository */
  readonly buildspecPath?: string;
}

const DATABASE_PORTS = [3306, 5432] as const;
const PINNED_VERSION = /^([0-9a-f]{40}|refs\/tags\/[A-Za-z0-9._\/-]+)$/;

export class MaskingPipeline extends Construct {
  readonly key: CustomerManagedKey;
  readonly bucket: S3Bucket;
  readonly bucketPolicy: S3BucketPolicy;
  readonly publicAccessBlock: S3BucketPublicAccessBlock;
  readonly encryption: S3BucketServerSideEncryption;
  readonly expiry: S3BucketLifecycleConfiguration;
  readonly repository: EcrRepository;
  readonly project: CodebuildProject;
  readonly buildRole: IamRole;
  readonly buildPolicy: IamRolePolicy;
  readonly scheduleRule: CloudwatchEventRule;
  readonly scheduleTarget: CloudwatchEventTarget;
  readonly schedulerRole: IamRole;
  readonly schedulerPolicy: IamRolePolicy;

  constructor(scope: Construct, id: string, props: MaskingPipelineProps) {
    super(scope, id);
    const {
      namePrefix,
      environmentName,
      accountId,
      region,
      keyAdministratorArns,
      readerAccountIds,
      sourceRepositoryUrl,
      sourceVersion,
      secretArns,
      vpcId,
      vpcCidr,
      subnetIds,
      dumpRetentionDays = 14,
      schedule = 'cron(0 3 ? * MON *)',
      computeType = 'BUILD_GENERAL1_SMALL',
      buildspecPath = 'aws/buildspec/mask-refresh.yml',
    } = props;
    check(readerAccountIds.length > 0 && readerAccountIds.every((account) => ACCOUNT_ID.test(account) && account !== accountId), this, 'readerAccountIds', readerAccountIds, `12-digit ids of accounts other than ${accountId}`);
    check(PINNED_VERSION.test(sourceVersion), this, 'sourceVersion', sourceVersion, 'a commit id (40 hex digits) or a tag (refs/tags/NAME); a branch moves, so each weekly build could run unreleased code');
    check(secretArns.length > 0, this, 'secretArns', secretArns, 'at least the masking HMAC key secret');
    check(Number.isInteger(dumpRetentionDays) && dumpRetentionDays >= 1, this, 'dumpRetentionDays', dumpRetentionDays, 'a whole number of days, at least 1');
    check(existsSync(join(PROJECT_ROOT, buildspecPath)), this, 'buildspecPath', buildspecPath, `a file in the repository (looked in ${PROJECT_ROOT})`);
    const readers = readerAccountIds.map(accountRootArn);

    // --- masked dumps: key and bucket ------------------------------------------------------
    this.key = new CustomerManagedKey(this, 'key', {
      accountId,
      region,
      alias: `${namePrefix}/masked-dumps`,
      description: `${namePrefix} masked dumps`,
      administratorArns: keyAdministratorArns,
      viaServices: ['s3'],
      additionalStatements: [
        {
          Sid: 'ReaderAccountsDecryptThroughS3',
          Effect: 'Allow',
          Principal: { AWS: readers },
          Action: ['kms:Decrypt', 'kms:DescribeKey'],
          Resource: '*',
          Condition: { StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` } },
        },
      ],
    });
    const keyArn = this.key.key.arn;

    this.bucket = new S3Bucket(this, 'bucket', { bucket: `${namePrefix}-masked-dumps-${accountId}`, forceDestroy: false });
    const bucketArn = this.bucket.arn;
    this.publicAccessBlock = new S3BucketPublicAccessBlock(this, 'public-access-block', {
      bucket: this.bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, 'ownership', { bucket: this.bucket.id, rule: { objectOwnership: 'BucketOwnerEnforced' } });
    this.encryption = new S3BucketServerSideEncryption(this, 'encryption', {
      bucket: this.bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: keyArn }, bucketKeyEnabled: true }],
    });
    // No versioning on purpose: a dump is replaced weekly, and old copies of (masked) personal
    // data should disappear on schedule rather than linger as noncurrent versions.
    this.expiry = new S3BucketLifecycleConfiguration(this, 'expiry', {
      bucket: this.bucket.id,
      rule: [
        {
          id: 'expire-masked-dumps',
          status: 'Enabled',
          filter: [{ prefix: '' }],
          expiration: [{ days: dumpRetentionDays }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
        },
      ],
    });
    this.bucketPolicy = new S3BucketPolicy(this, 'bucket-policy', {
      bucket: this.bucket.id,
      // The public access block must exist first, or S3 may judge the policy "public".
      dependsOn: [this.publicAccessBlock],
      policy: policyDocument([
        denyInsecureTransport([bucketArn, `${bucketArn}/*`]),
        { Sid: 'ReaderAccountsList', Effect: 'Allow', Principal: { AWS: readers }, Action: 's3:ListBucket', Resource: bucketArn },
        { Sid: 'ReaderAccountsRead', Effect: 'Allow', Principal: { AWS: readers }, Action: 's3:GetObject', Resource: `${bucketArn}/*` },
      ]),
    });

    // --- dev database image ----------------------------------------------------------------
    this.repository = new EcrRepository(this, 'repository', {
      name: `${namePrefix}/dev-database`,
      imageTagMutability: 'IMMUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: [{ encryptionType: 'KMS' }],
    });
    new EcrRepositoryPolicy(this, 'repository-policy', {
      repository: this.repository.name,
      policy: policyDocument([
        {
          Sid: 'ReaderAccountsPull',
          Effect: 'Allow',
          Principal: { AWS: readers },
          Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        },
      ]),
    });
    new EcrLifecyclePolicy(this, 'repository-lifecycle', {
      repository: this.repository.name,
      policy: JSON.stringify({
        rules: [{ rulePriority: 1, description: 'keep the last 8 images', selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 8 }, action: { type: 'expire' } }],
      }),
    });

    // --- CodeBuild project -----------------------------------------------------------------
    const projectName = `${namePrefix}-mask-refresh`;
    const logGroup = new CloudwatchLogGroup(this, 'build-logs', { name: `/aws/codebuild/${projectName}`, retentionInDays: 30 });
    const buildSecurityGroup = new SecurityGroup(this, 'build-security-group', {
      name: `${projectName}-build`,
      description: `${projectName}: AWS APIs over HTTPS, database ports inside the VPC`,
      vpcId,
      ingress: [],
      egress: [
        { description: 'AWS APIs and the git host over HTTPS', protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'] },
        ...DATABASE_PORTS.map((port) => ({ description: `source replica (${port})`, protocol: 'tcp', fromPort: port, toPort: port, cidrBlocks: [vpcCidr] })),
      ],
      revokeRulesOnDelete: true,
    });
    this.buildRole = new IamRole(this, 'build-role', {
      name: `${projectName}-build`,
      description: `${projectName}: runs scripts/mask-refresh.mjs`,
      assumeRolePolicy: serviceTrustPolicy('codebuild.amazonaws.com', accountId),
    });
    const subnetArns = subnetIds.map((subnet) => `arn:aws:ec2:${region}:${accountId}:subnet/${subnet}`);
    this.buildPolicy = new IamRolePolicy(this, 'build-policy', {
      role: this.buildRole.id,
      name: 'mask-refresh',
      policy: policyDocument([
        { Sid: 'WriteBuildLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: `${logGroup.arn}:*` },
        { Sid: 'ListDumps', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn },
        { Sid: 'ReadWriteDumps', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], Resource: `${bucketArn}/*` },
        // A dump is uploaded under <prefix><database>/staged/ and published (copied) only after
        // the leak check; the staged object is then deleted, or deleted at once if the check failed.
        // Published dumps are never deleted by the build (the lifecycle rule expires them).
        { Sid: 'DeleteStagedDumps', Effect: 'Allow', Action: 's3:DeleteObject', Resource: `${bucketArn}/*/staged/*` },
        { Sid: 'UseDumpKey', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: keyArn },
        { Sid: 'ReadMaskingSecrets', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secretArns },
        // GetAuthorizationToken has no resource-level permissions.
        { Sid: 'EcrLogin', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
        {
          Sid: 'PushDevImage',
          Effect: 'Allow',
          Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:CompleteLayerUpload', 'ecr:GetDownloadUrlForLayer', 'ecr:InitiateLayerUpload', 'ecr:PutImage', 'ecr:UploadLayerPart'],
          Resource: this.repository.arn,
        },
        // What CodeBuild needs to run inside the VPC; the Describe/Create calls take no resource.
        // https://docs.aws.amazon.com/codebuild/latest/userguide/auth-and-access-control-iam-identity-based-access-control.html#customer-managed-policies-example-create-vpc-network-interface
        {
          Sid: 'RunInVpc',
          Effect: 'Allow',
          Action: ['ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:DescribeDhcpOptions', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSecurityGroups', 'ec2:DescribeSubnets', 'ec2:DescribeVpcs'],
          Resource: '*',
        },
        {
          Sid: 'AttachToBuildSubnets',
          Effect: 'Allow',
          Action: 'ec2:CreateNetworkInterfacePermission',
          Resource: `arn:aws:ec2:${region}:${accountId}:network-interface/*`,
          Condition: { StringEquals: { 'ec2:AuthorizedService': 'codebuild.amazonaws.com' }, ArnEquals: { 'ec2:Subnet': subnetArns } },
        },
      ]),
    });
    this.project = new CodebuildProject(this, 'project', {
      name: projectName,
      description: 'Masked refresh of staging and the dev image (scripts/mask-refresh.mjs)',
      serviceRole: this.buildRole.arn,
      encryptionKey: keyArn,
      buildTimeout: 240,
      concurrentBuildLimit: 1,
      source: { type: 'GITHUB', location: sourceRepositoryUrl, buildspec: buildspecPath, gitCloneDepth: 1 },
      sourceVersion,
      artifacts: { type: 'NO_ARTIFACTS' },
      environment: {
        type: 'LINUX_CONTAINER',
        computeType,
        image: 'aws/codebuild/standard:7.0',
        imagePullCredentialsType: 'CODEBUILD',
        // Docker-in-Docker builds the dev database image.
        privilegedMode: true,
        environmentVariable: [
          { name: 'CUTOVER_ENV', value: environmentName },
          { name: 'MASKED_DUMP_BUCKET', value: this.bucket.bucket },
          { name: 'DEV_IMAGE_REPOSITORY_URL', value: this.repository.repositoryUrl },
        ],
      },
      logsConfig: { cloudwatchLogs: { groupName: logGroup.name, status: 'ENABLED' } },
      vpcConfig: { vpcId, subnets: [...subnetIds], securityGroupIds: [buildSecurityGroup.id] },
    });

    // --- weekly schedule -------------------------------------------------------------------
    this.schedulerRole = new IamRole(this, 'scheduler-role', {
      name: `${projectName}-schedule`,
      description: `${projectName}: EventBridge may start this one project`,
      assumeRolePolicy: serviceTrustPolicy('events.amazonaws.com', accountId),
    });
    this.schedulerPolicy = new IamRolePolicy(this, 'scheduler-policy', {
      role: this.schedulerRole.id,
      name: 'start-mask-refresh',
      policy: policyDocument([{ Sid: 'StartTheOneProject', Effect: 'Allow', Action: 'codebuild:StartBuild', Resource: this.project.arn }]),
    });
    this.scheduleRule = new CloudwatchEventRule(this, 'schedule', {
      name: projectName,
      description: `Starts ${projectName}`,
      scheduleExpression: schedule,
    });
    this.scheduleTarget = new CloudwatchEventTarget(this, 'schedule-target', {
      rule: this.scheduleRule.name,
      arn: this.project.arn,
      roleArn: this.schedulerRole.arn,
    });
  }
}
