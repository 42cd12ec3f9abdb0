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
import { findProviderMirror, offlineTerraformEnvironment, writeTerraformCliConfig } from '../../stacks/terraform/cli-config';
import { addEnvironmentStacks } from '../../stacks/app';
import { Testing, type TerraformStack } from '../../stacks/aws';
import { PROJECT_ROOT, testApp } from './helpers';

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

/** The dev stacks in their offline variant, in a fresh app; fullSynth directories are removed afterwards. */
function offlineDevStacks() {
  return addEnvironmentStacks(testApp(), loadInfraEnvironment('dev'), { projectRoot: PROJECT_ROOT, offlineStateDirectory: join(scratch, 'state') });
}

const synthesized: string[] = [];
function fullSynth(stack: TerraformStack): string {
  const directory = Testing.fullSynth(stack);
  synthesized.push(directory);
  return directory;
}
afterAll(() => synthesized.forEach((directory) => rmSync(directory, { recursive: true, force: true })));

describe('dev stacks, offline', () => {
  test.each(['rds-cutover-dev-cutover', 'rds-cutover-dev-masking', 'rds-cutover-dev-snapshot-share'])('%s is valid Terraform and plans successfully', (name) => {
    const stack = offlineDevStacks().all.find((candidate) => candidate.node.id === name)!;
    const directory = fullSynth(stack);
    expect(directory).toBeValidTerraform();
    expect(directory).toPlanSuccessfully();
  });
});

describe('the plan check can fail', () => {
  test('a stack with a value the provider rejects does not plan', () => {
    const { cutover } = offlineDevStacks();
    cutover.dns!.record.addOverride('type', 'NOT-A-RECORD-TYPE');
    expect(fullSynth(cutover)).not.toPlanSuccessfully();
  });
});
