import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromProjectRoot, PROJECT_ROOT } from '../../lib/util/project-root';
import { InfraOutputsError, readInfraOutputs } from '../../lib/infra/outputs';

describe('paths in config resolve from the project root, not the current directory', () => {
  const cwd = process.cwd();
  afterEach(() => process.chdir(cwd));

  test('the project root is the folder holding this package.json', () => {
    expect(JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).name).toBe('rds-cutover');
  });

  test('a relative path joins the project root; an absolute one stays', () => {
    expect(fromProjectRoot('.rds-cutover/outputs-prod.json')).toBe(join(PROJECT_ROOT, '.rds-cutover/outputs-prod.json'));
    expect(fromProjectRoot('/etc/x.pem')).toBe('/etc/x.pem');
    expect(fromProjectRoot('a/b', '/srv/p')).toBe('/srv/p/a/b');
  });

  test('GIVEN the command runs from another folder WHEN the outputs are read THEN they are looked up under the project root', () => {
    process.chdir(tmpdir());
    let error: unknown;
    try {
      readInfraOutputs('prod', { file: '.rds-cutover/no-such-outputs.json' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InfraOutputsError);
    expect((error as InfraOutputsError).file).toBe(join(PROJECT_ROOT, '.rds-cutover/no-such-outputs.json'));
  });
});
