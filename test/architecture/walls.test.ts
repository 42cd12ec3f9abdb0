import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The walls between layers (shared/STYLE.md), held by dependency-cruiser with the rules in
 * .dependency-cruiser.cjs. Known violations (.dependency-cruiser-known-violations.json) are the
 * ones still to remove; anything new fails.
 */
const root = resolve(__dirname, '../..');
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');

function cruise(paths: string[], cwd = root, extra: string[] = []) {
  const run = spawnSync(depcruise, ['--config', join(root, '.dependency-cruiser.cjs'), '--output-type', 'err', ...extra, ...paths], { cwd, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('architecture walls', () => {
  test('lib, scripts and stacks break no wall beyond the known, listed violations', () => {
    const result = cruise(['lib', 'scripts', 'stacks', 'main.ts'], root, ['--ignore-known', '.dependency-cruiser-known-violations.json']);
    expect(result.output).toContain('no dependency violations found');
    expect(result.status).toBe(0);
  });

  test('each wall fails on a violation: lib loading cdktf or stacks, a flow importing the SDK or a platform, a platform importing a flow, an engine importing a flow, a cycle', () => {
    // GIVEN a scratch tree shaped like the project, with one violation of each rule
    const dir = mkdtempSync(join(tmpdir(), 'rc-walls-'));
    try {
      for (const folder of ['lib/flows', 'lib/engines/mysql', 'lib/platforms/local', 'stacks']) mkdirSync(join(dir, folder), { recursive: true });
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'commonjs', target: 'es2022', strict: true } }));
      writeFileSync(join(dir, 'stacks/aws.ts'), 'export const x = 1;\n');
      writeFileSync(join(dir, 'lib/platforms/local/thing.ts'), 'export const p = 1;\n');
      writeFileSync(join(dir, 'lib/uses-stacks.ts'), "import { x } from '../stacks/aws';\nexport const y = x;\n");
      writeFileSync(join(dir, 'lib/flows/flow.ts'), "import { p } from '../platforms/local/thing';\nexport const f = p;\n");
      writeFileSync(join(dir, 'lib/engines/mysql/engine.ts'), "import { f } from '../../flows/flow';\nexport const e = f;\n");
      writeFileSync(join(dir, 'lib/platforms/local/settings-user.ts'), "import type { Settings } from '../../flows/settings';\nexport const s: Settings | undefined = undefined;\n");
      writeFileSync(join(dir, 'lib/flows/settings.ts'), 'export interface Settings { database: string }\n');
      writeFileSync(join(dir, 'lib/a.ts'), "import { b } from './b';\nexport const a = () => b;\n");
      writeFileSync(join(dir, 'lib/b.ts'), "import { a } from './a';\nexport const b = () => a;\n");
      // WHEN the walls are checked there
      const result = cruise(['lib', 'stacks'], dir);
      // THEN every rule reports its violation and the check fails
      expect(result.status).not.toBe(0);
      for (const rule of ['lib-never-loads-stacks-or-cdktf', 'flows-never-import-the-aws-sdk-or-a-platform', 'platforms-never-import-flows', 'engines-never-import-platforms-or-flows', 'no-import-cycles']) {
        expect(result.output).toContain(rule);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a flow does not ask which platform runs it: no branch on platform.kind, rdsProcedures or a platform-only setting in lib/flows', () => {
    // What a platform does differently is its capability (PostgresPlatform.replicationRoleSql,
    // MysqlPlatform.describe.readOnly, the dialect's binlogRetention): a flow that tests the
    // platform's identity instead grows a branch per platform and its plan says "(AWS: …)".
    const asks = [/\bkind\s*[!=]==/, /platform\.rdsProcedures\s*\?/, /if\s*\(\s*!?platform\.rdsProcedures\b/, /'sourceClusterId'\s+in\b/, /rdsReplicationRole/];
    const flows = join(root, 'lib/flows');
    const found = readdirSync(flows)
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) => readFileSync(join(flows, file), 'utf8').split('\n').map((line, index) => ({ where: `lib/flows/${file}:${index + 1}`, line })))
      .filter(({ line }) => asks.some((pattern) => pattern.test(line)))
      .map(({ where, line }) => `${where}: ${line.trim()}`);
    expect(found).toEqual([]);
  });
});
