/**
 * The committed example plans (docs/plans/, issue 15) are what the real CLI prints today for
 * each example environment: every one is regenerated here (the same dry runs, nothing sent) and
 * compared byte for byte. A stale file fails with the command that refreshes them all.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { environmentNames } from '../../config/cutover';
import { commandLine, EXAMPLE_PLANS, producePlan, REFRESH_COMMAND } from '../../lib/plan/example-plans';
import { PROJECT_ROOT } from '../../lib/util/project-root';

const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-example-plans-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
jest.setTimeout(180_000);

describe('docs/plans: the committed example plans are current', () => {
  test.each(EXAMPLE_PLANS.map((plan) => [plan.file, plan] as const))('%s equals what the CLI writes now', async (_file, plan) => {
    const { code, text } = await producePlan(plan, scratch);
    expect(code).toBe(0);
    const committed = join(PROJECT_ROOT, plan.file);
    if (!existsSync(committed)) throw new Error(`${plan.file} is missing: run ${REFRESH_COMMAND} and commit docs/plans/`);
    if (readFileSync(committed, 'utf8') !== text) {
      const a = readFileSync(committed, 'utf8').split('\n');
      const b = text.split('\n');
      const line = a.findIndex((value, index) => value !== b[index]);
      throw new Error(`${plan.file} is stale (first difference at line ${line + 1}:\n  committed: ${a[line]}\n  now:       ${b[line]})\nRefresh with: ${REFRESH_COMMAND} (then review the diff and commit docs/plans/)`);
    }
  });

  test('every example environment of config/cutover has a plan, and docs/plans/README.md names each command as typed', () => {
    const covered = new Set(EXAMPLE_PLANS.map((plan) => plan.argv[plan.argv.indexOf('--env') + 1]));
    // sandbox plans against servers a person started (npm run sandbox -- up): no offline plan to commit.
    expect(environmentNames().filter((name) => name !== 'sandbox' && !covered.has(name))).toEqual([]);
    const readme = readFileSync(join(PROJECT_ROOT, 'docs/plans/README.md'), 'utf8');
    for (const plan of EXAMPLE_PLANS) expect(readme).toContain(commandLine(plan));
    expect(readme).toContain(REFRESH_COMMAND);
  });

  test('the markdown examples mark the point of no return and carry no secret and no absolute path of the machine that wrote them', () => {
    for (const plan of EXAMPLE_PLANS) {
      const text = readFileSync(join(PROJECT_ROOT, plan.file), 'utf8');
      expect({ file: plan.file, leaks: text.match(/\/(root|home|tmp|work)\/\S+/g) }).toEqual({ file: plan.file, leaks: null });
      if (plan.kind === 'markdown') expect({ file: plan.file, ponr: /\*\*Point of no return:\*\*/.test(text) }).toEqual({ file: plan.file, ponr: true });
    }
  });
});
