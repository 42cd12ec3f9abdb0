import { DeleteDBClusterCommand, DeleteDBInstanceCommand, ModifyDBClusterCommand, ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import type { Facts, StepContext } from '../../runbook/step';
import type { AwsGateway } from './gateway';
import type { RdsReader } from './rds-reader';
import type { AwsCommonSettings, DatabaseRef } from './settings';
import { runScopedId } from './run-tags';

/**
 * What the way back does to the old source on AWS, the same for both engines (RDS MySQL, Aurora
 * MySQL, RDS/Aurora PostgreSQL): lift the fence before a switch back, and `complete
 * --delete-old`'s delete of an Aurora cluster.
 */

/**
 * Put the old source's own security groups back (the forward run journaled them as
 * `sourcePreviousSecurityGroupIds`), idempotently: only while it carries just the fence.
 * `frozenBy`: how the old source stays closed to the application meanwhile (the log line says it).
 */
export async function unfenceOldSource(
  aws: AwsGateway,
  rds: RdsReader,
  settings: Pick<AwsCommonSettings, 'fenceSecurityGroupId' | 'aws'>,
  input: { ref: DatabaseRef; previous: string[] | undefined; context: StepContext; frozenBy: string },
): Promise<void> {
  const { ref, context } = input;
  const fence = settings.fenceSecurityGroupId;
  const groups = async () => ((ref.kind === 'instance' ? await rds.instance(ref.id, { fresh: true }) : await rds.cluster(ref.id, { fresh: true }))?.VpcSecurityGroups ?? []);
  const now = await groups();
  const fenced = now.length === 1 && now[0].VpcSecurityGroupId === fence;
  if (!fenced && !aws.planning) return;
  const planned = input.previous ?? (aws.planning ? ['<sourcePreviousSecurityGroupIds of the forward run>'] : undefined);
  if (!planned || planned.length === 0) {
    throw new Error(`The old source ${ref.id} is fenced (${fence}) and the forward run journaled no previous security groups: put its groups back by hand (${ref.kind === 'instance' ? 'ModifyDBInstance' : 'ModifyDBCluster'} VpcSecurityGroupIds …), then run switch-back again`);
  }
  const modify = { VpcSecurityGroupIds: planned, ApplyImmediately: true };
  await aws.write('rds', ref.kind === 'instance' ? new ModifyDBInstanceCommand({ DBInstanceIdentifier: ref.id, ...modify }) : new ModifyDBClusterCommand({ DBClusterIdentifier: ref.id, ...modify }));
  const describe = ref.kind === 'instance' ? { command: 'DescribeDBInstances', input: { DBInstanceIdentifier: ref.id } } : { command: 'DescribeDBClusters', input: { DBClusterIdentifier: ref.id } };
  await aws.poll({ service: 'rds', ...describe, resource: `security groups of ${ref.id}`, state: `${planned.join(', ')} active`, timeoutSeconds: settings.aws.waits.instanceSeconds }, async () => {
    const current = await groups();
    const done = current.length === planned.length && current.every((g) => planned.includes(g.VpcSecurityGroupId!) && g.Status === 'active');
    return done ? { done: true } : { done: false, progress: current.map((g) => `${g.VpcSecurityGroupId} ${g.Status}`).join(', ') };
  });
  await context.record({ sourceUnfencedTo: planned });
  context.log.info(`lifted the fence from ${ref.id}: security groups ${planned.join(', ')} (${input.frozenBy})`);
}

/**
 * `complete --delete-old` of an Aurora cluster source. Aurora deletes no cluster in one call:
 * DeleteDBCluster is refused while the cluster has an instance that is not `deleting`
 * (InvalidDBClusterStateFault), so its instances go first — readers, then the writer, so that
 * no reader is promoted on the way — and then the cluster, with its final cluster snapshot
 * (the instances of a cluster take none of their own). Every refusal (the record not on the
 * target, deletion protection, a stopped cluster) comes before the first instance is deleted:
 * deleting instances under a protected cluster would leave it without a server for nothing.
 * Idempotent for --resume: gone or `deleting` instances and a `deleting` cluster are skipped.
 * https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_DeleteCluster.html
 * https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBCluster.html
 */
export async function deleteOldSourceCluster(
  aws: AwsGateway,
  rds: RdsReader,
  settings: Pick<AwsCommonSettings, 'dns' | 'aws'>,
  input: { id: string; context: StepContext; recordOnTarget: () => Promise<boolean> },
): Promise<Facts> {
  const { id, context } = input;
  const found = await rds.cluster(id, { fresh: true });
  if (!found && !aws.planning) return { sourceDeleted: true, sourceAlreadyGone: true };
  if (!(await input.recordOnTarget())) throw new Error(`refusing to delete the old source ${id}: the Route 53 record ${settings.dns.recordName} does not point at the target`);
  if (found?.DeletionProtection) throw new Error(`refusing to delete the old source ${id}: deletion protection is on for the cluster (ModifyDBCluster --no-deletion-protection first, on purpose), then --resume; no instance was deleted`);
  if (found?.Status === 'stopped') throw new Error(`refusing to delete the old source ${id}: the cluster is stopped and AWS deletes no stopped cluster (StartDBCluster first), then --resume; no instance was deleted`);
  const finalSnapshot = runScopedId(`${id}-final`, context.runId);
  const members = found?.DBClusterMembers ?? [{ DBInstanceIdentifier: `<${id} instances>`, IsClusterWriter: true }];
  const ordered = [...members.filter((m) => !m.IsClusterWriter), ...members.filter((m) => m.IsClusterWriter)].map((m) => m.DBInstanceIdentifier!);
  for (const instanceId of ordered) {
    const instance = await rds.instance(instanceId, { fresh: true });
    if ((!instance && !aws.planning) || instance?.DBInstanceStatus === 'deleting') continue;
    await context.checkpoint?.(`DeleteDBInstance ${instanceId}`);
    await aws.write('rds', new DeleteDBInstanceCommand({ DBInstanceIdentifier: instanceId }));
  }
  if (ordered.length > 0) {
    await aws.poll({ service: 'rds', command: 'DescribeDBInstances', input: { Filters: [{ Name: 'db-cluster-id', Values: [id] }] }, resource: `the instances of ${id}`, state: 'deleting or gone', timeoutSeconds: settings.aws.waits.instanceSeconds }, async () => {
      const left = await Promise.all(ordered.map(async (instanceId) => ({ id: instanceId, status: (await rds.instance(instanceId, { fresh: true }))?.DBInstanceStatus })));
      const waiting = left.filter((i) => i.status !== undefined && i.status !== 'deleting');
      return waiting.length === 0 ? { done: true } : { done: false, progress: waiting.map((i) => `${i.id} ${i.status}`).join(', ') };
    });
  }
  if (found?.Status !== 'deleting') {
    await context.checkpoint?.(`DeleteDBCluster ${id}`);
    await aws.write('rds', new DeleteDBClusterCommand({ DBClusterIdentifier: id, SkipFinalSnapshot: false, FinalDBSnapshotIdentifier: finalSnapshot }));
  }
  return { sourceDeleted: true, sourceFinalSnapshot: finalSnapshot, sourceInstancesDeleted: ordered };
}

/** The plan lines of deleteOldSourceCluster. */
export function describeDeleteOldSourceCluster(id: string): string[] {
  return [
    `delete the Aurora cluster ${id} as AWS documents it: DeleteDBInstance of each of its instances (readers first, then the writer; no snapshot of their own),`,
    `wait until each is deleting or gone, then DeleteDBCluster ${id} with SkipFinalSnapshot=false and a final cluster snapshot (${id}-final-<run id>);`,
    'refused, before any instance is touched, while the Route 53 record does not point at the target, with deletion protection on the cluster, or while it is stopped.',
  ];
}
