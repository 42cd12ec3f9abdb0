import type { CutoverEnvironmentInput } from './schema';

/**
 * Example production environment (seed 000): the unencrypted RDS MySQL 8.0 instance `orders`
 * moves onto an encrypted copy, `orders-encrypted`, switched by the Route 53 CNAME the stacks
 * own. The KMS key, the fence security group and the DNS record come from the stacks' outputs
 * (`.rds-cutover/outputs-prod.json`, see stacks/README.md); the names here match
 * config/infra/prod.ts. Replace the ids with yours.
 *
 *   npx zx scripts/cutover.mjs --env prod --offline     # the full plan, no AWS access needed
 *   npx zx scripts/cutover.mjs --env prod               # plan + read-only checks against AWS
 *   npx zx scripts/cutover.mjs --env prod --execute     # run it
 */
const prod: CutoverEnvironmentInput = {
  name: 'prod',
  platform: 'aws',
  mysql: {
    databases: ['orders'],
    appUsers: ['orders_app'],
    lagThresholdMs: 1000,
    switchTimeoutMs: 10000,
    catchUpTimeoutMs: 3_600_000,
    minBinlogRetentionHours: 24,
  },
  aws: {
    region: 'eu-west-1',
    assumeRole: { roleArn: 'arn:aws:iam::111111111111:role/rds-cutover-operator' },
    source: { instanceId: 'orders' },
    targetInstanceId: 'orders-encrypted',
    // config/infra/prod.ts database.restoreFromSnapshotId names this copy, so a later
    // `cdktf deploy` describes the instance this run restores.
    encryptedSnapshotId: 'orders-cutover-seed',
    // The scripts' connections to the databases require TLS and verify the certificate against
    // the RDS global bundle, downloaded once (the operator's step):
    //   curl -o .rds-cutover/rds-global-bundle.pem https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
    tlsCaFile: '.rds-cutover/rds-global-bundle.pem',
    // The master user's password (also the replica's and the restored target's).
    adminPassword: { env: 'PROD_ORDERS_ADMIN_PASSWORD' },
    ecsServices: [
      { cluster: 'orders', service: 'orders-api' },
      { cluster: 'orders', service: 'orders-worker' },
    ],
    // The instances sit in private subnets: SSM port forwarding to each endpoint, e.g.
    // aws ssm start-session --target i-0bastion --document-name AWS-StartPortForwardingSessionToRemoteHost \
    //   --parameters host=orders.abcdefghijkl.eu-west-1.rds.amazonaws.com,portNumber=3306,localPortNumber=13306
    tunnels: {
      orders: '127.0.0.1:13306',
      'orders-cutover-replica': '127.0.0.1:13307',
      'orders-encrypted': '127.0.0.1:13308',
    },
  },
};

export default prod;
