/**
 * The PostgreSQL flow (logical method) on Aurora PostgreSQL under --execute through the exact
 * AWS code path (runAwsPostgres, AwsPostgresPlatform with cluster refs: the cluster parameter
 * group's freeze, the clusters' writer endpoints, the cluster fence) against moto, with local
 * PostgreSQL servers standing in for each cluster's writer (lib/rehearsal/aws-emulated/
 * emulated-postgres.ts, `source: 'aurora-postgres'`), under the built-in write load.
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeDBClusterParametersCommand, DescribeDBClustersCommand, type DBCluster } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { EXIT } from '../../../lib/cli/cutover';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { WriteLoadProcess } from '../../../lib/load/write-load-process';
import { summariseWrites } from '../../../lib/load/write-load';
import { closePg, pgRows } from '../../../lib/engines/postgres/connection';
import { sleep } from '../../../lib/util/time';
import { EMULATED_REGION } from '../../../lib/rehearsal/aws-emulated/rehearse';
import { EmulatedPostgresWorld } from '../../../lib/rehearsal/aws-emulated/rehearse-postgres';
import { outputTail, type CutoverProcessResult } from '../../support/emulated-cutover-process';
import { describeWithMoto, useEmulatedWorld } from '../../support/emulated-world';

describeWithMoto('the emulated Aurora PostgreSQL test')('the PostgreSQL flow on emulated Aurora PostgreSQL clusters (moto) with local PostgreSQL servers as their writers', () => {
  const emulated = useEmulatedWorld('rds-cutover-emulated-aurora-pg-state-', (options) => EmulatedPostgresWorld.start({ ...options, source: 'aurora-postgres' }));
  const { log, stateDir } = emulated;
  let clients: AwsClients;
  const cutover = (args: string[], killAt?: string) => emulated.cli(['--env', 'aws-emulated-aurora', '--engine', 'postgres', '--method', 'logical', '--execute', ...args], killAt);

  beforeAll(() => {
    clients = newClients({ region: EMULATED_REGION });
  });

  const cluster = async (id: string): Promise<DBCluster> => (await clients.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }))).DBClusters![0];

  test("GIVEN write load WHEN the logical flow runs on Aurora PostgreSQL, is killed (-9) at the target cluster's wait and resumed THEN SUCCESS, 0 lost, equal checksums; the source's cluster parameter group is frozen, the record names the target cluster's endpoint, the target cluster is on the stacks' key and the source cluster is fenced", async () => {
    const { plane, account } = emulated.world;
    const load = new WriteLoadProcess({ engine: 'postgres', ...plane.appEndpoint(), connections: 4, ratePerSecond: 200 });
    await load.start();
    let crash: CutoverProcessResult | undefined;
    let last: CutoverProcessResult | undefined;
    try {
      crash = await cutover([], `waiting until target ${account.targetId}`);
      last = await cutover(['--resume', readdirSync(join(stateDir, 'runs'))[0]]);
      await sleep(2000); // writes keep landing on the target after the switch
    } finally {
      await load.stop().catch((error: Error) => log.error(`load: ${error.message}`));
    }
    expect({ signal: crash!.signal, ...(crash!.signal ? {} : { code: crash!.code, output: outputTail(crash!) }) }).toEqual({ signal: 'SIGKILL' });
    expect(readdirSync(join(stateDir, 'runs'))).toHaveLength(1);
    expect({ code: last!.code, ...(last!.code === EXIT.ok ? {} : { tail: outputTail(last!) }) }).toEqual({ code: EXIT.ok });
    expect(plane.errors).toEqual([]);
    const report = JSON.parse(readFileSync(/report: (.*)/.exec(last!.stdout)![1], 'utf8')) as { result: string; flow: string; checksums: { match: boolean; tables: unknown[] } };
    expect(report).toMatchObject({ result: 'success', flow: 'postgres.logical', checksums: { match: true } });
    expect(report.checksums.tables).toHaveLength(4);

    const target = await plane.superuser('target');
    const present = new Set((await pgRows<{ id: string }>(target, 'SELECT id FROM cutover_load').finally(() => closePg(target))).map((r) => String(r.id)));
    const writes = summariseWrites(load.attempts, present);
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);
    expect(plane.events).toEqual([
      'role cutover_repl may replicate (member of rds_replication)',
      'source default_transaction_read_only=on (cluster parameter group orders-aurora-pg15)',
      'dns moved: the application endpoint sends new connections to the target',
    ]);

    // What the emulator shows afterwards: no cluster made by the run, the record on the target's writer endpoint.
    expect((await clients.rds.send(new DescribeDBClustersCommand({}))).DBClusters!.map((c) => c.DBClusterIdentifier).sort()).toEqual(['orders', 'orders-encrypted']);
    const [sourceCluster, targetCluster] = await Promise.all([cluster('orders'), cluster('orders-encrypted')]);
    const record = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, StartRecordName: account.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    expect(record.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value).toBe(targetCluster.Endpoint);
    expect(targetCluster).toMatchObject({ Engine: 'aurora-postgresql', StorageEncrypted: true, KmsKeyId: account.kmsKeyArn });
    const parameters = await clients.rds.send(new DescribeDBClusterParametersCommand({ DBClusterParameterGroupName: account.parameterGroup }));
    expect(parameters.Parameters?.find((p) => p.ParameterName === 'default_transaction_read_only')?.ParameterValue).toBe('1');
    expect(sourceCluster.VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId)).toEqual([account.fenceSecurityGroupId]);
  });
});
