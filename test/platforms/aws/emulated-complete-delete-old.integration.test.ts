/**
 * `switch-back` and `switch-forth RUN_ID` of an RDS MySQL instance by DNS (the Route 53 record), then
 * `complete RUN_ID [--delete-old]` on AWS (RDS MySQL, aws.reverseReplication: the way back)
 * through the exact CLI path (runWayBackOnAws, AwsMysqlPlatform) against moto, with local
 * MariaDB servers as the data plane: refused while traffic is on the old side; without the flag
 * the old source is kept; with it, DeleteDBInstance with a final snapshot, resumed from its
 * journal (`--resume`, same --delete-old) after a kill -9. Skipped, saying how to get it, where moto cannot be found.
 * RULE: one run per environment on AWS, the way back included: `complete` and `switch-back` take
 * the forward runs' lock (the tag rds-cutover:lock on the source); while a killed complete holds
 * it, a switch-back is refused (exit 3) naming the holder, its resume command and --break-lock,
 * and `status` says the lock is still held. Before, the way back on AWS took no lock.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, ListTagsForResourceCommand } from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { EXIT } from '../../../lib/cli/cutover';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { rows } from '../../../lib/engines/mysql/connection';
import { EmulatedWorld, EMULATED_REGION } from '../../../lib/rehearsal/aws-emulated/rehearse';
import type { EmulatedAccount } from '../../../lib/rehearsal/aws-emulated/emulated-account';
import type { EmulatedDataPlane } from '../../../lib/rehearsal/aws-emulated/emulated-data-plane';
import { outputTail } from '../../support/emulated-cutover-process';
import { statusLines } from '../../../lib/cli/status';
import { LOCK_TAG } from '../../../lib/platforms/aws/run-lock';
import { describeWithMoto, useEmulatedWorld } from '../../support/emulated-world';

describeWithMoto('the emulated complete --delete-old test')('complete RUN_ID --delete-old on an emulated RDS MySQL account with the way back (moto, local MariaDB)', () => {
  const emulated = useEmulatedWorld('rds-cutover-emulated-complete-', (options) => EmulatedWorld.start({ ...options, reverseReplication: true }), { startTimeoutMs: 300000 });
  const { stateDir } = emulated;
  let clients: AwsClients;
  let account: EmulatedAccount;
  let plane: EmulatedDataPlane;
  let forwardRunId = '';
  const cli = (argv: string[], killAt?: string) => emulated.cli(argv, killAt);
  const runs = () => readdirSync(join(stateDir, 'runs')).sort();
  const instanceIds = async () => (await clients.rds.send(new DescribeDBInstancesCommand({}))).DBInstances!.map((i) => i.DBInstanceIdentifier).sort();
  const pointRecordAt = (endpoint: string) =>
    clients.route53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, ChangeBatch: { Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: account.dns.recordName, Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: endpoint }] } }] } }));
  const lockTagOnSource = async () => {
    const arn = (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'orders' }))).DBInstances![0].DBInstanceArn!;
    return (await clients.rds.send(new ListTagsForResourceCommand({ ResourceName: arn }))).TagList?.find((t) => t.Key === LOCK_TAG)?.Value;
  };
  const recordValue = async () =>
    (await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, StartRecordName: account.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }))).ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value;
  const replicationOn = async (id: string) => {
    const root = await plane.rootConnection(id);
    try {
      return (await rows<{ Slave_IO_Running: string; Slave_SQL_Running: string; Master_User: string }>(root, 'SHOW SLAVE STATUS'))[0];
    } finally {
      await root.end();
    }
  };
  const wayBackOnSource = async () => {
    const root = await plane.rootConnection('orders');
    try {
      return (await rows<{ Slave_SQL_Running: string }>(root, 'SHOW SLAVE STATUS'))[0]?.Slave_SQL_Running;
    } finally {
      await root.end();
    }
  };

  beforeAll(async () => {
    clients = newClients({ region: EMULATED_REGION });
    account = emulated.world.account as EmulatedAccount;
    plane = emulated.world.plane as EmulatedDataPlane;
    const forward = await cli(['--env', 'aws-emulated', '--execute']);
    expect({ code: forward.code, ...(forward.code === EXIT.ok ? {} : { tail: outputTail(forward) }) }).toEqual({ code: EXIT.ok });
    forwardRunId = runs()[0];
  }, 600000);

  test('switch-back RUN_ID of an RDS MySQL instance by DNS moves the record to the old source and the target replicates from it; switch-forth RUN_ID moves it to the target again, the old source replicating from the target with the _back account; checksums match both times', async () => {
    const targetEndpoint = (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'orders-encrypted' }))).DBInstances![0].Endpoint!.Address!;
    expect(await recordValue()).toBe(targetEndpoint);
    const back = await cli(['switch-back', forwardRunId, '--execute']);
    expect({ code: back.code, ...(back.code === EXIT.ok ? {} : { tail: outputTail(back) }) }).toEqual({ code: EXIT.ok });
    expect(back.stdout).toMatch(/checksums: match/);
    expect(await recordValue()).toBe(account.sourceEndpoint);
    expect(await replicationOn('orders-encrypted')).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes' });
    const forth = await cli(['switch-forth', forwardRunId, '--execute']);
    expect({ code: forth.code, ...(forth.code === EXIT.ok ? {} : { tail: outputTail(forth) }) }).toEqual({ code: EXIT.ok });
    expect(forth.stdout).toMatch(/checksums: match/);
    expect(await recordValue()).toBe(targetEndpoint);
    expect(await replicationOn('orders')).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_User: expect.stringMatching(/_back$/) });
  }, 600000);

  test('GIVEN traffic back on the old source (the record moved by hand) WHEN complete --delete-old runs THEN it is refused and nothing changes: the old instance exists and still replicates from the target', async () => {
    const targetEndpoint = (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'orders-encrypted' }))).DBInstances![0].Endpoint!.Address!;
    await pointRecordAt(account.sourceEndpoint);
    try {
      const refused = await cli(['complete', forwardRunId, '--execute', '--delete-old']);
      expect(refused.code).not.toBe(EXIT.ok);
      expect(`${refused.stdout}\n${refused.stderr}`).toMatch(/Complete refused: traffic is not on the target/);
      expect(`${refused.stdout}\n${refused.stderr}`).not.toMatch(/DeleteDBInstance \{/);
      expect(await instanceIds()).toContain('orders');
      expect(await wayBackOnSource()).toBe('Yes');
    } finally {
      await pointRecordAt(targetEndpoint);
    }
  });

  test('GIVEN traffic on the target WHEN complete runs without --delete-old THEN the way back stops and the old instance is kept; WHEN complete --delete-old is killed (-9) right before DeleteDBInstance and resumed THEN the old instance is deleted once, with one final snapshot', async () => {
    const kept = await cli(['complete', forwardRunId, '--execute']);
    expect({ code: kept.code, ...(kept.code === EXIT.ok ? {} : { tail: outputTail(kept) }) }).toEqual({ code: EXIT.ok });
    expect(await instanceIds()).toContain('orders');
    expect(await wayBackOnSource()).toBeUndefined();
    expect(await lockTagOnSource()).toBeUndefined(); // taken and given back

    const before = runs();
    const killed = await cli(['complete', forwardRunId, '--execute', '--delete-old'], 'DeleteDBInstance');
    expect(killed.signal).toBe('SIGKILL');
    const completeRunId = runs().find((id) => !before.includes(id))!;
    expect(await instanceIds()).toContain('orders');
    // The killed complete still holds the lock: the tag on the source names it and status says so.
    expect(await lockTagOnSource()).toMatch(new RegExp(`^run=${completeRunId} .*cmd=complete\\+${forwardRunId}\\+--delete-old$`));
    expect(statusLines(stateDir, completeRunId).lines).toContain(`lock: still held (tag ${LOCK_TAG} on source instance orders): kept because the run is running or was killed`);
    // A switch-back meanwhile is refused (exit 3) naming the holder, how to resume it and how to release it; nothing journaled.
    const overlapping = await cli(['switch-back', forwardRunId, '--execute']);
    expect(overlapping.code).toBe(EXIT.aborted);
    expect(overlapping.stderr).toContain(`locked by run ${completeRunId}`);
    expect(overlapping.stderr).toContain(`complete ${forwardRunId} --delete-old --execute --resume ${completeRunId}`);
    expect(overlapping.stderr).toContain(`--break-lock ${completeRunId}`);
    expect(runs()).toEqual([...before, completeRunId].sort());
    // A resume does what the run set out to do: not without the flag it was started with.
    const changed = await cli(['complete', forwardRunId, '--execute', '--resume', completeRunId]);
    expect(changed.code).not.toBe(EXIT.ok);
    expect(changed.stderr).toMatch(/was started with --delete-old: resume it the same way/);
    const resumed = await cli(['complete', forwardRunId, '--execute', '--delete-old', '--resume', completeRunId]);
    expect({ code: resumed.code, ...(resumed.code === EXIT.ok ? {} : { tail: outputTail(resumed) }) }).toEqual({ code: EXIT.ok });
    expect(resumed.stderr.split('\n').filter((line) => /aws .*DeleteDBInstance/.test(line))).toHaveLength(1);
    expect(await instanceIds()).not.toContain('orders');
    // The tag went with the deleted source: releasing it is not an error.
    expect(resumed.stderr).not.toMatch(/could not release the run lock/);
    const finals = (await clients.rds.send(new DescribeDBSnapshotsCommand({}))).DBSnapshots!.filter((s) => s.DBSnapshotIdentifier?.startsWith('orders-final-'));
    expect(finals).toHaveLength(1);
    // A second resume of the finished run changes nothing.
    const again = await cli(['complete', forwardRunId, '--execute', '--delete-old', '--resume', completeRunId]);
    expect(again.stderr).not.toMatch(/aws .*DeleteDBInstance/);
  });
});
