import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planText } from '../../lib/runbook/engine';
import { LocalPostgresPlatform } from '../../lib/platforms/local/local-postgres-platform';
import { postgresRunbook } from '../../lib/rehearsal/postgres-rehearsal';
import { postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';

const FIXTURES = join(__dirname, 'postgres-plans');

function plan(argv: string[]): string[] {
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', ...argv]);
  return planText(postgresRunbook(args.method, new LocalPostgresPlatform(), postgresSettings(loadEnvironment('local'), args)));
}

/**
 * The dry-run plans are what an operator reviews before a cutover: any change must be
 * deliberate. Regenerate with UPDATE_PLAN_FIXTURES=1 npx jest test/flows/postgres-plan.test.ts
 * and review the diff.
 */
describe.each([
  ['logical', 'logical.local.plan.txt'],
  ['dump', 'dump.local.plan.txt'],
])('the dry-run plan of the PostgreSQL %s flow', (method, fixture) => {
  test('is the committed text, line by line', () => {
    const lines = plan(['--method', method]);
    if (process.env.UPDATE_PLAN_FIXTURES) writeFileSync(join(FIXTURES, fixture), lines.join('\n') + '\n');
    const expected = readFileSync(join(FIXTURES, fixture), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(expected.length);
    lines.forEach((line, index) => expect(`${index + 1}: ${line}`).toBe(`${index + 1}: ${expected[index]}`));
  });
});

test('the logical plan names the point of no return, the gate before it and the options given', () => {
  const lines = plan(['--method', 'logical', '--switch-timeout', '2500', '--lag-threshold', '300', '--target-version', '17']);
  expect(lines).toContain(' 8. postgres.switch [action, POINT OF NO RETURN]');
  expect(lines).toContain('      Within 2500 ms (--switch-timeout), else resume on the source and abort:');
  expect(lines).toContain("      Wait until the target has applied the source's current WAL position within 300 ms (gate before the switch; walsender's reported write position);");
  expect(lines).toContain('  target: local PostgreSQL "target" (sandbox), PostgreSQL 17');
});

test('the steps of both methods appear in the order that makes them safe', () => {
  const ids = (method: string) => plan(['--method', method]).filter((line) => /^ ?\d+\. /.test(line)).map((line) => line.trim().split(' ')[1]);
  expect(ids('logical')).toEqual([
    'postgres.preflight', 'postgres.target.create', 'postgres.publication.create', 'postgres.copy.snapshot', 'postgres.subscription.create', 'postgres.way-back.prepare',
    'postgres.replication.catch-up', 'postgres.switch', 'postgres.verify.checksums', 'postgres.replication.remove',
  ]);
  // dump: verify before the switch, so a difference reopens the source instead of moving traffic
  expect(ids('dump')).toEqual(['postgres.preflight', 'postgres.target.create', 'postgres.source.freeze', 'postgres.copy.dump', 'postgres.verify.checksums', 'postgres.switch']);
});
