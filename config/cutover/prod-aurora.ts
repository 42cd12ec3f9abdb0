import type { CutoverEnvironmentInput } from './schema';

/**
 * Example MySQL-family environment with an Aurora MySQL 3 source (seed 000, Aurora variant):
 * the unencrypted cluster `catalog` moves onto a new encrypted cluster, `catalog-encrypted`,
 * restored from its cluster snapshot with the stacks' KMS key and switched by a Route 53 CNAME.
 * No temporary replica: the restored cluster reports the binlog position it ends at
 * ("Binlog position from crash recovery is …"), where replication from `catalog` starts.
 * The KMS key and the fence group come from the prod stacks' outputs; the CNAME is named here.
 * Replace the ids with yours.
 *
 * Before the window (a reboot of the source's writer, so plan it):
 * - `catalog` runs on a custom cluster parameter group with binlog_format=ROW, applied;
 * - CALL mysql.rds_set_configuration('binlog retention hours', 24) on the writer.
 *
 *   npx zx scripts/cutover.mjs --env prod-aurora --offline     # the full plan, no AWS access needed
 *   npx zx scripts/cutover.mjs --env prod-aurora               # plan + read-only checks against AWS
 *   npx zx scripts/cutover.mjs --env prod-aurora --execute     # run it
 */
const prodAurora: CutoverEnvironmentInput = {
  name: 'prod-aurora',
  platform: 'aws',
  mysql: {
    databases: ['catalog'],
    appUsers: ['catalog_app'],
    lagThresholdMs: 1000,
    switchTimeoutMs: 10000,
    catchUpTimeoutMs: 3_600_000,
    // Covers the snapshot, the restore, the writer's creation and the catch-up.
    minBinlogRetentionHours: 24,
  },
  aws: {
    region: 'eu-west-1',
    assumeRole: { roleArn: 'arn:aws:iam::111111111111:role/rds-cutover-operator' },
    infraEnvironment: 'prod',
    outputsFile: '.rds-cutover/outputs-prod.json',
    source: { clusterId: 'catalog' },
    targetClusterId: 'catalog-encrypted',
    targetWriterInstanceId: 'catalog-encrypted-writer',
    dns: { zoneId: 'Z0123456789PRODZONE01', recordName: 'catalog-db.prod.internal.example.com', ttlSeconds: 15 },
    // curl -o .rds-cutover/rds-global-bundle.pem https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
    tlsCaFile: '.rds-cutover/rds-global-bundle.pem',
    // The source cluster's master password (the restored cluster keeps it).
    adminPassword: { env: 'PROD_CATALOG_ADMIN_PASSWORD' },
    ecsServices: [{ cluster: 'catalog', service: 'catalog-api' }],
    // Private subnets: SSM port forwarding to each cluster's writer endpoint.
    tunnels: {
      catalog: '127.0.0.1:13316',
      'catalog-encrypted': '127.0.0.1:13317',
    },
  },
};

export default prodAurora;
