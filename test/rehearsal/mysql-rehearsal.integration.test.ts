/**
 * Full rehearsals on real MariaDB servers and HAProxy started by the project, under a write
 * load through the application endpoint. These are the product's promises: no acknowledged
 * write is lost, the data on both sides is equal, and a target that cannot catch up makes the
 * switch abort with the source still taking writes.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rehearseMysql, type MysqlRehearsalOptions } from '../../lib/rehearsal/mysql-rehearsal';
import type { MysqlSandbox } from '../../lib/platforms/local/mysql-sandbox';
import { isAlive } from '../../lib/util/process-group';
import { silentLogger } from '../../lib/util/log';
import { loadEnvironment } from '../../config/cutover';
import { processesUsing } from '../support/processes';
import { connect, type Connection } from '../../lib/engines/mysql/connection';

function options(overrides: Partial<MysqlRehearsalOptions> = {}): MysqlRehearsalOptions {
  const environment = loadEnvironment('local');
  return {
    environment: 'local',
    settings: { ...environment.mysql!, catchUpTimeoutMs: 60000 },
    stateDir: mkdtempSync(join(tmpdir(), 'rc-rehearsal-')),
    log: silentLogger,
    seedRows: 2000,
    load: { connections: 8, ratePerSecond: 400, tailMs: 1500 },
    ...overrides,
  };
}


describe('MySQL-family rehearsal on real servers', () => {
  test('a cutover under write load loses no acknowledged write, checksums match, and leaves no process behind', async () => {
    // GIVEN the local sandbox and the built-in load
    let sandbox: MysqlSandbox | undefined;
    let pids: number[] = [];
    // WHEN the whole flow runs
    const report = await rehearseMysql(options({ onSandbox: (s) => { sandbox = s; } , onSwitched: (s) => { pids = s.pids(); } }));
    // THEN it succeeded with every acknowledged write on the target
    expect(report.error).toBeUndefined();
    expect(report.result).toBe('success');
    expect(report.writes!.acknowledged).toBeGreaterThan(500);
    expect(report.writes!.lost).toBe(0);
    expect(report.writes!.attempted).toBe(report.writes!.acknowledged + report.writes!.failed);
    // and the frozen source and the target have equal per-table checksums
    expect(report.checksums!.match).toBe(true);
    expect(report.checksums!.tables.map((t) => (t as { table: string }).table)).toEqual(['app.audit_log', 'app.customers', 'app.cutover_load', 'app.orders']);
    expect(report.steps.map((s) => s.status).every((s) => s === 'done')).toBe(true);
    expect(report.writeUnavailableMs).toBeGreaterThan(0);
    expect(report.lagAtSwitchMs).not.toBeNull();
    expect(report.facts.tablesWithoutPrimaryKey).toEqual(['app.audit_log']);
    expect(report.facts.memoryTables).toEqual([]);
    // and nothing it started is still running
    expect(pids.length).toBeGreaterThanOrEqual(3); // source, target, HAProxy at the switch
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(processesUsing(sandbox!.baseDir)).toEqual([]);
  });

  test('a stalled target makes the switch abort within --switch-timeout, with the source writable and nothing lost', async () => {
    // GIVEN a target whose SQL thread stops right after the catch-up gate
    // WHEN the switch runs with a 1.5 s budget
    const report = await rehearseMysql(options({ fault: 'replication-stall', settings: { ...options().settings, switchTimeoutMs: 1500 } }));
    // THEN the run is aborted at the switch and says why
    expect(report.result).toBe('aborted');
    expect(report.error).toMatch(/did not reach .* within --switch-timeout 1500 ms.*source was reopened/);
    const switchStep = report.steps.find((s) => s.id === 'mysql.switch')!;
    expect(switchStep.status).toBe('aborted');
    expect(report.steps.find((s) => s.id === 'mysql.verify.checksums')!.status).toBe('not-run');
    // and writes were acknowledged again after the abort (the source reopened)
    expect(report.facts.writesAfterAbort).toBeGreaterThan(0);
    // and every acknowledged write is on the source, where traffic stayed
    expect(report.writes!.lost).toBe(0);
  });

  test('the switch re-checks the lag right before the freeze: a target that fell behind after the catch-up gate is never frozen against', async () => {
    // GIVEN a target that stops applying right after the catch-up gate passed (a global read
    // lock held on it: its replication threads still run, so only a lag measurement sees it)
    let held: Connection | undefined;
    const afterStep: MysqlRehearsalOptions['afterStep'] = async (step, sandbox) => {
      if (step !== 'mysql.replication.catch-up') return;
      held = await connect(sandbox.instance('target').endpoint());
      await held.query('FLUSH TABLES WITH READ LOCK');
    };
    try {
      // WHEN the switch step runs (1.5 s budget)
      const report = await rehearseMysql(options({ afterStep, settings: { ...options().settings, switchTimeoutMs: 1500 } }));
      // THEN it refuses before freezing and says why
      expect(report.result).toBe('aborted');
      expect(report.error).toMatch(/Switch not started: the target fell behind right before the freeze: it did not reach source's position within 1000 ms .*The source was never frozen and keeps the traffic/);
      expect(report.steps.find((s) => s.id === 'mysql.switch')!.status).toBe('aborted');
      // and nothing was frozen: no switch began, no write failed, none was lost
      expect(report.facts.switchStartedAt).toBeUndefined();
      expect(report.facts.switchPhase).toBeUndefined();
      expect(report.writes!.failed).toBe(0);
      expect(report.writes!.lost).toBe(0);
    } finally {
      await held?.end().catch(() => held?.destroy());
    }
  });

  test('replication stopped before the switch: the switch refuses to start, nothing is frozen, writes go on', async () => {
    const report = await rehearseMysql(options({ fault: 'replication-stopped' }));
    expect(report.result).toBe('aborted');
    expect(report.error).toMatch(/Switch not started: the target is not replicating .*the source was never frozen/);
    expect(report.steps.find((s) => s.id === 'mysql.switch')!.status).toBe('aborted');
    // The switch never started, so nothing was frozen and no write failed.
    expect(report.facts.switchStartedAt).toBeUndefined();
    expect(report.writes!.failed).toBe(0);
    expect(report.writes!.lost).toBe(0);
  });
});

