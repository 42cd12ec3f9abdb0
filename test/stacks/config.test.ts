/**
 * Bad infrastructure configuration fails at load/synth time with the field, the value
 * received and the expected form; constructs check their own props the same way.
 */
import { InfraConfigError, INFRA_ENVIRONMENT_NAMES, loadInfraEnvironment, loadInfraEnvironments } from '../../config/infra';
import { TerraformStack } from '../../stacks/aws';
import { CutoverDnsRecord } from '../../stacks/constructs/cutover-dns-record';
import { CustomerManagedKey, SnapshotShareKey } from '../../stacks/constructs/customer-managed-key';
import { FenceSecurityGroup } from '../../stacks/constructs/fence-security-group';
import { MaskingPipeline } from '../../stacks/constructs/masking-pipeline';
import { exampleWith, synthesize, synthesizedOf, testApp } from './helpers';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The message of what `action` throws (fails the test when it does not throw). */
function errorOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected an error, none was thrown');
}

describe('example environments', () => {
  test('prod, stg and dev all load', () => {
    expect(loadInfraEnvironments().map((environment) => environment.name)).toEqual(['prod', 'stg', 'dev']);
    expect(INFRA_ENVIRONMENT_NAMES).toEqual(['prod', 'stg', 'dev']);
  });

  test('an unknown environment name lists the known ones', () => {
    const message = errorOf(() => loadInfraEnvironment('qa'));
    expect(message).toContain('received "qa"');
    expect(message).toContain('expected one of "prod", "stg", "dev"');
  });
});

describe('a bad environment fails naming the field, the value received and the expected form', () => {
  const cases: [string, string, (input: Json) => void, string[]][] = [
    ['prod', 'account id', (input) => (input.accountId = '1234'), ['accountId: received "1234"', '12-digit AWS account id']],
    ['prod', 'region', (input) => (input.region = 'Europe'), ['region: received "Europe"', 'an AWS region such as "eu-west-1"']],
    ['prod', 'deletion protection off in production', (input) => (input.database.deletionProtection = false), ['database.deletionProtection: received false', 'expected true in a production environment']],
    ['dev', 'engine', (input) => (input.database.engine = 'oracle'), ['database.engine: received "oracle"', '"aurora-postgresql"']],
    ['dev', 'parameter group family of another engine', (input) => (input.database.parameterGroupFamily = 'mysql8.0'), ['database.parameterGroupFamily: received "mysql8.0"', 'a family of engine "postgres"']],
    ['prod', 'frozen parameter group on MySQL', (input) => (input.database.freezeParameterGroupFamily = 'mysql8.0'), ['database.freezeParameterGroupFamily', 'PostgreSQL engines only']],
    ['dev', 'TTL of zero', (input) => (input.dns.ttlSeconds = 0), ['dns.ttlSeconds: received 0']],
    ['dev', 'record outside its private zone', (input) => (input.dns.recordName = 'db.example.com'), ['dns.recordName: received "db.example.com"', 'inside the zone "dev.internal"']],
    ['dev', 'proxy engine family not matching the database', (input) => (input.proxy.engineFamily = 'MYSQL'), ['proxy.engineFamily: received "MYSQL"', 'expected "POSTGRESQL"']],
    ['dev', 'secret that is not an ARN', (input) => (input.proxy.secretArn = 'my-secret'), ['proxy.secretArn: received "my-secret"', 'Secrets Manager secret ARN']],
    ['prod', 'sharing with the own account', (input) => (input.snapshotShare.targetAccountIds = ['111111111111']), ['snapshotShare.targetAccountIds.0: received "111111111111"', "another account than the environment's own"]],
    ['prod', 'masking without readers', (input) => (input.masking.readerAccountIds = []), ['masking.readerAccountIds: received []', 'at least one reader account id']],
    ['prod', 'masking build on a moving branch', (input) => (input.masking.sourceVersion = 'main'), ['masking.sourceVersion: received "main"', 'a commit id (40 hex digits) or a tag (refs/tags/NAME)']],
    ['prod', 'malformed schedule', (input) => (input.masking.schedule = 'weekly'), ['masking.schedule: received "weekly"', 'cron(0 3 ? * MON *)']],
    ['prod', 'one subnet', (input) => (input.network.subnetIds = ['subnet-0a1b2c3d4e5f60011']), ['network.subnetIds', 'at least two private subnet ids']],
    ['stg', 'S3 backend locking of unknown type', (input) => (input.backend.locking = { type: 'consul' }), ['backend.locking.type']],
    ['dev', 'endpoint of an unknown service', (input) => (input.provider = { endpoints: { dynamo: 'http://localhost:4566' } }), ['provider.endpoints']],
    ['dev', 'misspelled field', (input) => (input.databse = input.database), ['unknown field(s) "databse"']],
    ['dev', 'no key administrator', (input) => (input.keyAdministratorArns = []), ['keyAdministratorArns: received []', 'at least one key administrator ARN']],
  ];

  test.each(cases)('%s: %s', (name, _description, change, expected) => {
    const message = errorOf(() => exampleWith(name, change));
    expect(message).toContain(`test:${name}: invalid infrastructure environment`);
    for (const part of expected) expect(message).toContain(part);
  });

  test('every problem is reported at once, as an InfraConfigError', () => {
    let caught: unknown;
    try {
      exampleWith('prod', (input) => {
        input.accountId = 'x';
        input.region = 'y';
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InfraConfigError);
    expect((caught as InfraConfigError).problems).toHaveLength(2);
  });

  test('deletion protection may be off outside production', () => {
    const environment = exampleWith('stg', (input) => (input.database.deletionProtection = false));
    expect(synthesizedOf(synthesize(environment).stacks.cutover.database!.cluster!)).toMatchObject({ deletion_protection: false });
  });
});

describe('constructs validate their props at synth', () => {
  const scope = () => new TerraformStack(testApp(), 'test');
  const keyProps = { accountId: '123456789012', region: 'eu-west-1', alias: 'test/key', description: 'test', administratorArns: ['arn:aws:iam::123456789012:role/Admin'] };

  test('a key administered by the account root is refused', () => {
    expect(errorOf(() => new CustomerManagedKey(scope(), 'key', { ...keyProps, administratorArns: ['arn:aws:iam::123456789012:root'] }))).toMatch(
      /^test\/key: administratorArns: received \["arn:aws:iam::123456789012:root"\]; expected named roles or users/,
    );
  });

  test('a snapshot-share key for its own account is refused', () => {
    expect(errorOf(() => new SnapshotShareKey(scope(), 'share', { ...keyProps, targetAccountIds: ['123456789012'] }))).toBe(
      'test/share: targetAccountIds: received "123456789012"; expected another account than the key\'s own (123456789012)',
    );
  });

  test('a DNS TTL above five minutes is refused', () => {
    expect(errorOf(() => new CutoverDnsRecord(scope(), 'dns', { zone: { existingZoneId: 'Z123456' }, recordName: 'db.example.com', initialTarget: 'old.example.com', ttlSeconds: 3600 }))).toContain(
      'test/dns: ttlSeconds: received 3600; expected a whole number of seconds from 1 to 300',
    );
  });

  test('a fence without a VPC id is refused', () => {
    expect(errorOf(() => new FenceSecurityGroup(scope(), 'fence', { vpcId: 'default', vpcCidr: '10.0.0.0/16', name: 'fence' }))).toContain('test/fence: vpcId: received "default"');
  });

  test('a masking pipeline that would build a moving branch is refused', () => {
    const message = errorOf(
      () =>
        new MaskingPipeline(scope(), 'masking', {
          namePrefix: 'rds-cutover-test',
          environmentName: 'test',
          accountId: '123456789012',
          region: 'eu-west-1',
          keyAdministratorArns: keyProps.administratorArns,
          readerAccountIds: ['210987654321'],
          vpcEndpoints: { existing: { securityGroupId: 'sg-0a1b2c3d4e5f60071', s3PrefixListId: 'pl-6da54004' } },
          sourceVersion: 'main',
          secretArns: ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:key-AbCdEf'],
          vpcId: 'vpc-0a1b2c3d4e5f60001',
          vpcCidr: '10.0.0.0/16',
          subnetIds: ['subnet-0a1b2c3d4e5f60011', 'subnet-0a1b2c3d4e5f60012'],
        }),
    );
    expect(message).toContain('test/masking: sourceVersion: received "main"; expected a commit id (40 hex digits) or a tag (refs/tags/NAME)');
  });

  test('a masking pipeline whose buildspec is not in the repository is refused', () => {
    const message = errorOf(
      () =>
        new MaskingPipeline(scope(), 'masking', {
          namePrefix: 'rds-cutover-test',
          environmentName: 'test',
          accountId: '123456789012',
          region: 'eu-west-1',
          keyAdministratorArns: keyProps.administratorArns,
          readerAccountIds: ['210987654321'],
          vpcEndpoints: { existing: { securityGroupId: 'sg-0a1b2c3d4e5f60071', s3PrefixListId: 'pl-6da54004' } },
          sourceVersion: 'refs/tags/v1.0.0',
          secretArns: ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:key-AbCdEf'],
          vpcId: 'vpc-0a1b2c3d4e5f60001',
          vpcCidr: '10.0.0.0/16',
          subnetIds: ['subnet-0a1b2c3d4e5f60011', 'subnet-0a1b2c3d4e5f60012'],
          buildspecPath: 'aws/buildspec/missing.yml',
        }),
    );
    expect(message).toContain('test/masking: buildspecPath: received "aws/buildspec/missing.yml"; expected a file in the repository');
  });
});
