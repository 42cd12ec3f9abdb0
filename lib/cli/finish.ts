import { join, resolve } from 'node:path';
import { planText, runRunbook, type RunResult } from '../runbook/engine';
import { parseHooks } from '../runbook/hooks';
import type { RunLock } from '../runbook/lock';
import type { Facts, Runbook } from '../runbook/step';
import { Journal } from '../runbook/journal';
import { exitCodeOf, reportFromRun, summaryText, verdictOf, writeReport, type CutoverReport } from '../report';
import { reportPagePath, writeReportPage } from '../report-page/html';
import { EXIT } from './args';
import type { FlowRunnerInput } from './settings';

/**
 * How every path ends: a plan (dry run) prints the runbook and what to do next; an executed run
 * goes through runRunbook and finishRun (report, page, summary, next commands, exit code).
 */

export interface FinishOptions {
  /** `--report FILE`; default `<stateDir>/runs/<run id>/report.json`. */
  report?: string;
  stateDir: string;
  out: (line: string) => void;
  /**
   * For runs that can be continued (AWS, the persistent sandbox): print the status and resume
   * commands when the run did not succeed. A local rehearsal cannot be resumed: leave it out.
   */
  resumable?: {
    environment: string;
    engineFlags: string;
    /** A run of its own command (`switch-back RUN_ID`): resumed with that command instead of `--env … --execute`. */
    command?: string;
  };
}

/**
 * The end of every executed run, whatever ran it: write the JSON report and the report page,
 * print the summary (and the next commands), and turn the outcome into the exit code.
 */
export function finishRun(report: CutoverReport, options: FinishOptions): number {
  const { out } = options;
  const inRunFolder = join(options.stateDir, 'runs', report.runId, 'report.json');
  const reportPath = options.report ? resolve(options.report) : inRunFolder;
  // A report that cannot be written (a full disk) must not hide the summary: it is printed
  // first-hand below, and the missing file makes the exit code non-zero.
  const notWritten = (what: string, path: string, error: unknown) => `${what}: NOT WRITTEN ${path} (${error instanceof Error ? error.message : String(error)})`;
  const files: string[] = [];
  let unwritten = false;
  try {
    writeReport(reportPath, report);
    files.push(`report: ${reportPath}`);
    if (!report.dryRun) {
      // Always also in the run's folder, where `status` and an emulated rehearsal's session find
      // it by run id (a dry run has no run folder).
      if (reportPath !== inRunFolder) {
        try {
          writeReport(inRunFolder, report);
        } catch (error) {
          unwritten = true;
          files.push(notWritten('report copy', inRunFolder, error));
        }
      }
      try {
        files.push(`report page: ${writeReportPage(reportPath, report)}`);
      } catch (error) {
        unwritten = true;
        files.push(notWritten('report page', reportPagePath(reportPath), error));
      }
    }
  } catch (error) {
    unwritten = true;
    files.push(notWritten('report', reportPath, error));
  }
  if (!report.dryRun) journalVerdict(report, options.stateDir, unwritten ? undefined : reportPath);
  out('');
  for (const line of summaryText(report)) out(line);
  for (const line of files) out(line);
  const next = options.resumable;
  // Interrupted during its last step, which finished: nothing is left to resume.
  const everyStepDone = report.steps.every((step) => step.status === 'done' || step.status === 'done-earlier');
  if (next && report.result !== 'success' && !(report.result === 'interrupted' && everyStepDone)) {
    const resume = next.command ? `${next.command}${next.engineFlags}` : `--env ${next.environment}${next.engineFlags}`;
    out(`status: npx zx scripts/cutover.mjs status ${report.runId} --env ${next.environment}; resume: npx zx scripts/cutover.mjs ${resume} --execute --resume ${report.runId}`);
  }
  const code = exitCodeOf(report);
  return unwritten && code === EXIT.ok ? EXIT.failed : code;
}

/**
 * The report's verdict in the run's journal, after its run-end, so that `status RUN_ID` says what
 * the report said (a rehearsal whose runbook succeeded but whose proof failed is FAILED there too,
 * never "success"). A journal that cannot take the line (a full disk) leaves status with the
 * runbook's result: the report and the summary still say it.
 */
function journalVerdict(report: CutoverReport, stateDir: string, reportPath: string | undefined): void {
  const journal = new Journal(stateDir, report.runId);
  if (!journal.exists()) return;
  const verdict = verdictOf(report);
  try {
    journal.append({ type: 'verdict', at: new Date().toISOString(), verdict: verdict.kind, label: verdict.label, exitCode: verdict.exitCode, ...(report.error ? { error: report.error } : {}), ...(reportPath ? { report: reportPath } : {}) });
  } catch {
    // the report and the summary still say it
  } finally {
    journal.close();
  }
}

export interface ExecuteOptions {
  runbook: Runbook;
  engine: CutoverReport['engine'];
  /** Options worth journaling (no secrets). */
  options: Facts;
  lock?: RunLock;
  handleSignals?: boolean;
  hideEnvFromHooks?: string[];
  /** Flags that the resume command needs besides --env (e.g. ` --engine postgres --method dump`). */
  engineFlags: string;
}

/** A journaled, resumable run (AWS, the persistent sandbox): plan, runRunbook, then finishRun. */
export async function executeRun(input: FlowRunnerInput, run: ExecuteOptions): Promise<number> {
  const { environment, args, stateDir, log, out } = input;
  for (const line of planText(run.runbook)) out(line);
  out('');
  const startedAt = new Date();
  const result = await runRunbook({
    runbook: run.runbook,
    environment: environment.name,
    stateDir,
    dryRun: false,
    resumeRunId: args.resume,
    hooks: parseHooks(args.hooks),
    hideEnvFromHooks: run.hideEnvFromHooks,
    log,
    options: run.options,
    lock: run.lock,
    handleSignals: run.handleSignals,
  });
  return finishRun(reportFromRun(result, { engine: run.engine, startedAt }), { report: args.report, stateDir, out, resumable: { environment: environment.name, engineFlags: run.engineFlags } });
}

/** A dry run's checks as printed after its plan: each check step's outcome (with its error), then a failure outside them. */
export function checkLines(run: RunResult): string[] {
  const lines = run.steps.filter((s) => s.status === 'checked' || s.status === 'failed').map((step) => `check ${step.id}: ${step.status}${step.error ? `\n  ${step.error.split('\n').join('\n  ')}` : ''}`);
  if (run.result === 'failed' && run.problems.length === 0 && run.error) lines.push(`check failed: ${run.error}`);
  return lines;
}
