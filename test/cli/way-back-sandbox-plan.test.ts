/**
 * Rule (issue 10, one path for plan and run): the sandbox's dry run of switch-back, switch-forth
 * and complete prints the plan recorded from the steps (recordLocal*WayBackPlan: the runbook on
 * the sandbox's recording stand-in, left where the forward run leaves the sandbox), call by call,
 * not the steps' hand-written descriptions alone. What those plans cover under --execute is held
 * by test/flows/mysql-plan-covers-run.integration.test.ts and postgres-plan-covers-run, which
 * record the way back's plans with the same functions.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCutoverCli } from '../../lib/cli/cutover';
import { Journal } from '../../lib/runbook/journal';
import { sandboxFolder, writeSandboxState, type SandboxEngine } from '../../lib/platforms/local/sandbox-state';
import { recordLocalMysqlWayBackPlan } from '../../lib/rehearsal/mysql-rehearsal';
import { mysqlSettings } from '../../lib/cli/settings';
import { parseCutoverArgs } from '../../lib/cli/args';
import { loadEnvironment } from '../../config/cutover';
import type { Logger } from '../../lib/util/log';

const FORWARD_RUN = '20261201-210000-f0f0f0';
const at = '2026-12-01T22:00:00.000Z';
const SECRETS = { mysqlRootPassword: 'plan-root-pw-1', mysqlAppPassword: 'plan-app-pw-1', postgresSuperuserPassword: 'plan-super-pw-1', postgresAppPassword: 'plan-app-pw-2', pgbouncerAdminPassword: 'plan-pooler-pw-1' };

const work: string[] = [];
const previousStateDir = process.env.RDS_CUTOVER_STATE_DIR;
afterAll(() => {
  for (const dir of work) rmSync(dir, { recursive: true, force: true });
  if (previousStateDir === undefined) delete process.env.RDS_CUTOVER_STATE_DIR;
  else process.env.RDS_CUTOVER_STATE_DIR = previousStateDir;
});

/** A state folder with a sandbox of `engine` recorded (its processes gone: the checks after the plan fail, the plan does not need them) and a finished forward run. */
function sandboxWithForwardRun(engine: SandboxEngine): string {
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-wayback-plan-'));
  work.push(stateDir);
  const folder = sandboxFolder(stateDir, engine);
  const servers = ['source', 'target'].map((name, index) => ({ name, pid: 2 ** 22 + index, port: 1 + index, serverId: index + 1, version: 15 }));
  writeSandboxState({ engine, createdAt: at, folder, serversDir: folder, endpoint: { kind: engine === 'mysql' ? 'haproxy' : 'pgbouncer', host: '127.0.0.1', port: 3, pid: 2 ** 22 + 9, user: 'app', database: 'app' }, servers }, SECRETS);
  mkdirSync(join(folder, 'logs'));
  const journal = new Journal(stateDir, FORWARD_RUN);
  journal.append({ type: 'run-start', at, runId: FORWARD_RUN, flow: engine === 'mysql' ? 'mysql.encrypt' : 'postgres.logical', environment: 'sandbox', dryRun: false, options: { platform: 'sandbox', sandbox: folder } });
  journal.append({ type: 'run-end', at, result: 'success' });
  journal.close();
  return stateDir;
}

async function dryRun(engine: SandboxEngine, argv: string[]): Promise<string[]> {
  process.env.RDS_CUTOVER_STATE_DIR = sandboxWithForwardRun(engine);
  const lines: string[] = [];
  const quiet = () => undefined;
  const log: Logger = { debug: quiet, info: quiet, warn: quiet, error: quiet };
  await runCutoverCli(argv, { out: (line) => lines.push(line), log });
  return lines;
}

describe('the sandbox way-back dry runs print the plan recorded from the steps', () => {
  test('GIVEN a forward MySQL run on the sandbox WHEN switch-back is dry-run THEN it prints every recorded call: the source promoted, replication back, HAProxy moved back', async () => {
    const out = await dryRun('mysql', ['switch-back', FORWARD_RUN, '--env', 'sandbox']);
    expect(out).toContain('Calls, in order, recorded from the steps themselves (nothing was started, sent or written; CHANGE = changes something, done only with --execute):');
    const calls = out.filter((line) => /^\s+\d+\. (CHANGE|read|wait|session)/.test(line));
    expect(calls.length).toBeGreaterThan(20);
    expect(calls.some((line) => / CHANGE source: STOP SLAVE$/.test(line))).toBe(true);
    expect(calls.some((line) => / CHANGE target: CHANGE MASTER TO MASTER_HOST='127\.0\.0\.1'/.test(line))).toBe(true);
    expect(calls.some((line) => / CHANGE haproxy: runtime API: .*set server db\/blue state ready/.test(line))).toBe(true);
  });

  test('GIVEN a forward MySQL run WHEN complete --delete-old is dry-run THEN the recorded plan stops the way back, drops its account on both sides and removes the old source', async () => {
    const out = await dryRun('mysql', ['complete', FORWARD_RUN, '--env', 'sandbox', '--delete-old']);
    const calls = out.filter((line) => /^\s+\d+\. (CHANGE|read|wait|session)/.test(line));
    expect(calls.filter((line) => /DROP USER IF EXISTS 'cutover_repl_back'@'127\.0\.0\.1'$/.test(line)).map((line) => line.replace(/^\s+\d+\. CHANGE (\w+):.*/, '$1'))).toEqual(['target', 'source']);
    expect(calls.some((line) => / CHANGE source: RESET SLAVE ALL$/.test(line))).toBe(true);
    expect(calls.some((line) => / CHANGE source: stop mariadbd /.test(line))).toBe(true);
  });

  test('GIVEN a forward PostgreSQL logical run WHEN switch-back is dry-run THEN it prints recorded calls, the pooler paused and repointed', async () => {
    const out = await dryRun('postgres', ['switch-back', FORWARD_RUN, '--env', 'sandbox']);
    expect(out).toContain('Calls, in order, recorded from the steps themselves (nothing was started, sent or written; CHANGE = changes something, done only with --execute):');
    const calls = out.filter((line) => /^\s+\d+\. (CHANGE|read|wait|session)/.test(line));
    expect(calls.some((line) => / pgbouncer: PAUSE /.test(line))).toBe(true);
    // The switch back releases the queued clients onto the old source, and the plan says so (a trial read "on the target").
    expect(out.filter((line) => line.includes('RESUME the pooler'))).toEqual([expect.stringContaining('RESUME the pooler: queued clients continue on the source;')]);
  });

  test('every MySQL way-back plan is recorded to its end on the stand-in the forward run leaves (none stops early)', async () => {
    const settings = mysqlSettings(loadEnvironment('sandbox'), parseCutoverArgs(['--env', 'sandbox']));
    for (const command of ['switch-back', 'switch-forth', 'complete'] as const) {
      const plan = await recordLocalMysqlWayBackPlan(command, settings, { deleteOld: true });
      expect({ command, stoppedAt: plan.stoppedAt }).toEqual({ command, stoppedAt: undefined });
      expect(plan.entries.length).toBeGreaterThan(5);
    }
  });
});
