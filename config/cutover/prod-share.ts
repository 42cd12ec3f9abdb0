import type { CutoverEnvironmentInput } from './schema';

/**
 * Example cross-account snapshot share (seed 004, `--flow share-snapshot`): a snapshot of the
 * production instance `orders` (account 111111111111) is copied under the snapshot-share
 * stack's key, shared with the staging account 222222222222, copied there under staging's own
 * key and restored as `orders` in staging's VPC, then unshared. Replace the ids with yours.
 *
 *   npx zx scripts/cutover.mjs --env prod-share --flow share-snapshot --offline    # the plan, no AWS access
 *   npx zx scripts/cutover.mjs --env prod-share --flow share-snapshot              # plan + read-only checks in both accounts
 *   npx zx scripts/cutover.mjs --env prod-share --flow share-snapshot --execute [--cleanup]
 */
const prodShare: CutoverEnvironmentInput = {
  name: 'prod-share',
  platform: 'aws',
  aws: {
    region: 'eu-west-1',
    // Source account: the operator role in production.
    assumeRole: { roleArn: 'arn:aws:iam::111111111111:role/rds-cutover-operator' },
    source: { instanceId: 'orders' },
    adminPassword: { env: 'PROD_ORDERS_ADMIN_PASSWORD' }, // not used by this flow (no SQL)
    // curl -o .rds-cutover/rds-global-bundle.pem https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
    tlsCaFile: '.rds-cutover/rds-global-bundle.pem',
    infraEnvironment: 'prod',
    shareSnapshot: {
      // The snapshot-share stack's output snapshotShareKeyArn (config/infra/prod.ts snapshotShare).
      shareKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f1',
      target: {
        accountId: '222222222222',
        // A role in staging that trusts the operator's base credentials.
        assumeRole: { roleArn: 'arn:aws:iam::222222222222:role/rds-cutover-target' },
        kmsKeyArn: 'arn:aws:kms:eu-west-1:222222222222:key/1c2d3e4f-5061-7283-94a5-b6c7d8e9f0a1',
        restore: { instanceId: 'orders' },
        dbSubnetGroupName: 'staging-private',
        vpcSecurityGroupIds: ['sg-0b1c2d3e4f5a60021'],
        // A group with require_secure_transport=1 (TLS required).
        parameterGroupName: 'orders-staging-tls',
        instanceClass: 'db.r6g.large',
      },
    },
  },
};

export default prodShare;
