/**
 * The headline of a run cannot be greener than its proof: a run whose runbook succeeded but whose
 * checksums were not compared (resumed past the switch) is "SUCCESS, NOT VERIFIED" in the summary,
 * in report.json and on the report page (a kill -9 during the checksums, then --resume, exited 4
 * while report.json said "success" and the page showed a green SUCCESS with no checksum figure);
 * a lost write or differing checksums make the headline FAILED, whatever the runbook said.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CODES, exitCodeOf, reportFromRun, summaryText, verdictOf, writeReport } from '../../lib/report';
import { reportPageHtml } from '../../lib/report-page/html';
import type { RunResult } from '../../lib/runbook/engine';

function run(facts: Record<string, unknown>, extra: Partial<RunResult> = {}): RunResult {
  return { runId: 'r1', flow: 'mysql.encrypt', environment: 'sandbox', result: 'success', dryRun: false, durationMs: 1900, steps: [{ id: 'mysql.switch', status: 'done-earlier', durationMs: 40 }, { id: 'mysql.verify', status: 'done', durationMs: 5 }], facts, problems: [], ...extra } as RunResult;
}

const unverified = () => reportFromRun(run({ checksumsVerified: false, checksumsNotVerifiedReason: 'resumed past the switch: compare with npm run verify' }), { engine: 'mysql', startedAt: new Date(5000) });

test('GIVEN a successful run whose checksums were not compared THEN summary, JSON and page say SUCCESS, NOT VERIFIED and the exit code is 4', () => {
  const report = unverified();
  expect(exitCodeOf(report)).toBe(EXIT_CODES.unverified);
  expect(verdictOf(report)).toMatchObject({ kind: 'not-verified', label: 'SUCCESS, NOT VERIFIED', exitCode: EXIT_CODES.unverified });
  expect(summaryText(report)[0]).toBe('mysql.encrypt on sandbox: SUCCESS, NOT VERIFIED');

  const html = reportPageHtml(report);
  expect(html).toMatch(/<span class="result not-verified" id="result">SUCCESS, NOT VERIFIED<\/span>/);
  expect(html).not.toMatch(/class="result success"/);
  expect(html).toContain('id="figure-checksums"');
  expect(html).toMatch(/NOT VERIFIED[^<]*<\/[a-z]+>[\s\S]*resumed past the switch: compare with npm run verify/);

  const dir = mkdtempSync(join(tmpdir(), 'rc-verdict-'));
  try {
    writeReport(join(dir, 'report.json'), report);
    const written = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(written.result).toBe('success');
    expect(written.verdict).toBe('not-verified');
    expect(written.exitCode).toBe(EXIT_CODES.unverified);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GIVEN a run whose runbook succeeded but a write was lost or a checksum differs THEN the headline is FAILED with the reason', () => {
  const lost = reportFromRun(run({}), { engine: 'mysql', startedAt: new Date(0), writes: { attempted: 10, acknowledged: 10, failed: 0, lost: 1 } as never });
  expect(summaryText(lost)[0]).toBe('mysql.encrypt on sandbox: FAILED (1 acknowledged write lost)');
  expect(verdictOf(lost).kind).toBe('failed');
  const differ = reportFromRun(run({ checksums: { match: false, tables: [] } }), { engine: 'mysql', startedAt: new Date(0) });
  expect(summaryText(differ)[0]).toBe('mysql.encrypt on sandbox: FAILED (checksums differ)');
  expect(reportPageHtml(differ)).toMatch(/<span class="result failed" id="result">FAILED \(checksums differ\)<\/span>/);
});

test('GIVEN a verified success THEN the headline stays SUCCESS', () => {
  const ok = reportFromRun(run({ checksums: { match: true, tables: [] }, checksumsVerified: true }), { engine: 'mysql', startedAt: new Date(0) });
  expect(verdictOf(ok)).toMatchObject({ kind: 'success', label: 'SUCCESS', exitCode: EXIT_CODES.ok });
  expect(summaryText(ok)[0]).toBe('mysql.encrypt on sandbox: SUCCESS');
});

test('GIVEN a resumed run THEN the report starts at the first attempt, says when it resumed, and lists earlier steps as done earlier', () => {
  const report = reportFromRun(run({}, { firstStartedAt: '2026-12-01T10:00:00.000Z' }), { engine: 'mysql', startedAt: new Date('2026-12-01T10:05:00.000Z') });
  expect(report.startedAt).toBe('2026-12-01T10:00:00.000Z');
  expect(report.resumedAt).toBe('2026-12-01T10:05:00.000Z');
  const text = summaryText(report).join('\n');
  expect(text).toContain('run id r1, 1.9 s (this attempt; resumed 2026-12-01T10:05:00.000Z, first started 2026-12-01T10:00:00.000Z)');
  expect(text).toMatch(/done-earlier\s+40 ms\s+mysql\.switch/);
});

test('GIVEN checksums whose only non-matching tables could not be read in the switch-time snapshot THEN the headline is SUCCESS, NOT VERIFIED; with one real difference beside them it is FAILED', () => {
  const notRead = { table: 'app.later', sourceRows: -1, targetRows: -1, sourceHash: 'unreadable', targetHash: 'unreadable', match: false, difference: 'not readable in the switch-time snapshot', unreadable: 'source: created or rebuilt after the switch-time snapshot' };
  const same = { table: 'app.a', sourceRows: 1, targetRows: 1, sourceHash: '1:1', targetHash: '1:1', match: true };
  const differs = { table: 'app.b', sourceRows: 2, targetRows: 1, sourceHash: '2:2', targetHash: '1:1', match: false, difference: 'rows differ' };
  const reason = '1 table(s) not compared: app.later: created or rebuilt (ALTER TABLE, OPTIMIZE, TRUNCATE) after the switch';
  const onlyNotRead = reportFromRun(run({ checksums: { match: false, tables: [same, notRead] }, checksumsVerified: false, checksumsNotVerifiedReason: reason }), { engine: 'mysql', startedAt: new Date(0) });
  expect(verdictOf(onlyNotRead)).toMatchObject({ kind: 'not-verified', label: 'SUCCESS, NOT VERIFIED', exitCode: EXIT_CODES.unverified });
  const withDifference = reportFromRun(run({ checksums: { match: false, tables: [same, notRead, differs] } }), { engine: 'mysql', startedAt: new Date(0) });
  expect(verdictOf(withDifference)).toMatchObject({ kind: 'failed', label: 'FAILED (checksums differ)', exitCode: EXIT_CODES.failed });
});
