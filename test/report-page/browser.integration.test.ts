/**
 * The report page as a browser shows it: headless Chromium (Debian's package, installed by the
 * test as root the way the sandbox installs its servers) opens report.html over the DevTools
 * protocol. The report is a real MariaDB rehearsal's (fixtures/mysql-rehearsal-report.json,
 * written by `npx zx scripts/cutover.mjs --env local --execute`).
 * The screenshot is kept in test-artifacts/report-page/ (gitignored) for a person to look at.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeReport, type CutoverReport } from '../../lib/report';
import { writeReportPage } from '../../lib/report-page/html';
import { createLogger } from '../../lib/util/log';
import { HeadlessChromium, chromiumUnavailable } from '../support/chromium';
import { processesUsing } from '../support/processes';

const ARTIFACTS = resolve(__dirname, '..', '..', 'test-artifacts', 'report-page');
const realReport = (): CutoverReport => JSON.parse(readFileSync(join(__dirname, 'fixtures', 'mysql-rehearsal-report.json'), 'utf8'));
/** A real rehearsal with --switch-back (`npx zx scripts/cutover.mjs --env local --execute --switch-back --report FILE`). */
const realSwitchBackReport = (): CutoverReport => JSON.parse(readFileSync(join(__dirname, 'fixtures', 'mysql-switch-back-rehearsal-report.json'), 'utf8'));

const unavailable = chromiumUnavailable(createLogger());
if (unavailable) console.warn(`SKIPPED the report page browser test: ${unavailable}`);
const browserTest = unavailable ? test.skip : test;

/** What the page shows once its script ran, read in the page. */
interface Rendered {
  state: string | null;
  charts: Array<{ id: string; canvases: number; inkPixels: number }>;
  switchMarker: { x: number; y: number; markerColoured: boolean } | null;
  markerLabel: string;
  lostTone: string | null;
  lagNote: string;
}

/** Where a chart's marker was drawn (data-switch-marker-x/y) and whether its pixels there have the marker's colour. */
const MARKER_AT = `(id, colour) => {
  const container = document.getElementById(id);
  if (!container || !container.dataset.switchMarkerX) return null;
  const x = Number(container.dataset.switchMarkerX), y = Number(container.dataset.switchMarkerY);
  const pixels = container.querySelector('canvas').getContext('2d').getImageData(x - 2, y, 5, 1).data;
  let markerColoured = false;
  for (let i = 0; i < pixels.length; i += 4) if (colour(pixels[i], pixels[i + 1], pixels[i + 2]) && pixels[i + 3] > 200) markerColoured = true;
  return { x, y, markerColoured };
}`;

const INSPECT = `(() => {
  const charts = ['chart-switch', 'chart-writes', 'chart-latency'].map((id) => {
    const canvas = document.querySelector('#' + id + ' canvas');
    let inkPixels = 0;
    if (canvas) {
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inkPixels += 1;
    }
    return { id, canvases: document.querySelectorAll('#' + id + ' canvas').length, inkPixels };
  });
  const container = document.getElementById('chart-switch');
  let switchMarker = null;
  if (container && container.dataset.switchMarkerX) {
    const x = Number(container.dataset.switchMarkerX), y = Number(container.dataset.switchMarkerY);
    const pixels = container.querySelector('canvas').getContext('2d').getImageData(x - 2, y, 5, 1).data;
    let markerColoured = false;
    for (let i = 0; i < pixels.length; i += 4) {
      // the marker is magenta (#c026d3): red and blue high, green low
      if (pixels[i] > 150 && pixels[i + 1] < 90 && pixels[i + 2] > 160 && pixels[i + 3] > 200) markerColoured = true;
    }
    switchMarker = { x, y, markerColoured };
  }
  const lost = document.getElementById('figure-lost');
  return {
    state: document.documentElement.getAttribute('data-report-page'),
    charts,
    switchMarker,
    markerLabel: (document.getElementById('switch-marker-label') || {}).textContent || '',
    lostTone: lost ? lost.className : null,
    lagNote: (document.getElementById('lag-note') || {}).textContent || '',
  };
})()`;

describe('report.html in headless Chromium', () => {
  let work: string;
  let browser: HeadlessChromium | undefined;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'rc-report-page-'));
  });

  afterAll(async () => {
    const profileDir = browser?.profileDir;
    await browser?.close();
    rmSync(work, { recursive: true, force: true });
    // THEN no Chromium process is left and its profile folder is gone
    if (profileDir) {
      expect(processesUsing(profileDir)).toEqual([]);
      expect(existsSync(profileDir)).toBe(false);
    }
  });

  browserTest('a rehearsal report renders its charts with no console error, the switch marker drawn where traffic moved, and no network request', async () => {
    // GIVEN the report of a real MariaDB rehearsal, written the way every run writes it
    const reportPath = join(work, 'runs', 'r1', 'report.json');
    writeReport(reportPath, realReport());
    writeReportPage(reportPath, realReport());
    const pagePath = join(work, 'runs', 'r1', 'report.html');
    expect(existsSync(pagePath)).toBe(true);

    // WHEN Chromium opens it
    browser = await HeadlessChromium.launch();
    await browser.open(pathToFileURL(pagePath).href, { width: 1400, height: 900 });
    const rendered = await browser.evaluate<Rendered>(INSPECT);
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'report-page.png'), await browser.screenshot());

    // THEN the script finished and nothing complained
    expect(browser.events.consoleErrors).toEqual([]);
    expect(rendered.state).toBe('rendered');
    // and each chart drew on its canvas
    for (const chart of rendered.charts) {
      expect(chart.canvases).toBe(1);
      expect(chart.inkPixels).toBeGreaterThan(1000);
    }
    // and the instant traffic moved is marked on the close-up, in the marker's colour
    expect(rendered.switchMarker).not.toBeNull();
    expect(rendered.switchMarker!.markerColoured).toBe(true);
    expect(rendered.markerLabel).toContain('Traffic moved at 2026-12-01T01:34:59');
    expect(rendered.markerLabel).toContain('writes were unavailable for 337 ms');
    // and lost writes are shown as good news only because there were none
    expect(rendered.lostTone).toContain('good');
    expect(rendered.lagNote).toContain('not sampled');
    // and the page fetched nothing but itself (everything is inline)
    expect(browser.events.requests).toEqual([pathToFileURL(pagePath).href]);
  });

  browserTest('a rehearsal with --switch-back draws the switch back too: its own close-up with its marker where traffic moved back, its write gap, steps and phases', async () => {
    // GIVEN the report of a real MariaDB rehearsal that switched forward and back under load
    const reportPath = join(work, 'runs', 'back', 'report.json');
    writeReport(reportPath, realSwitchBackReport());
    writeReportPage(reportPath, realSwitchBackReport());
    browser ??= await HeadlessChromium.launch();
    browser.events.consoleErrors.length = 0;
    // WHEN Chromium opens it
    await browser.open(pathToFileURL(join(work, 'runs', 'back', 'report.html')).href, { width: 1400, height: 900 });
    const rendered = await browser.evaluate<{
      state: string | null;
      forward: { x: number; markerColoured: boolean } | null;
      back: { x: number; markerColoured: boolean } | null;
      backInk: number;
      forwardLabel: string;
      backLabel: string;
      backStepRows: number;
      backPhaseRows: number;
      backGapFigure: string;
      forwardAxis: { label: string; markerValue: number } | null;
      backAxis: { label: string; markerValue: number } | null;
    }>(`(() => {
      const at = ${MARKER_AT};
      const magenta = (r, g, b) => r > 150 && g < 90 && b > 160;
      const teal = (r, g, b) => r < 60 && g > 90 && g < 150 && b > 120 && b < 170;
      const canvas = document.querySelector('#chart-switch-back canvas');
      // a close-up's x axis: its label, and the x value (axis units) where its own marker is drawn
      const axis = (id) => {
        const container = document.getElementById(id);
        return container ? { label: container.dataset.xAxis || 'no x axis label recorded', markerValue: Number(container.dataset.switchMarkerValue) } : null;
      };
      let backInk = 0;
      if (canvas) {
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) backInk += 1;
      }
      return {
        state: document.documentElement.getAttribute('data-report-page'),
        forward: at('chart-switch', magenta),
        back: at('chart-switch-back', teal),
        backInk,
        forwardLabel: document.getElementById('switch-marker-label').textContent,
        backLabel: (document.getElementById('switch-back-marker-label') || {}).textContent || '',
        backStepRows: document.querySelectorAll('#steps-back tbody tr').length,
        backPhaseRows: document.querySelectorAll('#phases-back tbody tr').length,
        backGapFigure: (document.querySelector('#figure-gap-back .figure-value') || {}).textContent || '',
        forwardAxis: axis('chart-switch'),
        backAxis: axis('chart-switch-back'),
      };
    })()`);
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'report-page-switch-back.png'), await browser.screenshot());

    // THEN the script finished without a complaint
    expect(browser.events.consoleErrors).toEqual([]);
    expect(rendered.state).toBe('rendered');
    // and both markers are drawn, each on its own close-up, in its own colour
    expect(rendered.forward).not.toBeNull();
    expect(rendered.forward!.markerColoured).toBe(true);
    expect(rendered.back).not.toBeNull();
    expect(rendered.back!.markerColoured).toBe(true);
    expect(rendered.backInk).toBeGreaterThan(1000);
    // and each window is described with its own instant and write gap (the report's windows)
    expect(rendered.forwardLabel).toContain('Traffic moved at 2026-12-01T12:25:14');
    expect(rendered.forwardLabel).toContain('writes were unavailable for 1408 ms');
    expect(rendered.backLabel).toContain('Traffic moved back at 2026-12-01T12:25:29');
    expect(rendered.backLabel).toContain('writes were unavailable for 1268.3 ms');
    expect(rendered.backGapFigure).toBe('1268.3 ms');
    // and each close-up counts from its own switch (issue 12): the forward one from the instant
    // traffic moved (its marker at 0), the switch back's from the switch back's own start (its
    // marker at the switch back's duration, not 15 s after the forward switch)
    const back = realSwitchBackReport().switchBack!.facts as { switchStartedAt: number; switchEndedAt: number };
    expect(rendered.backAxis!.label).toBe("ms from the switch back's start");
    expect(rendered.forwardAxis).toEqual({ label: 'ms from the instant traffic moved', markerValue: 0 });
    expect(rendered.backAxis!.markerValue).toBeCloseTo(back.switchEndedAt - back.switchStartedAt, 0);
    // and the switch back's steps and phases have their tables
    expect(rendered.backStepRows).toBe(realSwitchBackReport().switchBack!.steps.length);
    expect(rendered.backPhaseRows).toBe(Object.keys(realSwitchBackReport().switchBack!.facts.switchPhasesMs as object).length);
  });

  browserTest('a report with lost writes and no write load (an AWS run) renders without error, the loss in red', async () => {
    // GIVEN a report without a timeline whose writes lost two rows
    const report = realReport();
    delete report.timeline;
    report.writes = { ...report.writes!, lost: 2, lostIds: ['1000000007', '2000000009'] };
    const reportPath = join(work, 'lost.json');
    writeReport(reportPath, report);
    writeReportPage(reportPath, report);
    browser ??= await HeadlessChromium.launch();
    browser.events.consoleErrors.length = 0;
    // WHEN Chromium opens it
    await browser.open(pathToFileURL(join(work, 'lost.html')).href, { width: 1400, height: 900 });
    const rendered = await browser.evaluate<Rendered>(INSPECT);
    // THEN no error, no chart claimed, and the loss is the red figure
    expect(browser.events.consoleErrors).toEqual([]);
    expect(rendered.state).toBe('rendered');
    expect(rendered.charts.every((c) => c.canvases === 0)).toBe(true);
    expect(rendered.lostTone).toContain('bad');
    expect(await browser.evaluate<string>(`getComputedStyle(document.querySelector('#figure-lost .figure-value')).color`)).toBe('rgb(192, 38, 45)');
  });
});
