import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { switchStarted, verdictOf, type CutoverReport } from '../report';
import { redactValue } from '../util/secrets';
import { NOT_READ_IN_SNAPSHOT } from '../verify/checksums';

/**
 * report.html: the report as one self-contained page (charts, tables, facts) for the operator
 * and the reviewer. Everything is inline (the charting library uPlot, its CSS, our script, the
 * data) and a Content-Security-Policy forbids any fetch, so the page shows the same thing from
 * a laptop, an attachment or an air-gapped host. Built from the report only, which is redacted.
 */

/** Where the page goes: next to the JSON report, same basename, `.html`. */
export function reportPagePath(reportJsonPath: string): string {
  const extension = extname(reportJsonPath);
  const stem = extension.toLowerCase() === '.json' ? basename(reportJsonPath, extension) : basename(reportJsonPath);
  return join(dirname(reportJsonPath), `${stem}.html`);
}

export function writeReportPage(reportJsonPath: string, report: CutoverReport): string {
  const path = reportPagePath(reportJsonPath);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, reportPageHtml(report), { mode: 0o600 });
  return path;
}

/** Text for an HTML text node or a quoted attribute value. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * JSON inside <script type="application/json">: `<` escaped so that no string in the report
 * (a table named `</script>…`) can end the element; U+2028/9 for old parsers.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** A library file inlined into a <script> or <style>: it must not be able to close it early. */
function inlineAsset(path: string, closingTag: string): string {
  const text = readFileSync(path, 'utf8');
  if (text.toLowerCase().includes(`</${closingTag}`)) throw new Error(`${path} contains </${closingTag}: it cannot be inlined safely`);
  return text;
}

const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const format = (value: number | null | undefined, unit = '') => (value === null || value === undefined ? '–' : `${Number.isInteger(value) ? value : value.toFixed(1)}${unit}`);

function figure(label: string, value: string, tone: 'good' | 'bad' | 'warn' | 'neutral', id: string, note = ''): string {
  return `<div class="figure ${tone}" id="${escapeHtml(id)}"><div class="figure-value">${escapeHtml(value)}</div><div class="figure-label">${escapeHtml(label)}</div>${note ? `<div class="figure-note">${escapeHtml(note)}</div>` : ''}</div>`;
}

function keyFigures(report: CutoverReport): string {
  const figures: string[] = [];
  const w = report.writes;
  if (w) {
    figures.push(figure('lost writes (acknowledged, missing after the switch)', String(w.lost), w.lost > 0 ? 'bad' : 'good', 'figure-lost', w.lost > 0 ? `DATA LOSS${w.lostIds ? `: ids ${w.lostIds.slice(0, 5).join(', ')}${w.lostIds.length > 5 ? ', …' : ''}` : ''}` : ''));
    figures.push(figure('failed writes (the client got an error)', String(w.failed), w.failed > 0 ? 'warn' : 'good', 'figure-failed'));
    figures.push(figure('acknowledged / attempted', `${w.acknowledged} / ${w.attempted}`, 'neutral', 'figure-acknowledged'));
  }
  if (report.writeUnavailableMs !== undefined && report.writeUnavailableMs !== null) {
    figures.push(figure(switchStarted(report) ? 'write unavailability (longest gap between acknowledged writes around the switch)' : 'longest gap between acknowledged writes (the switch never started: traffic never moved)', format(report.writeUnavailableMs, ' ms'), 'neutral', 'figure-gap'));
  }
  if (report.switchDurationMs !== undefined && report.switchDurationMs !== null) figures.push(figure('switch duration (freeze → traffic moved)', format(report.switchDurationMs, ' ms'), 'neutral', 'figure-switch'));
  if (report.lagAtSwitchMs !== undefined && report.lagAtSwitchMs !== null) figures.push(figure('lag at switch (target reaching the frozen source)', format(report.lagAtSwitchMs, ' ms'), 'neutral', 'figure-lag'));
  if (report.checksumsVerified === false) figures.push(figure('checksums', 'NOT VERIFIED', 'warn', 'figure-checksums', report.checksumsNotVerifiedReason ?? ''));
  else if (report.checksums) figures.push(figure(`checksums (${report.checksums.tables.length} tables)`, report.checksums.match ? 'match' : 'DIFFER', report.checksums.match ? 'good' : 'bad', 'figure-checksums'));
  const back = report.windows?.back;
  if (back && back.writeUnavailableMs !== null) figures.push(figure('write unavailability of the switch back (longest gap around it)', format(back.writeUnavailableMs, ' ms'), 'neutral', 'figure-gap-back'));
  if (back) figures.push(figure('lost / failed writes in the switch back window', `${back.writes.lost} / ${back.writes.failed}`, back.writes.lost > 0 ? 'bad' : 'good', 'figure-lost-back'));
  if (report.switchBack?.switchDurationMs !== undefined && report.switchBack.switchDurationMs !== null) figures.push(figure('switch back duration (freeze → traffic moved back)', format(report.switchBack.switchDurationMs, ' ms'), 'neutral', 'figure-switch-back'));
  if (report.switchBack?.checksumsVerified === false) figures.push(figure('checksums after the switch back', 'NOT VERIFIED', 'warn', 'figure-checksums-back', report.switchBack.checksumsNotVerifiedReason ?? ''));
  else if (report.switchBack?.checksums) figures.push(figure('checksums after the switch back', report.switchBack.checksums.match ? 'match' : 'DIFFER', report.switchBack.checksums.match ? 'good' : 'bad', 'figure-checksums-back'));
  return figures.length > 0 ? `<section class="figures">${figures.join('')}</section>` : '';
}

interface ChecksumRow {
  table?: unknown;
  sourceRows?: unknown;
  targetRows?: unknown;
  match?: unknown;
  difference?: unknown;
}

function checksumTable(report: CutoverReport): string {
  if (!report.checksums && report.checksumsVerified === false) return `<section><h2>Checksums</h2><p class="note bad-note" id="checksums-not-verified"><strong>NOT VERIFIED</strong>: ${escapeHtml(report.checksumsNotVerifiedReason ?? 'not given')}</p></section>`;
  if (!report.checksums) return '<section><h2>Checksums</h2><p class="note">No checksums in this report (the run did not reach verification).</p></section>';
  const rows = (report.checksums.tables as ChecksumRow[]).map((t) => `<tr class="${t.match ? '' : 'bad-row'}"><td>${escapeHtml(t.table)}</td><td class="num">${escapeHtml(t.sourceRows)}</td><td class="num">${escapeHtml(t.targetRows)}</td><td>${t.match ? 'match' : t.difference === NOT_READ_IN_SNAPSHOT ? '<strong>NOT COMPARED</strong> (not readable in the switch-time snapshot)' : '<strong>DIFFER</strong>'}</td></tr>`);
  return `<section><h2>Checksums</h2><table id="checksums"><thead><tr><th>table</th><th>rows on the source</th><th>rows on the target</th><th>content</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

/**
 * Steps as rows with a bar placed on the run's time axis: readable without the chart. A
 * rehearsal that switched back has a second table for the switch back's run (its numbers are
 * the chart's b1, b2, …), on the same time axis as the first.
 */
function stepTable(report: CutoverReport): string {
  const all = [...report.steps, ...(report.switchBack?.steps ?? [])];
  const timed = all.filter((s) => typeof s.startedAt === 'number');
  const runStart = timed.length > 0 ? Math.min(...timed.map((s) => s.startedAt!)) : 0;
  const runEnd = timed.length > 0 ? Math.max(...timed.map((s) => s.startedAt! + s.durationMs)) : 0;
  const span = Math.max(1, runEnd - runStart);
  const table = (steps: CutoverReport['steps'], id: string, title: string, prefix: string) => {
    const rows = stepRows(steps, runStart, span, prefix);
    return `<section><h2>${escapeHtml(title)}</h2><table id="${id}"><thead><tr><th>#</th><th>step</th><th>status</th><th>start</th><th>duration</th><th class="gantt">when</th><th>error</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
  };
  const forward = table(report.steps, 'steps', 'Steps', '');
  if (!report.switchBack) return forward;
  return forward + table(report.switchBack.steps, 'steps-back', `Steps of the switch back (run ${report.switchBack.runId}: ${report.switchBack.result})`, 'b');
}

function stepRows(steps: CutoverReport['steps'], runStart: number, span: number, prefix: string): string[] {
  return steps.map((step, index) => {
    const bar = typeof step.startedAt === 'number' ? `<div class="bar status-${escapeHtml(step.status)}" style="left:${(((step.startedAt - runStart) / span) * 100).toFixed(2)}%;width:${Math.max(0.3, (step.durationMs / span) * 100).toFixed(2)}%"></div>` : '';
    const start = typeof step.startedAt === 'number' ? `+${((step.startedAt - runStart) / 1000).toFixed(2)} s` : '';
    return `<tr class="${step.status === 'failed' || step.status === 'aborted' ? 'bad-row' : ''}"><td class="num">${prefix}${index + 1}</td><td>${escapeHtml(step.id)}</td><td>${escapeHtml(step.status)}</td><td class="num">${escapeHtml(start)}</td><td class="num">${escapeHtml(step.durationMs)} ms</td><td class="gantt">${bar}</td><td>${step.error ? escapeHtml(step.error.split('\n')[0]) : ''}</td></tr>`;
  });
}

function phaseTable(report: CutoverReport): string {
  // The switch-back command's own report: its switch is the one back.
  const title = report.flow.endsWith('switch-back') ? 'Switch back phases' : 'Switch phases';
  const forward = phaseRows(report.facts.switchPhasesMs, 'phases', title);
  return report.switchBack ? forward + phaseRows(report.switchBack.facts.switchPhasesMs, 'phases-back', 'Switch back phases') : forward;
}

function phaseRows(phases: unknown, id: string, title: string): string {
  if (!phases || typeof phases !== 'object') return '';
  const entries = Object.entries(phases as Record<string, unknown>);
  const total = entries.reduce((sum, [, ms]) => sum + (typeof ms === 'number' ? ms : 0), 0) || 1;
  let before = 0;
  const rows = entries.map(([phase, ms]) => {
    const duration = typeof ms === 'number' ? ms : 0;
    const bar = `<div class="bar phase" style="left:${((before / total) * 100).toFixed(2)}%;width:${Math.max(0.5, (duration / total) * 100).toFixed(2)}%"></div>`;
    before += duration;
    return `<tr><td>${escapeHtml(phase)}</td><td class="num">${escapeHtml(typeof ms === 'number' ? format(ms, ' ms') : ms)}</td><td class="gantt">${bar}</td></tr>`;
  });
  return `<section><h2>${escapeHtml(title)}</h2><p class="note">Measured one after the other; the last ends at the instant traffic moved.</p><table id="${id}"><thead><tr><th>phase (in order)</th><th>duration</th><th class="gantt">share of the switch</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

function factTable(report: CutoverReport): string {
  // Wall-clock instants (switchStartedAt, …) are epoch ms in the report; the page adds the time.
  const shown = (key: string, value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value)) + (/At$/.test(key) && typeof value === 'number' && value > 1e12 ? ` (${new Date(value).toISOString()})` : '');
  const rows = Object.entries(report.facts).map(([key, value]) => `<tr><td>${escapeHtml(key)}</td><td><code>${escapeHtml(shown(key, value))}</code></td></tr>`);
  if (report.load) rows.push(`<tr><td>load</td><td><code>${escapeHtml(JSON.stringify(report.load))}</code></td></tr>`);
  const back = report.switchBack ? Object.entries(report.switchBack.facts).map(([key, value]) => `<tr><td>${escapeHtml(key)}</td><td><code>${escapeHtml(shown(key, value))}</code></td></tr>`) : [];
  const table = (id: string, title: string, list: string[]) => `<section><h2>${escapeHtml(title)}</h2><table id="${id}"><thead><tr><th>fact</th><th>value</th></tr></thead><tbody>${list.join('')}</tbody></table></section>`;
  return table('facts', 'Facts', rows) + (report.switchBack ? table('facts-back', 'Facts of the switch back', back) : '');
}

function chartSection(report: CutoverReport): string {
  const lag = `<p class="note" id="lag-note">Replication lag: not sampled during this run (the flows measure it at the switch only${typeof report.lagAtSwitchMs === 'number' ? `: the target needed ${escapeHtml(format(report.lagAtSwitchMs, ' ms'))} to reach the frozen source's final position` : ''}). No lag curve is drawn.</p>`;
  if (!report.timeline) {
    return `<section><h2>Timeline</h2><p class="note" id="no-timeline">No write load ran in this run, so there is no write timeline. The steps below are placed on the run's time axis.</p>${lag}</section>`;
  }
  return `<section><h2>Timeline</h2>
<p class="legend-line"><span class="swatch ack"></span>writes/s acknowledged <span class="swatch failed"></span>writes/s failed <span class="swatch moved"></span>traffic moved (switchEndedAt) ${report.switchBack ? '<span class="swatch moved-back"></span>traffic moved back (the switch back\'s switchEndedAt; its steps are b1, b2, …) ' : ''}<span class="swatch gap"></span>write gap <span class="swatch phase"></span>switch phases <span class="swatch step"></span>runbook steps (numbers as in the step table). Counts and latency are by completion time. Drag on a chart to zoom, double-click to zoom out.</p>
<p id="switch-marker-label" class="note"></p>
<div class="chart" id="chart-switch"></div>
${report.switchBack ? '<p id="switch-back-marker-label" class="note"></p>\n<div class="chart" id="chart-switch-back"></div>\n' : ''}<div class="chart" id="chart-writes"></div>
<div class="chart" id="chart-latency"></div>
${lag}</section>`;
}

const PAGE_CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;padding:16px 24px;color:#1d2129;background:#fff;font-size:14px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #dde1e6;padding-bottom:4px}
.result{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:700;margin-left:8px}
.result.success{background:#1f7a3a}.result.aborted,.result.not-verified,.result.interrupted{background:#b35c00}.result.failed,.result.planned{background:#c0262d}
.meta{color:#4b5563;margin:4px 0}.error{color:#c0262d;font-weight:600;white-space:pre-wrap}
.figures{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.figure{border:1px solid #dde1e6;border-radius:6px;padding:8px 14px;min-width:150px;max-width:260px}
.figure-value{font-size:26px;font-weight:700}.figure-label{color:#4b5563;font-size:12px}.figure-note{font-weight:700;font-size:12px}
.figure.good .figure-value{color:#1f7a3a}.figure.bad{border:2px solid #c0262d;background:#fdecec}.figure.bad .figure-value,.figure.bad .figure-note{color:#c0262d}
.figure.warn .figure-value{color:#b35c00}
table{border-collapse:collapse;margin:4px 0;font-size:13px}th,td{border:1px solid #dde1e6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.bad-row td{background:#fdecec;color:#8f1c21}
td.gantt,th.gantt{width:320px;position:relative;padding:0}.bar{position:absolute;top:5px;height:12px;background:#6b8fd6;border-radius:2px}
.bar.status-failed,.bar.status-aborted{background:#c0262d}.bar.phase{background:#f59e0b}
code{font-size:12px;word-break:break-all}.note{color:#4b5563;margin:6px 0}.bad-note{color:#b35c00}
.chart{margin:8px 0 4px}.legend-line{color:#374151;font-size:13px}
.swatch{display:inline-block;width:14px;height:10px;margin:0 4px 0 10px;vertical-align:middle;border-radius:2px}
.swatch.moved-back{background:#0e7490}.swatch.ack{background:#1f7a3a}.swatch.failed{background:#d92d20}.swatch.moved{background:#c026d3}.swatch.gap{background:rgba(217,45,32,.25)}
.swatch.phase{background:rgba(245,158,11,.35)}.swatch.step{background:rgba(107,143,214,.25)}
`;

export function reportPageHtml(input: CutoverReport): string {
  // The report is redacted when it is made; again here, so that the page cannot be the leak.
  const report = redactValue(input);
  const uplotJs = inlineAsset(require.resolve('uplot/dist/uPlot.iife.min.js'), 'script');
  const uplotCss = inlineAsset(require.resolve('uplot/dist/uPlot.min.css'), 'style');
  const pageJs = inlineAsset(join(__dirname, 'page-client.js'), 'script');
  const verdict = verdictOf(report);
  const title = `${report.flow} on ${report.environment}: ${verdict.label}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${uplotCss}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<header>
<h1>${escapeHtml(report.flow)} on ${escapeHtml(report.environment)}<span class="result ${escapeHtml(verdict.kind)}" id="result">${escapeHtml(verdict.label)}</span></h1>
<p class="meta">run <code>${escapeHtml(report.runId)}</code> · engine ${escapeHtml(report.engine)} · started ${escapeHtml(report.startedAt)}${report.resumedAt ? ` · resumed ${escapeHtml(report.resumedAt)}` : ''} · ${escapeHtml((report.durationMs / 1000).toFixed(1))} s${report.resumedAt ? ' (this attempt)' : ''}${report.dryRun ? ' · dry run' : ''}</p>
${report.error ? `<p class="error" id="error">${escapeHtml(report.error)}</p>` : ''}
</header>
${keyFigures(report)}
${chartSection(report)}
${phaseTable(report)}
${stepTable(report)}
${checksumTable(report)}
${factTable(report)}
<script type="application/json" id="report-data">${jsonForScript(report)}</script>
<script>${uplotJs}</script>
<script>${pageJs}</script>
</body>
</html>
`;
}
