import { join, resolve } from 'node:path';
import { exitCodeOf, summaryText, writeReport, type CutoverReport } from '../report';
import { writeReportPage } from '../report-page/html';

export interface FinishOptions {
  /** `--report FILE`; default `<stateDir>/runs/<run id>/report.json`. */
  report?: string;
  stateDir: string;
  out: (line: string) => void;
  /**
   * For runs that can be continued (AWS, the persistent sandbox): print the status and resume
   * commands when the run did not succeed. A local rehearsal cannot be resumed: leave it out.
   */
  resumable?: { environment: string; engineFlags: string };
}

/**
 * The end of every executed run, whatever ran it: write the JSON report and the report page,
 * print the summary (and the next commands), and turn the outcome into the exit code.
 */
export function finishRun(report: CutoverReport, options: FinishOptions): number {
  const { out } = options;
  const reportPath = options.report ? resolve(options.report) : join(options.stateDir, 'runs', report.runId, 'report.json');
  writeReport(reportPath, report);
  const pagePath = report.dryRun ? undefined : writeReportPage(reportPath, report);
  out('');
  for (const line of summaryText(report)) out(line);
  out(`report: ${reportPath}`);
  if (pagePath) out(`report page: ${pagePath}`);
  const next = options.resumable;
  if (next && report.result !== 'success') {
    out(`status: zx scripts/cutover.mjs status ${report.runId} --env ${next.environment}; resume: zx scripts/cutover.mjs --env ${next.environment}${next.engineFlags} --execute --resume ${report.runId}`);
  }
  return exitCodeOf(report);
}
