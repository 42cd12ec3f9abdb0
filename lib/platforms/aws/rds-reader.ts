import {
  DescribeDBClusterParametersCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBParametersCommand,
  type DBCluster,
  type DBInstance,
  type DescribeDBClustersCommandOutput,
  type DescribeDBInstancesCommandOutput,
  type DescribeDBParametersCommandOutput,
  type Parameter,
} from '@aws-sdk/client-rds';
import type { AwsGateway } from './gateway';
import type { DatabaseRef } from './settings';

export function isNotFound(error: unknown): boolean {
  return /NotFound/.test((error as { name?: string }).name ?? '');
}

/**
 * DescribeDBInstances / DescribeDBClusters through the gateway, remembered per id until asked
 * for a fresh look. Undefined when the resource does not exist, or offline (where each read is
 * listed once).
 */
export class RdsReader {
  private readonly instances = new Map<string, DBInstance>();
  private readonly clusters = new Map<string, DBCluster>();

  constructor(private readonly aws: AwsGateway) {}

  async instance(id: string, options: { fresh?: boolean } = {}): Promise<DBInstance | undefined> {
    return this.cached(this.instances, id, options, async () => {
      const output = await this.aws.read<DescribeDBInstancesCommandOutput>('rds', new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
      return output?.DBInstances?.[0];
    });
  }

  async cluster(id: string, options: { fresh?: boolean } = {}): Promise<DBCluster | undefined> {
    return this.cached(this.clusters, id, options, async () => {
      const output = await this.aws.read<DescribeDBClustersCommandOutput>('rds', new DescribeDBClustersCommand({ DBClusterIdentifier: id }));
      return output?.DBClusters?.[0];
    });
  }

  /** What was read last, without a call. */
  known(ref: DatabaseRef): DBInstance | DBCluster | undefined {
    return ref.kind === 'instance' ? this.instances.get(ref.id) : this.clusters.get(ref.id);
  }

  forget(id: string): void {
    this.instances.delete(id);
    this.clusters.delete(id);
  }

  private async cached<T>(cache: Map<string, T>, id: string, options: { fresh?: boolean }, read: () => Promise<T | undefined>): Promise<T | undefined> {
    if (!options.fresh && cache.has(id)) return cache.get(id);
    try {
      const found = await read();
      if (found || !this.aws.canRead) cache.set(id, found as T);
      return found;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}

/**
 * The user-set parameters of a DB parameter group (instance) or DB cluster parameter group
 * (cluster), page by page (DescribeDB(Cluster)Parameters returns 100 at most). Undefined offline.
 */
export async function groupParameters(aws: AwsGateway, ref: DatabaseRef, group: string): Promise<Parameter[] | undefined> {
  const all: Parameter[] = [];
  let marker: string | undefined;
  do {
    const input = { ...(ref.kind === 'instance' ? { DBParameterGroupName: group } : { DBClusterParameterGroupName: group }), Source: 'user', ...(marker ? { Marker: marker } : {}) };
    const output = await aws.read<DescribeDBParametersCommandOutput>('rds', ref.kind === 'instance' ? new DescribeDBParametersCommand(input as never) : new DescribeDBClusterParametersCommand(input as never));
    if (!output) return undefined;
    all.push(...(output.Parameters ?? []));
    marker = output.Marker;
  } while (marker);
  return all;
}
