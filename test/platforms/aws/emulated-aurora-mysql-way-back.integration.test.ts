/**
 * The way back for an Aurora MySQL 3 source (issue 12; aws.reverseReplication): the MySQL flow
 * on an emulated Aurora account (moto's control plane, local MariaDB servers reporting Aurora
 * MySQL 3.02 as the data plane, lib/rehearsal/aws-emulated/emulated-aurora.ts) starts replication
 * target cluster -> source cluster at the switch (Aurora's rds_set_external_source, the `_back`
 * account set on both sides: Aurora replicates no account change), fences the source cluster
 * with the inbound-only group, and `switch-back RUN_ID`, `switch-forth RUN_ID` and `complete RUN_ID
 * --delete-old` move the Route 53 record back and forth and retire the old cluster.
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand, type DBCluster } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { EXIT } from '../../../lib/cli/cutover';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { WriteLoadProcess } from '../../../lib/load/write-load-process';
import { summariseWrites } from '../../../lib/load/write-load';
import { rows } from '../../../lib/engines/mysql/connection';
import { sleep, waitFor } from '../../../lib/util/time';
import { EmulatedWorld, EMULATED_REGION } from '../../../lib/rehearsal/aws-emulated/rehearse';
import type { EmulatedAuroraAccount, EmulatedAuroraDataPlane } from '../../../lib/rehearsal/aws-emulated/emulated-aurora';
import { outputTail, recordedCallsIn, type CutoverProcessResult, type KillAt } from '../../support/emulated-cutover-process';
import { describeWithMoto, useEmulatedWorld } from '../../support/emulated-world';

describeWithMoto('the emulated Aurora MySQL way-back test')('the way back for an Aurora MySQL 3 source on an emulated AWS account (moto) with local MariaDB servers', () => {
  const emulated = useEmulatedWorld('rds-cutover-emulated-aurora-back-', (options) => EmulatedWorld.start({ ...options, source: 'aurora-mysql', reverseReplication: true }), { startTimeoutMs: 300000 });
  const { log, stateDir } = emulated;
  let clients: AwsClients;
  let account: EmulatedAuroraAccount;
  let plane: EmulatedAuroraDataPlane;
  let forwardRunId = '';

  /** One CLI run in its own process; `killAt`: it SIGKILLs itself after that journal entry. */
  const cli = (args: string[], killAt?: KillAt) => emulated.cli(args, killAt);
  const ok = (outcome: CutoverProcessResult) => ({ code: outcome.code, ...(outcome.code === EXIT.ok ? {} : { tail: outputTail(outcome, 40) }) });
  const cluster = async (id: string): Promise<DBCluster> => (await clients.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }))).DBClusters![0];
  const groupsOf = async (id: string) => (await cluster(id)).VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId);
  const recordValue = async () => {
    const record = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, StartRecordName: account.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    return record.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value;
  };
  const on = async <T>(id: string, read: (root: Awaited<ReturnType<EmulatedAuroraDataPlane['rootConnection']>>) => Promise<T>): Promise<T> => {
    const root = await plane.rootConnection(id);
    try {
      return await read(root);
    } finally {
      await root.end();
    }
  };
  const replicationOn = (id: string) => on(id, async (root) => (await rows<{ Slave_IO_Running: string; Slave_SQL_Running: string; Master_User: string }>(root, 'SHOW SLAVE STATUS'))[0]);
  const loadIds = (id: string) => on(id, async (root) => new Set((await rows<{ id: string }>(root, 'SELECT id FROM cutover_load')).map((r) => String(r.id))));
  /** A new load numbers its rows as the last did: empty the table where traffic is, and wait until the other side has it empty too. */
  const emptyLoadTable = async (other: string) => {
    const { createConnection } = await import('mysql2/promise');
    const app = await createConnection({ ...plane.appEndpoint(), database: 'app' });
    await app.query('DELETE FROM cutover_load');
    await app.end();
    await waitFor(`the emptied load table on ${other}`, async () => ((await loadIds(other)).size === 0 ? true : undefined), { timeoutMs: 60000, intervalMs: 200 });
  };
  const underLoad = async (run: string[] | (() => Promise<CutoverProcessResult>)) => {
    const load = new WriteLoadProcess({ engine: 'mysql', ...plane.appEndpoint(), database: 'app', connections: 4, ratePerSecond: 150 });
    await load.start();
    try {
      const outcome = Array.isArray(run) ? await cli(run) : await run();
      await sleep(1500); // writes keep landing where the record points now
      return { outcome, load };
    } finally {
      await load.stop().catch((error: Error) => log.error(`load: ${error.message}`));
    }
  };
  /**
   * `switch-back` or `switch-forth` RUN_ID killed (-9) right after its switch journals each of
   * these sub-phases in turn (in whichever attempt: a resume may reopen and switch again), then
   * resumed each time; the last resume runs to its end. `killed` gets the phases it was killed at.
   */
  const killedAtEachPhase = async (command: 'switch-back' | 'switch-forth', killed: string[]) => {
    const phases = ['frozen', 'caught-up', 'promoted', 'reverse-started', 'endpoint-moved', 'recycled'];
    const known = new Set(readdirSync(join(stateDir, 'runs')));
    let outcome = await cli([command, forwardRunId, '--execute'], { journal: `step-progress:mysql.${command}=${phases[0]}` });
    const runId = readdirSync(join(stateDir, 'runs')).filter((id) => !known.has(id)).sort().at(-1)!;
    while (outcome.signal === 'SIGKILL') {
      killed.push(phases[killed.length]);
      const next = phases[killed.length];
      outcome = await cli([command, forwardRunId, '--execute', '--resume', runId], next ? { journal: `step-progress:mysql.${command}=${next}` } : undefined);
    }
    return outcome;
  };
  const expectNothingLost = async (load: WriteLoadProcess, id: string) => {
    const writes = summariseWrites(load.attempts, await loadIds(id));
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);
  };

  beforeAll(() => {
    clients = newClients({ region: EMULATED_REGION });
    account = emulated.world.account as EmulatedAuroraAccount;
    plane = emulated.world.plane as EmulatedAuroraDataPlane;
  });

  test('GIVEN aws.reverseReplication on an Aurora MySQL source WHEN the flow runs with --execute under load THEN it ends SUCCESS with 0 lost, the source cluster replicates from the target cluster with the _back account (present on the target: set there by the switch) and carries the inbound-only fence', async () => {
    const { outcome, load } = await underLoad(['--env', 'aws-emulated-aurora', '--execute']);
    expect(ok(outcome)).toEqual({ code: EXIT.ok });
    forwardRunId = readdirSync(join(stateDir, 'runs'))[0];
    await expectNothingLost(load, 'orders-encrypted');
    expect(plane.errors).toEqual([]);
    expect(await recordValue()).toBe((await cluster('orders-encrypted')).Endpoint);
    expect(await groupsOf('orders')).toEqual([account.fenceSecurityGroupId]);
    expect(await replicationOn('orders')).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_User: expect.stringMatching(/_back$/) });
    const backAccounts = await on('orders-encrypted', (root) => rows<{ User: string }>(root, "SELECT User FROM mysql.user WHERE User LIKE '%\\_back'"));
    expect(backAccounts.length).toBe(1);
  }, 900000);

  test('switch-back RUN_ID under load, killed (-9) right after each of its sub-phases and resumed each time (the switch point is DNS): the fence is lifted from the source cluster, the record points at it again, 0 lost, the target cluster replicates from the source; complete is then refused', async () => {
    expect(forwardRunId).not.toBe('');
    await emptyLoadTable('orders');
    const dry = await cli(['switch-back', forwardRunId]);
    expect(ok(dry)).toEqual({ code: EXIT.ok });
    expect(dry.stdout).toMatch(/lift the fence from orders \(ModifyDBCluster/);
    expect(dry.stdout).toMatch(/UPSERT CNAME .* → the old source cluster's endpoint/);
    // The dry run is recorded call by call from the switch-back's own steps (as the forward AWS
    // plans are): the fence lifted, the target frozen, the old source promoted with Aurora's
    // procedure names, the record moved back to its endpoint, in that order, none sent.
    const at = recordedCallsIn(dry.stdout);
    const unfence = at(/CHANGE +rds\.ModifyDBCluster \{"DBClusterIdentifier":"orders","VpcSecurityGroupIds":\[/);
    const freezeTarget = at(/CHANGE +target: ALTER USER .*ACCOUNT LOCK/);
    const promote = at(/CHANGE +source: CALL mysql\.rds_stop_replication/);
    const forth = at(/CHANGE +target: CALL mysql\.rds_set_external_source\(/);
    const recordBack = at(new RegExp(`CHANGE +route53\\.ChangeResourceRecordSets .*"Value":"${(await cluster('orders')).Endpoint!.replace(/\./g, '\\.')}"`));
    expect([unfence, freezeTarget, promote, forth, recordBack]).toEqual([unfence, freezeTarget, promote, forth, recordBack].sort((a, b) => a - b));
    const killed: string[] = [];
    const { outcome, load } = await underLoad(() => killedAtEachPhase('switch-back', killed));
    // Killed at frozen, caught-up and promoted at least (before traffic moved), then finished by itself.
    expect({ killed, signal: outcome.signal, tail: outcome.signal === null ? '' : outputTail(outcome, 40) }).toMatchObject({ killed: expect.arrayContaining(['frozen', 'caught-up', 'promoted']), signal: null, tail: '' });
    // The switch-time snapshots died with a killed process: verified, or honestly not (exit 4, saying why).
    expect([EXIT.ok, EXIT.unverified]).toContain(outcome.code);
    if (outcome.code === EXIT.ok) expect(outcome.stdout).toMatch(/checksums: match/);
    else expect(`${outcome.stdout}\n${outcome.stderr}`).toMatch(/NOT VERIFIED/);
    expect(await recordValue()).toBe((await cluster('orders')).Endpoint);
    expect(plane.switched()).toBe(false);
    expect(await groupsOf('orders')).toEqual([account.sourceSecurityGroupId]);
    await expectNothingLost(load, 'orders');
    expect(plane.errors).toEqual([]);
    expect(await replicationOn('orders-encrypted')).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes' });
    const complete = await cli(['complete', forwardRunId, '--execute']);
    expect(complete.code).not.toBe(EXIT.ok);
    expect(`${complete.stdout}\n${complete.stderr}`).toMatch(/Complete refused: traffic is not on the target/);
  }, 600000);

  test('switch-forth RUN_ID under load (after the switch-back), killed (-9) right after each of its sub-phases and resumed each time: the record points at the target cluster again, 0 lost, the source cluster fenced again and replicating from the target', async () => {
    expect(forwardRunId).not.toBe('');
    await emptyLoadTable('orders-encrypted');
    const killed: string[] = [];
    const { outcome, load } = await underLoad(() => killedAtEachPhase('switch-forth', killed));
    expect({ killed, signal: outcome.signal, tail: outcome.signal === null ? '' : outputTail(outcome, 40) }).toMatchObject({ killed: expect.arrayContaining(['frozen', 'caught-up', 'promoted']), signal: null, tail: '' });
    expect([EXIT.ok, EXIT.unverified]).toContain(outcome.code);
    if (outcome.code === EXIT.ok) expect(outcome.stdout).toMatch(/checksums: match/);
    else expect(`${outcome.stdout}\n${outcome.stderr}`).toMatch(/NOT VERIFIED/);
    expect(await recordValue()).toBe((await cluster('orders-encrypted')).Endpoint);
    expect(plane.switched()).toBe(true);
    expect(await groupsOf('orders')).toEqual([account.fenceSecurityGroupId]);
    await expectNothingLost(load, 'orders-encrypted');
    expect(plane.errors).toEqual([]);
    expect(await replicationOn('orders')).toMatchObject({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_User: expect.stringMatching(/_back$/) });
  }, 600000);

  test('complete RUN_ID --delete-old: the way back stops, the source cluster is deleted (its writer first) with one final cluster snapshot', async () => {
    expect(forwardRunId).not.toBe('');
    const complete = await cli(['complete', forwardRunId, '--execute', '--delete-old']);
    expect(ok(complete)).toEqual({ code: EXIT.ok });
    expect(complete.stderr.indexOf('DeleteDBInstance')).toBeGreaterThan(-1);
    expect(complete.stderr.indexOf('DeleteDBInstance')).toBeLessThan(complete.stderr.indexOf('DeleteDBCluster'));
    const clusters = (await clients.rds.send(new DescribeDBClustersCommand({}))).DBClusters!.map((c) => c.DBClusterIdentifier);
    expect(clusters).not.toContain('orders');
    const finals = ((await clients.rds.send(new DescribeDBClusterSnapshotsCommand({ SnapshotType: 'manual' }))).DBClusterSnapshots ?? []).map((s) => s.DBClusterSnapshotIdentifier).filter((id) => /^orders-final-/.test(id ?? ''));
    expect(finals).toHaveLength(1);
    expect(await replicationOn('orders')).toBeUndefined();
  }, 600000);
});
