/**
 * One list of tags (issue 15): what a cutover run creates (snapshots, copies, replicas, restored
 * instances and clusters) carries the tags the stacks put on theirs — config/infra's
 * `defaultTags` and `rds-cutover:environment` — not a second list in the cutover config.
 */
import { loadEnvironment, parseEnvironment } from '../../config/cutover';
import { loadInfraEnvironment } from '../../config/infra';
import { resolveAwsAuroraMysqlSettings, resolveAwsMysqlSettings, resolveAwsPostgresSettings } from '../../lib/platforms/aws/settings';
import { runTags, RUN_ID_TAG } from '../../lib/platforms/aws/run-tags';
import { synthesizeExample, resources } from './helpers';

const OUTPUTS = `${__dirname}/../platforms/aws/fixtures/outputs-prod.json`;

test('the tags of every resource a run creates are the tags the stacks give theirs, from config/infra defaultTags (only the stack and run-id tags differ)', () => {
  const prodStacks = synthesizeExample('prod');
  const stackTags = { ...prodStacks.stacks.cutover.defaultTags };
  expect(stackTags['rds-cutover:stack']).toBe('cutover');
  delete stackTags['rds-cutover:stack'];
  // The storage key as synthesized carries them (the provider's default_tags).
  expect(JSON.parse(prodStacks.json['rds-cutover-prod-cutover']).provider.aws[0].default_tags[0].tags).toMatchObject(stackTags);
  expect(Object.keys(resources(prodStacks.json['rds-cutover-prod-cutover'], 'aws_kms_key'))).toHaveLength(1);

  const options = { cleanup: false };
  const withFixture = (name: string) => {
    const environment = loadEnvironment(name);
    return { ...environment, aws: { ...environment.aws!, outputsFile: OUTPUTS } };
  };
  const runs = {
    prod: resolveAwsMysqlSettings(withFixture('prod'), options).tags,
    'prod-aurora': resolveAwsAuroraMysqlSettings(withFixture('prod-aurora'), options).tags,
  };
  expect(runs).toEqual({ prod: stackTags, 'prod-aurora': stackTags });
  expect(runTags(runs.prod, 'r1')).toEqual([...Object.entries(stackTags).map(([Key, Value]) => ({ Key, Value })), { Key: RUN_ID_TAG, Value: 'r1' }]);

  // A PostgreSQL environment takes its infra environment's (stg here), the stacks of which it uses.
  const pg = loadEnvironment('prod-pg');
  const stg = loadInfraEnvironment(pg.aws!.infraEnvironment!);
  expect(resolveAwsPostgresSettings(pg, options).tags).toEqual({ ...stg.defaultTags, 'rds-cutover:environment': stg.name });
});

test('aws.tags beside an infra environment is refused, naming the file whose defaultTags the run uses; without an infra environment aws.tags are the run\'s tags', () => {
  const prod = loadEnvironment('prod');
  const twoLists = parseEnvironment({ ...prod, aws: { ...prod.aws!, outputsFile: OUTPUTS, tags: { project: 'rds-cutover' } } }, 'test');
  expect(() => resolveAwsMysqlSettings(twoLists, { cleanup: false })).toThrow(/config\/cutover\/prod\.ts: aws\.tags repeats the tags of config\/infra\/prod\.ts \(defaultTags\): remove aws\.tags/);

  const standalone = parseEnvironment({ ...prod, name: 'standalone', aws: { ...prod.aws!, outputsFile: OUTPUTS, infraEnvironment: 'none', tags: { team: 'orders' } } }, 'test');
  expect(resolveAwsMysqlSettings(standalone, { cleanup: false }).tags).toEqual({ team: 'orders' });
});
