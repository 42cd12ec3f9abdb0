import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runCutoverCli } from '../cli/cutover';
import { silentLogger } from '../util/log';
import { PROJECT_ROOT } from '../util/project-root';

/**
 * The committed example plans (docs/plans/): one per example environment, each written by the
 * real CLI in a dry run that sends nothing (--offline, or the local plan that starts nothing),
 * from config/cutover/<env>.ts and the committed example outputs of the stacks. A reviewer
 * reads what a plan looks like without AWS access; test/docs/example-plans.test.ts regenerates
 * every one and fails when a committed file is stale.
 */

/** The command that rewrites docs/plans/ (package.json "plans:examples"). */
export const REFRESH_COMMAND = 'npm run plans:examples';

const PROD_OUTPUTS = 'test/platforms/aws/fixtures/outputs-prod.json';
const STG_OUTPUTS = 'test/platforms/aws/fixtures/outputs-stg.json';
const MYSQL_REHEARSAL = 'test/report-page/fixtures/mysql-rehearsal-report.json';

export interface ExamplePlan {
  /** Path from the project root. */
  file: string;
  /** The CLI's words (after `npx zx scripts/cutover.mjs`), run from the project root. */
  argv: string[];
  /** markdown: the CLI writes `file` itself (--plan-out); text: the file is what it printed. */
  kind: 'markdown' | 'text';
}

export const EXAMPLE_PLANS: ExamplePlan[] = [
  { file: 'docs/plans/local.txt', kind: 'text', argv: ['--env', 'local'] },
  {
    file: 'docs/plans/prod.md',
    kind: 'markdown',
    argv: ['--env', 'prod', '--offline', '--outputs-file', PROD_OUTPUTS, '--plan-format', 'markdown', '--rehearsal-report', MYSQL_REHEARSAL, '--plan-out', 'docs/plans/prod.md'],
  },
  {
    file: 'docs/plans/prod-aurora.md',
    kind: 'markdown',
    argv: ['--env', 'prod-aurora', '--offline', '--outputs-file', PROD_OUTPUTS, '--plan-format', 'markdown', '--rehearsal-report', MYSQL_REHEARSAL, '--plan-out', 'docs/plans/prod-aurora.md'],
  },
  {
    file: 'docs/plans/prod-pg-logical.md',
    kind: 'markdown',
    argv: ['--env', 'prod-pg', '--method', 'logical', '--offline', '--outputs-file', STG_OUTPUTS, '--plan-format', 'markdown', '--plan-out', 'docs/plans/prod-pg-logical.md'],
  },
  {
    file: 'docs/plans/prod-pg-dump.md',
    kind: 'markdown',
    argv: ['--env', 'prod-pg', '--method', 'dump', '--offline', '--outputs-file', STG_OUTPUTS, '--plan-format', 'markdown', '--plan-out', 'docs/plans/prod-pg-dump.md'],
  },
  {
    file: 'docs/plans/prod-share.md',
    kind: 'markdown',
    argv: ['--env', 'prod-share', '--flow', 'share-snapshot', '--offline', '--plan-format', 'markdown', '--plan-out', 'docs/plans/prod-share.md'],
  },
];

/** The command line as a person types it (shown in docs/plans/README.md). */
export function commandLine(plan: ExamplePlan): string {
  return `npx zx scripts/cutover.mjs ${plan.argv.join(' ')}${plan.kind === 'text' ? ` > ${plan.file}` : ''}`;
}

/**
 * Run one example's command through the CLI and return the plan it produced. `writeTo` is the
 * root the plan's file goes under (the project root to refresh, a temp folder to compare).
 * Relative paths in the command resolve from the project root, as when typed there.
 */
export async function producePlan(plan: ExamplePlan, writeTo: string): Promise<{ code: number; text: string; printed: string[] }> {
  const target = join(writeTo, plan.file);
  mkdirSync(dirname(target), { recursive: true });
  const argv = plan.argv.map((word) => (word === plan.file ? target : word.startsWith('test/') ? join(PROJECT_ROOT, word) : word));
  const printed: string[] = [];
  const code = await runCutoverCli(argv, { out: (line) => printed.push(line), log: silentLogger });
  if (plan.kind === 'text') writeFileSync(target, `${printed.join('\n')}\n`);
  return { code, text: readFileSync(target, 'utf8'), printed };
}
