/**
 * Example staging environment: an Aurora PostgreSQL 15 cluster upgraded onto an encrypted
 * Aurora PostgreSQL 16 cluster (seed 001) behind an RDS Proxy (seed 002).
 */
import type { InfraEnvironmentInput } from './schema';

export const stg: InfraEnvironmentInput = {
  name: 'stg',
  tier: 'staging',
  accountId: '222222222222',
  region: 'eu-west-1',
  provider: {
    assumeRole: { roleArn: 'arn:aws:iam::222222222222:role/rds-cutover-deployer' },
  },
  defaultTags: { project: 'rds-cutover', environment: 'stg' },
  backend: {
    type: 's3',
    bucket: 'example-stg-terraform-state',
    keyPrefix: 'rds-cutover/stg',
    locking: { type: 'dynamodb', table: 'terraform-locks' },
  },
  keyAdministratorArns: ['arn:aws:iam::222222222222:role/rds-cutover-deployer'],
  network: {
    vpcId: 'vpc-0a1b2c3d4e5f60002',
    vpcCidr: '10.20.0.0/16',
    subnetIds: ['subnet-0a1b2c3d4e5f60031', 'subnet-0a1b2c3d4e5f60032'],
  },
  database: {
    identifier: 'billing-pg16',
    engine: 'aurora-postgresql',
    engineVersion: '16.4',
    parameterGroupFamily: 'aurora-postgresql16',
    freezeParameterGroupFamily: 'aurora-postgresql15',
    instanceClass: 'db.r6g.large',
    instanceCount: 2,
    deletionProtection: true,
    clientSecurityGroupIds: ['sg-0a1b2c3d4e5f60041'],
  },
  dns: {
    recordName: 'billing-db.stg.internal',
    zone: { privateZoneName: 'stg.internal' },
    currentEndpoint: 'billing.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com',
    ttlSeconds: 15,
  },
  proxy: {
    engineFamily: 'POSTGRESQL',
    secretArn: 'arn:aws:secretsmanager:eu-west-1:222222222222:secret:rds-cutover/billing-proxy-MnOpQr',
    initialTarget: { kind: 'cluster', identifier: 'billing' },
    clientSecurityGroupIds: ['sg-0a1b2c3d4e5f60041'],
  },
};
