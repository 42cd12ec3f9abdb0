/**
 * RDS Proxy errors the emulator does not produce (aws-sdk-client-mock): the proxy busy
 * (InvalidDBProxyStateFault) or throttling during the swap, a registration that keeps failing
 * (the old target goes back), an AlreadyRegistered race.
 */
import { mockClient } from 'aws-sdk-client-mock';
import { DeregisterDBProxyTargetsCommand, DescribeDBProxyTargetsCommand, RDSClient, RegisterDBProxyTargetsCommand } from '@aws-sdk/client-rds';
import { AwsGateway } from '../../../lib/platforms/aws/gateway';
import { RdsProxySwitch } from '../../../lib/platforms/aws/proxy-switch';
import type { AwsClients } from '../../../lib/platforms/aws/clients';
import { recordingLogger } from './helpers';

const fault = (name: string) => Object.assign(new Error(`${name} from the mock`), { name });
const instanceTarget = (id: string) => ({ Type: 'RDS_INSTANCE' as const, RdsResourceId: id, TargetHealth: { State: 'AVAILABLE' as const } });

function setup(budgetMs = 2000) {
  const rds = mockClient(RDSClient);
  const log = recordingLogger();
  const gateway = new AwsGateway({ mode: 'live', clients: { rds: new RDSClient({ region: 'eu-west-1' }) } as unknown as AwsClients, log, waits: { pollSeconds: 0.1 } });
  const proxy = new RdsProxySwitch({ name: 'orders-proxy', targetGroupName: 'default', endpoint: 'proxy.example', port: 3306 }, gateway, { log, retryBudgetMs: budgetMs, retryDelayMs: 10 });
  return { rds, proxy, log, writes: () => gateway.calls.filter((c) => c.kind === 'write').map((c) => `${c.command} ${(c.input as { DBInstanceIdentifiers: string[] }).DBInstanceIdentifiers.join(',')}`) };
}

describe('RDS Proxy target swap: errors the emulator cannot produce', () => {
  afterEach(() => mockClient(RDSClient).restore());

  test('GIVEN the proxy busy (InvalidDBProxyStateFault) and throttled once THEN the swap retries within its budget and completes', async () => {
    const { rds, proxy, writes } = setup();
    rds.on(DescribeDBProxyTargetsCommand).resolves({ Targets: [instanceTarget('orders')] });
    rds.on(DeregisterDBProxyTargetsCommand).rejectsOnce(fault('InvalidDBProxyStateFault')).resolves({});
    rds.on(RegisterDBProxyTargetsCommand).rejectsOnce(fault('ThrottlingException')).resolves({});
    await proxy.swap('orders', 'orders-encrypted');
    expect(writes()).toEqual(['DeregisterDBProxyTargets orders', 'DeregisterDBProxyTargets orders', 'RegisterDBProxyTargets orders-encrypted', 'RegisterDBProxyTargets orders-encrypted']);
  });

  test('GIVEN the new target cannot be registered within the budget THEN the old one is registered back and the error names the fault', async () => {
    const { rds, proxy, writes, log } = setup(100);
    rds.on(DescribeDBProxyTargetsCommand).resolves({ Targets: [instanceTarget('orders')] });
    rds.on(DeregisterDBProxyTargetsCommand).resolves({});
    rds.on(RegisterDBProxyTargetsCommand, { DBInstanceIdentifiers: ['orders-encrypted'] }).rejects(fault('InvalidDBProxyStateFault'));
    rds.on(RegisterDBProxyTargetsCommand, { DBInstanceIdentifiers: ['orders'] }).resolves({});
    await expect(proxy.swap('orders', 'orders-encrypted')).rejects.toThrow(/register orders-encrypted still refused after \d+ attempts within 100 ms \(InvalidDBProxyStateFault/);
    expect(writes().at(-1)).toBe('RegisterDBProxyTargets orders');
    expect(log.lines.some((l) => /registering orders back/.test(l))).toBe(true);
  });

  test('a fault that retrying cannot fix is not retried (the old target still goes back)', async () => {
    const { rds, proxy, writes } = setup();
    rds.on(DescribeDBProxyTargetsCommand).resolves({ Targets: [instanceTarget('orders')] });
    rds.on(DeregisterDBProxyTargetsCommand).resolves({});
    rds.on(RegisterDBProxyTargetsCommand, { DBInstanceIdentifiers: ['orders-encrypted'] }).rejects(fault('InvalidDBInstanceStateFault'));
    rds.on(RegisterDBProxyTargetsCommand, { DBInstanceIdentifiers: ['orders'] }).resolves({});
    await expect(proxy.swap('orders', 'orders-encrypted')).rejects.toThrow(/InvalidDBInstanceStateFault/);
    expect(writes()).toEqual(['DeregisterDBProxyTargets orders', 'RegisterDBProxyTargets orders-encrypted', 'RegisterDBProxyTargets orders']);
  });

  test('a registration that races another (DBProxyTargetAlreadyRegisteredFault) counts as done', async () => {
    const { rds, proxy } = setup();
    rds.on(DescribeDBProxyTargetsCommand).resolves({ Targets: [] });
    rds.on(RegisterDBProxyTargetsCommand).rejects(fault('DBProxyTargetAlreadyRegisteredFault'));
    await expect(proxy.ensureInitialTarget('orders', 'orders-encrypted')).resolves.toBe('registered');
  });
});
