import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CutoverReport } from '../../lib/report';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { finishRun } from '../../lib/cli/finish';
import { escapeHtml, jsonForScript, reportPageHtml, reportPagePath } from '../../lib/report-page/html';
import { registerSecret } from '../../lib/util/secrets';

const realReport = (): CutoverReport => JSON.parse(readFileSync(join(__dirname, 'fixtures', 'mysql-rehearsal-report.json'), 'utf8'));
const HOSTILE = `</script><img src=x onerror="alert(1)">'&`;

/** The JSON the page's script reads back. */
function embeddedReport(html: string): CutoverReport {
  const match = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  return JSON.parse(match![1]);
}

describe('report page path', () => {
  test('the page sits next to the JSON report, same basename, .html', () => {
    expect(reportPagePath('/s/runs/r1/report.json')).toBe('/s/runs/r1/report.html');
    expect(reportPagePath('out/cutover.JSON')).toBe('out/cutover.html');
    expect(reportPagePath('out/cutover')).toBe('out/cutover.html');
    expect(reportPagePath('out/cutover.txt')).toBe('out/cutover.txt.html');
  });
});

describe('a rehearsal\'s report files (finishRun, as the CLI writes them)', () => {
  let work: string;
  beforeEach(() => (work = mkdtempSync(join(tmpdir(), 'rc-report-html-'))));
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  test('without --report: report.html beside report.json in the run\'s folder, and the path printed', () => {
    const lines: string[] = [];
    finishRun(realReport(), { report: parseCutoverArgs(['--env', 'local', '--execute']).report, stateDir: work, out: (line) => lines.push(line) });
    const page = join(work, 'runs', '20261201-013423-62f3ec', 'report.html');
    expect(readFileSync(page, 'utf8')).toMatch(/^<!doctype html>/);
    expect(lines).toContain(`report page: ${page}`);
  });

  test('with --report FILE: the page takes FILE\'s basename with .html', () => {
    mkdirSync(join(work, 'out')); // --report needs an existing folder (checked before anything starts)
    finishRun(realReport(), { report: parseCutoverArgs(['--env', 'local', '--execute', '--report', join(work, 'out', 'cutover.json')]).report, stateDir: work, out: () => undefined });
    expect(existsSync(join(work, 'out', 'cutover.html'))).toBe(true);
  });

  // README: --report FILE writes the report, and it is always also in the run's folder (where
  // `status` and an emulated rehearsal's session look for it by run id). Before, only FILE.
  test('with --report FILE: the run\'s folder has its report.json too, the same report', () => {
    mkdirSync(join(work, 'out'));
    finishRun(realReport(), { report: parseCutoverArgs(['--env', 'local', '--execute', '--report', join(work, 'out', 'cutover.json')]).report, stateDir: work, out: () => undefined });
    const inRunFolder = join(work, 'runs', '20261201-013423-62f3ec', 'report.json');
    expect(existsSync(inRunFolder) && readFileSync(inRunFolder, 'utf8')).toBe(readFileSync(join(work, 'out', 'cutover.json'), 'utf8'));
  });

  test('a dry run has no timeline to show: no page', () => {
    finishRun({ ...realReport(), dryRun: true, result: 'planned' }, { report: parseCutoverArgs(['--env', 'local', '--report', join(work, 'plan.json')]).report, stateDir: work, out: () => undefined });
    expect(existsSync(join(work, 'plan.json'))).toBe(true);
    expect(existsSync(join(work, 'plan.html'))).toBe(false);
  });
});

describe('reportPageHtml', () => {
  test('report strings cannot break out of the markup or the data block', () => {
    // GIVEN a table name, an error and a fact made of markup
    const report = realReport();
    (report.checksums!.tables as Array<{ table: string }>)[0].table = HOSTILE;
    report.error = HOSTILE;
    report.facts.note = HOSTILE;
    // WHEN the page is built
    const html = reportPageHtml(report);
    // THEN the markup appears only escaped, and the data block reads back the same strings
    expect(html).not.toContain('<img src=x');
    expect(html).toContain(escapeHtml(HOSTILE));
    const embedded = embeddedReport(html);
    expect(embedded.error).toBe(HOSTILE);
    expect((embedded.checksums!.tables as Array<{ table: string }>)[0].table).toBe(HOSTILE);
    expect(jsonForScript({ s: '</script>' })).not.toContain('</');
  });

  test('the page is self-contained: the library inlined, no external resource, a policy that forbids fetching', () => {
    const html = reportPageHtml(realReport());
    expect(html).toContain('uPlot');
    expect(html).not.toMatch(/<script[^>]*\bsrc=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none';/);
  });

  test('a secret in the report given to the page is masked in the page', () => {
    const secret = registerSecret('Page-Secret-42xyz');
    const report = realReport();
    report.facts.leaky = `password is ${secret}`;
    expect(reportPageHtml(report)).not.toContain(secret);
  });

  test('lost writes are the red figure with the ids; none lost is green', () => {
    const report = realReport();
    expect(reportPageHtml(report)).toMatch(/<div class="figure good" id="figure-lost"><div class="figure-value">0</);
    report.writes = { ...report.writes!, lost: 3, lostIds: ['101', '102', '103'] };
    const html = reportPageHtml(report);
    expect(html).toMatch(/<div class="figure bad" id="figure-lost"><div class="figure-value">3</);
    expect(html).toContain('DATA LOSS: ids 101, 102, 103');
  });

  test('replication lag is said to be not sampled, never drawn from nothing', () => {
    const html = reportPageHtml(realReport());
    expect(html).toContain('Replication lag: not sampled during this run');
    expect(html).toContain('the target needed 11.1 ms');
  });

  test('checksums, steps, switch phases and facts are tables; a differing table is a red row', () => {
    const report = realReport();
    const tables = report.checksums!.tables as Array<{ table: string; match: boolean }>;
    tables[1].match = false;
    report.checksums!.match = false;
    const html = reportPageHtml(report);
    expect(html).toContain('<tr class="bad-row"><td>app.customers</td><td class="num">20000</td><td class="num">20000</td><td><strong>DIFFER</strong></td></tr>');
    expect(html).toMatch(/<div class="figure bad" id="figure-checksums"><div class="figure-value">DIFFER</);
    for (const step of report.steps) expect(html).toContain(`<td>${step.id}</td>`);
    for (const phase of ['freeze', 'targetCatchUp', 'promoteTarget', 'switchEndpoint']) expect(html).toContain(`<td>${phase}</td>`);
    expect(html).toContain('<td>switchEndedAt</td><td><code>1796088899459.758 (2026-12-01T01:34:59.459Z)</code></td>');
  });

  test('a run without write load says so instead of drawing an empty chart', () => {
    const report = realReport();
    delete report.timeline;
    const html = reportPageHtml(report);
    expect(html).toContain('No write load ran in this run');
    expect(html).not.toContain('id="chart-writes"');
  });
});

test('GIVEN a switch back whose checksums were not verified (a table not readable in its snapshots) THEN the page\'s figure says NOT VERIFIED, never DIFFER, as the summary does', () => {
  const report = realReport();
  const notRead = { table: 'app.later', sourceRows: -1, targetRows: -1, sourceHash: 'unreadable', targetHash: 'unreadable', match: false, difference: 'not readable in the switch-time snapshot', unreadable: 'target: created or rebuilt after the switch-time snapshot' };
  report.switchBack = { runId: 'r2', result: 'success', steps: [], switchDurationMs: 100, lagAtSwitchMs: 5, checksums: { match: false, tables: [notRead] }, checksumsVerified: false, checksumsNotVerifiedReason: '1 table(s) not compared: app.later', facts: {} };
  const html = reportPageHtml(report);
  const figure = /<[^>]*id="figure-checksums-back"[^>]*>[\s\S]*?<\/div>/.exec(html)?.[0] ?? '';
  expect(figure).toContain('NOT VERIFIED');
  expect(figure).not.toContain('DIFFER');
});
