import { join } from 'node:path';
import type { DBCluster } from '@aws-sdk/client-rds';

export const PG_OUTPUTS_FIXTURE = join(__dirname, 'fixtures', 'outputs-stg.json');
export const PG_KMS_KEY = 'arn:aws:kms:eu-west-1:222222222222:key/3e4f5061-7283-94a5-b6c7-d8e9f0a1b2c3';
export const PG_FENCE_SG = 'sg-0e2d1c0b0a0908172';

/** The unencrypted Aurora PostgreSQL 15 source as DescribeDBClusters returns it. */
export const PG_SOURCE: DBCluster = {
  DBClusterIdentifier: 'billing',
  Status: 'available',
  Engine: 'aurora-postgresql',
  EngineVersion: '15.7',
  Endpoint: 'billing.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com',
  Port: 5432,
  MasterUsername: 'postgres',
  DBClusterParameterGroup: 'billing-pg15-custom',
  StorageEncrypted: false,
  VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0a1b2c3d4e5f60041', Status: 'active' }],
  DBClusterMembers: [{ DBInstanceIdentifier: 'billing-1', IsClusterWriter: true, DBClusterParameterGroupStatus: 'in-sync' }],
};

/** The stacks' encrypted Aurora PostgreSQL 16 target. */
export const PG_TARGET: DBCluster = {
  DBClusterIdentifier: 'billing-pg16',
  Status: 'available',
  Engine: 'aurora-postgresql',
  EngineVersion: '16.4',
  Endpoint: 'billing-pg16.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com',
  Port: 5432,
  MasterUsername: 'cutover_admin',
  DBClusterParameterGroup: 'billing-pg16-aurora-postgresql16',
  StorageEncrypted: true,
  KmsKeyId: PG_KMS_KEY,
  MasterUserSecret: { SecretArn: 'arn:aws:secretsmanager:eu-west-1:222222222222:secret:rds!cluster-0123-AbCdEf', SecretStatus: 'active' },
  VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0a1b2c3d4e5f60051', Status: 'active' }],
};
