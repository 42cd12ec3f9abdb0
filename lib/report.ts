import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RunResult } from './runbook/engine';
import type { WriteSummary } from './load/write-load';
import { describeLoadCommand, type LoadCommandOutcome } from './load/load-command';
import { redactValue } from './util/secrets';
import type { WriteTimeline } from './report-page/timeline';
import { EXIT_CODES } from './exit-codes';
import { checksumsDiffer } from './verify/checksums';

export { EXIT_CODES } from './exit-codes';

/** The report of a run or rehearsal (`--report FILE`): the fields users and benchmarks read. */
export interface CutoverReport {
  engine: 'mysql' | 'postgres';
  flow: string;
  environment: string;
  runId: string;
  result: RunResult['result'];
  error?: string;
  dryRun: boolean;
  /** When the run started (a resumed run: its first attempt). */
  startedAt: string;
  /** A resumed run: when this attempt started (durationMs counts from here). */
  resumedAt?: string;
  durationMs: number;
  /**
   * Written into report.json (writeReport): the outcome with its proof, as the exit code says it —
   * `result` is what the runbook did, `verdict` whether that is proven (see verdictOf).
   */
  verdict?: Verdict['kind'];
  exitCode?: number;
  steps: Array<{ id: string; status: string; durationMs: number; startedAt?: number; error?: string }>;
  /** Present when a write load ran (rehearsals). */
  writes?: Omit<WriteSummary, 'lostIds'> & { lostIds?: string[] };
  /** Longest gap between acknowledged writes around the switch (ms). */
  writeUnavailableMs?: number | null;
  /** What `writes` and `writeUnavailableMs` measure: the built-in load (a `--load-command` workload is run, not counted). */
  writesMeasuredBy?: string;
  /** The write load bucketed over time, for the report page (lib/report-page/timeline.ts). */
  timeline?: WriteTimeline;
  /** How long the target needed to reach the frozen source's final position (ms). */
  lagAtSwitchMs?: number | null;
  switchDurationMs?: number | null;
  checksums?: { match: boolean; tables: unknown[] } | null;
  /**
   * False when the run finished without comparing checksums (resumed past the switch: the
   * switch-time snapshots were gone). Such a run is not green: exit code 4.
   */
  checksumsVerified?: boolean;
  /** Why the checksums were not compared, and how an operator can still compare them. */
  checksumsNotVerifiedReason?: string;
  /** Interrupted runs: the signal, and the step the run stopped before. */
  interrupted?: { signal?: string; before?: string };
  /** The built-in load's settings (and why its records are missing, if its worker died); the user's workload and how it ended. */
  load?: { connections: number; ratePerSecond: number; failure?: string; command?: LoadCommandOutcome };
  facts: Record<string, unknown>;
  /** Rehearsals with --switch-back: each switch window's write gap and writes (lost measured per window). */
  windows?: {
    forward: { writeUnavailableMs: number | null; writes: { attempted: number; acknowledged: number; failed: number; lost: number; lostIds?: string[] } };
    back: { writeUnavailableMs: number | null; writes: { attempted: number; acknowledged: number; failed: number; lost: number; lostIds?: string[] } };
  };
  /** Rehearsals with --switch-back: the switch back's own run (journaled under its run id). */
  switchBack?: {
    runId: string;
    result: RunResult['result'];
    error?: string;
    steps: CutoverReport['steps'];
    switchDurationMs: number | null;
    lagAtSwitchMs: number | null;
    checksums: { match: boolean; tables: unknown[] } | null;
    checksumsVerified?: boolean;
    checksumsNotVerifiedReason?: string;
    facts: Record<string, unknown>;
  };
}

export function reportFromRun(run: RunResult, extra: { engine: CutoverReport['engine']; startedAt: Date } & Partial<Omit<CutoverReport, 'startedAt' | 'engine'>>): CutoverReport {
  const facts = run.facts;
  const { checksums, checksumsVerified, checksumsNotVerifiedReason, ...otherFacts } = facts as { checksums?: CutoverReport['checksums']; checksumsVerified?: boolean; checksumsNotVerifiedReason?: string } & Record<string, unknown>;
  return redactValue({
    engine: extra.engine,
    flow: run.flow,
    environment: run.environment,
    runId: run.runId,
    result: run.result,
    error: run.error,
    dryRun: run.dryRun,
    startedAt: run.firstStartedAt ?? extra.startedAt.toISOString(),
    ...(run.firstStartedAt ? { resumedAt: extra.startedAt.toISOString() } : {}),
    durationMs: run.durationMs,
    steps: run.steps.map((s) => ({ id: s.id, status: s.status, durationMs: s.durationMs, ...(s.startedAt ? { startedAt: s.startedAt } : {}), ...(s.error ? { error: s.error } : {}) })),
    writes: extra.writes,
    writeUnavailableMs: extra.writeUnavailableMs,
    ...(extra.writesMeasuredBy ? { writesMeasuredBy: extra.writesMeasuredBy } : {}),
    timeline: extra.timeline,
    lagAtSwitchMs: typeof facts.lagAtSwitchMs === 'number' ? facts.lagAtSwitchMs : null,
    switchDurationMs: typeof facts.switchDurationMs === 'number' ? facts.switchDurationMs : null,
    checksums: checksums ?? null,
    ...(checksumsVerified === false ? { checksumsVerified: false, checksumsNotVerifiedReason: checksumsNotVerifiedReason ?? 'not given' } : checksumsVerified === true ? { checksumsVerified: true } : {}),
    ...(run.result === 'interrupted' ? { interrupted: { before: run.steps.find((s) => s.status === 'not-run')?.id } } : {}),
    load: extra.load,
    facts: otherFacts,
  });
}

export function writeReport(path: string, report: CutoverReport): void {
  mkdirSync(dirname(path), { recursive: true });
  const verdict = verdictOf(report);
  writeFileSync(path, JSON.stringify({ ...report, verdict: verdict.kind, exitCode: verdict.exitCode }, null, 2) + '\n', { mode: 0o600 });
}

/** Whether the run began a switch (froze the source): only then is its write gap a switch's downtime. */
export function switchStarted(report: Pick<CutoverReport, 'facts'>): boolean {
  return typeof report.facts?.switchStartedAt === 'number';
}

/** The human summary printed at the end of a run. */
export function summaryText(report: CutoverReport): string[] {
  const resumed = report.resumedAt ? ` (this attempt; resumed ${report.resumedAt}, first started ${report.startedAt})` : '';
  const lines = [`${report.flow} on ${report.environment}: ${verdictOf(report).label}${report.error ? ` (${report.error})` : ''}`, `run id ${report.runId}, ${(report.durationMs / 1000).toFixed(1)} s${resumed}`];
  for (const step of report.steps) lines.push(`  ${step.status.padEnd(12)} ${String(step.durationMs).padStart(7)} ms  ${step.id}${step.error ? `  — ${step.error.split('\n')[0]}` : ''}`);
  const by = report.writesMeasuredBy ? ` (${report.writesMeasuredBy})` : '';
  if (report.writes) {
    const w = report.writes;
    lines.push(`writes${by}: ${w.attempted} attempted, ${w.acknowledged} acknowledged, ${w.failed} failed, ${w.lost} lost${w.lost > 0 ? '  <-- DATA LOSS' : ''}`);
  } else if (report.load?.failure) {
    lines.push(`writes${by}: UNKNOWN, ${report.load.failure}  <-- NO PROOF`);
  }
  if (report.writeUnavailableMs !== undefined && report.writeUnavailableMs !== null) {
    // Without a switch there is no switch window: the figure is the run's longest gap, said as such.
    lines.push(
      switchStarted(report)
        ? `write unavailability${by}: ${report.writeUnavailableMs} ms (longest gap between acknowledged writes around the switch)`
        : `longest gap between acknowledged writes${by}: ${report.writeUnavailableMs} ms (the switch never started: traffic never moved; not a switch's downtime)`,
    );
  }
  if (report.lagAtSwitchMs !== null && report.lagAtSwitchMs !== undefined) lines.push(`lag at switch: ${report.lagAtSwitchMs} ms; switch took ${report.switchDurationMs ?? '?'} ms`);
  if (report.checksumsVerified === false) lines.push(`checksums: NOT VERIFIED — ${report.checksumsNotVerifiedReason}`);
  else if (report.checksums) lines.push(`checksums: ${report.checksums.match ? 'match' : 'DIFFER'} (${report.checksums.tables.length} tables)`);
  const xa = report.facts?.xaPreparedOnNewPrimary;
  if (Array.isArray(xa) && xa.length > 0) {
    const [live, old] = report.facts?.switchDirection === 'back' ? ['source', 'target'] : ['target', 'old source'];
    lines.push(`XA: ${xa.length} transaction(s) prepared before the freeze are still prepared on the ${live} (${xa.join(', ')}): the freeze ended their sessions, their commit was never acknowledged. Their coordinator must XA COMMIT or XA ROLLBACK them there (XA RECOVER lists them; they hold their locks until then); on the frozen ${old} they are prepared too: XA ROLLBACK them there before it is removed`);
  }
  // A rehearsal (it ran a write load) cannot be continued: its sandbox ended with it.
  const rehearsal = report.writes !== undefined || report.load !== undefined;
  if (report.result === 'interrupted') lines.push(`interrupted${report.interrupted?.before ? ` before ${report.interrupted.before}` : ''}: the run stopped at a step boundary${rehearsal ? '; a rehearsal cannot be continued (its sandbox is gone with it): run it again' : ' and can be continued'}`);
  if (report.switchBack) {
    const back = report.switchBack;
    lines.push(`switch back (run ${back.runId}): ${back.result.toUpperCase()}${back.error ? ` (${back.error})` : ''}`);
    for (const step of back.steps) lines.push(`  ${step.status.padEnd(12)} ${String(step.durationMs).padStart(7)} ms  ${step.id}${step.error ? `  — ${step.error.split('\n')[0]}` : ''}`);
    if (back.lagAtSwitchMs !== null) lines.push(`lag at switch back: ${back.lagAtSwitchMs} ms; switch back took ${back.switchDurationMs ?? '?'} ms`);
    if (back.checksumsVerified === false) lines.push(`checksums after the switch back: NOT VERIFIED — ${back.checksumsNotVerifiedReason}`);
    else if (back.checksums) lines.push(`checksums after the switch back: ${back.checksums.match ? 'match' : 'DIFFER'} (${back.checksums.tables.length} tables)`);
  }
  if (report.windows) {
    for (const name of ['forward', 'back'] as const) {
      const window = report.windows[name];
      const w = window.writes;
      lines.push(`${name.padEnd(7)} window${by}: write unavailability ${window.writeUnavailableMs ?? '?'} ms; ${w.attempted} attempted, ${w.acknowledged} acknowledged, ${w.failed} failed, ${w.lost} lost${w.lost > 0 ? '  <-- DATA LOSS' : ''}`);
    }
  }
  const command = report.load?.command;
  if (command) lines.push(`${describeLoadCommand(command)}${command.crashed ? '  <-- CRASHED LOAD' : ''} (not counted in writes)`);
  return lines;
}

type ProofFields = Pick<CutoverReport, 'result' | 'writes' | 'checksums' | 'checksumsVerified' | 'load'> & Partial<Pick<CutoverReport, 'switchBack' | 'windows'>>;

/**
 * A finished run's outcome with its proof: what the headline, report.json's `verdict`, the report
 * page's badge and the exit code say. `result` alone is what the runbook did; a lost write, a
 * checksum difference or a crashed load fail the run whatever it said, and a success whose
 * checksums were not compared is "SUCCESS, NOT VERIFIED" (exit 4), never a bare SUCCESS.
 */
export interface Verdict {
  kind: 'success' | 'not-verified' | 'failed' | 'aborted' | 'interrupted' | 'planned';
  label: string;
  exitCode: number;
}

export function verdictOf(report: ProofFields): Verdict {
  const as = (kind: Verdict['kind'], exitCode: number, label = kind.toUpperCase()): Verdict => ({ kind, label, exitCode });
  if (report.result === 'interrupted') return as('interrupted', EXIT_CODES.interrupted);
  if (report.result === 'aborted') return as('aborted', EXIT_CODES.aborted);
  if (report.result === 'planned') return as('planned', EXIT_CODES.ok);
  if (report.result !== 'success') return as('failed', EXIT_CODES.failed);
  // A rehearsal that also switched back: the switch back's outcome and proof count the same way.
  const back = report.switchBack;
  if (back?.result === 'interrupted') return as('interrupted', EXIT_CODES.interrupted, 'INTERRUPTED (the switch back)');
  if (back?.result === 'aborted') return as('aborted', EXIT_CODES.aborted, 'ABORTED (the switch back)');
  if (back && back.result !== 'success') return as('failed', EXIT_CODES.failed, 'FAILED (the switch back)');
  const lost = (report.writes?.lost ?? 0) + (report.windows?.back.writes.lost ?? 0);
  if (lost > 0) return as('failed', EXIT_CODES.failed, `FAILED (${lost} acknowledged write${lost === 1 ? '' : 's'} lost)`);
  // A table only a switch-time snapshot could not read is not a difference: NOT VERIFIED below.
  if (differ(report.checksums) || differ(back?.checksums)) return as('failed', EXIT_CODES.failed, 'FAILED (checksums differ)');
  if (report.load?.failure) return as('failed', EXIT_CODES.failed, 'FAILED (the write load failed: no proof)');
  if (report.load?.command?.crashed) return as('failed', EXIT_CODES.failed, 'FAILED (the workload crashed)');
  if (report.checksumsVerified === false || back?.checksumsVerified === false) return as('not-verified', EXIT_CODES.unverified, 'SUCCESS, NOT VERIFIED');
  return as('success', EXIT_CODES.ok);
}

function differ(checksums: CutoverReport['checksums'] | undefined): boolean {
  return checksums !== undefined && checksums !== null && checksumsDiffer(checksums);
}

/** The exit code of a finished run (the table is lib/exit-codes.ts, the one source). */
export function exitCodeOf(report: ProofFields): number {
  return verdictOf(report).exitCode;
}
