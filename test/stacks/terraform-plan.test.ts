/**
 * The synthesized Terraform is valid and plans, offline: providers come from the local mirror
 * through the project's own CLI config (set for this file only), credentials are fake, and the
 * stacks' offline variant skips every AWS call. One environment (dev has every stack) keeps the
 * suite fast; the other environments differ only in config, covered by the snapshots and by
 * `npm run plan -- --env <name>`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInfraEnvironment } from '../../config/infra';
import { findProviderMirror, offlineTerraformEnvironment, writeTerraformCliConfig } from '../../lib/terraform/cli-config';
import { addEnvironmentStacks } from '../../stacks/app';
import { Testing } from '../../stacks/aws';
import { PROJECT_ROOT } from './helpers';

jest.setTimeout(120_000);

const savedEnvironment = process.env;
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-plan-test-'));
  // The cdktf matchers run terraform with process.env: point it at the mirror for this file only.
  process.env = offlineTerraformEnvironment(writeTerraformCliConfig(join(scratch, 'terraform'), findProviderMirror(savedEnvironment)), savedEnvironment);
});

afterAll(() => {
  process.env = savedEnvironment;
  rmSync(scratch, { recursive: true, force: true });
});

describe('dev stacks, offline', () => {
  const stacks = () => addEnvironmentStacks(Testing.app(), loadInfraEnvironment('dev'), { projectRoot: PROJECT_ROOT, offlineStateDirectory: join(scratch, 'state') }).all;

  test.each(['rds-cutover-dev-cutover', 'rds-cutover-dev-masking', 'rds-cutover-dev-snapshot-share'])('%s is valid Terraform and plans successfully', (name) => {
    const stack = stacks().find((candidate) => candidate.node.id === name)!;
    const directory = Testing.fullSynth(stack);
    expect(directory).toBeValidTerraform();
    expect(directory).toPlanSuccessfully();
  });
});

describe('the plan test can fail', () => {
  test('a stack with an invalid attribute value does not plan', () => {
    const [cutover] = stacks();
    // The provider rejects a TTL outside Route 53's range at plan time.
    (cutover as unknown as { dns: { record: { addOverride(path: string, value: unknown): void } } }).dns.record.addOverride('type', 'NOT-A-TYPE');
    expect(Testing.fullSynth(cutover)).not.toPlanSuccessfully();
  });

  function stacks() {
    return addEnvironmentStacks(Testing.app(), loadInfraEnvironment('dev'), { projectRoot: PROJECT_ROOT, offlineStateDirectory: join(scratch, 'state') }).all;
  }
});
