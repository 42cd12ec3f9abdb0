import type { Logger } from '../util/log';
import type { RunResources } from './resources';
import type { FactsSchema } from './facts-schema';

/** Facts a step learned (binlog coordinates, resource ids). JSON only, never secrets. */
export type Facts = Record<string, unknown>;

/** Named moments at which user hooks run (`--hook before-switch=CMD`). */
export const HOOK_PHASES = ['startup', 'validated', 'before-switch', 'after-switch', 'success', 'failure'] as const;
export type HookPhase = (typeof HOOK_PHASES)[number];

export interface StepContext {
  readonly runId: string;
  readonly dryRun: boolean;
  readonly log: Logger;
  /** Facts recorded by earlier steps of this run (also those of a resumed run). */
  readonly facts: Facts;
  /**
   * In-process things shared between steps (kept connections, switch-time snapshots), each under
   * a typed key and with its own disposer; disposed once, in reverse order, when the run ends.
   * Lost on resume.
   */
  readonly resources: RunResources;
  /**
   * Journal facts learned in the middle of a step (a sub-phase reached: source frozen, target
   * promoted, endpoint moved), fsynced before it returns, and merge them into `facts`. A resumed
   * run sees them in `facts` even though the step never finished, so it can read where it stood
   * instead of starting the step over. In dry-runs it only merges.
   * Returns a promise when the engine was given an `onRecord` observer (tests use it to stop a
   * run right after a sub-phase, as a kill would): callers `await` it.
   */
  record(facts: Facts): void | Promise<void>;
  /**
   * True once an interrupt (SIGINT/SIGTERM) asked the run to stop: long waits that are safe to
   * leave (a catch-up gate) check it and throw `RunInterrupted`; the switch does not.
   */
  readonly stopRequested?: () => boolean;
  /**
   * Called by a destructive step immediately before it acts (deleting the old source): lets
   * signals that already arrived run their handlers, then throws `RunInterrupted` (the step did
   * nothing) if the run was asked to stop. Absent outside the engine's executed runs.
   */
  readonly checkpoint?: (action: string) => Promise<void>;
}

/**
 * One step of a runbook. `apply` must be idempotent: it reads actual state first, so that a
 * resumed run can call it again after a crash halfway through.
 */
export interface Step {
  /** Dotted id naming engine, subject and action: `mysql.replication.start`. */
  id: string;
  /**
   * Ids an older version journaled this same step under (same operation, same facts): a resume
   * of such a journal counts the step done when its former id is. Renaming a step otherwise
   * makes a resume run it again.
   */
  formerIds?: string[];
  /** Plan lines shown in dry-run and before execution (no secrets, deterministic). */
  describe(facts: Facts): string[];
  /**
   * `check` steps only read, and run in dry-run too (that is how a dry-run checks
   * preconditions); `action` steps change something and are only described in dry-run.
   */
  kind: 'check' | 'action';
  /** Run this hook phase just before the step (a failing hook aborts the run). */
  hookBefore?: HookPhase;
  /** Run this hook phase right after the step succeeded. */
  hookAfter?: HookPhase;
  /** Marks the step after which the old side no longer takes writes (shown in the plan). */
  irreversible?: boolean;
  /**
   * Run this step even when an interrupt arrived before it: it needs in-process state of the
   * step before (the switch-time snapshots) that a resumed run would not have.
   */
  runThroughInterrupt?: boolean;
  /** Read-only check right before `apply` (execute mode); throw to refuse. */
  precondition?(context: StepContext): Promise<void>;
  /** Do the work; return facts to journal for later steps and for resume. */
  apply(context: StepContext): Promise<Facts | void>;
  /** Read-only confirmation that the step's effect is there; throw if not. */
  verify?(context: StepContext): Promise<void>;
}

export interface Runbook {
  /** Flow name, e.g. `mysql.encrypt`. */
  flow: string;
  /** Short lines printed above the plan (what moves where). */
  summary: string[];
  steps: Step[];
  /** The facts a resume decides on, typed: checked when a --resume reads them back from the journal. */
  facts?: FactsSchema;
  /**
   * Called when the run stops between two steps with nobody left to carry on: the journal
   * refused a line (a full disk: the engine never starts a step it cannot journal; the run then
   * ends aborted) or an interrupt (SIGINT/SIGTERM; the run still ends interrupted). A flow whose
   * critical state spans steps (the PostgreSQL dump method is frozen from its freeze step to its
   * switch) undoes what must not stay that way, and returns the sentence saying what it did;
   * undefined when there was nothing to undo.
   */
  onStopBetweenSteps?(context: StepContext): Promise<string | undefined>;
}

/** Thrown to stop a run on purpose (a gate held, a timeout, a hook said no): result `aborted`. */
export class AbortRun extends Error {
  constructor(message: string, readonly facts: Facts = {}) {
    super(message);
    this.name = 'AbortRun';
  }
}

/** Thrown when an interrupt (SIGINT/SIGTERM) stops a run at a step boundary or in a wait: result `interrupted`. */
export class RunInterrupted extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunInterrupted';
  }
}

/** Thrown by a precondition or a check step: the message must name the fix. */
export class PreconditionFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PreconditionFailed';
  }
}

/** A step context outside the engine (plans, tests): `record` only merges, nothing is journaled. */
export function detachedContext(fields: Omit<StepContext, 'record'>): StepContext {
  return { ...fields, record: (learned) => void Object.assign(fields.facts, learned) };
}
