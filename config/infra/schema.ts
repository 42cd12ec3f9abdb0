/**
 * The shape of one infrastructure environment (what the CDKTF stacks declare for it),
 * validated on load. Every field with a default says what the default does, so an
 * environment file only carries what differs from a secure, boring set-up.
 *
 * A bad value fails with the field path, the value received and the expected form,
 * e.g. `config/infra/prod.ts: database.deletionProtection: received false; expected true ...`.
 */
import { z } from 'zod';

const patterns = {
  environmentName: /^[a-z][a-z0-9]{1,15}$/,
  accountId: /^\d{12}$/,
  region: /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/,
  iamPrincipalArn: /^arn:aws[a-z-]*:iam::\d{12}:(root|(role|user)\/[\w+=,.@/-]+)$/,
  secretArn: /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$/,
  vpcId: /^vpc-[0-9a-f]{8,17}$/,
  subnetId: /^subnet-[0-9a-f]{8,17}$/,
  securityGroupId: /^sg-[0-9a-f]{8,17}$/,
  routeTableId: /^rtb-[0-9a-f]{8,17}$/,
  prefixListId: /^pl-[0-9a-f]{8,17}$/,
  imageTag: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/,
  hostedZoneId: /^Z[0-9A-Z]{4,31}$/,
  cidr: /^(\d{1,3}\.){3}\d{1,3}\/(\d|[12]\d|3[0-2])$/,
  databaseIdentifier: /^[a-z](?!.*--)[a-z0-9-]{0,61}[a-z0-9]$/,
  snapshotIdentifier: /^(arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:(cluster-)?snapshot:)?[a-zA-Z][a-zA-Z0-9-]{0,254}$/,
  dnsName: /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$/,
  parameterGroupFamily: /^(mysql|postgres|aurora-mysql|aurora-postgresql)\d+(\.\d+)?$/,
  scheduleExpression: /^(cron\([^)]+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$/,
  pinnedGitVersion: /^([0-9a-f]{40}|refs\/tags\/[A-Za-z0-9._\/-]+)$/,
} as const;

/** A string matching `pattern`, with the expected form spelled out for the error message. */
const matching = (pattern: RegExp, expected: string) =>
  z.string({ error: `expected ${expected}` }).regex(pattern, { error: `expected ${expected}` });

const accountId = matching(patterns.accountId, 'a 12-digit AWS account id such as "123456789012"');
const iamPrincipalArn = matching(
  patterns.iamPrincipalArn,
  'an IAM role, user or account root ARN such as "arn:aws:iam::123456789012:role/Admin"',
);
const secretArn = matching(
  patterns.secretArn,
  'a Secrets Manager secret ARN such as "arn:aws:secretsmanager:eu-west-1:123456789012:secret:name-AbCdEf"',
);
const subnetId = matching(patterns.subnetId, 'a subnet id such as "subnet-0abc1234def567890"');
const securityGroupId = matching(patterns.securityGroupId, 'a security group id such as "sg-0abc1234def567890"');
const databaseIdentifier = matching(
  patterns.databaseIdentifier,
  'an RDS identifier: lower-case letters, digits and single hyphens, starting with a letter, at most 63 characters',
);

/** Services whose endpoint may be overridden (e.g. to point the provider at an emulator). */
export const OVERRIDABLE_ENDPOINT_SERVICES = [
  'codebuild',
  'ec2',
  'ecr',
  'events',
  'iam',
  'kms',
  'logs',
  'rds',
  'route53',
  's3',
  'secretsmanager',
  'sts',
] as const;

const providerSchema = z
  .object({
    /** Role the provider assumes. @default - the caller's own credentials */
    assumeRole: z
      .object({
        roleArn: iamPrincipalArn,
        externalId: z.string().min(2).max(1224).optional(),
        sessionName: z.string().regex(/^[\w+=,.@-]{2,64}$/).default('rds-cutover'),
      })
      .strict()
      .optional(),
    /** Per-service endpoint URLs. @default - the real AWS endpoints */
    endpoints: z
      .partialRecord(z.enum(OVERRIDABLE_ENDPOINT_SERVICES), z.url({ error: 'expected an http(s) URL' }))
      .default({}),
    /** @default false - credentials are checked with STS */
    skipCredentialsValidation: z.boolean().default(false),
    /** @default false - the provider asks STS for the account id */
    skipRequestingAccountId: z.boolean().default(false),
    /** @default false - the provider may use the EC2 metadata service */
    skipMetadataApiCheck: z.boolean().default(false),
    /** @default false - the region name is checked against the known list */
    skipRegionValidation: z.boolean().default(false),
    /** @default false - virtual-host style S3 addressing */
    s3UsePathStyle: z.boolean().default(false),
  })
  .strict()
  .default({
    endpoints: {},
    skipCredentialsValidation: false,
    skipRequestingAccountId: false,
    skipMetadataApiCheck: false,
    skipRegionValidation: false,
    s3UsePathStyle: false,
  });

const backendSchema = z.discriminatedUnion(
  'type',
  [
    z
      .object({
        type: z.literal('local'),
        /** State directory; one `<stack>.tfstate` per stack. @default - `.rds-cutover/state` */
        directory: z.string().min(1).default('.rds-cutover/state'),
      })
      .strict(),
    z
      .object({
        type: z.literal('s3'),
        bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'expected an S3 bucket name' }),
        /** State key prefix; the key is `<prefix>/<stack>.tfstate`. @default "rds-cutover" */
        keyPrefix: z.string().regex(/^[\w./-]+$/).default('rds-cutover'),
        /** @default - the environment's region */
        region: matching(patterns.region, 'an AWS region such as "eu-west-1"').optional(),
        /**
         * How concurrent runs are kept apart. `lockfile` is S3's own conditional-write lock
         * (Terraform ≥ 1.10); `dynamodb` is the older table lock.
         * @default { type: "lockfile" }
         */
        locking: z
          .discriminatedUnion('type', [
            z.object({ type: z.literal('lockfile') }).strict(),
            z.object({ type: z.literal('dynamodb'), table: z.string().regex(/^[\w.-]{3,255}$/) }).strict(),
          ])
          .default({ type: 'lockfile' }),
        /** KMS key for the state objects. @default - the bucket's default encryption */
        kmsKeyId: z.string().min(1).optional(),
        /** Role to assume for state access. @default - the provider's credentials chain */
        roleArn: iamPrincipalArn.optional(),
      })
      .strict(),
  ],
  { error: 'expected a backend with type "local" or "s3"' },
);

const engineSchema = z.enum(['mysql', 'postgres', 'aurora-mysql', 'aurora-postgresql'], {
  error: 'expected one of "mysql", "postgres", "aurora-mysql", "aurora-postgresql"',
});

const databaseSchema = z
  .object({
    /** Identifier of the new (target) instance or cluster. */
    identifier: databaseIdentifier,
    engine: engineSchema,
    engineVersion: z.string().regex(/^\d+(\.\d+){0,2}(\.[\w.-]+)?$/, { error: 'expected an engine version such as "8.0.39"' }),
    /** Parameter group family of the target, e.g. "mysql8.0", "postgres17". */
    parameterGroupFamily: matching(patterns.parameterGroupFamily, 'a family such as "mysql8.0" or "aurora-postgresql16"'),
    /**
     * Family of the PostgreSQL "frozen" parameter group, which the freeze step puts on the
     * *source*; differs from the target's family in an upgrade.
     * @default - the target's family
     */
    freezeParameterGroupFamily: matching(patterns.parameterGroupFamily, 'a family such as "postgres15"').optional(),
    instanceClass: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, { error: 'expected an instance class such as "db.r6g.large"' }),
    /** Aurora only: number of cluster instances. @default 2 - a writer and a reader in another AZ */
    instanceCount: z.number().int().min(1).max(15).default(2),
    /** RDS instances only. @default 100 */
    allocatedStorageGb: z.number().int().min(20).max(65536).default(100),
    /** Restore the target from this snapshot (id or ARN). @default - an empty database is created */
    restoreFromSnapshotId: matching(patterns.snapshotIdentifier, 'a DB snapshot identifier or ARN').optional(),
    /**
     * RDS instances whose `restoreFromSnapshotId` is the cutover run's encrypted copy (the MySQL
     * encrypt flow restores the instance itself; the copy does not exist before the run):
     * - "pending": the stack declares the instance's subnet group, security group and parameter
     *   group, not the instance; the outputs say how to restore it (`databaseRestoreSettings`)
     *   and the run restores with exactly those settings;
     * - "done" (set after the run): the stack declares the instance and takes the restored one
     *   over with a Terraform import block (docs/DEPLOY.md, step 6).
     * @default - the stack creates the database itself (empty, or from the snapshot)
     */
    restoredByCutover: z.enum(['pending', 'done'], { error: 'expected "pending" (before the run) or "done" (after it: the stack imports the instance)' }).optional(),
    /** Ignored when restoring (the snapshot carries it). @default "cutover_admin" */
    masterUsername: z.string().regex(/^[a-zA-Z]\w{0,15}$/).default('cutover_admin'),
    /** @default true - and it cannot be turned off in a production environment */
    deletionProtection: z.boolean().default(true),
    /** @default 7 - backups are needed for read replicas and point-in-time restore */
    backupRetentionDays: z.number().int().min(1).max(35).default(7),
    /** RDS instances only. @default true */
    multiAz: z.boolean().default(true),
    /** Security groups of the applications allowed to connect. @default - none */
    clientSecurityGroupIds: z.array(securityGroupId).default([]),
  })
  .strict();

const dnsSchema = z
  .object({
    /** The name applications connect to, e.g. "orders-db.internal.example.com". */
    recordName: matching(patterns.dnsName, 'a DNS name such as "orders-db.internal.example.com"'),
    /**
     * Either an existing hosted zone (`{ existingZoneId }`) or a private zone to create (`{ privateZoneName }`).
     */
    zone: z.union(
      [
        z.object({ existingZoneId: matching(patterns.hostedZoneId, 'a Route 53 hosted zone id such as "Z0123456789ABCDEFGHIJ"') }).strict(),
        z.object({ privateZoneName: matching(patterns.dnsName, 'a DNS zone name such as "internal.example.com"') }).strict(),
      ],
      { error: 'expected { existingZoneId: "Z…" } or { privateZoneName: "internal.example.com" }' },
    ),
    /** Endpoint of the database that is live today: the record's initial value. */
    currentEndpoint: matching(patterns.dnsName, 'the current database endpoint host name'),
    /** @default 15 - short, so clients follow the switch quickly */
    ttlSeconds: z.number().int().min(1).max(300).default(15),
  })
  .strict();

const proxySchema = z
  .object({
    engineFamily: z.enum(['MYSQL', 'POSTGRESQL'], { error: 'expected "MYSQL" or "POSTGRESQL"' }),
    /** Secret with the database credentials the proxy uses. */
    secretArn,
    /**
     * Customer-managed KMS key (ARN) the secret is encrypted with; the proxy's role may decrypt
     * with that key only. @default - the AWS-managed aws/secretsmanager key (no kms:Decrypt statement)
     */
    secretKmsKeyArn: matching(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[\w-]+$/, 'a KMS key ARN such as "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"').optional(),
    /** Database the proxy targets after the first deploy (the scripts register it and later swap it). */
    initialTarget: z
      .object({ kind: z.enum(['instance', 'cluster']), identifier: databaseIdentifier })
      .strict(),
    /** @default 1800 */
    idleClientTimeoutSeconds: z.number().int().min(1).max(28800).default(1800),
    /** Security groups of the applications allowed to reach the proxy. @default - none */
    clientSecurityGroupIds: z.array(securityGroupId).default([]),
  })
  .strict();

/**
 * How the masking build reaches AWS without the internet: S3 through a gateway endpoint (its
 * managed prefix list), the other services (logs, secretsmanager, ecr.api, ecr.dkr, kms, sts)
 * through interface endpoints. Either the stack declares them, or the VPC already has them.
 */
export const MASKING_INTERFACE_ENDPOINT_SERVICES = ['logs', 'secretsmanager', 'ecr.api', 'ecr.dkr', 'kms', 'sts'] as const;

const maskingVpcEndpointsSchema = z.union(
  [
    z
      .object({
        /**
         * The stack declares the S3 gateway endpoint on these route tables (those of
         * `network.subnetIds`) and one interface endpoint per service in `network.subnetIds`
         * (one subnet per availability zone), with private DNS and their own security group.
         */
        create: z.object({ routeTableIds: z.array(matching(patterns.routeTableId, 'a route table id such as "rtb-0abc1234def567890"')).min(1, { error: 'expected the route table ids of the build subnets (the S3 gateway endpoint is added to them)' }) }).strict(),
      })
      .strict(),
    z
      .object({
        /** The VPC already has the endpoints (e.g. shared by other workloads). */
        existing: z
          .object({
            /** Security group of the existing interface endpoints; the stack adds an ingress rule for the build on 443. */
            securityGroupId,
            /**
             * Managed prefix list of the S3 gateway endpoint (`com.amazonaws.<region>.s3`), e.g. from
             * `aws ec2 describe-managed-prefix-lists --filters Name=prefix-list-name,Values=com.amazonaws.<region>.s3`.
             * @default - looked up by name at plan time (a data source: needs AWS, so the offline plan cannot read it)
             */
            s3PrefixListId: matching(patterns.prefixListId, 'a managed prefix list id such as "pl-6da54004"').optional(),
          })
          .strict(),
      })
      .strict(),
  ],
  { error: 'expected { create: { routeTableIds: ["rtb-…"] } } (the stack declares the S3 gateway and interface endpoints) or { existing: { securityGroupId: "sg-…" } } (the VPC has them)' },
);

const maskingSchema = z
  .object({
    /** Accounts (staging) that may read the masked dumps. */
    readerAccountIds: z.array(accountId).min(1, { error: 'expected at least one reader account id' }),
    /** @default 14 - masked dumps are deleted after this many days */
    dumpRetentionDays: z.number().int().min(1).max(365).default(14),
    /** @default "cron(0 3 ? * MON *)" - Mondays 03:00 UTC */
    schedule: matching(patterns.scheduleExpression, 'an EventBridge schedule such as "cron(0 3 ? * MON *)" or "rate(7 days)"').default(
      'cron(0 3 ? * MON *)',
    ),
    /**
     * The release CodeBuild runs: a commit id or a tag (refs/tags/NAME), never a branch: a
     * branch moves, and the weekly build would run code nobody released for this environment.
     * The operator uploads `git archive` of it to the stack's source bucket under
     * `source/<tag name or commit>.zip` (stacks/README.md), so the build needs no git host.
     */
    sourceVersion: matching(patterns.pinnedGitVersion, 'a commit id (40 hex digits) or a tag (refs/tags/NAME), not a branch that moves'),
    /**
     * Tag of the build image (aws/build-image/Dockerfile, built at `sourceVersion` with its
     * node_modules) in the stack's build-image repository.
     * @default - the tag name or commit of `sourceVersion`
     */
    buildImageTag: matching(patterns.imageTag, 'a Docker image tag such as "v1.0.0"').optional(),
    /** Tag of the MariaDB base image the operator pushed to the stack's base-image repository. @default "10.11" */
    devImageBaseTag: matching(patterns.imageTag, 'a Docker image tag such as "10.11"').default('10.11'),
    /** Secrets the masking run may read: exactly the ones config/masking/environments.ts names for this environment (the stack checks). */
    secretArns: z.array(secretArn).min(1, { error: 'expected at least one secret ARN (the masking HMAC key)' }),
    /** @default "BUILD_GENERAL1_SMALL" */
    computeType: z.enum(['BUILD_GENERAL1_SMALL', 'BUILD_GENERAL1_MEDIUM', 'BUILD_GENERAL1_LARGE']).default('BUILD_GENERAL1_SMALL'),
    /** The VPC endpoints the build uses instead of the internet. */
    vpcEndpoints: maskingVpcEndpointsSchema,
    /**
     * DANGER: adds HTTPS to any address (0.0.0.0/0) to the build's security group, the egress
     * the build had before it was locked down. A build that reads production personal data
     * could then send it anywhere. Only for an operator who needs it (e.g. Slack notifications
     * from the build: hooks.slack.com cannot be reached through an endpoint, and a security
     * group cannot allow a host name).
     * @default false - HTTPS only to the S3 prefix list and the endpoints' security group
     */
    dangerouslyAllowHttpsToInternet: z.boolean().default(false),
  })
  .strict();

const snapshotShareSchema = z
  .object({
    /** Accounts allowed to copy and restore snapshots encrypted with the share key. */
    targetAccountIds: z.array(accountId).min(1, { error: 'expected at least one target account id' }),
  })
  .strict();

/**
 * Deployed in the account a database moves into (seed 004, the MySQL flow's `aws.targetAccount`):
 * the target's storage key and the role the source account's operators assume to copy the shared
 * snapshot and restore it here.
 */
const targetAccountSchema = z
  .object({
    /** The account the database moves from (its operators assume the role). */
    sourceAccountId: accountId,
    /** Principals of the source account allowed to assume the role (the cutover's operator or CI role). */
    assumerArns: z.array(iamPrincipalArn).min(1, { error: 'expected at least one principal ARN of the source account' }),
    /** The source account's share key (its snapshot-share stack's `snapshotShareKeyArn`): the role may use it through RDS to copy the shared snapshot. */
    shareKeyArn: matching(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[\w-]+$/, 'a KMS key ARN such as "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-…"'),
    /** Required in the role's trust policy as sts:ExternalId. @default - no external id */
    externalId: z.string().regex(/^[\w+=,.@:/-]{2,1224}$/).optional(),
    /** @default 'rds-cutover-target' */
    roleName: z.string().regex(/^[\w+=,.@-]{1,64}$/).default('rds-cutover-target'),
  })
  .strict();

export const infraEnvironmentSchema = z
  .object({
    name: matching(patterns.environmentName, 'a short lower-case name such as "prod"'),
    tier: z.enum(['production', 'staging', 'development'], { error: 'expected "production", "staging" or "development"' }),
    accountId,
    region: matching(patterns.region, 'an AWS region such as "eu-west-1"'),
    provider: providerSchema,
    /** Tags on every resource (the provider's default_tags). @default {} */
    defaultTags: z.record(z.string().regex(/^[\w .:/=+@-]{1,128}$/), z.string().max(256)).default({}),
    backend: backendSchema,
    /** Principals allowed to administer (not use) the customer managed keys; include the deploying role. */
    keyAdministratorArns: z.array(iamPrincipalArn).min(1, { error: 'expected at least one key administrator ARN' }),
    network: z
      .object({
        vpcId: matching(patterns.vpcId, 'a VPC id such as "vpc-0abc1234def567890"'),
        vpcCidr: matching(patterns.cidr, 'an IPv4 CIDR such as "10.20.0.0/16"'),
        /** Private subnets in at least two availability zones. */
        subnetIds: z.array(subnetId).min(2, { error: 'expected at least two private subnet ids (RDS needs two AZs)' }),
      })
      .strict(),
    /** Seeds 000/001: the target database. @default - no database stack */
    database: databaseSchema.optional(),
    /** The switch point the scripts flip. @default - no DNS record */
    dns: dnsSchema.optional(),
    /** Seed 002: RDS Proxy in front of the database. @default - no proxy */
    proxy: proxySchema.optional(),
    /** Seed 003: masked refresh pipeline. @default - no masking stack */
    masking: maskingSchema.optional(),
    /** Seed 004: snapshot-share key. @default - no snapshot-share stack */
    snapshotShare: snapshotShareSchema.optional(),
    targetAccount: targetAccountSchema.optional(),
  })
  .strict()
  .superRefine((environment, context) => {
    const problem = (path: (string | number)[], input: unknown, message: string) =>
      context.addIssue({ code: 'custom', path, input, message });

    if (environment.tier === 'production' && environment.database && !environment.database.deletionProtection) {
      problem(['database', 'deletionProtection'], false, 'expected true in a production environment (remove the field or set it to true)');
    }
    const database = environment.database;
    if (database) {
      const family = database.parameterGroupFamily.replace(/\d.*$/, '');
      if (family !== database.engine) {
        problem(['database', 'parameterGroupFamily'], database.parameterGroupFamily, `expected a family of engine "${database.engine}", e.g. "${database.engine}${database.engine.includes('mysql') ? '8.0' : '16'}"`);
      }
      if (database.restoredByCutover !== undefined && (database.engine.startsWith('aurora-') || database.restoreFromSnapshotId === undefined)) {
        problem(['database', 'restoredByCutover'], database.restoredByCutover, 'expected no value: it is for an RDS instance (engine "mysql" or "postgres") whose restoreFromSnapshotId the cutover run creates; set restoreFromSnapshotId or remove the field');
      }
      if (database.freezeParameterGroupFamily !== undefined && !database.engine.includes('postgres')) {
        problem(['database', 'freezeParameterGroupFamily'], database.freezeParameterGroupFamily, 'expected no value: the frozen parameter group exists for PostgreSQL engines only');
      }
    }
    environment.keyAdministratorArns.forEach((arn, index) => {
      const account = arn.split(':')[4];
      // (a malformed accountId is reported on its own; comparing against it would only add noise)
      if (patterns.accountId.test(environment.accountId) && account !== environment.accountId) {
        problem(['keyAdministratorArns', index], arn, `expected a principal of the environment's own account ${environment.accountId}: an administrator from account ${account} could change the key policy of keys it does not own`);
      }
    });
    for (const [section, accounts] of [
      ['snapshotShare', environment.snapshotShare?.targetAccountIds],
      ['masking', environment.masking?.readerAccountIds],
    ] as const) {
      const field = section === 'snapshotShare' ? 'targetAccountIds' : 'readerAccountIds';
      accounts?.forEach((account, index) => {
        if (account === environment.accountId) {
          problem([section, field, index], account, `expected another account than the environment's own (${environment.accountId})`);
        }
      });
    }
    const target = environment.targetAccount;
    if (target) {
      if (target.sourceAccountId === environment.accountId) problem(['targetAccount', 'sourceAccountId'], target.sourceAccountId, `expected another account than the environment's own (${environment.accountId}): this stack is for the account a database moves into`);
      target.assumerArns.forEach((arn, index) => {
        if (arn.split(':')[4] !== target.sourceAccountId) problem(['targetAccount', 'assumerArns', index], arn, `expected a principal of the source account ${target.sourceAccountId}`);
      });
      if (target.shareKeyArn.split(':')[4] !== target.sourceAccountId) problem(['targetAccount', 'shareKeyArn'], target.shareKeyArn, `expected a key of the source account ${target.sourceAccountId} (its snapshot-share stack's key)`);
    }
    if (environment.proxy && environment.database) {
      const expectedFamily = environment.database.engine.includes('mysql') ? 'MYSQL' : 'POSTGRESQL';
      if (environment.proxy.engineFamily !== expectedFamily) {
        problem(['proxy', 'engineFamily'], environment.proxy.engineFamily, `expected "${expectedFamily}" to match database.engine "${environment.database.engine}"`);
      }
    }
    const zone = environment.dns?.zone;
    if (environment.dns && zone && 'privateZoneName' in zone) {
      const zoneName = zone.privateZoneName.replace(/\.$/, '');
      if (!environment.dns.recordName.replace(/\.$/, '').endsWith(`.${zoneName}`)) {
        problem(['dns', 'recordName'], environment.dns.recordName, `expected a name inside the zone "${zoneName}"`);
      }
    }
  });

/** What an environment file is written as (defaults may be left out). */
export type InfraEnvironmentInput = z.input<typeof infraEnvironmentSchema>;
/** A validated environment with every default filled in. */
export type InfraEnvironment = z.output<typeof infraEnvironmentSchema>;
export type DatabaseSettings = NonNullable<InfraEnvironment['database']>;
export type DnsSettings = NonNullable<InfraEnvironment['dns']>;
export type ProxySettings = NonNullable<InfraEnvironment['proxy']>;
export type MaskingSettings = NonNullable<InfraEnvironment['masking']>;
export type SnapshotShareSettings = NonNullable<InfraEnvironment['snapshotShare']>;
export type BackendSettings = InfraEnvironment['backend'];

/**
 * The tags every resource of the environment carries: the stacks' (the provider's default_tags,
 * plus `rds-cutover:stack`) and what a cutover run creates (snapshots, copies, replicas, restored
 * instances and clusters, plus `rds-cutover:run-id`). One list: `defaultTags` here.
 */
export function environmentTags(environment: Pick<InfraEnvironment, 'name' | 'defaultTags'>): Record<string, string> {
  return { ...environment.defaultTags, 'rds-cutover:environment': environment.name };
}

/** Raised when an environment does not validate; the message lists every problem. */
export class InfraConfigError extends Error {
  constructor(readonly source: string, readonly problems: readonly string[]) {
    super(`${source}: invalid infrastructure environment:\n${problems.map((line) => `  - ${line}`).join('\n')}`);
    this.name = 'InfraConfigError';
  }
}

const describeValue = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

/**
 * Validates `raw` and fills in defaults.
 * @param source where the values came from, named in the error (e.g. "config/infra/prod.ts")
 * @throws InfraConfigError naming each field, the value received and the expected form
 */
export function parseInfraEnvironment(raw: unknown, source: string): InfraEnvironment {
  const result = infraEnvironmentSchema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    let expectation = issue.message.replace(/^Invalid input: /, '').replace(/^Invalid discriminator value\. Expected /, 'expected ');
    if (issue.code === 'unrecognized_keys') {
      expectation = `unknown field(s) ${issue.keys.map((key) => `"${key}"`).join(', ')}: remove them or check the spelling`;
      return `${field}: ${expectation}`;
    }
    // zod's own messages already say "received X" for type errors; custom ones do not.
    // A discriminator issue carries the whole object as its input; show the offending field.
    const last = issue.path[issue.path.length - 1];
    const input = typeof issue.input === 'object' && issue.input !== null && typeof last === 'string' && last in issue.input ? (issue.input as Record<string, unknown>)[last] : issue.input;
    const received = /received/.test(expectation) ? '' : `received ${describeValue(input)}; `;
    return `${field}: ${received}${expectation}`;
  });
  throw new InfraConfigError(source, problems);
}
