/**
 * The RDS Proxy switch point against moto (an AWS API emulator): the target swap as
 * DescribeDBProxyTargets shows it, and the initial registration idempotent across processes
 * (a resumed run after kill -9 reads the target group afresh: no second registration, no error).
 */
import { resolve } from 'node:path';
import { CreateDBInstanceCommand, CreateDBProxyCommand, DescribeDBProxyTargetsCommand } from '@aws-sdk/client-rds';
import { CreateSubnetCommand, CreateVpcCommand } from '@aws-sdk/client-ec2';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { AwsGateway } from '../../../lib/platforms/aws/gateway';
import { RdsProxySwitch } from '../../../lib/platforms/aws/proxy-switch';
import { locateMoto, MotoServer, MOTO_INSTALL_HINT } from '../../../lib/rehearsal/aws-emulated/moto';
import { recordingLogger } from './helpers';

const moto = locateMoto(resolve(__dirname, '../../..'));
if (!moto) console.warn(`skipping the RDS Proxy emulator tests: ${MOTO_INSTALL_HINT}`);
const describeWithMoto = moto ? describe : describe.skip;

describeWithMoto('RDS Proxy as the switch point, on an emulated account (moto)', () => {
  let server: MotoServer;
  let clients: AwsClients;
  const region = 'us-east-1';

  beforeAll(async () => {
    server = await MotoServer.start(moto!);
    const env = server.sdkEnvironment(region);
    clients = newClients({ region, endpoint: env.AWS_ENDPOINT_URL, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } } as Parameters<typeof newClients>[0]);
    const vpc = await clients.ec2.send(new CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }));
    const subnets = await Promise.all(['10.20.1.0/24', '10.20.2.0/24'].map((CidrBlock, i) => clients.ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock, AvailabilityZone: `${region}${'ab'[i]}` }))));
    for (const id of ['orders', 'orders-encrypted']) {
      await clients.rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: id, Engine: 'mysql', EngineVersion: '8.0.39', DBInstanceClass: 'db.t3.micro', AllocatedStorage: 20, MasterUsername: 'admin', MasterUserPassword: 'not-a-secret-1' }));
    }
    await clients.rds.send(
      new CreateDBProxyCommand({
        DBProxyName: 'orders-proxy',
        EngineFamily: 'MYSQL',
        RoleArn: 'arn:aws:iam::123456789012:role/orders-proxy',
        Auth: [{ AuthScheme: 'SECRETS', SecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-proxy-AbCdEf', IAMAuth: 'DISABLED' }],
        VpcSubnetIds: subnets.map((s) => s.Subnet!.SubnetId!),
        RequireTLS: true,
      }),
    );
  }, 180000);

  afterAll(async () => {
    await server?.stop();
  });

  /** A fresh process's view: new gateway, nothing remembered. */
  function freshSwitch() {
    const log = recordingLogger();
    const gateway = new AwsGateway({ mode: 'live', clients, log, waits: { pollSeconds: 0.1 } });
    const proxy = new RdsProxySwitch({ name: 'orders-proxy', targetGroupName: 'default', endpoint: 'orders-proxy.proxy-x.us-east-1.rds.amazonaws.com', port: 3306 }, gateway, { log, retryBudgetMs: 5000 });
    return { proxy, gateway, writes: () => gateway.calls.filter((c) => c.kind === 'write').map((c) => `${c.command} ${JSON.stringify((c.input as { DBInstanceIdentifiers?: string[] }).DBInstanceIdentifiers)}`) };
  }
  const targets = async () => ((await clients.rds.send(new DescribeDBProxyTargetsCommand({ DBProxyName: 'orders-proxy', TargetGroupName: 'default' }))).Targets ?? []).filter((t) => t.Type === 'RDS_INSTANCE').map((t) => t.RdsResourceId).sort();

  test('GIVEN an empty target group (first run after deploy) WHEN the run registers the source and is resumed after a crash THEN the source is registered once and the resumed run changes nothing', async () => {
    expect(await targets()).toEqual([]);
    const first = freshSwitch();
    await expect(first.proxy.ensureInitialTarget('orders', 'orders-encrypted')).resolves.toBe('registered');
    expect(first.writes()).toEqual(['RegisterDBProxyTargets ["orders"]']);
    // kill -9, --resume: a new process reads the group again.
    const resumed = freshSwitch();
    await expect(resumed.proxy.ensureInitialTarget('orders', 'orders-encrypted')).resolves.toBe('present');
    expect(resumed.writes()).toEqual([]);
    expect(await targets()).toEqual(['orders']);
    expect(await resumed.proxy.state('orders', 'orders-encrypted')).toMatchObject({ pointsTo: 'source' });
  }, 120000);

  test('WHEN the switch swaps the target THEN DescribeDBProxyTargets shows only the new instance, and a resumed swap changes nothing', async () => {
    const { proxy, writes } = freshSwitch();
    await proxy.swap('orders', 'orders-encrypted');
    expect(writes()).toEqual(['DeregisterDBProxyTargets ["orders"]', 'RegisterDBProxyTargets ["orders-encrypted"]']);
    expect(await targets()).toEqual(['orders-encrypted']);
    expect(await proxy.state('orders', 'orders-encrypted')).toMatchObject({ pointsTo: 'target' });
    const resumed = freshSwitch();
    await resumed.proxy.swap('orders', 'orders-encrypted');
    await resumed.proxy.ensureInitialTarget('orders', 'orders-encrypted');
    expect(resumed.writes()).toEqual([]);
    expect(await targets()).toEqual(['orders-encrypted']);
  }, 120000);

  test('a target group that points at a third instance stops the run and names the fix', async () => {
    const { proxy } = freshSwitch();
    await expect(proxy.ensureInitialTarget('billing', 'billing-encrypted')).rejects.toThrow(/points at orders-encrypted, neither the source billing nor the target billing-encrypted: deregister it by hand/);
  }, 60000);
});
