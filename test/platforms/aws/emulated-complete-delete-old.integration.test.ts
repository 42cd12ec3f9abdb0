/**
 * `complete RUN_ID [--delete-old]` on AWS (RDS MySQL, aws.reverseReplication: the way back)
 * through the exact CLI path (runWayBackOnAws, AwsMysqlPlatform) against moto, with local
 * MariaDB servers as the data plane: refused while traffic is on the old side; without the flag
 * the old source is kept; with it, DeleteDBInstance with a final snapshot, resumed from its
 * journal (`--resume`, same --delete-old) after a kill -9. Skipped, saying how to get it, where moto cannot be found.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { EXIT } from '../../../lib/cli/cutover';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { rows } from '../../../lib/engines/mysql/connection';
import { EmulatedWorld, EMULATED_REGION } from '../../../lib/rehearsal/aws-emulated/rehearse';
import type { EmulatedAccount } from '../../../lib/rehearsal/aws-emulated/emulated-account';
import type { EmulatedDataPlane } from '../../../lib/rehearsal/aws-emulated/emulated-data-plane';
import { outputTail } from '../../support/emulated-cutover-process';
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

    const before = runs();
    const killed = await cli(['complete', forwardRunId, '--execute', '--delete-old'], 'DeleteDBInstance');
    expect(killed.signal).toBe('SIGKILL');
    const completeRunId = runs().find((id) => !before.includes(id))!;
    expect(await instanceIds()).toContain('orders');
    // A resume does what the run set out to do: not without the flag it was started with.
    const changed = await cli(['complete', forwardRunId, '--execute', '--resume', completeRunId]);
    expect(changed.code).not.toBe(EXIT.ok);
    expect(changed.stderr).toMatch(/was started with --delete-old: resume it the same way/);
    const resumed = await cli(['complete', forwardRunId, '--execute', '--delete-old', '--resume', completeRunId]);
    expect({ code: resumed.code, ...(resumed.code === EXIT.ok ? {} : { tail: outputTail(resumed) }) }).toEqual({ code: EXIT.ok });
    expect(resumed.stderr.split('\n').filter((line) => /aws .*DeleteDBInstance/.test(line))).toHaveLength(1);
    expect(await instanceIds()).not.toContain('orders');
    const finals = (await clients.rds.send(new DescribeDBSnapshotsCommand({}))).DBSnapshots!.filter((s) => s.DBSnapshotIdentifier?.startsWith('orders-final-'));
    expect(finals).toHaveLength(1);
    // A second resume of the finished run changes nothing.
    const again = await cli(['complete', forwardRunId, '--execute', '--delete-old', '--resume', completeRunId]);
    expect(again.stderr).not.toMatch(/aws .*DeleteDBInstance/);
  });
});
