/**
 * The RDS MySQL flow with the RDS Proxy as the switch point and the way back
 * (aws.reverseReplication), end to end against moto with local MariaDB servers as the data
 * plane: HAProxy stands in for the proxy's endpoint and follows its target group
 * (DescribeDBProxyTargets). moto answers Register/Deregister/DescribeDBProxyTargets; it raises
 * none of their errors (AlreadyRegistered, NotFound, InvalidDBProxyState: registering twice just
 * adds a second entry), so those paths are covered with client mocks in proxy-switch.test.ts.
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeDBInstancesCommand, DescribeDBProxyTargetsCommand } from '@aws-sdk/client-rds';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { EXIT } from '../../../lib/cli/cutover';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { WriteLoadProcess } from '../../../lib/load/write-load-process';
import { summariseWrites } from '../../../lib/load/write-load';
import { rows } from '../../../lib/engines/mysql/connection';
import { sleep, waitFor } from '../../../lib/util/time';
import { EmulatedWorld, EMULATED_PROXY_NAME, EMULATED_REGION } from '../../../lib/rehearsal/aws-emulated/rehearse';
import { EMULATED_VPC_CIDR, type EmulatedAccount } from '../../../lib/rehearsal/aws-emulated/emulated-account';
import type { EmulatedDataPlane } from '../../../lib/rehearsal/aws-emulated/emulated-data-plane';
import { describeWithMoto, useEmulatedWorld } from '../../support/emulated-world';
import type { CutoverProcessResult, KillAt } from '../../support/emulated-cutover-process';

type Outcome = CutoverProcessResult;

describeWithMoto('the emulated AWS tests')('RDS Proxy switch point and the way back on an emulated AWS account (moto) with local MariaDB servers', () => {
  const emulated = useEmulatedWorld('rds-cutover-emulated-proxy-', (options) => EmulatedWorld.start({ ...options, switchPoint: 'proxy', reverseReplication: true }), { startTimeoutMs: 300000 });
  const { log, stateDir } = emulated;
  let clients: AwsClients;
  let account: EmulatedAccount;
  let plane: EmulatedDataPlane;
  let forwardRunId = '';

  /** One CLI run in its own process (runAws, or the way back); `killAt`: it SIGKILLs itself on that log line or after that journal entry. */
  const cli = (args: string[], killAt?: KillAt) => emulated.cli(args, killAt);
  const tail = (outcome: Outcome) => ({ code: outcome.code, signal: outcome.signal, tail: `${outcome.stdout.split('\n').slice(-20).join('\n')}\n${outcome.stderr.split('\n').slice(-30).join('\n')}` });

  const proxyTargets = async () =>
    ((await clients.rds.send(new DescribeDBProxyTargetsCommand({ DBProxyName: EMULATED_PROXY_NAME }))).Targets ?? []).filter((t) => t.Type === 'RDS_INSTANCE').map((t) => t.RdsResourceId);
  const groupsOf = async (id: string) => (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances![0].VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId);
  const replicationOn = async (id: string) => {
    const root = await plane.rootConnection(id);
    try {
      return (await rows<{ Slave_IO_Running: string; Slave_SQL_Running: string; Master_Port: number; Master_User: string }>(root, 'SHOW SLAVE STATUS'))[0];
    } finally {
      await root.end();
    }
  };
  /** Every acknowledged write of the load is on `id` (where the application writes now). */
  const expectNothingLost = async (load: WriteLoadProcess, id: string) => {
    const root = await plane.rootConnection(id);
    const present = new Set((await rows<{ id: string }>(root, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
    await root.end();
    const writes = summariseWrites(load.attempts, present);
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);
  };

  /** A new load numbers its rows as the first did: start from an empty table, on `id` too (it is reached through the way back). */
  const emptyLoadTable = async (id: string) => {
    const { createConnection } = await import('mysql2/promise');
    const app = await createConnection({ ...plane.appEndpoint(), database: 'app' });
    await app.query('DELETE FROM cutover_load');
    await app.end();
    await waitFor(`the emptied load table on ${id}`, async () => {
      const root = await plane.rootConnection(id);
      try {
        return Number((await rows<{ n: number }>(root, 'SELECT COUNT(*) AS n FROM cutover_load'))[0].n) === 0 ? true : undefined;
      } finally {
        await root.end();
      }
    }, { timeoutMs: 60000, intervalMs: 200 });
  };
  /** One CLI run (or a chain of them) under write load through the proxy; the load runs on 1.5 s after it, where the proxy points now. */
  const underLoad = async (run: string[] | (() => Promise<Outcome>)) => {
    const load = new WriteLoadProcess({ engine: 'mysql', ...plane.appEndpoint(), database: 'app', connections: 4, ratePerSecond: 200 });
    await load.start();
    try {
      const outcome = Array.isArray(run) ? await cli(run) : await run();
      await sleep(1500);
      return { outcome, load };
    } finally {
      await load.stop().catch((error: Error) => log.error(`load: ${error.message}`));
    }
  };

  beforeAll(() => {
    clients = newClients({ region: EMULATED_REGION });
    account = emulated.world.account as EmulatedAccount;
    plane = emulated.world.plane as EmulatedDataPlane;
  });

  test('GIVEN an empty proxy target group and write load through the proxy WHEN the flow is killed (-9) right after it registered the source and is resumed THEN it registers nothing twice, the proxy answers from the target, the DNS record is untouched, 0 writes are lost and the old source replicates from the target', async () => {
    expect(await proxyTargets()).toEqual([]);
    const load = new WriteLoadProcess({ engine: 'mysql', ...plane.appEndpoint(), database: 'app', connections: 4, ratePerSecond: 200 });
    await load.start();
    let killed: Outcome;
    let resumed: Outcome;
    try {
      killed = await cli(['--env', 'aws-emulated', '--execute'], 'as its initial target');
      forwardRunId = readdirSync(join(stateDir, 'runs'))[0];
      // The kill came after RegisterDBProxyTargets and before its journal line: moto holds one entry.
      expect(await proxyTargets()).toEqual(['orders']);
      resumed = await cli(['--env', 'aws-emulated', '--execute', '--resume', forwardRunId]);
      await sleep(1500);
    } finally {
      await load.stop().catch((error: Error) => log.error(`load: ${error.message}`));
    }
    expect(killed.signal).toBe('SIGKILL');
    expect(tail(resumed)).toMatchObject({ code: EXIT.ok });
    // The resumed run read the group (the source was there) and registered only the target.
    const registrations = resumed.stderr.split('\n').filter((line) => /aws .*RegisterDBProxyTargets/.test(line) && !/Deregister/.test(line));
    expect(registrations).toHaveLength(1);
    expect(registrations[0]).toContain('orders-encrypted');
    expect(await proxyTargets()).toEqual(['orders-encrypted']);
    expect(plane.switched()).toBe(true);
    expect(plane.errors).toEqual([]);
    // The proxy switch point leaves the Route 53 record where it was.
    const record = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, StartRecordName: account.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    expect(record.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value).toBe(account.sourceEndpoint);
    await expectNothingLost(load, 'orders-encrypted');
    // The way back runs: the old source replicates from the target with the _back account.
    expect(await replicationOn('orders')).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_User: expect.stringMatching(/_back$/) });
  }, 900000);

  test('the fence is inbound-only: DescribeSecurityGroups shows the old source behind a fence with no ingress and egress only to the database ports in the VPC, and a write on the target still reaches the fenced old source', async () => {
    expect(forwardRunId).not.toBe('');
    expect(await groupsOf('orders')).toEqual([account.fenceSecurityGroupId]);
    const fence = (await clients.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [account.fenceSecurityGroupId] }))).SecurityGroups![0];
    expect(fence.IpPermissions ?? []).toEqual([]);
    expect((fence.IpPermissionsEgress ?? []).map((r) => [r.IpProtocol, r.FromPort, r.ToPort, r.IpRanges?.map((x) => x.CidrIp)]).sort()).toEqual([
      ['tcp', 3306, 3306, [EMULATED_VPC_CIDR]],
      ['tcp', 5432, 5432, [EMULATED_VPC_CIDR]],
    ]);
    // A write through the proxy (on the target) reaches the fenced old source.
    const { createConnection } = await import('mysql2/promise');
    const app = await createConnection({ ...plane.appEndpoint(), database: 'app' });
    await app.query("INSERT INTO customers (email, balance) VALUES ('after-the-fence@example.com', 1)");
    await app.end();
    await waitFor('the write on the target to reach the fenced old source', async () => {
      const root = await plane.rootConnection('orders');
      try {
        return (await rows(root, "SELECT 1 FROM customers WHERE email = 'after-the-fence@example.com'")).length > 0 ? true : undefined;
      } finally {
        await root.end();
      }
    }, { timeoutMs: 60000, intervalMs: 200 });
  }, 120000);

  test('switch-back RUN_ID under load, killed (-9) right after each of its sub-phases and resumed each time: it finishes with the fence lifted, the proxy on the old source again, 0 writes lost, the target replicating from the source with its app account locked; complete is then refused (traffic on the source)', async () => {
    expect(forwardRunId).not.toBe('');
    await emptyLoadTable('orders');
    // Each process SIGKILLs itself right after the switch back journals the next sub-phase of
    // this list (in whichever attempt: a resume may reopen and switch again); the last resume
    // runs to its end. A resume that finishes without reaching the next phase ends the chain.
    const phases = ['frozen', 'caught-up', 'promoted', 'reverse-started', 'endpoint-moved', 'recycled'];
    const killed: string[] = [];
    const { outcome: back, load } = await underLoad(async () => {
      let outcome = await cli(['switch-back', forwardRunId, '--execute'], { journal: `step-progress:mysql.switch-back=${phases[0]}` });
      const backRunId = readdirSync(join(stateDir, 'runs')).filter((id) => id !== forwardRunId).sort().at(-1)!;
      while (outcome.signal === 'SIGKILL') {
        killed.push(phases[killed.length]);
        const next = phases[killed.length];
        outcome = await cli(['switch-back', forwardRunId, '--execute', '--resume', backRunId], next ? { journal: `step-progress:mysql.switch-back=${next}` } : undefined);
      }
      return outcome;
    });
    // Killed at frozen, caught-up and promoted at least (before traffic moved), then finished by itself.
    expect({ killed, ...tail(back) }).toMatchObject({ killed: expect.arrayContaining(['frozen', 'caught-up', 'promoted']), signal: null });
    // The switch-time snapshots died with a killed process: verified, or honestly not (exit 4, saying why).
    expect([EXIT.ok, EXIT.unverified]).toContain(back.code);
    if (back.code === EXIT.ok) expect(back.stdout).toMatch(/checksums: match/);
    else expect(`${back.stdout}\n${back.stderr}`).toMatch(/NOT VERIFIED/);
    expect(await proxyTargets()).toEqual(['orders']);
    expect(plane.switched()).toBe(false);
    expect(await groupsOf('orders')).toEqual([account.sourceSecurityGroupId]);
    await expectNothingLost(load, 'orders');
    expect(await replicationOn('orders-encrypted')).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes' });
    const target = await plane.rootConnection('orders-encrypted');
    const [created] = await rows<Record<string, string>>(target, "SHOW CREATE USER 'app'@'127.0.0.1'");
    await target.end();
    expect(Object.values(created)[0]).toMatch(/ACCOUNT LOCK/);
    const complete = await cli(['complete', forwardRunId, '--execute']);
    expect(complete.code).not.toBe(EXIT.ok);
    expect(`${complete.stdout}\n${complete.stderr}`).toMatch(/Complete refused: traffic is not on the target/);
  }, 600000);

  test('switch-forth RUN_ID under load (after the switch-back): the proxy points at the target again, 0 writes lost, checksums match, the old source is fenced again and replicates from the target with the _back account; then complete succeeds and leaves the old source', async () => {
    expect(forwardRunId).not.toBe('');
    await emptyLoadTable('orders-encrypted');
    const { outcome: forth, load } = await underLoad(['switch-forth', forwardRunId, '--execute']);
    expect(tail(forth)).toMatchObject({ code: EXIT.ok });
    expect(forth.stdout).toMatch(/checksums: match/);
    expect(await proxyTargets()).toEqual(['orders-encrypted']);
    expect(plane.switched()).toBe(true);
    expect(plane.errors).toEqual([]);
    expect(await groupsOf('orders')).toEqual([account.fenceSecurityGroupId]);
    await expectNothingLost(load, 'orders-encrypted');
    expect(await replicationOn('orders')).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_User: expect.stringMatching(/_back$/) });
    const complete = await cli(['complete', forwardRunId, '--execute']);
    expect(tail(complete)).toMatchObject({ code: EXIT.ok });
    expect(await replicationOn('orders')).toBeUndefined();
    expect(await groupsOf('orders')).toEqual([account.fenceSecurityGroupId]);
  }, 600000);
});
