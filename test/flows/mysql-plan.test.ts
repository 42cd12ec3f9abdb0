import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planText } from '../../lib/runbook/engine';
import { mysqlEncryptRunbook } from '../../lib/flows/mysql-encrypt';
import { LocalMysqlPlatform } from '../../lib/platforms/local/local-mysql-platform';
import { loadEnvironment } from '../../config/cutover';

const FIXTURE = join(__dirname, 'fixtures', 'mysql-encrypt.local.plan.txt');

/**
 * The dry-run plan is what an operator reviews before a cutover: any change to it must be
 * deliberate. Regenerate with UPDATE_PLAN_FIXTURES=1 npx jest test/flows/mysql-plan.test.ts
 * and review the diff.
 */
test('the dry-run plan of the MySQL encrypt flow on the local platform is the committed text, line by line', () => {
  const environment = loadEnvironment('local');
  const lines = planText(mysqlEncryptRunbook(new LocalMysqlPlatform(), environment.mysql!));
  if (process.env.UPDATE_PLAN_FIXTURES) writeFileSync(FIXTURE, lines.join('\n') + '\n');
  const expected = readFileSync(FIXTURE, 'utf8').trimEnd().split('\n');
  expect(lines).toHaveLength(expected.length);
  lines.forEach((line, index) => expect(`${index + 1}: ${line}`).toBe(`${index + 1}: ${expected[index]}`));
});

test('the plan names the point of no return and the gate before it', () => {
  const environment = loadEnvironment('local');
  const lines = planText(mysqlEncryptRunbook(new LocalMysqlPlatform(), { ...environment.mysql!, switchTimeoutMs: 2500, lagThresholdMs: 300 }));
  expect(lines).toContain(' 8. mysql.switch [action, POINT OF NO RETURN]');
  expect(lines).toContain('      Within 2500 ms (--switch-timeout), else abort and reopen the source:');
  expect(lines).toContain('      Wait until the target is healthy and less than 300 ms behind the source (gate before the switch).');
});
