import { z } from 'zod';

/**
 * The cross-account snapshot share (seed 004, `--flow share-snapshot`): the source account's
 * snapshot is copied under the share key (a customer-managed key whose policy lets the target
 * account use it through RDS), shared with the target account, copied there under the target
 * account's own key, restored, and unshared. The source side uses the environment's `aws`
 * credentials (region, profile, assumeRole); the target side its own, named here.
 */
const accountId = z.string().regex(/^\d{12}$/, { error: 'expected a 12-digit AWS account id such as "222222222222"' });
const identifier = z
  .string({ error: 'expected an RDS identifier such as "orders"' })
  .regex(/^[a-z](?!.*--)[a-z0-9-]{0,61}[a-z0-9]$/, { error: 'expected an RDS identifier: lower-case letters, digits and single hyphens, starting with a letter, at most 63 characters' });
const snapshotId = z.string().regex(/^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,254}$/, { error: 'expected a snapshot identifier: letters, digits, single hyphens, starting with a letter' });
const roleArn = z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, { error: 'expected an IAM role ARN such as "arn:aws:iam::222222222222:role/rds-cutover-target"' });
const keyArn = z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[\w-]+$/, { error: 'expected a KMS key ARN such as "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-…" (an ARN, not an alias: the account must be visible)' });

/** The target account's identity, key and network: shared by `--flow share-snapshot` and `aws.targetAccount`. */
const targetAccountFields = {
  accountId,
  /** @default - the environment's aws.region */
  region: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, { error: 'expected an AWS region such as "eu-west-1"' }).optional(),
  /** Named profile of the shared config files with credentials in the target account. */
  profile: z.string().min(1).optional(),
  /** Role in the target account assumed with the source side's credentials. */
  assumeRole: z
    .object({
      roleArn,
      externalId: z.string().min(2).max(1224).optional(),
      /** @default 'rds-cutover-target' */
      sessionName: z.string().regex(/^[\w+=,.@-]{2,64}$/).default('rds-cutover-target'),
    })
    .strict()
    .optional(),
  /** The target account's own customer-managed key; the copy and the restored database are encrypted with it. */
  kmsKeyArn: keyArn,
  /** The copy under the target key (target account). @default - `<restored id>-seed-<run id>` */
  copyId: snapshotId.optional(),
  /** Network and parameters of the restored database. */
  dbSubnetGroupName: z.string().min(1, { error: 'expected the DB subnet group of the target VPC' }),
  vpcSecurityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, { error: 'expected a security group id such as "sg-0abc1234def567890"' })).min(1, { error: 'expected at least one security group id' }),
  /** Instance: DB parameter group; cluster: DB cluster parameter group (require TLS there). */
  parameterGroupName: z.string().min(1),
  /** Instance only. @default - the snapshot's option group */
  optionGroupName: z.string().min(1).optional(),
  /** Instance class of the restored instance (cluster: of its writer). */
  instanceClass: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, { error: 'expected an instance class such as "db.r6g.large"' }),
  /** Instance only. @default true */
  multiAz: z.boolean().default(true),
  /** @default true */
  deletionProtection: z.boolean().default(true),
};

type TargetAccountShape = { accountId: string; profile?: string; assumeRole?: { roleArn: string }; kmsKeyArn: string };

/** Identity named, role and key in the target account: the same rules wherever a target account is configured. */
function targetAccountRules<T extends z.ZodType<TargetAccountShape>>(schema: T) {
  return schema
    .refine((target) => target.profile !== undefined || target.assumeRole !== undefined, {
      error: 'name the target account\'s identity: assumeRole: { roleArn: "arn:aws:iam::<target account>:role/…" } or profile: "<profile with credentials in the target account>"',
      path: ['assumeRole'],
    })
    .refine((target) => !target.assumeRole || target.assumeRole.roleArn.split(':')[4] === target.accountId, {
      error: 'the role is not in target.accountId: assume a role of the target account',
      path: ['assumeRole', 'roleArn'],
    })
    .refine((target) => target.kmsKeyArn.split(':')[4] === target.accountId, {
      error: 'the key is not in target.accountId: the restored database must be encrypted with a key the target account owns',
      path: ['kmsKeyArn'],
    });
}

export const shareSnapshotSchema = z
  .object({
    /**
     * Share this existing snapshot (DB snapshot of an instance source, cluster snapshot of a
     * cluster source) instead of taking a new one. @default - a new manual snapshot of `aws.source`
     */
    snapshotId: snapshotId.optional(),
    /** The share key (source account). @default - the snapshot-share stack's `snapshotShareKeyArn` output */
    shareKeyArn: keyArn.optional(),
    /** The copy under the share key (source account). @default - `<source>-share-<run id>` */
    shareCopyId: snapshotId.optional(),
    target: targetAccountRules(
      z
        .object({
          ...targetAccountFields,
          /** The restored database: an RDS instance or an Aurora cluster, matching the source's kind. */
          restore: z.union([z.object({ instanceId: identifier }).strict(), z.object({ clusterId: identifier, writerInstanceId: identifier.optional() }).strict()], {
            error: 'expected { instanceId: "orders" } (an RDS instance source) or { clusterId: "catalog" } (an Aurora cluster source)',
          }),
        })
        .strict(),
    ),
  })
  .strict();

/**
 * `aws.targetAccount`: the MySQL encrypt flow restores its target in another account. The clone
 * step takes the share path (the replica's snapshot copied under the share key, shared, copied in
 * the target account under `kmsKeyArn`, restored there as `aws.targetInstanceId`, unshared);
 * replication then runs over the network path the operator provides (VPC peering or Transit
 * Gateway), which the preflight checks.
 */
export const targetAccountSchema = targetAccountRules(
  z
    .object({
      ...targetAccountFields,
      /** The share key (source account). @default - the snapshot-share stack's `snapshotShareKeyArn` output */
      shareKeyArn: keyArn.optional(),
      /** The copy under the share key (source account). @default - `<target>-share-<run id>` */
      shareCopyId: snapshotId.optional(),
    })
    .strict(),
);

export type TargetAccountSettings = z.output<typeof targetAccountSchema>;

export type ShareSnapshotSettings = z.output<typeof shareSnapshotSchema>;
