import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { environmentNames, InvalidEnvironment, loadEnvironment, parseEnvironment } from '../../config/cutover';

describe('cutover environments', () => {
  test('the local rehearsal environment loads with defaults filled in', () => {
    const local = loadEnvironment('local');
    expect(local.platform).toBe('local');
    expect(local.mysql).toMatchObject({ appUsers: ['app'], replicationUser: 'cutover_repl', minBinlogRetentionHours: 24 });
    expect(local.stateDir).toBe('.rds-cutover');
  });

  test('every committed environment file is valid', () => {
    for (const name of environmentNames()) expect(() => loadEnvironment(name)).not.toThrow();
  });

  test('a bad value names the field, what was expected and what was received', () => {
    expect(() => parseEnvironment({ name: 'qa', platform: 'local', mysql: { appUsers: ['app'], lagThresholdMs: 'fast' } }, 'config/cutover/qa.ts')).toThrow(
      /mysql\.lagThresholdMs: expected the lag threshold in milliseconds \(a number\); received "fast"[\s\S]*Fix config\/cutover\/qa\.ts/,
    );
  });

  test('a misspelt field is named with how to fix it', () => {
    expect(() => parseEnvironment({ name: 'qa', platform: 'local', mysql: { appUsers: ['app'], switchTimeout: 5 } }, 'qa.ts')).toThrow(/switchTimeout: remove or fix the spelling/);
  });

  test('an empty app account list is refused: the switch could not freeze anything', () => {
    expect(() => parseEnvironment({ name: 'qa', platform: 'local', mysql: { appUsers: [] } }, 'qa.ts')).toThrow(/mysql\.appUsers: name at least one application account/);
  });

  test('platform aws without an aws section is refused', () => {
    expect(() => parseEnvironment({ name: 'qa', platform: 'aws' }, 'qa.ts')).toThrow(/aws: platform "aws" needs an aws section/);
  });

  test('GIVEN a region typo (eu-wset-1: well-formed, no such region) WHEN the environment loads THEN every KMS key and secret ARN of another region is named with aws.region\'s value, before any AWS call (the emulator answers such a region with an XML parse error, AWS with an unresolvable endpoint)', async () => {
    const { default: prodShare } = await import('../../config/cutover/prod-share');
    const typo = { ...prodShare, name: 'qa', aws: { ...prodShare.aws!, region: 'eu-wset-1', adminPassword: { secretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:orders-admin-AbCdEf' } } };
    let message = '';
    try {
      parseEnvironment(typo, 'config/cutover/qa.ts');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('aws.shareSnapshot.shareKeyArn: the key is in eu-west-1, not in aws.region "eu-wset-1"');
    expect(message).toContain('aws.shareSnapshot.target.kmsKeyArn: the key is in eu-west-1, not in the target\'s region "eu-wset-1" (aws.shareSnapshot.target.region, else aws.region)');
    expect(message).toContain('aws.adminPassword.secretArn: the secret is in eu-west-1, not in aws.region "eu-wset-1"');
    // The same keys with the region right load (a target in another region names its own).
    expect(() => parseEnvironment({ ...typo, aws: { ...typo.aws, region: 'eu-west-1' } }, 'qa.ts')).not.toThrow();
    const otherRegion = { ...prodShare.aws!, shareSnapshot: { ...prodShare.aws!.shareSnapshot!, target: { ...prodShare.aws!.shareSnapshot!.target, region: 'eu-central-1' } } };
    expect(() => parseEnvironment({ ...prodShare, aws: otherRegion }, 'qa.ts')).toThrow(/target\.kmsKeyArn: the key is in eu-west-1, not in the target's region "eu-central-1"/);
  });

  test('an unknown environment lists the known ones', () => {
    expect(() => loadEnvironment('nowhere')).toThrow(/Unknown environment "nowhere": expected --env one of .*local/);
    expect(() => loadEnvironment('../etc')).toThrow(/Invalid --env/);
  });

  test('bad input names the fix: an environment file that does not even load (syntax error) is refused as invalid configuration, naming the file', () => {
    // GIVEN a config file with a syntax error (a missing comma), under a name no other test uses
    const name = `zz-broken-${process.pid}`;
    const file = join(__dirname, '..', '..', 'config', 'cutover', `${name}.ts`);
    writeFileSync(file, `export default {\n  name: '${name}', platform: 'local'\n  mysql: { databases: ['app'] },\n};\n`);
    try {
      // THEN it is an InvalidEnvironment (the CLI's exit 2) that names the file and the fix
      let thrown: unknown;
      try { loadEnvironment(name); } catch (error) { thrown = error; }
      expect(thrown).toBeInstanceOf(InvalidEnvironment);
      expect((thrown as Error).message).toMatch(new RegExp(`config/cutover/${name}\\.ts does not load: .*Fix config/cutover/${name}\\.ts and run again; nothing was changed\\.`, 's'));
    } finally {
      rmSync(file, { force: true });
    }
  });
});
