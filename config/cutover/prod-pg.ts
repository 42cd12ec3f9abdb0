import type { CutoverEnvironmentInput } from './schema';

/**
 * Example PostgreSQL environment on AWS (seed 001): the unencrypted Aurora PostgreSQL 15
 * cluster `billing` moves onto the encrypted Aurora PostgreSQL 16 cluster the stacks create
 * (`billing-pg16`, config/infra/stg.ts: the example infrastructure for this seed), switched by
 * the Route 53 CNAME the stacks own. The target, the KMS key, the fence group and the DNS
 * record come from the stacks' outputs file. Replace the ids with yours.
 *
 * Why `stg` and not `prod` below: a cutover environment reads the stacks of the one
 * infrastructure environment that declares its target, and in these examples that is
 * config/infra/stg.ts (config/infra/prod.ts declares the MySQL target `orders-encrypted`, one
 * target per infrastructure environment). So account (222222222222), zone (stg.internal),
 * outputs file (outputs-stg.json) and infraEnvironment are all stg's, never a mix
 * (test/config/aws-examples-infra.test.ts). In your project, point each cutover environment at
 * the infrastructure environment that declares its target, whatever the two are called.
 *
 * Before the window (each needs a reboot of the source, so plan it):
 * - the source runs on a custom cluster parameter group (the freeze modifies
 *   default_transaction_read_only on it; a default group cannot be modified);
 * - for --method logical, rds.logical_replication = 1 on that group, applied (static).
 *
 *   npx zx scripts/cutover.mjs --env prod-pg --engine postgres --method logical --offline   # the full plan, no AWS access
 *   npx zx scripts/cutover.mjs --env prod-pg --engine postgres --method logical             # plan + read-only checks
 *   npx zx scripts/cutover.mjs --env prod-pg --engine postgres --method logical --execute   # run it
 */
const prodPg: CutoverEnvironmentInput = {
  name: 'prod-pg',
  platform: 'aws',
  postgres: {
    databases: ['billing'],
    appUsers: ['billing_app'],
    targetVersion: 16,
    lagThresholdMs: 1000,
    // On AWS the freeze is a parameter-group change RDS applies in seconds, not milliseconds:
    // the budget covers it (writes fail read-only meanwhile; there is no pooler to queue them).
    switchTimeoutMs: 120_000,
    catchUpTimeoutMs: 3_600_000,
    copyJobs: 4,
    copyTimeoutMs: 6 * 3_600_000,
  },
  aws: {
    region: 'eu-west-1',
    assumeRole: { roleArn: 'arn:aws:iam::222222222222:role/rds-cutover-operator' },
    infraEnvironment: 'stg',
    outputsFile: '.rds-cutover/outputs-stg.json',
    source: { clusterId: 'billing' },
    // curl -o .rds-cutover/rds-global-bundle.pem https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
    tlsCaFile: '.rds-cutover/rds-global-bundle.pem',
    // The source's master password; the target's is its RDS-managed secret (read with GetSecretValue).
    adminPassword: { env: 'BILLING_ADMIN_PASSWORD' },
    postgres: {
      appRolePasswords: { billing_app: { secretArn: 'arn:aws:secretsmanager:eu-west-1:222222222222:secret:rds-cutover/billing-app-AbCdEf' } },
    },
    ecsServices: [{ cluster: 'billing', service: 'billing-api' }],
    // Private subnets: SSM port forwarding to each writer endpoint.
    tunnels: {
      billing: '127.0.0.1:15432',
      'billing-pg16': '127.0.0.1:15433',
    },
  },
};

export default prodPg;
