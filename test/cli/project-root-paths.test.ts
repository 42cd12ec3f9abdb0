/**
 * Paths resolve from the project root, not from the folder the command was typed in (issue 15:
 * "runs and outputs are looked up relative to the current directory"). The real CLI runs in its
 * own process from an empty folder elsewhere; each case stops before writing anything (a run id
 * with no journal; the emulator path with an emulator that does not exist), so the checkout's
 * own .rds-cutover/ is only named, never written.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../lib/util/project-root';

const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-cwd-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
jest.setTimeout(120_000);

/** scripts/cutover.mjs as typed, from `cwd`; RDS_CUTOVER_STATE_DIR as given (unset: the environment's own state folder). */
function cli(cwd: string, argv: string[], stateDir?: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_MOTO: join(scratch, 'no-moto-here') };
  delete env.RDS_CUTOVER_STATE_DIR;
  if (stateDir) env.RDS_CUTOVER_STATE_DIR = stateDir;
  const run = spawnSync(process.execPath, [join(PROJECT_ROOT, 'scripts', 'cutover.mjs'), ...argv], { cwd, env, encoding: 'utf8', timeout: 100_000 });
  return { code: run.status, text: `${run.stdout}\n${run.stderr}` };
}

test('GIVEN the CLI typed in another folder WHEN status names a run THEN it looks in the project root\'s .rds-cutover/runs, not the current folder\'s', () => {
  const cwd = mkdtempSync(join(scratch, 'elsewhere-'));
  const { code, text } = cli(cwd, ['status', '20261201-000000-abcdef', '--env', 'prod']);
  expect(code).toBe(2);
  expect(text).toContain(`ls ${join(PROJECT_ROOT, '.rds-cutover')}/runs`);
  expect(readdirSync(cwd)).toEqual([]);
});

test('GIVEN --env aws-emulated typed in another folder THEN its state folder (journal, report, outputs) is the project root\'s .rds-cutover, or RDS_CUTOVER_STATE_DIR when set; nothing lands in the current folder', () => {
  const cwd = mkdtempSync(join(scratch, 'elsewhere-'));
  const fromRoot = cli(cwd, ['--env', 'aws-emulated', '--execute']);
  expect(fromRoot.text).toContain(`state folder: ${join(PROJECT_ROOT, '.rds-cutover')}`);
  // The emulator named by RDS_CUTOVER_MOTO does not exist: the run stops before starting anything.
  expect(fromRoot.text).toContain('RDS_CUTOVER_MOTO=');
  expect(fromRoot.code).not.toBe(0);
  const chosen = join(scratch, 'chosen-state');
  const fromVariable = cli(cwd, ['--env', 'aws-emulated', '--execute'], chosen);
  expect(fromVariable.text).toContain(`state folder: ${chosen}`);
  expect(readdirSync(cwd)).toEqual([]);
});
