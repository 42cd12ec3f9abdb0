/**
 * The RDS MySQL flow under --execute through the exact AWS code path (runAws: SDK v3 clients,
 * AwsMysqlPlatform, the gateway, waiters) against moto, an AWS API emulator, with local MariaDB
 * servers standing in for the instances (test/support/emulated-data-plane.ts): tunnels point
 * each instance id at its local server; the harness supplies what the emulator cannot (the
 * replica's data and replication, the snapshot's data, the restored target, DNS following the
 * record). The built-in write load writes through the application's endpoint the whole time.
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, type DBInstance } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { EXIT } from '../../../lib/cli/cutover';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { RUN_ID_TAG, runScopedId } from '../../../lib/platforms/aws/run-tags';
import { WriteLoadProcess } from '../../../lib/load/write-load-process';
import { summariseWrites } from '../../../lib/load/write-load';
import { rows } from '../../../lib/engines/mysql/connection';
import { sleep } from '../../../lib/util/time';
import { EmulatedWorld, EMULATED_REGION } from '../../../lib/rehearsal/aws-emulated/rehearse';
import type { EmulatedAccount } from '../../../lib/rehearsal/aws-emulated/emulated-account';
import type { EmulatedDataPlane } from '../../../lib/rehearsal/aws-emulated/emulated-data-plane';
import { describeWithMoto, killedAtEachThenFinished, useEmulatedWorld } from '../../support/emulated-world';

describeWithMoto('the emulated AWS tests')('the RDS MySQL flow on an emulated AWS account (moto) with local MariaDB servers', () => {
  const emulated = useEmulatedWorld('rds-cutover-emulated-state-', (options) => EmulatedWorld.start(options));
  const { log, stateDir } = emulated;
  let clients: AwsClients;
  let account: EmulatedAccount;
  let plane: EmulatedDataPlane;
  /** One `cutover --execute` in its own process (the exact CLI path); `killAt`: it SIGKILLs itself on that log line. */
  const runCutover = (args: string[], killAt?: string) => emulated.cli(['--env', 'aws-emulated', '--execute', ...args], killAt);

  beforeAll(() => {
    clients = newClients({ region: EMULATED_REGION });
    account = emulated.world.account as EmulatedAccount;
    plane = emulated.world.plane as EmulatedDataPlane;
  });

  const instance = async (id: string): Promise<DBInstance> => (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances![0];

  test('GIVEN write load through the application endpoint WHEN the flow runs with --execute, is killed (-9) at the replica, snapshot and restore waits and resumed each time THEN it ends SUCCESS with 0 lost writes and equal checksums, no second replica, snapshot, copy or target exists, and AWS shows the fence, the moved record, the target on the stacks\' key and tagged run resources', async () => {
    const load = new WriteLoadProcess({ engine: 'mysql', ...plane.appEndpoint(), database: 'app', connections: 4, ratePerSecond: 200 });
    await load.start();
    let outcome: Awaited<ReturnType<typeof killedAtEachThenFinished>> | undefined;
    try {
      outcome = await killedAtEachThenFinished((resume, killAt) => runCutover(resume, killAt), ['waiting until read replica', 'waiting until snapshot', 'waiting until restored target'], stateDir);
      await sleep(2000); // writes keep landing on the target after the switch
    } finally {
      await load.stop().catch((error: Error) => log.error(`load: ${error.message}`));
    }
    const last = outcome!.last;
    expect(outcome!.killed).toEqual([
      { at: 'waiting until read replica', signal: 'SIGKILL' },
      { at: 'waiting until snapshot', signal: 'SIGKILL' },
      { at: 'waiting until restored target', signal: 'SIGKILL' },
    ]);
    expect(readdirSync(join(stateDir, 'runs'))).toHaveLength(1);
    const out = last.stdout.split('\n');
    expect({ code: last.code, tail: [...out.slice(-25), ...last.stderr.split('\n').slice(-25)].join('\n') }).toMatchObject({ code: EXIT.ok });
    const text = out.join('\n');
    expect(plane.errors).toEqual([]);
    const reportPath = /report: (.*)/.exec(text)![1];
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { result: string; runId: string; checksums: { match: boolean; tables: unknown[] }; facts: Record<string, unknown> };
    expect(report.result).toBe('success');
    expect(report.checksums.match).toBe(true);
    expect(report.checksums.tables.length).toBe(2);

    // Every acknowledged write is where the application now writes: the target.
    const target = await plane.rootConnection('orders-encrypted');
    const present = new Set((await rows<{ id: string }>(target, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
    await target.end();
    const writes = summariseWrites(load.attempts, present);
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);
    const switchedAt = report.facts.switchEndedAt as number;
    expect(load.attempts.filter((a) => a.acknowledged && a.sentAt > switchedAt).length).toBeGreaterThan(0);

    // What the emulator shows afterwards.
    const allInstances = (await clients.rds.send(new DescribeDBInstancesCommand({}))).DBInstances!.map((i) => i.DBInstanceIdentifier).sort();
    expect(allInstances).toEqual(['orders', 'orders-cutover-replica', 'orders-encrypted']);
    const [source, targetInstance, replica] = await Promise.all([instance('orders'), instance('orders-encrypted'), instance('orders-cutover-replica')]);
    expect(source.VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId)).toEqual([account.fenceSecurityGroupId]);
    const record = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, StartRecordName: account.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    expect(record.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value).toBe(targetInstance.Endpoint?.Address);
    expect(targetInstance).toMatchObject({ StorageEncrypted: true, KmsKeyId: account.kmsKeyArn });
    const runTag = { Key: RUN_ID_TAG, Value: report.runId };
    expect(replica.TagList).toContainEqual(runTag);
    expect(targetInstance.TagList).toEqual(expect.arrayContaining([runTag, { Key: 'team', Value: 'orders' }, { Key: 'environment', Value: 'emulated' }]));
    const snapshots = (await clients.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'orders-cutover-replica', SnapshotType: 'manual' }))).DBSnapshots ?? [];
    // One snapshot of the stopped replica, one encrypted copy with the stacks' key.
    expect(snapshots.map((s) => [s.DBSnapshotIdentifier, s.Encrypted, s.KmsKeyId]).sort()).toEqual([[runScopedId('orders-cutover-replica', report.runId), false, undefined], ['orders-cutover-seed', true, account.kmsKeyArn]].sort());
    for (const snapshot of snapshots) expect(snapshot.TagList).toContainEqual(runTag);
  });
});
