/**
 * The dry-run plan of the RDS MySQL flow with the RDS Proxy as the switch point
 * (aws.switchPoint "proxy"): the proxy calls in the order --execute makes them, no Route 53
 * change and no INSYNC wait; the plan text says what is polled and how the swap is undone.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnvironment, type CutoverEnvironment } from '../../config/cutover';
import { parseCutoverArgs, EXIT } from '../../lib/cli/cutover';
import { runAws } from '../../lib/cli/aws';
import { prodEnvironment, recordingLogger } from '../platforms/aws/helpers';
import { resolveAwsAuroraMysqlSettings } from '../../lib/platforms/aws/settings';
import type { PlanDocument } from '../../lib/plan/plan-document';

const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-proxy-plan-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function proxyEnvironment(): CutoverEnvironment {
  const environment = prodEnvironment();
  return { ...environment, aws: { ...environment.aws!, switchPoint: 'proxy', proxy: { name: 'orders-proxy', targetGroupName: 'default', endpoint: 'orders-proxy.proxy-abcdefghijkl.eu-west-1.rds.amazonaws.com', port: 3306 } } };
}

async function offlinePlan(environment: CutoverEnvironment) {
  const out: string[] = [];
  const code = await runAws({ environment, args: parseCutoverArgs(['--env', 'prod', '--offline']), stateDir: mkdtempSync(join(scratch, 'state-')), log: recordingLogger(), out: (line) => out.push(...line.split('\n')) }, { createClients: () => { throw new Error('offline: no client'); } });
  return { code, out };
}

describe('dry-run plan with RDS Proxy as the switch point', () => {
  test('the plan document breaks the proxy switch down as it runs: the target swap, then SELECT @@hostname through the proxy on new connections until it answers as the new instance does', async () => {
    const file = join(scratch, 'proxy-plan.json');
    const out: string[] = [];
    const code = await runAws(
      { environment: proxyEnvironment(), args: parseCutoverArgs(['--env', 'prod', '--offline', '--plan-format', 'json', '--plan-out', file]), stateDir: mkdtempSync(join(scratch, 'state-')), log: recordingLogger(), out: (line) => out.push(line) },
      { createClients: () => { throw new Error('offline: no client'); } },
    );
    expect(code).toBe(EXIT.ok);
    const document = JSON.parse(readFileSync(file, 'utf8')) as PlanDocument;
    const swap = document.downtime.phases.find((phase) => phase.phase.startsWith('endpoint moved'))!;
    expect(swap.phase).toBe('endpoint moved (RDS Proxy target swap)');
    expect(swap.expected).toMatch(/^DeregisterDBProxyTargets orders, RegisterDBProxyTargets orders-encrypted, then SELECT @@hostname, @@server_id, @@port on a new connection through orders-proxy\.proxy-abcdefghijkl\.eu-west-1\.rds\.amazonaws\.com each time until it answers as the new instance answers directly/);
    expect(swap.expected).not.toMatch(/TTL \d+ s/);
  });

  test('GIVEN aws.switchPoint "proxy" THEN the switch lists DescribeDBProxyTargets, the initial registration, Deregister of the source and Register of the target, in that order, and no Route 53 change or INSYNC wait', async () => {
    const { code, out } = await offlinePlan(proxyEnvironment());
    expect(code).toBe(EXIT.ok);
    const calls = out.filter((line) => /^\s+\d+\. /.test(line));
    const proxyCalls = calls.filter((line) => /DBProxyTargets/.test(line)).map((line) => line.replace(/^\s+\d+\.\s+/, ''));
    expect(proxyCalls).toEqual([
      'read   rds.DescribeDBProxyTargets {"DBProxyName":"orders-proxy","TargetGroupName":"default"}',
      'CHANGE rds.RegisterDBProxyTargets {"DBProxyName":"orders-proxy","TargetGroupName":"default","DBInstanceIdentifiers":["orders"]}',
      'CHANGE rds.DeregisterDBProxyTargets {"DBProxyName":"orders-proxy","TargetGroupName":"default","DBInstanceIdentifiers":["orders"]}',
      'CHANGE rds.RegisterDBProxyTargets {"DBProxyName":"orders-proxy","TargetGroupName":"default","DBInstanceIdentifiers":["orders-encrypted"]}',
    ]);
    const text = out.join('\n');
    expect(text).not.toMatch(/route53\.ChangeResourceRecordSets|GetChange/);
    expect(text).toMatch(/CHANGE rds\.ModifyDBInstance \{"DBInstanceIdentifier":"orders","VpcSecurityGroupIds":\[/);
    expect(text).toMatch(/poll SELECT @@hostname, @@server_id, @@port through the proxy endpoint orders-proxy\.proxy-abcdefghijkl\.eu-west-1\.rds\.amazonaws\.com .* bounded by --switch-timeout/);
    expect(text).toMatch(/if orders-encrypted cannot be registered, orders is registered back/);
    // The proxy calls belong to the switch step, after the restore.
    const index = (pattern: RegExp) => calls.findIndex((line) => pattern.test(line));
    expect(index(/RestoreDBInstanceFromDBSnapshot/)).toBeLessThan(index(/DescribeDBProxyTargets/));
    expect(index(/RegisterDBProxyTargets.*orders-encrypted/)).toBeLessThan(index(/ModifyDBInstance/));
  });

  test('without a proxy in config or the stacks\' outputs the plan shows what is missing', async () => {
    const environment = prodEnvironment();
    const { out } = await offlinePlan({ ...environment, aws: { ...environment.aws!, switchPoint: 'proxy' } });
    expect(out.join('\n')).toMatch(/aws\.proxy\.name \(or the stacks' output proxyName\)/);
  });

  test('a switch point other than dns or proxy is refused, naming the choices', () => {
    expect(() => parseEnvironment({ name: 'x', platform: 'aws', mysql: { appUsers: ['app'] }, aws: { region: 'eu-west-1', source: { instanceId: 'orders' }, adminPassword: { env: 'X' }, switchPoint: 'router' } }, 'test')).toThrow(/switchPoint: expected "dns" \(Route 53 record\) or "proxy" \(RDS Proxy\)/);
  });

  test('the proxy switch point is refused for an Aurora MySQL source (not built there yet)', () => {
    const environment = parseEnvironment({ name: 'x', platform: 'aws', mysql: { appUsers: ['app'] }, aws: { region: 'eu-west-1', source: { clusterId: 'billing' }, adminPassword: { env: 'X' }, switchPoint: 'proxy', outputsFile: join(scratch, 'none.json') } }, 'test');
    expect(() => resolveAwsAuroraMysqlSettings(environment, { cleanup: false })).toThrow(/aws\.switchPoint "proxy" is built for the RDS MySQL instance flow only .*use "dns"/);
  });
});
