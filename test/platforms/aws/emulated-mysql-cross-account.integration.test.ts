/**
 * The MySQL encrypt flow with its target in another account (aws.targetAccount), end to end on
 * moto with two accounts (AssumeRole into 222222222222, the cross-account snapshot patch) and
 * local MariaDB servers as the data plane (as in emulated-mysql.integration.test.ts): the clone
 * step takes the share path (share key copy → share → the target's copy under its own key →
 * unshare → restore in the target account), the switch moves the source account's CNAME to the
 * target's endpoint, and preflight refuses to start while the target has no network path to the
 * source's port. Skipped, saying how to get it, where moto cannot be found.
 */
import { readFileSync } from 'node:fs';
import { DescribeDBInstancesCommand, DescribeDBSnapshotAttributesCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
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
import { connectEmulatedNetworks, type EmulatedTargetAccount } from '../../../lib/rehearsal/aws-emulated/emulated-target-account';
import { describeWithMoto, killedAtEachThenFinished, useEmulatedWorld } from '../../support/emulated-world';

describeWithMoto('the cross-account emulated AWS test')('the RDS MySQL flow with its target in another account (moto, two accounts; local MariaDB servers)', () => {
  const emulated = useEmulatedWorld('rds-cutover-xacct-state-', (options) => EmulatedWorld.start({ ...options, targetAccount: true }));
  const { log, stateDir } = emulated;
  let source: AwsClients;
  let account: EmulatedAccount;
  let target: EmulatedTargetAccount;
  let plane: EmulatedDataPlane;
  const runCutover = (args: string[], killAt?: string) => emulated.cli(['--env', 'aws-emulated', ...args], killAt);

  beforeAll(() => {
    source = newClients({ region: EMULATED_REGION });
    account = emulated.world.account as EmulatedAccount;
    plane = emulated.world.plane as EmulatedDataPlane;
    target = emulated.world.target!;
  });

  afterAll(() => {
    for (const client of Object.values(source ?? {})) client.destroy();
  });

  test('GIVEN no network path from the target account to the source WHEN planned THEN the preflight fails naming the missing route and security group rule, and nothing is created in either account', async () => {
    const run = await runCutover([]);
    const text = `${run.stdout}\n${run.stderr}`;
    expect({ code: run.code, tail: text.slice(-3000) }).toMatchObject({ code: EXIT.failed });
    expect(run.stdout).toContain('check aws.preflight: failed');
    expect(run.stdout).toMatch(/no network path from the target to the source: subnet subnet-\w+ \(target VPC vpc-\w+, route table rtb-\w+\) has no route to the source VPC's 10\.10\.0\.0\/16/);
    expect(run.stdout).toContain(`do not admit the target on port 3306: add an ingress rule for TCP 3306 from the target VPC's 10.20.0.0/16`);
    // The plan lists the target account's calls too.
    expect(run.stdout).toMatch(/CopyDBSnapshot.*KmsKeyId.*222222222222/);
    expect((await target.clients.rds.send(new DescribeDBInstancesCommand({}))).DBInstances ?? []).toEqual([]);
    expect((await source.rds.send(new DescribeDBInstancesCommand({}))).DBInstances?.map((i) => i.DBInstanceIdentifier)).toEqual(['orders']);
  });

  test('GIVEN the peering, route and ingress rule WHEN the flow runs with --execute under write load, killed (-9) at the replica snapshot and after the target-account restore was requested, and resumed THEN SUCCESS with 0 lost writes and equal checksums; the target lives in the target account on its own key, one copy per account, the share removed, the CNAME on the target', async () => {
    const peering = await connectEmulatedNetworks(source, account, target);
    const load = new WriteLoadProcess({ engine: 'mysql', ...plane.appEndpoint(), database: 'app', connections: 4, ratePerSecond: 200 });
    await load.start();
    let outcome: Awaited<ReturnType<typeof killedAtEachThenFinished>> | undefined;
    try {
      outcome = await killedAtEachThenFinished((resume, killAt) => runCutover(['--execute', ...resume], killAt), ['waiting until snapshot', 'waiting until restored target (target account)'], stateDir);
      await sleep(2000); // writes keep landing on the target after the switch
    } finally {
      await load.stop().catch((error: Error) => log.error(`load: ${error.message}`));
    }
    const last = outcome!.last;
    expect(outcome!.killed).toEqual([
      { at: 'waiting until snapshot', signal: 'SIGKILL' },
      { at: 'waiting until restored target (target account)', signal: 'SIGKILL' },
    ]);
    const text = `${last.stdout}\n${last.stderr}`;
    expect({ code: last.code, tail: text.slice(-4000) }).toMatchObject({ code: EXIT.ok });
    expect(plane.errors).toEqual([]);
    const report = JSON.parse(readFileSync(/report: (.*)/.exec(last.stdout)![1], 'utf8')) as { result: string; runId: string; checksums: { match: boolean }; facts: Record<string, unknown> };
    expect(report.result).toBe('success');
    expect(report.checksums.match).toBe(true);
    expect(report.facts).toMatchObject({ targetAccount: '222222222222', peeringConnections: [peering], sourceVpcCidr: '10.10.0.0/16', targetVpcCidr: '10.20.0.0/16' });

    const targetServer = await plane.rootConnection('orders-encrypted');
    const present = new Set((await rows<{ id: string }>(targetServer, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
    await targetServer.end();
    const writes = summariseWrites(load.attempts, present);
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);

    // The target is in the target account only, encrypted with that account's key, with its network.
    expect((await source.rds.send(new DescribeDBInstancesCommand({}))).DBInstances!.map((i) => i.DBInstanceIdentifier).sort()).toEqual(['orders', 'orders-cutover-replica']);
    const restored = (await target.clients.rds.send(new DescribeDBInstancesCommand({}))).DBInstances ?? [];
    expect(restored.map((i) => i.DBInstanceIdentifier)).toEqual(['orders-encrypted']);
    expect(restored[0]).toMatchObject({ StorageEncrypted: true, KmsKeyId: target.kmsKeyArn, DBSubnetGroup: expect.objectContaining({ DBSubnetGroupName: 'target-private' }) });
    expect(restored[0].VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId)).toEqual([target.securityGroupId]);
    expect(restored[0].DBParameterGroups?.map((g) => g.DBParameterGroupName)).toEqual(['target-mysql-tls']);
    expect(restored[0].TagList).toContainEqual({ Key: RUN_ID_TAG, Value: report.runId });

    // One copy under the share key (source), one under the target key (target), the share removed.
    const shareCopyId = runScopedId('orders-encrypted-share', report.runId);
    const sourceSnapshots = (await source.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))).DBSnapshots ?? [];
    expect(sourceSnapshots.map((s) => [s.DBSnapshotIdentifier, s.Encrypted, s.KmsKeyId ?? null]).sort()).toEqual(
      [
        [runScopedId('orders-cutover-replica', report.runId), false, null],
        [shareCopyId, true, target.shareKeyArn],
      ].sort(),
    );
    const targetSnapshots = (await target.clients.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))).DBSnapshots ?? [];
    expect(targetSnapshots.map((s) => [s.DBSnapshotIdentifier, s.Encrypted, s.KmsKeyId])).toEqual([[runScopedId('orders-encrypted-seed', report.runId), true, target.kmsKeyArn]]);
    const attributes = await source.rds.send(new DescribeDBSnapshotAttributesCommand({ DBSnapshotIdentifier: shareCopyId }));
    expect(attributes.DBSnapshotAttributesResult?.DBSnapshotAttributes?.find((a) => a.AttributeName === 'restore')?.AttributeValues ?? []).toEqual([]);

    // The source account's CNAME names the target account's endpoint; the old source is fenced.
    const record = await source.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, StartRecordName: account.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    expect(record.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value).toBe(restored[0].Endpoint?.Address);
    const old = (await source.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'orders' }))).DBInstances![0];
    expect(old.VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId)).toEqual([account.fenceSecurityGroupId]);
  });
});
