import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { postgresRunbook, recordLocalPostgresPlan } from '../../lib/rehearsal/postgres-rehearsal';
import { join } from 'node:path';
import { localPostgresPlanLines, postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';

const FIXTURES = join(__dirname, 'postgres-plans');

/** The local plan as `--env local --engine postgres` prints it: recorded from the steps (issue 10). */
function plan(argv: string[]): Promise<string[]> {
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', ...argv]);
  return localPostgresPlanLines('local', args.method, postgresSettings(loadEnvironment('local'), args));
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
  test('is the committed text, line by line', async () => {
    const lines = await plan(['--method', method]);
    if (process.env.UPDATE_PLAN_FIXTURES) writeFileSync(join(FIXTURES, fixture), lines.join('\n') + '\n');
    const expected = readFileSync(join(FIXTURES, fixture), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(expected.length);
    lines.forEach((line, index) => expect(`${index + 1}: ${line}`).toBe(`${index + 1}: ${expected[index]}`));
  });
});

test('the logical plan names the point of no return, the gate before it and the options given', async () => {
  const lines = await plan(['--method', 'logical', '--switch-timeout', '2500', '--lag-threshold', '300', '--target-version', '17']);
  expect(lines).toContain(' 8. postgres.switch [action, POINT OF NO RETURN]');
  expect(lines).toContain('      Within 2500 ms (--switch-timeout), else resume on the source and abort:');
  expect(lines).toContain("      Wait until the target has applied the source's current WAL position within 300 ms (gate before the switch; the walsender's reported write position, or how far the target's apply worker has processed the stream);");
  expect(lines).toContain('  target: local PostgreSQL "target" (sandbox), PostgreSQL 17');
});

test('the steps of both methods appear in the order that makes them safe', async () => {
  const ids = async (method: string) => (await plan(['--method', method])).filter((line) => /^ ?\d+\. /.test(line)).map((line) => line.trim().split(' ')[1]);
  expect(await ids('logical')).toEqual([
    'postgres.preflight', 'postgres.target.create', 'postgres.publication.create', 'postgres.copy.snapshot', 'postgres.subscription.create', 'postgres.way-back.prepare',
    'postgres.replication.catch-up', 'postgres.switch', 'postgres.verify.checksums', 'postgres.replication.remove',
  ]);
  // dump: verify before the switch, so a difference reopens the source instead of moving traffic
  expect(await ids('dump')).toEqual(['postgres.preflight', 'postgres.target.create', 'postgres.source.freeze', 'postgres.copy.dump', 'postgres.verify.checksums', 'postgres.switch']);
});

test('GIVEN the local plan WHEN recorded THEN the local platform\'s own operations are in it, from the steps that do them', async () => {
  const lines = await plan(['--method', 'logical', '--target-version', '17']);
  const section = (step: string) => {
    const start = lines.indexOf(`  ${step}`);
    const end = lines.findIndex((line, index) => index > start && /^ {2}\S/.test(line));
    return lines.slice(start, end < 0 ? undefined : end).join('\n');
  };
  expect(section('postgres.target.create')).toMatch(/CHANGE target: initdb .*--auth=scram-sha-256/);
  expect(section('postgres.target.create')).toContain('CHANGE target: postgres -D');
  expect(section('postgres.target.create')).toContain('PostgreSQL 17');
  const switchCalls = section('postgres.switch');
  for (const call of ['CHANGE pgbouncer: PAUSE app', 'CHANGE source: ALTER SYSTEM SET default_transaction_read_only = on', 'CHANGE source: SELECT pg_reload_conf()', 'CHANGE pgbouncer: rewrite pgbouncer.ini', 'CHANGE pgbouncer: RELOAD', 'CHANGE pgbouncer: RESUME app']) {
    expect(switchCalls).toContain(call);
  }
  // in the order the switch does them: pause, freeze, … repoint, reload, resume (the read-only
  // default is written beside the pause and in effect only at the server's reload after it)
  const at = (text: string) => switchCalls.indexOf(text);
  expect(at('PAUSE app')).toBeLessThan(at('SELECT pg_reload_conf()'));
  expect(at('ALTER SYSTEM SET')).toBeLessThan(at('SELECT pg_reload_conf()'));
  expect(at('SELECT pg_reload_conf()')).toBeLessThan(at('rewrite pgbouncer.ini'));
  expect(at('rewrite pgbouncer.ini')).toBeLessThan(at('pgbouncer: RELOAD'));
  expect(at('pgbouncer: RELOAD')).toBeLessThan(at('RESUME app'));
});

/**
 * Rule: a plan does not touch the disk. The copy steps make a temp folder under workDir for
 * --execute (pg_dump's directory, the schema archive); a plan records the tools' command lines
 * with `<temp folder>` and must not make (and remove) one: a workDir that does not exist
 * proves it, as mkdtemp there fails.
 */
test.each(['logical', 'dump'] as const)('GIVEN a workDir that does not exist WHEN the %s plan is recorded THEN it is complete (no temp folder was made)', async (method) => {
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--method', method]);
  const missing = join(FIXTURES, 'no-such-folder-for-a-plan');
  const recorded = await recordLocalPostgresPlan({ runbook: (platform) => postgresRunbook(method, platform, { ...postgresSettings(loadEnvironment('local'), args), workDir: missing }), appUsers: ['app'] });
  expect(recorded.stoppedAt).toBeUndefined();
  expect(existsSync(missing)).toBe(false);
  expect(recorded.entries.some((entry) => entry.type === 'call' && entry.channel === 'process' && entry.operation.includes('<temp folder>'))).toBe(true);
});
