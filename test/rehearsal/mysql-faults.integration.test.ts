/**
 * Faults beyond kill -9 (issue 9, item 7), each a case the MySQL rehearsal survives honestly on
 * real servers under write load: the report says what happened and never says SUCCESS with a
 * loss.
 * - The target server restarts during catch-up (its replication does not start by itself:
 *   skip-slave-start, as an RDS replica after a reboot with replication stopped): the run
 *   restarts this run's replication from where it stopped and finishes, 0 lost, checksums match.
 * - A duplicate-key error on the target's replication thread (a row written on the target
 *   outside replication): the run stops before the switch, naming the table, the key and the
 *   fix; the source was never frozen and keeps taking the application's writes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rehearseMysql, type MysqlRehearsalOptions } from '../../lib/rehearsal/mysql-rehearsal';
import { SANDBOX_DATABASE } from '../../lib/platforms/local/mysql-sandbox';
import { connect, rows } from '../../lib/engines/mysql/connection';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger } from '../../lib/util/log';

jest.setTimeout(900_000);

const stateDirs: string[] = [];
afterAll(() => stateDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function options(overrides: Partial<MysqlRehearsalOptions>): MysqlRehearsalOptions {
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-mysql-faults-'));
  stateDirs.push(stateDir);
  return {
    environment: 'local',
    settings: { ...loadEnvironment('local').mysql!, catchUpTimeoutMs: 120000, switchTimeoutMs: 20000 },
    stateDir,
    log: silentLogger,
    seedRows: 500,
    load: { connections: 2, ratePerSecond: 100, tailMs: 1000 },
    ...overrides,
  };
}

describe('MySQL rehearsal: faults it survives honestly', () => {
  test('the target server restarted during catch-up: replication resumes from where it stopped, the run succeeds, 0 lost, checksums match', async () => {
    let restarted = false;
    // GIVEN a target that is stopped and started again right after replication started
    const report = await rehearseMysql(
      options({
        afterStep: async (step, sandbox) => {
          if (step !== 'mysql.replication.start') return;
          await sandbox.instance('target').stop();
          await sandbox.instance('target').start();
          restarted = true;
        },
      }),
    );
    // THEN the run finished, nothing lost, and the data is equal on both sides
    expect(restarted).toBe(true);
    expect(report.error).toBeUndefined();
    expect(report.result).toBe('success');
    expect(report.writes!.lost).toBe(0);
    expect(report.checksums!.match).toBe(true);
    // and the catch-up says it restarted replication (not just "lag")
    expect(report.facts.replicationRestartedDuringCatchUp).toBe(1);
  });

  test('a duplicate key on the target\'s replication thread: the run stops before the switch naming the table, the key and the fix; the source was never frozen and keeps taking writes', async () => {
    let sourceWritable: { readOnly: number; appLocked: boolean; endpointOnSource: boolean } | undefined;
    // GIVEN a row written on the target outside replication (root bypasses read_only), then the same key on the source
    const report = await rehearseMysql(
      options({
        afterStep: async (step, sandbox) => {
          if (step !== 'mysql.replication.start') return;
          const target = await connect(sandbox.instance('target').endpoint(), { database: SANDBOX_DATABASE });
          await target.query("INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES (987654321, 0, 0, 'written on the target', NOW(6))");
          await target.end();
          const source = await connect(sandbox.instance('source').endpoint(), { database: SANDBOX_DATABASE });
          await source.query("INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES (987654321, 0, 0, 'written on the source', NOW(6))");
          await source.end();
        },
        beforeStop: async (sandbox) => {
          const source = await connect(sandbox.instance('source').endpoint());
          const [state] = await rows<{ ro: number; locked: string | null }>(source, "SELECT @@global.read_only AS ro, (SELECT JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv WHERE User = 'app' LIMIT 1) AS locked");
          await source.end();
          const app = await connect(sandbox.appEndpoint(), { database: SANDBOX_DATABASE });
          const [served] = await rows<{ port: number }>(app, 'SELECT @@port AS port');
          await app.end();
          sourceWritable = { readOnly: Number(state.ro), appLocked: state.locked === 'true', endpointOnSource: Number(served.port) === sandbox.instance('source').port };
        },
      }),
    );
    // THEN it stopped before the switch, saying what broke, where, and how to fix it
    expect(report.result).toBe('aborted');
    expect(report.error).toMatch(/^Replication on the target stopped on a duplicate key in table app\.cutover_load \(Duplicate entry '987654321' for key 'PRIMARY'\)/);
    expect(report.error).toContain('The source was never frozen and keeps taking writes');
    expect(report.error).toMatch(/Fix: .*DELETE .*app\.cutover_load.*START SLAVE.*--resume/);
    expect(report.steps.find((s) => s.id === 'mysql.replication.catch-up')!.status).toBe('aborted');
    expect(report.steps.find((s) => s.id === 'mysql.switch')!.status).toBe('not-run');
    expect(report.facts.sourceFrozenAt).toBeUndefined();
    // and the application kept writing to the source
    expect(sourceWritable).toEqual({ readOnly: 0, appLocked: false, endpointOnSource: true });
    expect(report.writes!.lost).toBe(0);
    expect(report.writes!.failed).toBe(0);
  });
  test('the source\'s binlogs purged past the recorded start coordinates: replication is refused before it is configured, naming the file, what the source still has and the fix; the source keeps taking writes', async () => {
    let after: { replication: number; readOnly: number; endpointOnSource: boolean } | undefined;
    // GIVEN binlogs purged on the source after the start coordinates were recorded (before replication starts)
    const report = await rehearseMysql(
      options({
        afterStep: async (step, sandbox) => {
          if (step !== 'mysql.target.clone') return;
          const source = await connect(sandbox.instance('source').endpoint());
          await source.query('FLUSH BINARY LOGS');
          const logs = await rows<{ Log_name: string }>(source, 'SHOW BINARY LOGS');
          const newest = logs[logs.length - 1].Log_name;
          // A file still read by a binlog dump thread (the stopped replica's, ending lazily) is kept by PURGE: retry until it is gone.
          for (let attempt = 0; ; attempt += 1) {
            await source.query(`PURGE BINARY LOGS TO '${newest}'`);
            if ((await rows(source, 'SHOW BINARY LOGS')).length === 1) break;
            if (attempt > 120) throw new Error('the source kept its old binlogs');
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
          await source.end();
        },
        beforeStop: async (sandbox) => {
          const target = await connect(sandbox.instance('target').endpoint());
          const replication = (await rows(target, 'SHOW SLAVE STATUS')).length;
          await target.end();
          const source = await connect(sandbox.instance('source').endpoint());
          const [state] = await rows<{ ro: number }>(source, 'SELECT @@global.read_only AS ro');
          await source.end();
          const app = await connect(sandbox.appEndpoint(), { database: SANDBOX_DATABASE });
          const [served] = await rows<{ port: number }>(app, 'SELECT @@port AS port');
          await app.end();
          after = { replication, readOnly: Number(state.ro), endpointOnSource: Number(served.port) === sandbox.instance('source').port };
        },
      }),
    );
    // THEN replication was refused before anything was configured on the target, saying why and what to do
    expect(report.result).toBe('failed');
    expect(report.error).toMatch(/^The source no longer has binlog \S+ \(purged; its oldest is \S+\): the target cannot replicate from the recorded start coordinates \S+:\d+/);
    expect(report.error).toMatch(/raise the source's binlog retention .*rerun the move from the start/);
    expect(report.steps.find((s) => s.id === 'mysql.replication.start')!.status).toBe('failed');
    expect(report.steps.find((s) => s.id === 'mysql.switch')!.status).toBe('not-run');
    expect(after).toEqual({ replication: 0, readOnly: 0, endpointOnSource: true });
    expect(report.writes!.lost).toBe(0);
  });
  test('the application endpoint (HAProxy) down at the switch: the switch aborts before anything is frozen, naming the endpoint and the fix; the source keeps taking writes, nothing is lost', async () => {
    let after: { readOnly: number; appLocked: boolean; targetReadOnly: number } | undefined;
    // GIVEN HAProxy stopped after the lag gate passed, right before the switch
    const report = await rehearseMysql(
      options({
        afterStep: async (step, sandbox) => {
          if (step === 'mysql.replication.catch-up') await sandbox.haproxy.stop();
        },
        beforeStop: async (sandbox) => {
          const source = await connect(sandbox.instance('source').endpoint());
          const [state] = await rows<{ ro: number; locked: string | null }>(source, "SELECT @@global.read_only AS ro, (SELECT JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv WHERE User = 'app' LIMIT 1) AS locked");
          await source.end();
          const target = await connect(sandbox.instance('target').endpoint());
          const [targetState] = await rows<{ ro: number }>(target, 'SELECT @@global.read_only AS ro');
          await target.end();
          after = { readOnly: Number(state.ro), appLocked: state.locked === 'true', targetReadOnly: Number(targetState.ro) };
        },
      }),
    );
    // THEN the switch aborted before the point of no return, saying so
    expect(report.result).toBe('aborted');
    expect(report.error).toMatch(/^Switch not started: the application endpoint could not be prepared for the switch \(.+\)\. The source was never frozen and keeps taking writes; traffic never moved\. Fix: bring the endpoint back \(.*HAProxy.*\), then --resume/);
    expect(report.steps.find((s) => s.id === 'mysql.switch')!.status).toBe('aborted');
    expect(report.facts.sourceFrozenAt ?? report.facts.switchPhase).toBeUndefined();
    // and the source is open for the application, the target still closed, no acknowledged write lost
    expect(after).toEqual({ readOnly: 0, appLocked: false, targetReadOnly: 1 });
    expect(report.writes!.lost).toBe(0);
  });
});
