/**
 * The way back for PostgreSQL on AWS (issue 12; aws.reverseReplication): the logical flow on an
 * emulated RDS for PostgreSQL account (moto's control plane, local PostgreSQL servers as the
 * data plane, lib/rehearsal/aws-emulated/emulated-postgres.ts) builds replication target -> old
 * source at the switch, fences the old source with the inbound-only group (it still dials the
 * target), and `switch-back RUN_ID` moves the Route 53 record back with the target frozen
 * through its own parameter group. The harness supplies what moto cannot (a parameter group's
 * freeze reaching its server, rds_replication, DNS following the record both ways).
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeDBInstancesCommand, DescribeDBParametersCommand } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { EXIT } from '../../../lib/cli/cutover';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { WriteLoadProcess } from '../../../lib/load/write-load-process';
import { summariseWrites } from '../../../lib/load/write-load';
import { closePg, connectPg, pgRow, pgRows } from '../../../lib/engines/postgres/connection';
import { sleep, waitFor } from '../../../lib/util/time';
import { EMULATED_REGION } from '../../../lib/rehearsal/aws-emulated/rehearse';
import { EmulatedPostgresWorld } from '../../../lib/rehearsal/aws-emulated/rehearse-postgres';
import { targetParameterGroupOf } from '../../../lib/rehearsal/aws-emulated/emulated-postgres';
import { outputTail, recordedCallsIn, type CutoverProcessResult } from '../../support/emulated-cutover-process';
import { describeWithMoto, useEmulatedWorld } from '../../support/emulated-world';

describeWithMoto('the emulated AWS PostgreSQL way-back test')('the way back for PostgreSQL on an emulated RDS account (moto) with local PostgreSQL servers', () => {
  const emulated = useEmulatedWorld('rds-cutover-emulated-pg-back-', (options) => EmulatedPostgresWorld.start({ ...options, seedRows: 500, reverseReplication: true }), { startTimeoutMs: 300000 });
  const { log, stateDir } = emulated;
  let clients: AwsClients;
  let forwardRunId = '';

  const ok = (outcome: CutoverProcessResult) => ({ code: outcome.code, ...(outcome.code === EXIT.ok ? {} : { tail: outputTail(outcome) }) });
  const groupsOf = async (id: string) => (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances![0].VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId);
  const recordValue = async () => {
    const { account } = emulated.world;
    const record = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, StartRecordName: account.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    return record.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value;
  };
  const on = async <T>(server: 'source' | 'target', read: (client: Awaited<ReturnType<typeof connectPg>>) => Promise<T>): Promise<T> => {
    const client = await emulated.world.plane.superuser(server);
    try {
      return await read(client);
    } finally {
      await closePg(client);
    }
  };
  const loadIds = (server: 'source' | 'target') => on(server, async (c) => new Set((await pgRows<{ id: string }>(c, 'SELECT id FROM cutover_load')).map((r) => String(r.id))));
  const underLoad = async (run: () => Promise<CutoverProcessResult>) => {
    const load = new WriteLoadProcess({ engine: 'postgres', ...emulated.world.plane.appEndpoint(), connections: 4, ratePerSecond: 150 });
    await load.start();
    try {
      const outcome = await run();
      await sleep(1500); // writes keep landing where the record points now
      return { outcome, load };
    } finally {
      await load.stop().catch((error: Error) => log.error(`load: ${error.message}`));
    }
  };

  beforeAll(() => {
    clients = newClients({ region: EMULATED_REGION });
  });

  test('GIVEN aws.reverseReplication WHEN the logical flow runs with --execute under load THEN it ends SUCCESS with 0 lost, the old source subscribes to the target and streams, and the fence on it is the inbound-only group', async () => {
    const { outcome, load } = await underLoad(() => emulated.cli(['--env', 'aws-emulated', '--engine', 'postgres', '--method', 'logical', '--execute']));
    expect(ok(outcome)).toEqual({ code: EXIT.ok });
    forwardRunId = readdirSync(join(stateDir, 'runs'))[0];
    // The target's rds.logical_replication was checked before the copy (the stacks' group has it applied: no reboot).
    expect(outcome.stderr).not.toMatch(/RebootDBInstance/);
    const writes = summariseWrites(load.attempts, await loadIds('target'));
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);
    expect(emulated.world.plane.errors).toEqual([]);
    expect(await recordValue()).toBe(emulated.world.account.targetEndpoint);
    expect(await groupsOf('orders')).toEqual([emulated.world.account.fenceSecurityGroupId]);
    // The way back: enabled on the old source, and every later write on the target reaches it.
    expect(await on('source', (c) => pgRow<{ subenabled: boolean }>(c, "SELECT subenabled FROM pg_subscription WHERE subname LIKE '%_back_sub'"))).toEqual({ subenabled: true });
    const app = await connectPg({ name: 'app', ...emulated.world.plane.appEndpoint() });
    await app.query("INSERT INTO customers (email, name, balance, created_at) VALUES ('after-the-fence@example.com', 'after the fence', 1, now())").finally(() => closePg(app));
    await waitFor('the write on the target to reach the fenced old source', () => on('source', async (c) => ((await pgRow(c, "SELECT 1 AS x FROM customers WHERE email = 'after-the-fence@example.com'")) ? true : undefined)), { timeoutMs: 60000, intervalMs: 200 });
  }, 600000);

  test('switch-back RUN_ID under load: the fence is lifted, the record points at the old source again, 0 writes lost, the target frozen through its own parameter group with its role NOLOGIN, forward replication runs again; complete is then refused', async () => {
    expect(forwardRunId).not.toBe('');
    const { account } = emulated.world;
    // A new load numbers its rows as the first did: start from an empty table on both sides (through the way back).
    const app = await connectPg({ name: 'app', ...emulated.world.plane.appEndpoint() });
    await app.query('DELETE FROM cutover_load').finally(() => closePg(app));
    await waitFor('the emptied load table on the old source', async () => ((await loadIds('source')).size === 0 ? true : undefined), { timeoutMs: 60000, intervalMs: 200 });

    const dry = await emulated.cli(['switch-back', forwardRunId]);
    expect(ok(dry)).toEqual({ code: EXIT.ok });
    expect(dry.stdout).toMatch(/lift the fence from orders/);
    expect(dry.stdout).toMatch(/Dry run: nothing was changed/);
    // The dry run is recorded call by call from the switch-back's own steps (as the forward AWS
    // plans are): every AWS write and every SQL statement it would send, in order, none sent.
    const at = recordedCallsIn(dry.stdout);
    const calls = dry.stdout.slice(dry.stdout.indexOf('Calls, in order'));
    const unfence = at(new RegExp(`CHANGE +rds\\.ModifyDBInstance \\{"DBInstanceIdentifier":"orders","VpcSecurityGroupIds":\\["${account.sourceSecurityGroupId}"\\]`));
    const freezeTarget = at(/CHANGE +rds\.ModifyDBParameterGroup \{"DBParameterGroupName":"[^"]+","Parameters":\[\{"ParameterName":"default_transaction_read_only","ParameterValue":"1"/);
    const recordBack = at(new RegExp(`CHANGE +route53\\.ChangeResourceRecordSets .*"Value":"${account.sourceEndpoint.replace(/\./g, '\\.')}"`));
    // The target is closed to the app roles right after its freeze (a session asking for READ WRITE
    // overrides the read-only default), inside the window; the fence says NOLOGIN again after the record moved.
    const targetClosed = at(/CHANGE +target: ALTER ROLE "?app"? NOLOGIN/);
    const targetNologin = recordBack + calls.slice(recordBack).search(/CHANGE +target: ALTER ROLE "?app"? NOLOGIN/);
    expect(unfence).toBeLessThan(freezeTarget);
    expect(freezeTarget).toBeLessThan(targetClosed);
    expect(targetClosed).toBeLessThan(recordBack);
    expect(recordBack).toBeLessThan(targetNologin);
    expect(calls).toMatch(/POINT OF NO RETURN/);
    expect(await recordValue()).toBe(account.targetEndpoint);

    const { outcome, load } = await underLoad(() => emulated.cli(['switch-back', forwardRunId, '--execute']));
    expect(ok(outcome)).toEqual({ code: EXIT.ok });
    expect(outcome.stdout).toMatch(/checksums: match/);
    expect(await recordValue()).toBe(account.sourceEndpoint);
    expect(emulated.world.plane.switched()).toBe(false);
    expect(await groupsOf('orders')).toEqual([account.sourceSecurityGroupId]);
    const writes = summariseWrites(load.attempts, await loadIds('source'));
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);
    expect(emulated.world.plane.errors).toEqual([]);
    const parameters = await clients.rds.send(new DescribeDBParametersCommand({ DBParameterGroupName: targetParameterGroupOf(emulated.world.plane.ids), Source: 'user' }));
    expect(parameters.Parameters?.find((p) => p.ParameterName === 'default_transaction_read_only')?.ParameterValue).toBe('1');
    expect(await on('target', (c) => pgRow<{ rolcanlogin: boolean }>(c, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'"))).toEqual({ rolcanlogin: false });
    expect(await on('source', (c) => pgRow<{ rolcanlogin: boolean }>(c, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'"))).toEqual({ rolcanlogin: true });
    // Forward replication source -> target runs again (one could switch forth).
    expect(await on('target', (c) => pgRow<{ subenabled: boolean }>(c, "SELECT subenabled FROM pg_subscription WHERE subname NOT LIKE '%_back_sub'"))).toEqual({ subenabled: true });

    const complete = await emulated.cli(['complete', forwardRunId, '--execute']);
    expect(complete.code).not.toBe(EXIT.ok);
    expect(`${complete.stdout}\n${complete.stderr}`).toMatch(/Complete refused: traffic is not on the target/);
  }, 600000);

  test('switch-forth RUN_ID under load (after the switch-back): the record points at the target again, 0 writes lost, checksums match, the old source frozen through its parameter group, NOLOGIN and fenced again with the inbound-only group, and the way back streams again', async () => {
    const { account, plane } = emulated.world;
    const app = await connectPg({ name: 'app', ...plane.appEndpoint() });
    await app.query('DELETE FROM cutover_load').finally(() => closePg(app));
    await waitFor('the emptied load table on the target', async () => ((await loadIds('target')).size === 0 ? true : undefined), { timeoutMs: 60000, intervalMs: 200 });

    const { outcome, load } = await underLoad(() => emulated.cli(['switch-forth', forwardRunId, '--execute']));
    expect(ok(outcome)).toEqual({ code: EXIT.ok });
    expect(outcome.stdout).toMatch(/checksums: match/);
    expect(await recordValue()).toBe(account.targetEndpoint);
    expect(await groupsOf('orders')).toEqual([account.fenceSecurityGroupId]);
    const writes = summariseWrites(load.attempts, await loadIds('target'));
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);
    expect(plane.errors).toEqual([]);
    const sourceGroup = await clients.rds.send(new DescribeDBParametersCommand({ DBParameterGroupName: plane.ids.parameterGroup, Source: 'user' }));
    expect(sourceGroup.Parameters?.find((p) => p.ParameterName === 'default_transaction_read_only')?.ParameterValue).toBe('1');
    expect(await on('source', (c) => pgRow<{ rolcanlogin: boolean }>(c, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'"))).toEqual({ rolcanlogin: false });
    expect(await on('source', (c) => pgRow<{ subenabled: boolean }>(c, "SELECT subenabled FROM pg_subscription WHERE subname LIKE '%_back_sub'"))).toEqual({ subenabled: true });
  }, 600000);
});
