import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RunResult } from './runbook/engine';
import type { WriteSummary } from './load/write-load';
import type { LoadCommandOutcome } from './load/load-command';
import { redactValue } from './util/secrets';
import type { WriteTimeline } from './report-page/timeline';

/** The report of a run or rehearsal (`--report FILE`): the fields users and benchmarks read. */
export interface CutoverReport {
  engine: 'mysql' | 'postgres';
  flow: string;
  environment: string;
  runId: string;
  result: RunResult['result'];
  error?: string;
  dryRun: boolean;
  startedAt: string;
  durationMs: number;
  steps: Array<{ id: string; status: string; durationMs: number; startedAt?: number; error?: string }>;
  /** Present when a write load ran (rehearsals). */
  writes?: Omit<WriteSummary, 'lostIds'> & { lostIds?: string[] };
  /** Longest gap between acknowledged writes around the switch (ms). */
  writeUnavailableMs?: number | null;
  /** The write load bucketed over time, for the report page (lib/report-page/timeline.ts). */
  timeline?: WriteTimeline;
  /** How long the target needed to reach the frozen source's final position (ms). */
  lagAtSwitchMs?: number | null;
  switchDurationMs?: number | null;
  checksums?: { match: boolean; tables: unknown[] } | null;
  load?: { connections: number; ratePerSecond: number; command?: LoadCommandOutcome };
  facts: Record<string, unknown>;
}

export function reportFromRun(run: RunResult, extra: { engine: CutoverReport['engine']; startedAt: Date } & Partial<Omit<CutoverReport, 'startedAt' | 'engine'>>): CutoverReport {
  const facts = run.facts;
  const { checksums, ...otherFacts } = facts as { checksums?: CutoverReport['checksums'] } & Record<string, unknown>;
  return redactValue({
    engine: extra.engine,
    flow: run.flow,
    environment: run.environment,
    runId: run.runId,
    result: run.result,
    error: run.error,
    dryRun: run.dryRun,
    startedAt: extra.startedAt.toISOString(),
    durationMs: run.durationMs,
    steps: run.steps.map((s) => ({ id: s.id, status: s.status, durationMs: s.durationMs, ...(s.startedAt ? { startedAt: s.startedAt } : {}), ...(s.error ? { error: s.error } : {}) })),
    writes: extra.writes,
    writeUnavailableMs: extra.writeUnavailableMs,
    timeline: extra.timeline,
    lagAtSwitchMs: typeof facts.lagAtSwitchMs === 'number' ? facts.lagAtSwitchMs : null,
    switchDurationMs: typeof facts.switchDurationMs === 'number' ? facts.switchDurationMs : null,
    checksums: checksums ?? null,
    load: extra.load,
    facts: otherFacts,
  });
}

export function writeReport(path: string, report: CutoverReport): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(report, null, 2) + '\n', { mode: 0o600 });
}

/** The human summary printed at the end of a run. */
export function summaryText(report: CutoverReport): string[] {
  const lines = [`${report.flow} on ${report.environment}: ${report.result.toUpperCase()}${report.error ? ` (${report.error})` : ''}`, `run id ${report.runId}, ${(report.durationMs / 1000).toFixed(1)} s`];
  for (const step of report.steps) lines.push(`  ${step.status.padEnd(8)} ${String(step.durationMs).padStart(7)} ms  ${step.id}${step.error ? `  — ${step.error.split('\n')[0]}` : ''}`);
  if (report.writes) {
    const w = report.writes;
    lines.push(`writes: ${w.attempted} attempted, ${w.acknowledged} acknowledged, ${w.failed} failed, ${w.lost} lost${w.lost > 0 ? '  <-- DATA LOSS' : ''}`);
  }
  if (report.writeUnavailableMs !== undefined && report.writeUnavailableMs !== null) lines.push(`write unavailability: ${report.writeUnavailableMs} ms (longest gap between acknowledged writes around the switch)`);
  if (report.lagAtSwitchMs !== null && report.lagAtSwitchMs !== undefined) lines.push(`lag at switch: ${report.lagAtSwitchMs} ms; switch took ${report.switchDurationMs ?? '?'} ms`);
  if (report.checksums) lines.push(`checksums: ${report.checksums.match ? 'match' : 'DIFFER'} (${report.checksums.tables.length} tables)`);
  if (report.load?.command) lines.push(`load command exited ${report.load.command.exitCode ?? report.load.command.signal}`);
  return lines;
}
