import fs, { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mysqlEncryptRunbook } from '../../lib/flows/mysql-encrypt';
import { localMysqlPlanLines } from '../../lib/cli/local-mysql';
import { recordLocalMysqlPlan } from '../../lib/rehearsal/mysql-rehearsal';
import { loadEnvironment } from '../../config/cutover';
import type { MysqlFlowSettings } from '../../lib/flows/mysql-encrypt';

const FIXTURE = join(__dirname, 'fixtures', 'mysql-encrypt.local.plan.txt');

/** The local plan as `--env local` prints it: recorded from the steps (issue 10). */
const plan = (settings: Partial<MysqlFlowSettings> = {}) => localMysqlPlanLines('local', { ...loadEnvironment('local').mysql!, ...settings });

/** The calls a step recorded, as printed under its id in the plan's calls section. */
function section(lines: string[], step: string): string {
  const start = lines.indexOf(`  ${step}`);
  if (start < 0) throw new Error(`no calls recorded for ${step}`);
  const end = lines.findIndex((line, index) => index > start && /^ {2}\S/.test(line));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

/**
 * The dry-run plan is what an operator reviews before a cutover: any change to it must be
 * deliberate. Regenerate with UPDATE_PLAN_FIXTURES=1 npx jest test/flows/mysql-plan.test.ts
 * and review the diff.
 */
test('the dry-run plan of the MySQL encrypt flow on the local platform is the committed text, line by line', async () => {
  const lines = await plan();
  if (process.env.UPDATE_PLAN_FIXTURES) writeFileSync(FIXTURE, lines.join('\n') + '\n');
  const expected = readFileSync(FIXTURE, 'utf8').trimEnd().split('\n');
  expect(lines).toHaveLength(expected.length);
  lines.forEach((line, index) => expect(`${index + 1}: ${line}`).toBe(`${index + 1}: ${expected[index]}`));
});

test('the plan names the point of no return and the gate before it', async () => {
  const lines = await plan({ switchTimeoutMs: 2500, lagThresholdMs: 300 });
  expect(lines).toContain(' 8. mysql.switch [action, POINT OF NO RETURN]');
  expect(lines).toContain('      Within 2500 ms (--switch-timeout), else abort and reopen the source:');
  expect(lines).toContain('      Wait until the target is healthy and less than 300 ms behind the source (gate before the switch).');
});

test("GIVEN the local plan WHEN recorded THEN the local platform's own operations and the way back's replication are in it, from the steps that do them", async () => {
  const lines = await plan();
  // mariadb-backup and the server start, where the replica and the target are made
  for (const step of ['mysql.replica.create', 'mysql.target.clone']) {
    expect(section(lines, step)).toMatch(/CHANGE (source|replica): mariadb-backup --defaults-file=<\w+ my\.cnf> --backup --target-dir=/);
    expect(section(lines, step)).toMatch(/CHANGE (replica|target): mariadbd --defaults-file=/);
  }
  expect(section(lines, 'mysql.replica.create')).toMatch(/CHANGE replica: CHANGE MASTER TO .*MASTER_LOG_FILE='<binlog file of the source copy>'/);
  // HAProxy: the target parked ahead of the switch, the one-round-trip move inside it, the config file following
  const switchCalls = section(lines, 'mysql.switch');
  expect(switchCalls).toContain('CHANGE haproxy: runtime API: set server db/green state maint; set server db/green addr 127.0.0.1 port <target port>');
  expect(switchCalls).toContain('CHANGE haproxy: runtime API: set server db/blue state maint; shutdown sessions server db/blue; set server db/green state ready');
  expect(switchCalls).toContain('CHANGE haproxy: rewrite haproxy.cfg: backend db blue 127.0.0.1:<source port> disabled, green 127.0.0.1:<target port>');
  // the way back, built before traffic moves: its account made on the source (it reaches the
  // target through replication before the freeze), then the old source replicating from the target
  expect(switchCalls).toContain("CHANGE source: CREATE USER IF NOT EXISTS 'cutover_repl_back'@'127.0.0.1'");
  expect(switchCalls).toContain("CHANGE source: CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=<target port>, MASTER_USER='cutover_repl_back'");
  const at = (text: string) => switchCalls.indexOf(text);
  expect(at("CREATE USER IF NOT EXISTS 'cutover_repl_back'")).toBeLessThan(at('SET GLOBAL read_only = ON'));
  expect(at("MASTER_USER='cutover_repl_back'")).toBeLessThan(at('runtime API: set server db/blue state maint'));
});

/**
 * Rule: a plan does not touch the disk. The platform clears a backup folder in the sandbox
 * and a real sandbox makes a temp folder; a plan records the command lines with
 * `<sandbox folder>` and must create, remove or write nothing (TMPDIR pointed at a folder that
 * does not exist fails any mkdtemp; every file-changing call is watched).
 */
test('GIVEN TMPDIR that does not exist WHEN the local plan is recorded THEN it is complete and nothing on disk was made, removed or written', async () => {
  const watched = ['mkdtempSync', 'mkdirSync', 'rmSync', 'renameSync', 'writeFileSync', 'openSync'] as const;
  const spies = watched.map((name) => jest.spyOn(fs, name));
  const tmpdir = process.env.TMPDIR;
  process.env.TMPDIR = join(__dirname, 'no-such-folder-for-a-plan');
  try {
    const settings = loadEnvironment('local').mysql!;
    const recorded = await recordLocalMysqlPlan({ runbook: (platform) => mysqlEncryptRunbook(platform, settings), databases: settings.databases });
    expect(recorded.stoppedAt).toBeUndefined();
    expect(recorded.steps.every((step) => step.status === 'recorded')).toBe(true);
    expect(spies.flatMap((spy, index) => spy.mock.calls.map((call) => `${watched[index]}(${JSON.stringify(call[0])})`))).toEqual([]);
    expect(recorded.entries.some((entry) => entry.type === 'call' && entry.channel === 'process' && entry.operation.includes('<sandbox folder>/backup-replica-plan'))).toBe(true);
  } finally {
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
    for (const spy of spies) spy.mockRestore();
  }
});
