/**
 * The PostgreSQL flow (logical method) on RDS for PostgreSQL under --execute through the exact
 * AWS code path (runAwsPostgres: SDK v3 clients, AwsPostgresPlatform, the gateway, waiters)
 * against moto, an AWS API emulator, with local PostgreSQL servers standing in for the source
 * and the stacks' encrypted target (lib/rehearsal/aws-emulated/emulated-postgres.ts): tunnels
 * point each instance id at its server; the harness supplies what the emulator cannot (the
 * parameter group's freeze reaching the server, RDS's rds_replication right, DNS following the
 * record), and the target's subscription dials the source's endpoint name as inside a VPC.
 * The built-in write load writes through the application's endpoint the whole time.
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeDBInstancesCommand, DescribeDBParametersCommand, type DBInstance } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { EXIT } from '../../../lib/cli/cutover';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { WriteLoadProcess } from '../../../lib/load/write-load-process';
import { summariseWrites } from '../../../lib/load/write-load';
import { closePg, pgRow, pgRows } from '../../../lib/engines/postgres/connection';
import { sleep } from '../../../lib/util/time';
import { EMULATED_REGION } from '../../../lib/rehearsal/aws-emulated/rehearse';
import { EMULATED_POSTGRES_IDS, EmulatedPostgresWorld } from '../../../lib/rehearsal/aws-emulated/rehearse-postgres';
import { outputTail, type CutoverProcessResult } from '../../support/emulated-cutover-process';
import { describeWithMoto, useEmulatedWorld } from '../../support/emulated-world';

describeWithMoto('the emulated AWS PostgreSQL test')('the PostgreSQL flow on an emulated RDS for PostgreSQL account (moto) with local PostgreSQL servers', () => {
  const emulated = useEmulatedWorld('rds-cutover-emulated-pg-state-', (options) => EmulatedPostgresWorld.start(options));
  const { log, stateDir } = emulated;
  let clients: AwsClients;

  const runCutover = (args: string[], killAt?: string) => emulated.cli(['--env', 'aws-emulated', '--engine', 'postgres', '--method', 'logical', '--execute', ...args], killAt);

  beforeAll(() => {
    clients = newClients({ region: EMULATED_REGION });
  });

  const instance = async (id: string): Promise<DBInstance> => (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances![0];

  test("GIVEN write load through the application endpoint WHEN the logical flow runs with --execute, is killed (-9) at the target's wait and resumed THEN it ends SUCCESS with 0 lost writes and equal checksums, and AWS shows the record on the target's endpoint, the target on the stacks' key, the source's parameter group frozen and the fence", async () => {
    const { plane, account } = emulated.world;
    const load = new WriteLoadProcess({ engine: 'postgres', ...plane.appEndpoint(), connections: 4, ratePerSecond: 200 });
    await load.start();
    let crash: CutoverProcessResult | undefined;
    let last: CutoverProcessResult | undefined;
    try {
      crash = await runCutover([], `waiting until target ${EMULATED_POSTGRES_IDS.targetId}`);
      const runId = readdirSync(join(stateDir, 'runs'))[0];
      last = await runCutover(['--resume', runId]);
      await sleep(2000); // writes keep landing on the target after the switch
    } finally {
      await load.stop().catch((error: Error) => log.error(`load: ${error.message}`));
    }
    // A run that ended on its own instead of at the kill point shows its output in the failure.
    expect({ signal: crash!.signal, ...(crash!.signal ? {} : { code: crash!.code, output: outputTail(crash!) }) }).toEqual({ signal: 'SIGKILL' });
    expect(readdirSync(join(stateDir, 'runs'))).toHaveLength(1);
    const out = last!.stdout.split('\n');
    // A failed resume shows its output in the failure (toMatchObject would print the code only).
    expect({ code: last!.code, ...(last!.code === EXIT.ok ? {} : { tail: outputTail(last!) }) }).toEqual({ code: EXIT.ok });
    expect(plane.errors).toEqual([]);
    const reportPath = /report: (.*)/.exec(out.join('\n'))![1];
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { result: string; flow: string; checksums: { match: boolean; tables: Array<{ table: string }> }; facts: Record<string, unknown> };
    expect(report).toMatchObject({ result: 'success', flow: 'postgres.logical', checksums: { match: true } });
    expect(report.checksums.tables.map((t) => t.table).sort()).toEqual(['public.audit_log', 'public.customers', 'public.cutover_load', 'public.orders']);

    // Every acknowledged write is where the application now writes: the target.
    const target = await plane.superuser('target');
    const present = new Set((await pgRows<{ id: string }>(target, 'SELECT id FROM cutover_load').finally(() => closePg(target))).map((r) => String(r.id)));
    const writes = summariseWrites(load.attempts, present);
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);
    const switchedAt = report.facts.switchEndedAt as number;
    expect(load.attempts.filter((a) => a.acknowledged && a.sentAt > switchedAt).length).toBeGreaterThan(0);

    // The harness supplied each data effect, in the flow's order.
    expect(plane.events).toEqual([
      'role cutover_repl may replicate (member of rds_replication)',
      'source default_transaction_read_only=on (parameter group orders-pg15)',
      'dns moved: the application endpoint sends new connections to the target',
    ]);
    // The old source stays frozen, and the application role cannot log in there any more.
    const source = await plane.superuser('source');
    try {
      expect((await pgRow<{ value: string }>(source, "SELECT setting AS value FROM pg_settings WHERE name = 'default_transaction_read_only'"))?.value).toBe('on');
      expect((await pgRow<{ rolcanlogin: boolean }>(source, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'"))?.rolcanlogin).toBe(false);
    } finally {
      await closePg(source);
    }

    // What the emulator shows afterwards.
    const allInstances = (await clients.rds.send(new DescribeDBInstancesCommand({}))).DBInstances!.map((i) => i.DBInstanceIdentifier).sort();
    expect(allInstances).toEqual(['orders', 'orders-encrypted']);
    const [sourceInstance, targetInstance] = await Promise.all([instance('orders'), instance('orders-encrypted')]);
    const record = await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: account.dns.zoneId, StartRecordName: account.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    expect(record.ResourceRecordSets?.[0]?.ResourceRecords?.[0]?.Value).toBe(targetInstance.Endpoint?.Address);
    expect(targetInstance).toMatchObject({ StorageEncrypted: true, KmsKeyId: account.kmsKeyArn });
    const parameters = await clients.rds.send(new DescribeDBParametersCommand({ DBParameterGroupName: account.parameterGroup, Source: 'user' }));
    expect(parameters.Parameters?.find((p) => p.ParameterName === 'default_transaction_read_only')?.ParameterValue).toBe('1');
    expect(sourceInstance.VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId)).toEqual([account.fenceSecurityGroupId]);
  });
});
