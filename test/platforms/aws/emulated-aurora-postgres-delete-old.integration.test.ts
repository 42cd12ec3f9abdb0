/**
 * `complete RUN_ID --delete-old` of an Aurora PostgreSQL source (issue 12) through the exact CLI
 * path (runPostgresWayBackOnAws, AwsPostgresPlatform with cluster refs) against moto, with local
 * PostgreSQL servers as the clusters' writers.
 * RULE: an Aurora cluster is deleted as AWS documents it (USER_DeleteCluster): its instances
 * first (readers, then the writer: DeleteDBInstance), then DeleteDBCluster with
 * SkipFinalSnapshot=false and a final cluster snapshot named after the complete run. The dry run
 * records those calls in that order and deletes nothing; deletion protection on the cluster is
 * refused before any instance is touched; a kill -9 between the instances and the cluster is
 * resumed to exactly one DeleteDBCluster. Before, --delete-old refused every cluster source.
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand, DescribeDBInstancesCommand, ModifyDBClusterCommand } from '@aws-sdk/client-rds';
import { EXIT } from '../../../lib/cli/cutover';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { EMULATED_REGION } from '../../../lib/rehearsal/aws-emulated/rehearse';
import { EmulatedPostgresWorld } from '../../../lib/rehearsal/aws-emulated/rehearse-postgres';
import { writerInstanceOf } from '../../../lib/rehearsal/aws-emulated/emulated-postgres';
import { outputTail, type CutoverProcessResult } from '../../support/emulated-cutover-process';
import { describeWithMoto, useEmulatedWorld } from '../../support/emulated-world';

describeWithMoto('the emulated Aurora PostgreSQL --delete-old test')('complete --delete-old of an Aurora PostgreSQL source (moto, local PostgreSQL writers)', () => {
  const emulated = useEmulatedWorld('rds-cutover-emulated-aurora-pg-delete-', (options) => EmulatedPostgresWorld.start({ ...options, source: 'aurora-postgres', seedRows: 200, reverseReplication: true }), { startTimeoutMs: 300000 });
  const { stateDir } = emulated;
  let clients: AwsClients;
  let forwardRunId = '';
  const runs = () => readdirSync(join(stateDir, 'runs')).sort();
  const ok = (outcome: CutoverProcessResult) => ({ code: outcome.code, ...(outcome.code === EXIT.ok ? {} : { tail: outputTail(outcome) }) });
  const clusterIds = async () => (await clients.rds.send(new DescribeDBClustersCommand({}))).DBClusters!.map((c) => c.DBClusterIdentifier).sort();
  const instanceIds = async () => (await clients.rds.send(new DescribeDBInstancesCommand({}))).DBInstances!.map((i) => i.DBInstanceIdentifier).sort();
  const protect = (on: boolean) => clients.rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: 'orders', DeletionProtection: on, ApplyImmediately: true }));

  beforeAll(async () => {
    clients = newClients({ region: EMULATED_REGION });
    const forward = await emulated.cli(['--env', 'aws-emulated-aurora', '--engine', 'postgres', '--method', 'logical', '--execute']);
    expect(ok(forward)).toEqual({ code: EXIT.ok });
    forwardRunId = runs()[0];
  }, 600000);

  test('the dry run records DeleteDBInstance of the writer before DeleteDBCluster with a final snapshot, and deletes nothing', async () => {
    const dry = await emulated.cli(['complete', forwardRunId, '--delete-old']);
    expect(ok(dry)).toEqual({ code: EXIT.ok });
    const calls = dry.stdout.slice(dry.stdout.indexOf('Calls, in order'));
    const writer = calls.search(new RegExp(`CHANGE +rds\\.DeleteDBInstance \\{"DBInstanceIdentifier":"${writerInstanceOf('orders')}"`));
    const cluster = calls.search(/CHANGE +rds\.DeleteDBCluster \{"DBClusterIdentifier":"orders","SkipFinalSnapshot":false,"FinalDBSnapshotIdentifier":"orders-final-/);
    expect({ writer: writer >= 0, cluster: cluster >= 0 }).toEqual({ writer: true, cluster: true });
    expect(writer).toBeLessThan(cluster);
    expect(await clusterIds()).toEqual(['orders', 'orders-encrypted']);
    expect(await instanceIds()).toContain(writerInstanceOf('orders'));
  });

  test('GIVEN deletion protection on the old cluster WHEN complete --delete-old runs THEN it is refused before any instance is deleted; WHEN protection is lifted and the run resumed, killed (-9) at DeleteDBCluster and resumed again THEN the cluster and its writer are gone, with one final cluster snapshot, and the target is untouched', async () => {
    await protect(true);
    const before = runs();
    const refused = await emulated.cli(['complete', forwardRunId, '--execute', '--delete-old']);
    expect(refused.code).not.toBe(EXIT.ok);
    expect(`${refused.stdout}\n${refused.stderr}`).toMatch(/deletion protection is on/);
    expect(refused.stderr).not.toMatch(/aws .*DeleteDBInstance/);
    expect(await instanceIds()).toContain(writerInstanceOf('orders'));
    const completeRunId = runs().find((id) => !before.includes(id))!;

    await protect(false);
    const resume = ['complete', forwardRunId, '--execute', '--delete-old', '--resume', completeRunId];
    const killed = await emulated.cli(resume, 'DeleteDBCluster');
    expect(killed.signal).toBe('SIGKILL');
    expect(await clusterIds()).toContain('orders');
    const resumed = await emulated.cli(resume);
    expect(ok(resumed)).toEqual({ code: EXIT.ok });
    expect(resumed.stderr.split('\n').filter((line) => /aws .*DeleteDBCluster/.test(line))).toHaveLength(1);
    expect(await clusterIds()).toEqual(['orders-encrypted']);
    expect(await instanceIds()).not.toContain(writerInstanceOf('orders'));
    expect(await instanceIds()).toContain(writerInstanceOf('orders-encrypted'));
    const finals = (await clients.rds.send(new DescribeDBClusterSnapshotsCommand({}))).DBClusterSnapshots!.filter((s) => s.DBClusterSnapshotIdentifier?.startsWith('orders-final-'));
    expect(finals.map((s) => s.DBClusterIdentifier)).toEqual(['orders']);
  });
});
