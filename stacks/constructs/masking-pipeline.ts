/**
 * Infrastructure of the masked refresh (seed 003): the bucket the masked dumps land in
 * (private, SSE-KMS, TLS only, readable by the staging account, expiring), the ECR
 * repository for the dev database image, the CodeBuild project that runs
 * `scripts/mask-refresh.mjs` with a least-privilege role, and the weekly EventBridge rule
 * whose role may start that one project and nothing else.
 *
 * The build reads production personal data, so it has no route to the internet: its image
 * (tools and node_modules) and the dev image's MariaDB base come from ECR repositories
 * declared here, its source is an S3 object (a `git archive` of the pinned release), and its
 * security group allows HTTPS only to the S3 gateway endpoint's prefix list and to the
 * interface endpoints' security group, and the database ports to the VPC range.
 * Notifications leave through EventBridge → SNS, outside the build.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CloudwatchEventRule,
  CloudwatchEventTarget,
  CloudwatchLogGroup,
  CodebuildProject,
  Construct,
  DataAwsEc2ManagedPrefixList,
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
  S3BucketVersioning,
  SecurityGroup,
  SnsTopic,
  SnsTopicPolicy,
  VpcEndpoint,
  VpcSecurityGroupEgressRule,
  VpcSecurityGroupIngressRule,
} from '../aws';
import { CustomerManagedKey } from './customer-managed-key';
import { accountRootArn, denyInsecureTransport, policyDocument, serviceTrustPolicy } from './policy';
import { ACCOUNT_ID, check } from './validation';

/** Project root: buildspec paths are relative to it, as CodeBuild resolves them in the checkout. */
const PROJECT_ROOT = join(__dirname, '..', '..');

/** AWS services the build calls through interface endpoints (S3 goes through the gateway endpoint). */
export const BUILD_INTERFACE_ENDPOINT_SERVICES = ['logs', 'secretsmanager', 'ecr.api', 'ecr.dkr', 'kms', 'sts'] as const;

/**
 * Where the build's VPC endpoints come from: declared by the construct (the S3 gateway endpoint
 * on `routeTableIds`, interface endpoints in the build subnets), or already in the VPC.
 */
export type MaskingVpcEndpoints =
  | { readonly create: { readonly routeTableIds: readonly string[] } }
  | { readonly existing: { readonly securityGroupId: string; readonly s3PrefixListId?: string } };

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
  /**
   * The commit id or tag (refs/tags/NAME) CodeBuild builds; a branch is refused (it moves). The
   * build reads `source/<tag name or commit>.zip` from the source bucket (see `sourceObjectKey`).
   */
  readonly sourceVersion: string;
  /** @default - the tag name or commit of `sourceVersion` */
  readonly buildImageTag?: string;
  /** @default "10.11" */
  readonly devImageBaseTag?: string;
  /** The endpoints the build reaches AWS through. */
  readonly vpcEndpoints: MaskingVpcEndpoints;
  /**
   * Adds HTTPS to 0.0.0.0/0 to the build's egress (the open egress of old).
   * @default false - HTTPS to the S3 prefix list and the endpoints' security group only
   */
  readonly dangerouslyAllowHttpsToInternet?: boolean;
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
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** "refs/tags/v1.0.0" → "v1.0.0", a commit stays itself; "/" (allowed in tags) becomes "-" as in an image tag. */
export function sourceLabel(sourceVersion: string): string {
  return sourceVersion.replace(/^refs\/tags\//, '').replace(/\//g, '-');
}

/** Key of the source archive in the source bucket: what the operator uploads for `sourceVersion`. */
export function sourceObjectKey(sourceVersion: string): string {
  return `source/${sourceLabel(sourceVersion)}.zip`;
}

export class MaskingPipeline extends Construct {
  readonly key: CustomerManagedKey;
  readonly bucket: S3Bucket;
  readonly bucketPolicy: S3BucketPolicy;
  readonly publicAccessBlock: S3BucketPublicAccessBlock;
  readonly encryption: S3BucketServerSideEncryption;
  readonly expiry: S3BucketLifecycleConfiguration;
  readonly repository: EcrRepository;
  /** The build's own image: node 20, mariadb-client, zstd, jq, awscli, docker, node_modules. */
  readonly buildImageRepository: EcrRepository;
  /** The MariaDB image the dev image is built FROM (pushed once by the operator). */
  readonly baseImageRepository: EcrRepository;
  /** Versioned; holds `source/<release>.zip`, read-only for the build. */
  readonly sourceBucket: S3Bucket;
  readonly buildSecurityGroup: SecurityGroup;
  readonly egressRules: readonly VpcSecurityGroupEgressRule[];
  /** Declared only with `vpcEndpoints.create`. */
  readonly endpointSecurityGroup?: SecurityGroup;
  readonly endpoints: readonly VpcEndpoint[];
  /** Build state changes (failed, stopped, succeeded); subscribe e-mail or AWS Chatbot (Slack) to it. */
  readonly notificationTopic: SnsTopic;
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
      sourceVersion,
      buildImageTag = sourceLabel(sourceVersion),
      devImageBaseTag = '10.11',
      vpcEndpoints,
      dangerouslyAllowHttpsToInternet = false,
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
    check(IMAGE_TAG.test(buildImageTag), this, 'buildImageTag', buildImageTag, 'a Docker image tag such as "v1.0.0"');
    check(IMAGE_TAG.test(devImageBaseTag), this, 'devImageBaseTag', devImageBaseTag, 'a Docker image tag such as "10.11"');
    if ('create' in vpcEndpoints) {
      check(vpcEndpoints.create.routeTableIds.length > 0, this, 'vpcEndpoints.create.routeTableIds', vpcEndpoints.create.routeTableIds, 'the route tables of the build subnets (the S3 gateway endpoint is added to them)');
    }
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

    // --- images the build runs and builds FROM: ECR only, no registry on the internet ---------
    // Pushed once per release by the operator from a connected machine (stacks/README.md).
    const privateRepository = (id: string, name: string) => {
      const repository = new EcrRepository(this, id, {
        name,
        imageTagMutability: 'IMMUTABLE',
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfiguration: [{ encryptionType: 'KMS' }],
      });
      new EcrLifecyclePolicy(this, `${id}-lifecycle`, {
        repository: repository.name,
        policy: JSON.stringify({
          rules: [{ rulePriority: 1, description: 'keep the last 8 images', selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 8 }, action: { type: 'expire' } }],
        }),
      });
      return repository;
    };
    this.buildImageRepository = privateRepository('build-image-repository', `${namePrefix}/build-image`);
    this.baseImageRepository = privateRepository('base-image-repository', `${namePrefix}/mariadb-base`);

    // --- source: the pinned release as an S3 object, so no git host is needed ------------------
    // CodeBuild in a VPC downloads a GitHub source (also through a CodeStar connection, which only
    // supplies the token) from github.com: that needs a NAT route to the internet. An S3 source
    // comes through the gateway endpoint.
    this.sourceBucket = new S3Bucket(this, 'source-bucket', { bucket: `${namePrefix}-build-source-${accountId}`, forceDestroy: false });
    const sourceBucketArn = this.sourceBucket.arn;
    const sourcePublicAccessBlock = new S3BucketPublicAccessBlock(this, 'source-public-access-block', {
      bucket: this.sourceBucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, 'source-ownership', { bucket: this.sourceBucket.id, rule: { objectOwnership: 'BucketOwnerEnforced' } });
    new S3BucketServerSideEncryption(this, 'source-encryption', {
      bucket: this.sourceBucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: keyArn }, bucketKeyEnabled: true }],
    });
    // Versioned: a re-upload under the same key is visible as a new version, never silent.
    new S3BucketVersioning(this, 'source-versioning', { bucket: this.sourceBucket.id, versioningConfiguration: { status: 'Enabled' } });
    new S3BucketPolicy(this, 'source-bucket-policy', {
      bucket: this.sourceBucket.id,
      dependsOn: [sourcePublicAccessBlock],
      policy: policyDocument([denyInsecureTransport([sourceBucketArn, `${sourceBucketArn}/*`])]),
    });
    const sourceKey = sourceObjectKey(sourceVersion);

    // --- network: endpoints and an egress that reaches nothing else -----------------------------
    const projectName = `${namePrefix}-mask-refresh`;
    const logGroup = new CloudwatchLogGroup(this, 'build-logs', { name: `/aws/codebuild/${projectName}`, retentionInDays: 30 });
    // No inline rules: the rules are separate resources (one destination each), and Terraform
    // removes the allow-all egress AWS adds to a new group.
    this.buildSecurityGroup = new SecurityGroup(this, 'build-security-group', {
      name: `${projectName}-build`,
      description: `${projectName}: HTTPS to S3 and the VPC endpoints, database ports inside the VPC`,
      vpcId,
      revokeRulesOnDelete: true,
    });
    const buildSecurityGroupId = this.buildSecurityGroup.id;
    let endpointSecurityGroupId: string;
    let s3PrefixListId: string;
    const endpoints: VpcEndpoint[] = [];
    if ('create' in vpcEndpoints) {
      this.endpointSecurityGroup = new SecurityGroup(this, 'endpoint-security-group', {
        name: `${projectName}-endpoints`,
        description: `${projectName}: interface endpoints, HTTPS from the build only`,
        vpcId,
        revokeRulesOnDelete: true,
      });
      endpointSecurityGroupId = this.endpointSecurityGroup.id;
      const s3Gateway = new VpcEndpoint(this, 'endpoint-s3', {
        vpcId,
        serviceName: `com.amazonaws.${region}.s3`,
        vpcEndpointType: 'Gateway',
        routeTableIds: [...vpcEndpoints.create.routeTableIds],
        tags: { Name: `${projectName}-s3` },
      });
      endpoints.push(s3Gateway);
      // The gateway endpoint's prefix list is the managed list com.amazonaws.<region>.s3; read from
      // the endpoint, it is known after apply, so the offline plan needs no AWS call.
      s3PrefixListId = s3Gateway.prefixListId;
      for (const service of BUILD_INTERFACE_ENDPOINT_SERVICES) {
        endpoints.push(
          new VpcEndpoint(this, `endpoint-${service.replace('.', '-')}`, {
            vpcId,
            serviceName: `com.amazonaws.${region}.${service}`,
            vpcEndpointType: 'Interface',
            privateDnsEnabled: true,
            subnetIds: [...subnetIds],
            securityGroupIds: [endpointSecurityGroupId],
            tags: { Name: `${projectName}-${service}` },
          }),
        );
      }
    } else {
      endpointSecurityGroupId = vpcEndpoints.existing.securityGroupId;
      s3PrefixListId =
        vpcEndpoints.existing.s3PrefixListId ??
        new DataAwsEc2ManagedPrefixList(this, 's3-prefix-list', { name: `com.amazonaws.${region}.s3` }).id;
    }
    this.endpoints = endpoints;
    // The endpoints admit the build (also on an existing group: a rule of its own, removed with the stack).
    new VpcSecurityGroupIngressRule(this, 'endpoints-from-build', {
      securityGroupId: endpointSecurityGroupId,
      description: `${projectName}: build to the interface endpoints`,
      ipProtocol: 'tcp',
      fromPort: 443,
      toPort: 443,
      referencedSecurityGroupId: buildSecurityGroupId,
    });
    const egress = (id: string, description: string, port: number, destination: { cidrIpv4?: string; prefixListId?: string; referencedSecurityGroupId?: string }) =>
      new VpcSecurityGroupEgressRule(this, id, { securityGroupId: buildSecurityGroupId, description, ipProtocol: 'tcp', fromPort: port, toPort: port, ...destination });
    const egressRules = [
      egress('egress-s3', 'S3 (source, dumps, image layers) through the gateway endpoint', 443, { prefixListId: s3PrefixListId }),
      egress('egress-endpoints', `AWS APIs through the interface endpoints (${BUILD_INTERFACE_ENDPOINT_SERVICES.join(', ')})`, 443, { referencedSecurityGroupId: endpointSecurityGroupId }),
      ...DATABASE_PORTS.map((port) => egress(`egress-database-${port}`, `source replica (${port})`, port, { cidrIpv4: vpcCidr })),
    ];
    if (dangerouslyAllowHttpsToInternet) {
      egressRules.push(egress('egress-internet-https', 'DANGER: HTTPS to any address (masking.dangerouslyAllowHttpsToInternet)', 443, { cidrIpv4: '0.0.0.0/0' }));
    }
    this.egressRules = egressRules;

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
        { Sid: 'ReadSource', Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: `${sourceBucketArn}/${sourceKey}` },
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
        // CodeBuild pulls the build image with this role (imagePullCredentialsType SERVICE_ROLE);
        // the Docker build pulls the MariaDB base.
        {
          Sid: 'PullBuildImages',
          Effect: 'Allow',
          Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
          Resource: [this.buildImageRepository.arn, this.baseImageRepository.arn],
        },
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
      source: { type: 'S3', location: `${this.sourceBucket.bucket}/${sourceKey}`, buildspec: buildspecPath },
      artifacts: { type: 'NO_ARTIFACTS' },
      environment: {
        type: 'LINUX_CONTAINER',
        computeType,
        image: `${this.buildImageRepository.repositoryUrl}:${buildImageTag}`,
        imagePullCredentialsType: 'SERVICE_ROLE',
        // Docker-in-Docker builds the dev database image (the build image starts dockerd).
        privilegedMode: true,
        environmentVariable: [
          { name: 'CUTOVER_ENV', value: environmentName },
          { name: 'SOURCE_VERSION', value: sourceVersion },
          { name: 'MASKED_DUMP_BUCKET', value: this.bucket.bucket },
          { name: 'DEV_IMAGE_REPOSITORY_URL', value: this.repository.repositoryUrl },
          { name: 'MARIADB_IMAGE', value: `${this.baseImageRepository.repositoryUrl}:${devImageBaseTag}` },
        ],
      },
      logsConfig: { cloudwatchLogs: { groupName: logGroup.name, status: 'ENABLED' } },
      vpcConfig: { vpcId, subnets: [...subnetIds], securityGroupIds: [buildSecurityGroupId] },
      // The role must be able to pull the image and reach the endpoints before the first build.
      dependsOn: [...egressRules],
    });

    // --- notifications: outside the build (EventBridge → SNS), so the build needs no internet ---
    // No personal data in these messages (project, build id, status); the script's summary stays
    // in the build log.
    this.notificationTopic = new SnsTopic(this, 'notifications', { name: `${projectName}-notifications` });
    const buildStateRule = new CloudwatchEventRule(this, 'build-state', {
      name: `${projectName}-state`,
      description: `${projectName}: build failed, stopped or succeeded`,
      eventPattern: JSON.stringify({
        source: ['aws.codebuild'],
        'detail-type': ['CodeBuild Build State Change'],
        detail: { 'project-name': [projectName], 'build-status': ['FAILED', 'STOPPED', 'SUCCEEDED'] },
      }),
    });
    new SnsTopicPolicy(this, 'notifications-policy', {
      arn: this.notificationTopic.arn,
      policy: policyDocument([
        {
          Sid: 'BuildStateRulePublishes',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: this.notificationTopic.arn,
          Condition: { ArnEquals: { 'aws:SourceArn': buildStateRule.arn } },
        },
      ]),
    });
    new CloudwatchEventTarget(this, 'build-state-target', { rule: buildStateRule.name, arn: this.notificationTopic.arn });

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
