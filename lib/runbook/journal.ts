import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { redactValue } from '../util/secrets';
import type { Facts, StepContext } from './step';

export type JournalEntry =
  | { type: 'run-start'; at: string; runId: string; flow: string; environment: string; dryRun: boolean; options: Facts }
  | { type: 'run-resume'; at: string; runId: string }
  | { type: 'step-start'; at: string; step: string }
  | { type: 'step-progress'; at: string; step: string; facts: Facts }
  | { type: 'step-done'; at: string; step: string; durationMs: number; facts: Facts }
  | { type: 'step-skipped'; at: string; step: string; reason: string }
  | { type: 'step-failed'; at: string; step: string; durationMs: number; error: string; aborted: boolean }
  | { type: 'hook'; at: string; phase: string; command: string; exitCode: number; durationMs: number }
  | { type: 'interrupt'; at: string; signal: string; step?: string }
  | { type: 'lock'; at: string; action: 'acquired' | 'released'; where: string }
  | { type: 'run-end'; at: string; result: 'success' | 'aborted' | 'failed' | 'planned' | 'interrupted'; error?: string; interruptedBefore?: string }
  /**
   * What the run's report said once it was written (after run-end): the verdict with its proof
   * (a lost write, a checksum difference or a crashed workload fail a run whose runbook
   * succeeded), its exit code, why, and where the report is. `status` says the same.
   */
  | { type: 'verdict'; at: string; verdict: string; label: string; exitCode: number; error?: string; report?: string };

/** What a run id may look like (it names a folder under runs/): no path separators, no leading dot. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The journal could not be written (a full disk: ENOSPC; a file size limit: EFBIG; a quota:
 * EDQUOT; a failing disk: EIO). Nothing of the line is left behind (see Journal.append), so a
 * resume once there is room reads a whole journal. `fix` says what the operator does.
 */
export class JournalWriteError extends Error {
  readonly code: string;
  /** The sentence without its capital, to go inside another one ("Switch aborted: the run's journal …"). */
  readonly clause: string;
  readonly fix: string;

  constructor(readonly path: string, readonly stateDir: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException)?.code ?? 'EIO';
    const detail = cause instanceof Error ? cause.message : String(cause);
    const clause = `the run's journal ${path} could not be written (${detail.startsWith(code) ? detail : `${code}: ${detail}`})`;
    super(clause.charAt(0).toUpperCase() + clause.slice(1));
    this.name = 'JournalWriteError';
    this.code = code;
    this.clause = clause;
    this.fix = `Fix: free space in ${stateDir} (or raise the file size limit), then --resume (a local rehearsal: run it again)`;
  }
}

/** A sortable, readable run id: 20261122-011845-a1b2c3. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * Append-only journal of one run, one JSON object a line, each line written and fsynced
 * before the step it records goes on, so that a crash loses at most the step in flight.
 * Everything is redacted before it reaches the disk.
 */
export class Journal {
  readonly path: string;
  private fd: number | undefined;
  /** Where the next line starts (the file's size after the last whole line). */
  private end = 0;

  constructor(readonly stateDir: string, readonly runId: string) {
    if (!RUN_ID_PATTERN.test(runId)) throw new Error(`Invalid run id "${runId}": use the id printed when the run started (see ${join(stateDir, 'runs')})`);
    this.path = join(stateDir, 'runs', runId, 'journal.jsonl');
  }

  exists(): boolean {
    return existsSync(this.path);
  }

  /**
   * Throws JournalWriteError when the line cannot be made durable. A line the disk took only in
   * part is cut off again: the journal never keeps a torn line that a later append would bury
   * (read() accepts a torn line only at the end).
   */
  append(entry: JournalEntry): void {
    const line = Buffer.from(JSON.stringify(redactValue(entry)) + '\n');
    try {
      if (this.fd === undefined) {
        mkdirSync(join(this.stateDir, 'runs', this.runId), { recursive: true, mode: 0o700 });
        this.fd = openSync(this.path, 'a', 0o600);
        this.end = fstatSync(this.fd).size;
      }
      // writeSync may write part of the line (a disk that just filled up): the rest, or its error.
      for (let written = 0; written < line.length; ) written += writeSync(this.fd, line, written, line.length - written);
      fsyncSync(this.fd);
      this.end += line.length;
    } catch (error) {
      if (this.fd !== undefined) {
        try {
          ftruncateSync(this.fd, this.end); // shrinking needs no room
        } catch {
          // read() still tolerates a torn last line
        }
      }
      throw new JournalWriteError(this.path, this.stateDir, error);
    }
  }

  read(): JournalEntry[] {
    if (!this.exists()) {
      throw new Error(`No journal for run ${this.runId} at ${this.path}. List runs with: ls ${join(this.stateDir, 'runs')}`);
    }
    const lines = readFileSync(this.path, 'utf8').split('\n').filter((line) => line.trim() !== '');
    const entries: JournalEntry[] = [];
    for (const [index, line] of lines.entries()) {
      try {
        entries.push(JSON.parse(line) as JournalEntry);
      } catch {
        // A torn last line (crash mid-write) is expected; anything earlier is corruption.
        if (index !== lines.length - 1) throw new Error(`Journal ${this.path} is corrupt at line ${index + 1}`);
      }
    }
    return entries;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  static list(stateDir: string): string[] {
    const dir = join(stateDir, 'runs');
    return existsSync(dir) ? readdirSync(dir).sort() : [];
  }
}

/** Where a run stands, derived from its journal. */
export interface RunStatus {
  runId: string;
  flow: string;
  environment: string;
  dryRun: boolean;
  /** `in-progress`: no run-end after the last start/resume (running now, or killed). */
  result: 'success' | 'aborted' | 'failed' | 'planned' | 'interrupted' | 'in-progress';
  finished: string[];
  /** How long each finished step took (its last step-done entry), for a resumed run's report. */
  stepDurations: Record<string, number>;
  /** When the run first started (its run-start entry). */
  startedAt: string;
  failed?: { step: string; error: string };
  /** The step that started last and did not finish (where a killed run stopped). */
  unfinishedStep?: string;
  /** The signal that interrupted the latest attempt, and the step it stopped before. */
  interrupted?: { signal: string; step?: string; before?: string };
  /** Where the run lock is, if the latest attempt took it and did not release it. */
  lockHeld?: string;
  /** What the report of the latest attempt said (absent before it was written, or for an older journal). */
  verdict?: { verdict: string; label: string; exitCode: number; error?: string; report?: string };
  /** Whether the run executed (AWS, sandbox) or was a local rehearsal (cannot be resumed). */
  options: Facts;
  facts: Facts;
  lastEntryAt: string;
}

export function statusFromJournal(entries: JournalEntry[]): RunStatus {
  const start = entries.find((e): e is Extract<JournalEntry, { type: 'run-start' }> => e.type === 'run-start');
  if (!start) throw new Error('Journal has no run-start entry');
  const finished: string[] = [];
  const stepDurations: Record<string, number> = {};
  const facts: Facts = {};
  let failed: RunStatus['failed'];
  let result: RunStatus['result'] = 'in-progress';
  let unfinishedStep: string | undefined;
  let interrupted: RunStatus['interrupted'];
  let lockHeld: string | undefined;
  let verdict: RunStatus['verdict'];
  for (const entry of entries) {
    if (entry.type === 'step-start') {
      unfinishedStep = entry.step;
    } else if (entry.type === 'interrupt') {
      interrupted = { signal: entry.signal, step: entry.step };
    } else if (entry.type === 'lock') {
      lockHeld = entry.action === 'acquired' ? entry.where : undefined;
    } else if (entry.type === 'step-progress') {
      Object.assign(facts, entry.facts);
    } else if (entry.type === 'step-done') {
      if (!finished.includes(entry.step)) finished.push(entry.step);
      stepDurations[entry.step] = entry.durationMs;
      Object.assign(facts, entry.facts);
      failed = undefined;
      if (unfinishedStep === entry.step) unfinishedStep = undefined;
    } else if (entry.type === 'step-failed') {
      failed = { step: entry.step, error: entry.error };
    } else if (entry.type === 'run-end') {
      result = entry.result;
      if (interrupted && entry.interruptedBefore) interrupted.before = entry.interruptedBefore;
    } else if (entry.type === 'run-resume') {
      result = 'in-progress';
      interrupted = undefined;
      verdict = undefined;
    } else if (entry.type === 'verdict') {
      verdict = { verdict: entry.verdict, label: entry.label, exitCode: entry.exitCode, error: entry.error, report: entry.report };
    }
  }
  return { runId: start.runId, flow: start.flow, environment: start.environment, dryRun: start.dryRun, result, finished, stepDurations, startedAt: start.at, failed, unfinishedStep, interrupted, lockHeld, verdict, options: start.options, facts, lastEntryAt: entries[entries.length - 1].at };
}

/**
 * A step's context for the part of a switch after traffic moved: there, a journal line the disk
 * refuses must not stop the switch half-way, so `record` remembers the first such failure (any
 * other error still throws) and the caller reports it once the switch is finished.
 */
export function recordingPastJournalFailures(context: StepContext): { context: StepContext; journalFailure: () => JournalWriteError | undefined } {
  let failed: JournalWriteError | undefined;
  return {
    context: {
      ...context,
      record: async (facts) => {
        try {
          await context.record(facts);
        } catch (failure) {
          if (!(failure instanceof JournalWriteError)) throw failure;
          failed ??= failure;
        }
      },
    },
    journalFailure: () => failed,
  };
}
