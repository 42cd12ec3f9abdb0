/**
 * The scripts read the stacks' outputs from `.rds-cutover/outputs-<env>.json`, as written by
 * `cdktf output --outputs-file`. The reader and the stacks share one list of output names.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readInfraOutputs, outputsFilePath } from '../../lib/infra/outputs';
import { synthesizeExample } from './helpers';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What `cdktf output` would write after a deploy: each declared output with a plausible value. */
function fakeOutputsFile(environmentName: string): Json {
  const { json } = synthesizeExample(environmentName);
  return Object.fromEntries(
    Object.entries(json).map(([stack, content]) => {
      const outputs = (JSON.parse(content).output ?? {}) as Record<string, { value: unknown }>;
      return [
        stack,
        Object.fromEntries(
          Object.entries(outputs).map(([name, { value }]) => [name, typeof value === 'string' && value.includes('${') ? `deployed-${name}` : value]),
        ),
      ];
    }),
  );
}

const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-outputs-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function writeOutputs(content: unknown): string {
  const directory = mkdtempSync(join(scratch, 'case-'));
  const file = join(directory, 'outputs.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('readInfraOutputs', () => {
  test.each([['prod'], ['stg'], ['dev']])('reads every output the %s stacks declare', (name) => {
    const outputs = readInfraOutputs(name, { file: writeOutputs(fakeOutputsFile(name)) });
    expect(outputs.cutover.fenceSecurityGroupId).toBe('deployed-fenceSecurityGroupId');
    expect(outputs.cutover.storageKeyArn).toBe('deployed-storageKeyArn');
  });

  test('gives the scripts typed values: ports and TTLs as numbers, the proxy initial target as configured', () => {
    const outputs = readInfraOutputs('dev', { file: writeOutputs(fakeOutputsFile('dev')) });
    expect(outputs.database).toMatchObject({ kind: 'instance', port: 5432, endpoint: 'deployed-databaseEndpoint', frozenParameterGroupName: 'deployed-databaseFrozenParameterGroupName' });
    expect(outputs.dns?.ttlSeconds).toBe(15);
    expect(outputs.proxy).toMatchObject({ initialTargetKind: 'instance', initialTargetIdentifier: 'catalog' });
    expect(outputs.snapshotShare?.targetAccountIds).toEqual(['444444444444']);
    expect(outputs.masking?.bucketName).toBe('deployed-maskingBucketName');
  });

  test('omits groups the environment does not configure', () => {
    const outputs = readInfraOutputs('stg', { file: writeOutputs(fakeOutputsFile('stg')) });
    expect(outputs.masking).toBeUndefined();
    expect(outputs.snapshotShare).toBeUndefined();
  });

  test('names each missing output with its stack, and how to refresh the file', () => {
    const content = fakeOutputsFile('prod');
    delete content['rds-cutover-prod-cutover'].fenceSecurityGroupId;
    delete content['rds-cutover-prod-masking'];
    let message = '';
    try {
      readInfraOutputs('prod', { file: writeOutputs(content) });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('stack "rds-cutover-prod-cutover" has no output "fenceSecurityGroupId"');
    expect(message).toContain('stack "rds-cutover-prod-masking" has no output "maskingBucketName"');
    expect(message).toContain("npx cdktf output 'rds-cutover-prod-*' --outputs-file");
  });

  test('names a value of the wrong type', () => {
    const content = fakeOutputsFile('dev');
    content['rds-cutover-dev-cutover'].databasePort = '5432';
    expect(() => readInfraOutputs('dev', { file: writeOutputs(content) })).toThrow(/output "databasePort": received "5432"/);
  });

  test('a missing file names the command that writes it', () => {
    const projectRoot = mkdtempSync(join(scratch, 'empty-'));
    expect(() => readInfraOutputs('dev', { projectRoot })).toThrow(
      `${join(projectRoot, outputsFilePath('dev'))}: not found; run \`npx cdktf output 'rds-cutover-dev-*' --outputs-file .rds-cutover/outputs-dev.json\` after \`cdktf deploy\``,
    );
  });

  test('a file that is not JSON is reported as such', () => {
    expect(() => readInfraOutputs('dev', { file: writeOutputs('{ not json') })).toThrow(/not valid JSON/);
  });
});
