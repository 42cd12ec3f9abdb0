/**
 * The MySQL encrypt flow with an Aurora MySQL 3 source cluster, under --execute through the exact
 * AWS code path (runAws → AwsAuroraMysqlPlatform: cluster snapshot → RestoreDBClusterFromSnapshot
 * with the stacks' key → writer → start coordinates from the crash-recovery event → Aurora's
 * mysql.rds_set_external_source → switch → Route 53 → fence on the cluster) against moto, with
 * local MariaDB servers reporting Aurora MySQL 3.02's server version (8.0.23) as the data plane
 * (lib/rehearsal/aws-emulated/emulated-aurora.ts). The harness supplies what the emulator cannot:
 * the snapshot's data, the restored writer, its crash-recovery binlog event, DNS following the record.
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand, DescribeDBInstancesCommand, type DBCluster } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { EXIT } from '../../../lib/cli/cutover';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { RUN_ID_TAG, runScopedId } from '../../../lib/platforms/aws/run-tags';
import { WriteLoadProcess } from '../../../lib/load/write-load-process';
import { summariseWrites } from '../../../lib/load/write-load';
import { rows } from '../../../lib/engines/mysql/connection';
import { sleep } from '../../../lib/util/time';
import { EmulatedWorld, EMULATED_REGION } from '../../../lib/rehearsal/aws-emulated/rehearse';
import type { EmulatedAuroraAccount, EmulatedAuroraDataPlane } from '../../../lib/rehearsal/aws-emulated/emulated-aurora';
import { describeWithMoto, killedAtEachThenFinished, useEmulatedWorld } from '../../support/emulated-world';

describeWithMoto('the emulated AWS tests')('the MySQL flow with an Aurora MySQL 3 source on an emulated AWS account (moto) with local MariaDB servers', () => {
  const emulated = useEmulatedWorld('rds-cutover-emulated-aurora-state-', (options) => EmulatedWorld.start({ ...options, source: 'aurora-mysql' }));
  const { log, stateDir } = emulated;
  let clients: AwsClients;
  let account: EmulatedAuroraAccount;
  let plane: EmulatedAuroraDataPlane;
  /** One `cutover --execute` in its own process; `killAt`: it SIGKILLs itself on that log line. */
  const runCutover = (args: string[], killAt?: string) => emulated.cli(['--env', 'aws-emulated-aurora', '--execute', ...args], killAt);

  beforeAll(() => {
    clients = newClients({ region: EMULATED_REGION });
    account = emulated.world.account as EmulatedAuroraAccount;
    plane = emulated.world.plane as EmulatedAuroraDataPlane;
  });

  const cluster = async (id: string): Promise<DBCluster> => (await clients.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }))).DBClusters![0];

  test("GIVEN write load through the application endpoint WHEN the Aurora flow runs with --execute, is killed (-9) at the cluster snapshot and writer waits and resumed each time THEN it ends SUCCESS with 0 lost writes and equal checksums, one cluster snapshot, one restored cluster with one writer on the stacks' key, started at the crash-recovery position, and AWS shows the fence on the source cluster and the record on the target cluster", async () => {
    const load = new WriteLoadProcess({ engine: 'mysql', ...plane.appEndpoint(), database: 'app', connections: 4, ratePerSecond: 200 });
    await load.start();
    let outcome: Awaited<ReturnType<typeof killedAtEachThenFinished>> | undefined;
    try {
      outcome = await killedAtEachThenFinished((resume, killAt) => runCutover(resume, killAt), ['waiting until cluster snapshot', 'waiting until writer'], stateDir);
      await sleep(2000); // writes keep landing on the target after the switch
    } finally {
      await load.stop().catch((error: Error) => log.error(`load: ${error.message}`));
    }
    const last = outcome!.last;
    expect(outcome!.killed).toEqual([
      { at: 'waiting until cluster snapshot', signal: 'SIGKILL' },
      { at: 'waiting until writer', signal: 'SIGKILL' },
    ]);
    expect(readdirSync(join(stateDir, 'runs'))).toHaveLength(1);
    const out = last.stdout.split('\n');
    expect({ code: last.code, tail: [...out.slice(-25), ...last.stderr.split('\n').slice(-40)].join('\n') }).toMatchObject({ code: EXIT.ok });
    expect(plane.errors).toEqual([]);
    const reportPath = /report: (.*)/.exec(out.join('\n'))![1];
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { result: string; runId: string; checksums: { match: boolean; tables: unknown[] }; facts: Record<string, unknown>; steps: Array<{ id: string; status: string }> };
    expect(report.result).toBe('success');
    // The cluster snapshot's own steps seeded it (killed in the first, resumed): no replica step ran, none was faked.
    expect(report.steps.map((s) => s.id)).toEqual(['aws.preflight', 'mysql.preflight', 'mysql.snapshot.create', 'mysql.target.clone', 'mysql.replication.start', 'mysql.replication.catch-up', 'mysql.switch', 'mysql.verify.checksums', 'mysql.source.fence', 'mysql.snapshot.remove']);
    const journaled = readFileSync(join(stateDir, 'runs', report.runId, 'journal.jsonl'), 'utf8');
    expect(journaled).toContain('"step":"mysql.snapshot.create"');
    expect(journaled).not.toContain('mysql.replica.');
    expect(report.checksums.match).toBe(true);
    expect(report.checksums.tables.length).toBe(2);
    // Replication started where the restored cluster's crash-recovery event said.
    const event = /Binlog position from crash recovery is (\S+) (\d+)/.exec(readFileSync(plane.eventsFile, 'utf8'))!;
    expect([report.facts.startBinlogFile, report.facts.startBinlogPosition]).toEqual([event[1], Number(event[2])]);

    const target = await plane.rootConnection('orders-encrypted');
    const present = new Set((await rows<{ id: string }>(target, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
    await target.end();
    const writes = summariseWrites(load.attempts, present);
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);
    expect(load.attempts.filter((a) => a.acknowledged && a.sentAt > (report.facts.switchEndedAt as number)).length).toBeGreaterThan(0);

    // What the emulator shows afterwards.
    const clusters = (await clients.rds.send(new DescribeDBClustersCommand({}))).DBClusters!.map((c) => c.DBClusterIdentifier).sort();
    expect(clusters).toEqual(['orders', 'orders-encrypted']);
    const instances = (await clients.rds.send(new DescribeDBInstancesCommand({}))).DBInstances!.map((i) => [i.DBInstanceIdentifier, i.DBClusterIdentifier]).sort();
    expect(instances).toEqual([['orders-encrypted-writer', 'orders-encrypted'], ['orders-writer', 'orders']]);
    const [source, restored] = await Promise.all([cluster('orders'), cluster('orders-encrypted')]);
    expect(source.VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId)).toEqual([account.fenceSecurityGroupId]);
    const record = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, StartRecordName: account.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    expect(record.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value).toBe(restored.Endpoint);
    // The restore carried the stacks' key (moto does not set StorageEncrypted from KmsKeyId: an emulator gap).
    expect(restored.KmsKeyId).toBe(account.kmsKeyArn);
    expect(restored).toMatchObject({ Engine: 'aurora-mysql', EngineVersion: source.EngineVersion, DBClusterParameterGroup: account.clusterParameterGroup });
    const runTag = { Key: RUN_ID_TAG, Value: report.runId };
    expect(restored.TagList).toEqual(expect.arrayContaining([runTag, { Key: 'team', Value: 'orders' }, { Key: 'environment', Value: 'emulated' }]));
    const snapshots = (await clients.rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterIdentifier: 'orders', SnapshotType: 'manual' }))).DBClusterSnapshots ?? [];
    expect(snapshots.map((s) => s.DBClusterSnapshotIdentifier)).toEqual([runScopedId('orders-cutover', report.runId)]);
    expect(snapshots[0].TagList).toContainEqual(runTag);
  });
});
