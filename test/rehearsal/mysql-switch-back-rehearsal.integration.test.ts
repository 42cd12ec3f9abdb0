/**
 * `npm run rehearse -- --switch-back` (issue 12): forward, then back, under one write load on
 * real servers. The report has both windows, each with its write gap and its writes — lost
 * measured from the load's records against what the endpoint holds (on the target at a
 * checkpoint after the forward switch, on the source at the end), never assumed — and the
 * checksums after each switch.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rehearseMysql } from '../../lib/rehearsal/mysql-rehearsal';
import { exitCodeOf, summaryText } from '../../lib/report';
import { silentLogger } from '../../lib/util/log';
import { loadEnvironment } from '../../config/cutover';

test('a rehearsal with --switch-back switches forward and back under load: both windows measured, 0 lost in each, checksums match after each switch', async () => {
  const environment = loadEnvironment('local');
  // GIVEN / WHEN
  const report = await rehearseMysql({
    environment: 'local',
    settings: { ...environment.mysql!, catchUpTimeoutMs: 60000 },
    stateDir: mkdtempSync(join(tmpdir(), 'rc-rehearsal-back-')),
    log: silentLogger,
    seedRows: 2000,
    load: { connections: 8, ratePerSecond: 400, tailMs: 1500 },
    switchBack: true,
  });
  // THEN both runs succeeded
  expect(report.error).toBeUndefined();
  expect(report.result).toBe('success');
  expect(report.switchBack?.error).toBeUndefined();
  expect(report.switchBack?.result).toBe('success');
  // and checksums matched after each switch
  expect(report.checksums?.match).toBe(true);
  expect(report.switchBack?.checksums?.match).toBe(true);
  // and each window was measured: writes on both sides of each switch, none lost
  for (const window of [report.windows!.forward, report.windows!.back]) {
    expect(window.writes.acknowledged).toBeGreaterThan(100);
    expect(window.writes.lost).toBe(0);
    expect(window.writeUnavailableMs).toBeGreaterThan(0);
  }
  // and each window says where its gap went after traffic moved: reconnecting, then the first write
  for (const facts of [report.facts, report.switchBack!.facts]) {
    const around = facts.writeGapAroundSwitchMs as { firstAckAfterSwitch: number | null; firstConnectAfterSwitch: number | null; connectsRefusedDuringSwitch: number };
    expect(typeof around.firstConnectAfterSwitch).toBe('number');
    expect(typeof around.firstAckAfterSwitch).toBe('number');
    expect(typeof around.connectsRefusedDuringSwitch).toBe('number');
    // and the checksums let the application reconnect on the new side first (bounded by the grace)
    expect(typeof facts.checksumsWaitedForAppMs).toBe('number');
  }
  expect(report.writes!.lost).toBe(0);
  expect(report.writes!.attempted).toBe(report.windows!.forward.writes.attempted + report.windows!.back.writes.attempted);
  // and the summary says so; the exit code is 0
  const summary = summaryText(report).join('\n');
  expect(summary).toMatch(/switch back \(run \S+\): SUCCESS/);
  expect(summary).toMatch(/checksums after the switch back: match/);
  expect(summary).toMatch(/forward window \(built-in load\): write unavailability [\d.]+ ms; \d+ attempted, \d+ acknowledged, \d+ failed, 0 lost/);
  expect(summary).toMatch(/back    window \(built-in load\): write unavailability [\d.]+ ms; .* 0 lost/);
  expect(exitCodeOf(report)).toBe(0);
});
