/**
 * Example production environment: an unencrypted RDS MySQL 8.0 source moved onto an
 * encrypted instance (seed 000), switched by DNS, with masked dumps for staging (seed 003)
 * and a snapshot-share key for the staging account (seed 004). Replace the ids with yours.
 */
import type { InfraEnvironmentInput } from './schema';

export const prod: InfraEnvironmentInput = {
  name: 'prod',
  tier: 'production',
  accountId: '111111111111',
  region: 'eu-west-1',
  provider: {
    assumeRole: { roleArn: 'arn:aws:iam::111111111111:role/rds-cutover-deployer' },
  },
  defaultTags: { project: 'rds-cutover', environment: 'prod' },
  backend: {
    type: 's3',
    bucket: 'example-prod-terraform-state',
    keyPrefix: 'rds-cutover/prod',
    locking: { type: 'lockfile' },
  },
  keyAdministratorArns: ['arn:aws:iam::111111111111:role/rds-cutover-deployer', 'arn:aws:iam::111111111111:role/Admin'],
  network: {
    vpcId: 'vpc-0a1b2c3d4e5f60001',
    vpcCidr: '10.10.0.0/16',
    subnetIds: ['subnet-0a1b2c3d4e5f60011', 'subnet-0a1b2c3d4e5f60012', 'subnet-0a1b2c3d4e5f60013'],
  },
  database: {
    identifier: 'orders-encrypted',
    engine: 'mysql',
    engineVersion: '8.0.39',
    parameterGroupFamily: 'mysql8.0',
    instanceClass: 'db.r6g.large',
    allocatedStorageGb: 200,
    restoreFromSnapshotId: 'orders-cutover-seed',
    // The cutover run restores orders-encrypted from its encrypted copy with the settings this stack
    // declares (output databaseRestoreSettings). After the run set "done" and deploy: the stack
    // imports the instance (docs/DEPLOY.md, step 6).
    restoredByCutover: 'pending',
    clientSecurityGroupIds: ['sg-0a1b2c3d4e5f60021'],
  },
  dns: {
    recordName: 'orders-db.prod.internal.example.com',
    zone: { existingZoneId: 'Z0123456789PRODZONE01' },
    currentEndpoint: 'orders.abcdefghijkl.eu-west-1.rds.amazonaws.com',
  },
  masking: {
    readerAccountIds: ['222222222222'],
    sourceVersion: 'refs/tags/v1.0.0',
    // The production VPC already has the endpoints (shared with the applications).
    vpcEndpoints: { existing: { securityGroupId: 'sg-0a1b2c3d4e5f60071', s3PrefixListId: 'pl-6da54004' } },
    secretArns: [
      'arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds-cutover/masking-hmac-key-AbCdEf',
      'arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds-cutover/masking-reader-AbCdEf',
      'arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds-cutover/masking-staging-AbCdEf',
    ],
  },
  snapshotShare: { targetAccountIds: ['222222222222'] },
};
