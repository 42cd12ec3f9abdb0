/**
 * What a user gets wrong on AWS, tried against moto with the real SDK clients and the CLI's
 * runners in this process: no credentials at all, AWS_PROFILE naming a profile no file has, the
 * target account's identity failing, and hooks that must not see the database passwords. Every
 * refusal names the fix, starts no run (no journal) and leaves both emulated accounts as they were.
 * Errors moto cannot produce (expired credentials) are in share-snapshot.test.ts.
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { loadEnvironment, parseEnvironment, type CutoverEnvironment } from '../../../config/cutover';
import { parseCutoverArgs, UsageError } from '../../../lib/cli/cutover';
import { runShareSnapshot } from '../../../lib/cli/aws-share-snapshot';
import { runAws } from '../../../lib/cli/aws';
import { runAwsPostgres } from '../../../lib/cli/aws-postgres';
import { newClients, type AwsClients } from '../../../lib/platforms/aws/clients';
import { locateMoto, MOTO_INSTALL_HINT, MotoServer } from '../../../lib/rehearsal/aws-emulated/moto';
import { recordingLogger } from './helpers';

const projectRoot = resolve(__dirname, '../../..');
const moto = locateMoto(projectRoot);
if (!moto) console.warn(`skipping the AWS user-error emulator tests: ${MOTO_INSTALL_HINT}`);
const describeWithMoto = moto ? describe : describe.skip;

const REGION = 'eu-west-1';
const TARGET_ACCOUNT = '222222222222';
const TARGET_ROLE = `arn:aws:iam::${TARGET_ACCOUNT}:role/rds-cutover-target`;
const PASSWORD_VARIABLE = 'USER_ERRORS_ADMIN_PASSWORD';
const PASSWORD = 'hook-must-not-see-Xq7-password';
const PROD_OUTPUTS = join(projectRoot, 'test/platforms/aws/fixtures/outputs-prod.json');
const STG_OUTPUTS = join(projectRoot, 'test/platforms/aws/fixtures/outputs-stg.json');

describeWithMoto('AWS user errors against moto: credentials, profiles, hooks', () => {
  const work = mkdtempSync(join(tmpdir(), 'rds-cutover-user-errors-'));
  let server: MotoServer;
  let source: AwsClients;
  let target: AwsClients;
  const saved: Record<string, string | undefined> = {};
  const beforeFile: Record<string, string | undefined> = {};

  /** Set (or, with undefined, remove) process environment variables; restored after each test. */
  function setEnv(values: Record<string, string | undefined>): void {
    for (const [key, value] of Object.entries(values)) {
      if (!(key in saved)) saved[key] = process.env[key];
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }

  function shareEnvironment(name: string, target: Record<string, unknown> = {}): CutoverEnvironment {
    return parseEnvironment(
      {
        name,
        platform: 'aws',
        aws: {
          region: REGION,
          source: { instanceId: 'orders' },
          adminPassword: { env: PASSWORD_VARIABLE },
          tags: { project: 'user-errors' },
          waits: { pollSeconds: 0.2, snapshotSeconds: 30, instanceSeconds: 30 },
          shareSnapshot: {
            shareKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f1',
            target: {
              accountId: TARGET_ACCOUNT,
              assumeRole: { roleArn: TARGET_ROLE },
              kmsKeyArn: 'arn:aws:kms:eu-west-1:222222222222:key/1c2d3e4f-5061-7283-94a5-b6c7d8e9f0a1',
              restore: { instanceId: 'orders-copy' },
              dbSubnetGroupName: 'target-private',
              vpcSecurityGroupIds: ['sg-0b1c2d3e4f5a60021'],
              parameterGroupName: 'target-mysql-tls',
              instanceClass: 'db.t3.micro',
              ...target,
            },
          },
        },
      },
      `${name} (test)`,
    );
  }

  function withOutputs(name: string, file: string): CutoverEnvironment {
    const environment = loadEnvironment(name);
    return { ...environment, aws: { ...environment.aws!, outputsFile: file } };
  }

  async function share(environment: CutoverEnvironment, words: string[]) {
    const stateDir = mkdtempSync(join(work, 'state-'));
    const out: string[] = [];
    const run = runShareSnapshot({ environment, args: parseCutoverArgs(['--env', environment.name, '--flow', 'share-snapshot', ...words]), stateDir, log: recordingLogger(), out: (line) => out.push(line) });
    return { run, out, stateDir };
  }

  async function nothingInEitherAccount(): Promise<void> {
    expect((await source.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))).DBSnapshots ?? []).toEqual([]);
    expect((await target.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))).DBSnapshots ?? []).toEqual([]);
    expect(((await target.rds.send(new DescribeDBInstancesCommand({}))).DBInstances ?? []).map((i) => i.DBInstanceIdentifier)).toEqual([]);
  }

  beforeAll(async () => {
    server = await MotoServer.start(moto!, { crossAccountSnapshots: true });
    for (const [key, value] of Object.entries(server.sdkEnvironment(REGION))) {
      beforeFile[key] = process.env[key];
      process.env[key] = value;
    }
    source = newClients({ region: REGION, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const assumed = await source.sts.send(new AssumeRoleCommand({ RoleArn: TARGET_ROLE, RoleSessionName: 'test-setup' }));
    target = newClients({ region: REGION, credentials: { accessKeyId: assumed.Credentials!.AccessKeyId!, secretAccessKey: assumed.Credentials!.SecretAccessKey!, sessionToken: assumed.Credentials!.SessionToken } });
  });

  beforeEach(() => {
    // No shared config or credentials file of the machine's user is read by these tests.
    setEnv({ ...server.sdkEnvironment(REGION), AWS_CONFIG_FILE: join(work, 'no-config'), AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-credentials'), AWS_PROFILE: undefined, AWS_SESSION_TOKEN: undefined, [PASSWORD_VARIABLE]: PASSWORD });
  });

  afterEach(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
      delete saved[key];
    }
  });

  afterAll(async () => {
    for (const clients of [source, target]) if (clients) for (const client of Object.values(clients)) client.destroy();
    for (const [key, value] of Object.entries(beforeFile)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
    expect(server?.pids() ?? []).toEqual([]);
  });

  test('GIVEN no AWS credentials at all (AWS_ACCESS_KEY_ID unset, no profile) WHEN the share flow runs with --execute THEN it is refused before a run starts, naming the source identity\'s settings and the fix; no journal, nothing in either account', async () => {
    setEnv({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined });
    const { run, stateDir } = await share(shareEnvironment('share-no-credentials'), ['--execute']);
    const error = (await run.then(() => undefined, (e: Error) => e))!;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain('No usable AWS credentials for the source account (eu-west-1)');
    expect(error.message).toContain('aws.profile or aws.assumeRole in config/cutover/share-no-credentials.ts');
    expect(error.message).toContain('Nothing was changed');
    expect(existsSync(join(stateDir, 'runs'))).toBe(false);
    await nothingInEitherAccount();
  });

  test('GIVEN AWS_PROFILE naming a profile that no config file has WHEN the share flow is planned with checks THEN the message names the profile, where it came from and the files looked in (not a bare "Could not load credentials")', async () => {
    setEnv({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_PROFILE: 'nowhere' });
    const { run } = await share(shareEnvironment('share-no-profile'), []);
    const error = (await run.then(() => undefined, (e: Error) => e))!;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain('the profile "nowhere" (AWS_PROFILE) is in neither');
    expect(error.message).toContain(join(work, 'no-config'));
    await nothingInEitherAccount();
  });

  test('GIVEN the target account\'s identity names a profile no file has WHEN the share flow runs with --execute THEN it is refused naming aws.shareSnapshot.target and the profile; no journal, nothing in either account', async () => {
    const { run, stateDir } = await share(shareEnvironment('share-target-profile', { assumeRole: undefined, profile: 'staging-missing' }), ['--execute']);
    const error = (await run.then(() => undefined, (e: Error) => e))!;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain('No usable AWS credentials for the target account 222222222222 (eu-west-1)');
    expect(error.message).toContain('the profile "staging-missing" (aws.shareSnapshot.target.profile) is in neither');
    expect(existsSync(join(stateDir, 'runs'))).toBe(false);
    await nothingInEitherAccount();
  });

  test('GIVEN no AWS credentials WHEN a PostgreSQL environment is planned with checks (no --offline) THEN it is refused naming the fix, not reported as a failed check with the SDK\'s bare message', async () => {
    setEnv({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined });
    const environment = withOutputs('prod-pg', STG_OUTPUTS);
    const run = runAwsPostgres({ environment, args: parseCutoverArgs(['--env', 'prod-pg', '--engine', 'postgres', '--method', 'logical']), stateDir: mkdtempSync(join(work, 'state-')), log: recordingLogger(), out: () => undefined });
    const error = (await run.then(() => undefined, (e: Error) => e))!;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain('No usable AWS credentials for the source account (eu-west-1)');
    expect(error.message).toContain('--offline');
  });

  test('GIVEN aws.shareSnapshot.target.accountId is the source account itself (role and key there too) WHEN the share flow runs with --execute THEN its preflight refuses naming target.accountId as the fix (not only the source credentials); nothing in the account', async () => {
    const same = shareEnvironment('share-same-account', { accountId: '123456789012', assumeRole: { roleArn: 'arn:aws:iam::123456789012:role/x' }, kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1c2d3e4f-5061-7283-94a5-b6c7d8e9f0a1' });
    const { run, out } = await share(same, ['--execute']);
    expect(await run).toBe(1);
    expect(out.join('\n')).toContain('aws.shareSnapshot.target.accountId 123456789012 is the source account itself: a snapshot is shared with another account; name that account');
    await nothingInEitherAccount();
  });

  test.each([
    ['share-snapshot, dry run with checks', 'share', [] as string[]],
    ['share-snapshot, --execute refused by its preflight', 'share', ['--execute']],
    ['RDS MySQL (prod), dry run with checks', 'prod', [] as string[]],
    ['PostgreSQL (prod-pg), dry run with checks', 'prod-pg', [] as string[]],
  ])('GIVEN a hook WHEN the %s THEN the hook runs without the admin password variable in its environment', async (_name, flow, words) => {
    const hookFile = join(work, `hook-${flow}-${words.length}.env`);
    const hook = ['--hook', `startup=env > ${hookFile}`];
    let run: Promise<number>;
    if (flow === 'share') {
      run = (await share(shareEnvironment('share-hooks'), [...hook, ...words])).run;
    } else {
      const environment = flow === 'prod' ? withOutputs('prod', PROD_OUTPUTS) : withOutputs('prod-pg', STG_OUTPUTS);
      const variable = environment.aws!.adminPassword && 'env' in environment.aws!.adminPassword ? environment.aws!.adminPassword.env : '';
      setEnv({ [PASSWORD_VARIABLE]: undefined, [variable]: PASSWORD }); // this environment's own variable, and only it
      const engine = flow === 'prod-pg' ? ['--engine', 'postgres', '--method', 'logical'] : [];
      const input = { environment, args: parseCutoverArgs(['--env', flow, ...engine, ...hook, ...words]), stateDir: mkdtempSync(join(work, 'state-')), log: recordingLogger(), out: () => undefined };
      run = flow === 'prod' ? runAws(input) : runAwsPostgres(input);
    }
    await run.catch(() => undefined); // the emulator has none of these databases: the checks fail; the hook ran first
    const seen = readFileSync(hookFile, 'utf8');
    expect(seen).toContain('CUTOVER_PHASE=startup');
    expect(seen).not.toContain(PASSWORD);
  });
});
