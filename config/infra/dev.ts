/**
 * Example development environment: every stack, an RDS PostgreSQL 15 → 17 upgrade, local
 * state, and what `npm run plan -- --env dev` exercises offline. Deletion protection is off
 * so throwaway databases can be removed.
 */
import type { InfraEnvironmentInput } from './schema';

export const dev: InfraEnvironmentInput = {
  name: 'dev',
  tier: 'development',
  accountId: '333333333333',
  region: 'eu-west-1',
  defaultTags: { project: 'rds-cutover', environment: 'dev' },
  backend: { type: 'local' },
  keyAdministratorArns: ['arn:aws:iam::333333333333:role/rds-cutover-deployer'],
  network: {
    vpcId: 'vpc-0a1b2c3d4e5f60003',
    vpcCidr: '10.30.0.0/16',
    subnetIds: ['subnet-0a1b2c3d4e5f60051', 'subnet-0a1b2c3d4e5f60052'],
  },
  database: {
    identifier: 'catalog-pg17',
    engine: 'postgres',
    engineVersion: '17.2',
    parameterGroupFamily: 'postgres17',
    freezeParameterGroupFamily: 'postgres15',
    instanceClass: 'db.t4g.medium',
    allocatedStorageGb: 20,
    multiAz: false,
    deletionProtection: false,
    backupRetentionDays: 1,
  },
  dns: {
    recordName: 'catalog-db.dev.internal',
    zone: { privateZoneName: 'dev.internal' },
    currentEndpoint: 'catalog.abcdefghijkl.eu-west-1.rds.amazonaws.com',
  },
  proxy: {
    engineFamily: 'POSTGRESQL',
    secretArn: 'arn:aws:secretsmanager:eu-west-1:333333333333:secret:rds-cutover/catalog-proxy-StUvWx',
    initialTarget: { kind: 'instance', identifier: 'catalog' },
  },
  masking: {
    readerAccountIds: ['444444444444'],
    sourceVersion: 'refs/tags/v1.0.0',
    // The stack declares the S3 gateway endpoint and the interface endpoints the build uses.
    vpcEndpoints: { create: { routeTableIds: ['rtb-0a1b2c3d4e5f60061'] } },
    secretArns: ['arn:aws:secretsmanager:eu-west-1:333333333333:secret:rds-cutover/masking-hmac-key-YzAbCd', 'arn:aws:secretsmanager:eu-west-1:333333333333:secret:rds-cutover/masking-reader-YzAbCd'],
    dumpRetentionDays: 3,
  },
  snapshotShare: { targetAccountIds: ['444444444444'] },
};
