import { z } from 'zod';
import { shareSnapshotSchema, targetAccountSchema } from './share-snapshot';

/**
 * AWS platform settings of a cutover environment (`platform: 'aws'`). Values the stacks own
 * (KMS key, fence security group, DNS record) default to the stacks' outputs file, so an
 * environment only names what the stacks do not know: the source, the passwords' whereabouts,
 * the services to recycle and, for private subnets, the tunnels to reach the databases through.
 */
const instanceId = z
  .string({ error: 'expected an RDS instance identifier such as "orders"' })
  .regex(/^[a-z](?!.*--)[a-z0-9-]{0,61}[a-z0-9]$/, { error: 'expected an RDS identifier: lower-case letters, digits and single hyphens, starting with a letter, at most 63 characters' });

const secretArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$/, { error: 'expected a Secrets Manager secret ARN such as "arn:aws:secretsmanager:eu-west-1:123456789012:secret:name-AbCdEf"' });

/** Where the administrator password comes from. Never the config file itself. */
export const passwordSourceSchema = z.union(
  [
    z.object({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { error: 'expected an environment variable name such as "PROD_DB_ADMIN_PASSWORD"' }) }).strict(),
    z.object({ secretArn }).strict(),
  ],
  { error: 'expected { env: "VARIABLE_NAME" } or { secretArn: "arn:aws:secretsmanager:…" } (a password never goes into the config file)' },
);

/** An RDS instance or an Aurora cluster, by identifier. */
export const databaseRefSchema = z.union(
  [z.object({ instanceId }).strict(), z.object({ clusterId: instanceId }).strict()],
  { error: 'expected { instanceId: "orders" } (an RDS instance) or { clusterId: "billing" } (an Aurora cluster)' },
);
const databaseRef = databaseRefSchema;

const roleName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'expected a PostgreSQL role name (lower-case letters, digits, underscores)' });

const hostPort = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, { error: 'expected "host:port" of a tunnel, e.g. "127.0.0.1:13306"' });

export const awsSettingsSchema = z
  .object({
    region: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, { error: 'expected an AWS region such as "eu-west-1"' }),
    /** Named profile of the shared config/credentials files. @default - the SDK's standard credential chain */
    profile: z.string().min(1).optional(),
    /** Role to assume on top of the base credentials. @default - use the base credentials as they are */
    assumeRole: z
      .object({
        roleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, { error: 'expected an IAM role ARN such as "arn:aws:iam::123456789012:role/rds-cutover"' }),
        externalId: z.string().min(2).max(1224).optional(),
        /** @default 'rds-cutover' */
        sessionName: z.string().regex(/^[\w+=,.@-]{2,64}$/).default('rds-cutover'),
      })
      .strict()
      .optional(),
    /**
     * The database that moves: an RDS instance, or an Aurora cluster (Aurora MySQL 3 for the
     * MySQL flow, Aurora PostgreSQL for the PostgreSQL flow).
     */
    source: databaseRef,
    /** Temporary read replica. @default - `<source>-cutover-replica` */
    replicaInstanceId: instanceId.optional(),
    /** The new (encrypted) instance. @default - the stacks' `databaseIdentifier` output, else `<source>-encrypted` */
    targetInstanceId: instanceId.optional(),
    /** Aurora MySQL source: the new (encrypted) cluster. @default - `<source cluster>-encrypted` */
    targetClusterId: instanceId.optional(),
    /** Aurora MySQL source: the new cluster's writer instance. @default - `<target cluster>-writer` */
    targetWriterInstanceId: instanceId.optional(),
    /** Encrypted copy of the replica's snapshot the target is restored from. @default - `<target>-seed` */
    encryptedSnapshotId: z.string().regex(/^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,254}$/, { error: 'expected a snapshot identifier: letters, digits, single hyphens, starting with a letter' }).optional(),
    /** KMS key for the encrypted copy. @default - the stacks' `storageKeyArn` output */
    kmsKeyId: z.string().min(1).optional(),
    /** The application's DNS name (CNAME) the switch moves. @default - the stacks' `dns*` outputs */
    dns: z
      .object({
        zoneId: z.string().regex(/^Z[0-9A-Z]{4,31}$/, { error: 'expected a Route 53 hosted zone id such as "Z0123456789ABC"' }),
        recordName: z.string().min(3),
        /** @default 15 */
        ttlSeconds: z.number().int().min(0).max(86400).default(15),
      })
      .strict()
      .optional(),
    /**
     * What the switch moves: `dns` (the Route 53 CNAME, then INSYNC) or `proxy` (the stacks' RDS
     * Proxy: DeregisterDBProxyTargets of the source + RegisterDBProxyTargets of the target, then
     * `SELECT @@hostname` through the proxy until the target answers). RDS MySQL instance flow only.
     * @default 'dns'
     */
    switchPoint: z.enum(['dns', 'proxy'], { error: 'expected "dns" (Route 53 record) or "proxy" (RDS Proxy)' }).default('dns'),
    /**
     * The way back (issue 12; RDS MySQL instances, Aurora MySQL 3 clusters, RDS/Aurora PostgreSQL):
     * at the switch, before traffic opens on the target, the old source starts replicating from the
     * target (`mysql.rds_set_external_master` — Aurora: `rds_set_external_source` — on the old
     * source, with a `<replicationUser>_back` account), so that `switch-back RUN_ID`
     * can move traffic back with the same guarantees, until `complete RUN_ID`. Needs the fence to
     * allow egress to the database port (the stacks' fence does) and the target's security groups
     * to admit the fence group on that port. @default false - a one-way switch
     */
    reverseReplication: z.boolean().default(false),
    /**
     * The RDS Proxy the `proxy` switch point drives. Its endpoint is reached like an instance:
     * through `tunnels[name]` when set. The scripts log in through it as the master user, so the
     * proxy's secret must hold the master user's credentials (or add the master user's secret to
     * the proxy's auth). @default - the stacks' `proxyName`, `proxyTargetGroupName`, `proxyEndpoint` outputs
     */
    proxy: z
      .object({
        name: z.string().regex(/^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}$/, { error: 'expected an RDS Proxy name: letters, digits and single hyphens, starting with a letter' }),
        /** @default 'default' */
        targetGroupName: z.string().min(1).default('default'),
        endpoint: z.string().min(3),
        /** @default 3306 */
        port: z.number().int().min(1).max(65535).default(3306),
      })
      .strict()
      .optional(),
    /** Deny-all security group the old source is fenced with. @default - the stacks' `fenceSecurityGroupId` output */
    fenceSecurityGroupId: z.string().regex(/^sg-[0-9a-f]{8,17}$/, { error: 'expected a security group id such as "sg-0abc1234def567890"' }).optional(),
    /** ECS services whose tasks are replaced after the switch (drops pooled connections to the old source). @default - none */
    ecsServices: z.array(z.object({ cluster: z.string().min(1), service: z.string().min(1) }).strict()).default([]),
    /**
     * Instance id → "host:port" of a tunnel (SSM port forwarding, bastion) the scripts connect
     * through instead of the instance's endpoint. Replication between the instances always uses
     * the VPC endpoints. @default - connect to the endpoints directly
     */
    tunnels: z.record(z.string(), hostPort).default({}),
    /**
     * PEM bundle the administrator connections verify the databases' certificates with: the RDS
     * global bundle, downloaded once by the operator
     * (`curl -o global-bundle.pem https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem`).
     * Connections always require TLS and verify the certificate.
     * @default - Node's built-in CAs plus NODE_EXTRA_CA_CERTS (pg_dump/pg_restore: the system bundle),
     *   which do not hold the RDS CAs: set this (or NODE_EXTRA_CA_CERTS) before --execute
     */
    tlsCaFile: z.string().min(1).optional(),
    /** The master user's password (the replica and the restored target share it). */
    adminPassword: passwordSourceSchema,
    /**
     * Host part of the replication account (`user@host`): the VPC range, in MySQL's
     * `address/netmask` form. @default - derived from config/infra/<env>.ts network.vpcCidr
     */
    replicationAccountHost: z.string().regex(/^[0-9.%/]+$/, { error: 'expected a MySQL host pattern such as "10.10.0.0/255.255.0.0" or "10.10.%"' }).optional(),
    /** @default '.rds-cutover/outputs-<infraEnvironment>.json' (written by `npx cdktf output … --outputs-file`) */
    outputsFile: z.string().min(1).optional(),
    /** Name of the infrastructure environment in config/infra/. @default - the cutover environment's name */
    infraEnvironment: z.string().min(1).optional(),
    /** Allow a source that is already encrypted (re-key onto the stacks' key). @default false */
    allowEncryptedSource: z.boolean().default(false),
    /**
     * Tags added to everything the run creates (besides `rds-cutover:run-id`), for an environment
     * without config/infra/<infraEnvironment>.ts only: with one, the run uses its `defaultTags` (the
     * stacks' tags; giving both is refused). @default - the infra environment's tags, else none
     */
    tags: z.record(z.string(), z.string()).default({}),
    /** The PostgreSQL flow on AWS (`--engine postgres`). */
    postgres: z
      .object({
        /** The new, encrypted database the stacks created. @default - the stacks' `databaseKind` / `databaseIdentifier` outputs */
        target: databaseRef.optional(),
        /**
         * Password of each application role, created on the target with it (RDS does not let
         * anyone read the source's password hashes). Every role of postgres.appUsers needs one.
         */
        appRolePasswords: z.record(roleName, passwordSourceSchema).default({}),
        /** The target's master password. @default - the target's RDS-managed secret (MasterUserSecret), read with GetSecretValue */
        targetAdminPassword: passwordSourceSchema.optional(),
      })
      .strict()
      .optional(),
    /** Seed 004, `--flow share-snapshot`: copy a snapshot of `source` into another account and restore it there. */
    shareSnapshot: shareSnapshotSchema.optional(),
    /**
     * The MySQL encrypt flow (RDS instance source) restores its target in this other account,
     * through the share path, and replicates across the operator's VPC peering or Transit Gateway.
     * @default - the target is restored in the source's account
     */
    targetAccount: targetAccountSchema.optional(),
    /** How long to wait for AWS. Waiter timeouts name the resource and the time waited. */
    waits: z
      .object({
        /** Instance creation/restore/deletion. @default 7200 */
        instanceSeconds: z.number().positive().default(7200),
        /** Snapshot and encrypted copy. @default 14400 */
        snapshotSeconds: z.number().positive().default(14400),
        /** Route 53 change INSYNC. @default 600 */
        dnsSeconds: z.number().positive().default(600),
        /** ECS services stable after the recycle. @default 1800 */
        servicesSeconds: z.number().positive().default(1800),
        /** First poll interval (the SDK backs off from it). @default 15 */
        pollSeconds: z.number().positive().default(15),
        /** PostgreSQL freeze: a parameter-group change reaching the server (counts against --switch-timeout too). @default 120 */
        freezeSeconds: z.number().positive().default(120),
        /**
         * Aurora MySQL: the restored cluster's "Binlog position from crash recovery" event
         * appearing in DescribeEvents after its writer is available. @default 900
         */
        coordinatesSeconds: z.number().positive().default(900),
      })
      .strict()
      .default({ instanceSeconds: 7200, snapshotSeconds: 14400, dnsSeconds: 600, servicesSeconds: 1800, pollSeconds: 15, freezeSeconds: 120, coordinatesSeconds: 900 }),
  })
  .strict()
  .superRefine((aws, context) => {
    // A KMS key or a secret is used in one region: RDS copies with a key of the copy's region
    // (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_CopySnapshot.html) and
    // GetSecretValue reads from the client's region. An ARN of another region is a typo in one
    // of the two, and a well-formed typo in aws.region (eu-wset-1) is otherwise only found by the
    // first AWS call, as an endpoint that does not resolve.
    const regionOf = (arn: string) => arn.split(':')[3];
    const check = (path: (string | number)[], arn: string | undefined, what: 'key' | 'secret', region: string, regionName: string, regionFrom?: string) => {
      if (!arn?.startsWith('arn:') || regionOf(arn) === region) return;
      context.addIssue({ code: 'custom', path, input: arn, message: `the ${what} is in ${regionOf(arn)}, not in ${regionName} "${region}"${regionFrom ? ` (${regionFrom})` : ''}: fix the region (a typo?) or name a ${what} of that region` });
    };
    const passwordSources: Array<[(string | number)[], { secretArn?: string } | { env: string } | undefined]> = [
      [['adminPassword'], aws.adminPassword],
      [['postgres', 'targetAdminPassword'], aws.postgres?.targetAdminPassword],
      ...Object.entries(aws.postgres?.appRolePasswords ?? {}).map(([role, source]): [(string | number)[], typeof source] => [['postgres', 'appRolePasswords', role], source]),
    ];
    for (const [path, source] of passwordSources) if (source && 'secretArn' in source) check([...path, 'secretArn'], source.secretArn, 'secret', aws.region, 'aws.region');
    check(['kmsKeyId'], aws.kmsKeyId, 'key', aws.region, 'aws.region');
    const share = aws.shareSnapshot;
    if (share) {
      check(['shareSnapshot', 'shareKeyArn'], share.shareKeyArn, 'key', aws.region, 'aws.region');
      check(['shareSnapshot', 'target', 'kmsKeyArn'], share.target.kmsKeyArn, 'key', share.target.region ?? aws.region, "the target's region", 'aws.shareSnapshot.target.region, else aws.region');
    }
    const target = aws.targetAccount;
    if (target) {
      check(['targetAccount', 'shareKeyArn'], target.shareKeyArn, 'key', aws.region, 'aws.region');
      check(['targetAccount', 'kmsKeyArn'], target.kmsKeyArn, 'key', target.region ?? aws.region, "the target's region", 'aws.targetAccount.region, else aws.region');
    }
  });

export type AwsSettings = z.output<typeof awsSettingsSchema>;
export type AwsSettingsInput = z.input<typeof awsSettingsSchema>;
