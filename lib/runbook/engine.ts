import { redact } from '../util/secrets';
import type { Logger } from '../util/log';
import { nowMs, wallClockMs } from '../util/time';
import { openSignalScope } from '../util/signal-scope';
import { Journal, JournalWriteError, newRunId, statusFromJournal, type JournalEntry } from './journal';
import { runHook, type HookMap } from './hooks';
import { currentHolder, type RunLock } from './lock';
import { withKillPoint } from './kill-point';
import { runInStep } from './current-step';
import { RunResources } from './resources';
import { checkJournaledFacts } from './facts-schema';
import { AbortRun, PreconditionFailed, RunInterrupted, type Facts, type HookPhase, type Runbook, type Step, type StepContext } from './step';

/** `done-earlier`: finished by an earlier attempt of this run (a resume does not run it again). */
export type StepStatus = 'done' | 'done-earlier' | 'checked' | 'planned' | 'failed' | 'aborted' | 'not-run';
export type RunResultKind = 'success' | 'aborted' | 'failed' | 'planned' | 'interrupted';

export interface StepResult {
  id: string;
  status: StepStatus;
  durationMs: number;
  /** Wall-clock ms the step started (executed steps only): the report page draws steps as bands. */
  startedAt?: number;
  error?: string;
}

export interface RunOptions {
  runbook: Runbook;
  environment: string;
  /** Folder holding `runs/<id>/journal.jsonl`. */
  stateDir: string;
  /** Default true: print the plan and run read-only checks only. */
  dryRun: boolean;
  /** Continue this run at its first unfinished step. */
  resumeRunId?: string;
  hooks?: HookMap;
  /**
   * Called once before the run takes its lock or writes its first journal line (after a resume's
   * journal was checked): what it throws stops the run leaving no trace (the AWS runners check
   * their credentials here).
   */
  beforeStart?: () => Promise<void>;
  /** Env var names a hook must not inherit (the ones holding passwords). */
  hideEnvFromHooks?: string[];
  log: Logger;
  /** Options worth journaling (no secrets). */
  options?: Facts;
  /** Called as steps finish: lets a rehearsal stop its load after the switch. */
  onStepDone?: (step: Step, facts: Facts) => Promise<void> | void;
  /**
   * The run's resource registry (default: a new one). Whatever is in it when the run ends is
   * disposed then; a caller passes its own to seed a test probe, or to dispose what a run it
   * abandoned (a simulated kill) still holds.
   */
  resources?: RunResources;
  /**
   * Called after `context.record` journaled a sub-phase (fsynced). Tests stop a run here as a
   * kill would (by never resolving, then abandoning the run's connections).
   */
  onRecord?: (step: string, facts: Facts) => Promise<void> | void;
  /**
   * Handle SIGINT/SIGTERM while executing: stop at the next step boundary (a step in progress,
   * the switch included, finishes or aborts within its own budget), journal the interrupt and
   * a run-end `interrupted`. The CLI sets it; tests leave it off.
   */
  handleSignals?: boolean;
  /**
   * A SIGINT/SIGTERM the caller's own handling saw before this run's handling started (a
   * rehearsal's Ctrl-C while its sandbox or its load started): read once the run handles
   * signals, it stops the run before its first step, as if it had come then.
   */
  interruptedAlready?: () => NodeJS.Signals | undefined;
  /**
   * Asked at every step boundary until the step that freezes the source (the one with the
   * `before-switch` hook) starts, also right before it: a reason stops the run there, aborted,
   * with the source never frozen. A rehearsal passes why its proof is already broken (the user's
   * workload crashed); from the freeze on the run goes on and the report says it.
   */
  abortBeforeFreeze?: () => string | undefined;
  /** One executed run per environment: taken before the first step, released at run end (kept when killed). */
  lock?: RunLock;
  /** How to resume this run when it is not `--env ENV --execute --resume ID` (e.g. `switch-back RUN_ID`): kept in the lock, named in a refusal. */
  lockCommand?: string;
}

export interface RunResult {
  runId: string;
  flow: string;
  environment: string;
  dryRun: boolean;
  result: RunResultKind;
  /** Why a run was aborted or failed (secrets redacted). */
  error?: string;
  steps: StepResult[];
  facts: Facts;
  /** All precondition failures of a dry-run, not just the first. */
  problems: string[];
  /** This attempt's duration (a resumed run: since the resume). */
  durationMs: number;
  /** A resumed run: when its first attempt started (the journal's run-start). */
  firstStartedAt?: string;
}

/** The run stops because its journal cannot be written (the message says where it stands). */
class JournalStop extends Error {}

/** The plan as plain text lines: deterministic, no secrets, asserted by tests. */
export function planText(runbook: Runbook, facts: Facts = {}): string[] {
  return stepListText({ flow: runbook.flow, summary: runbook.summary, steps: runbook.steps.map((step) => ({ ...step, describe: step.describe(facts) })) });
}

/** The flow, its summary and its steps (with what each says it does) as plain text lines. */
export function stepListText(plan: { flow: string; summary: string[]; steps: Array<{ id: string; kind: 'check' | 'action'; irreversible?: boolean; hookBefore?: HookPhase; hookAfter?: HookPhase; describe: string[] }> }): string[] {
  const lines = [`Flow ${plan.flow}`, ...plan.summary.map((line) => `  ${line}`), ''];
  plan.steps.forEach((step, index) => {
    const marks = [step.kind === 'check' ? 'check' : 'action', step.irreversible ? 'POINT OF NO RETURN' : undefined].filter(Boolean).join(', ');
    if (step.hookBefore) lines.push(`    (hook ${step.hookBefore})`);
    lines.push(`${String(index + 1).padStart(2)}. ${step.id} [${marks}]`);
    for (const line of step.describe) lines.push(`      ${line}`);
    if (step.hookAfter) lines.push(`    (hook ${step.hookAfter})`);
  });
  return lines.map(redact);
}

/**
 * The steps a journal says are done, under this runbook's ids: a step journaled under one of its
 * `formerIds` (an older version's name for it) counts as done, with that entry's duration.
 */
function underCurrentIds(runbook: Runbook, status: { finished: string[]; stepDurations: Record<string, number> }): { finished: string[]; durations: Record<string, number> } {
  const finished = [...status.finished];
  const durations = { ...status.stepDurations };
  for (const step of runbook.steps) {
    const former = step.formerIds?.find((id) => status.finished.includes(id));
    if (former === undefined || finished.includes(step.id)) continue;
    finished.push(step.id);
    durations[step.id] = status.stepDurations[former];
  }
  return { finished, durations };
}

/**
 * Runs a runbook: the one place that knows about dry-run, the journal, resume, hooks and
 * timing, so every flow gets them the same way (gh-ost's single line of phases).
 */
export async function runRunbook(options: RunOptions): Promise<RunResult> {
  const resources = options.resources ?? new RunResources();
  try {
    return await runSteps(options, resources);
  } finally {
    // Once, last opened first, whatever the outcome (a step failed, an interrupt, a refused resume).
    for (const failure of await resources.disposeAll()) options.log.warn(redact(failure.message));
  }
}

async function runSteps(options: RunOptions, resources: RunResources): Promise<RunResult> {
  const { runbook, log } = options;
  const started = nowMs();
  const runId = options.resumeRunId ?? newRunId();
  const facts: Facts = {};
  let finished: string[] = [];
  let earlier: { durations: Record<string, number>; startedAt: string } | undefined;
  const journal = options.dryRun ? undefined : withKillPoint(new Journal(options.stateDir, runId));

  // The journal is what a resume trusts. The first line it cannot take (a full disk) stops the
  // run at a safe point: before the next step, never inside one — a step that was recording a
  // sub-phase gets the error and decides (the switch undoes its freeze, or finishes forward
  // once traffic moved). Lines after that (failed step, hooks, run end) are best effort.
  let journalFailure: JournalWriteError | undefined;
  // A second SIGINT/SIGTERM in a rehearsal stops its servers at once (ProcessGroup): the run is
  // journaled as interrupted right then, and nothing after (connections lost) is journaled.
  let hardStopped = false;
  const append = (entry: JournalEntry): void => {
    if (hardStopped) return;
    try {
      journal?.append(entry);
    } catch (failure) {
      if (failure instanceof JournalWriteError) journalFailure ??= failure;
      throw failure;
    }
  };
  const appendIfPossible = (entry: JournalEntry): void => {
    try {
      append(entry);
    } catch (failure) {
      log.error(`${entry.type} not journaled: ${redact(failure instanceof Error ? failure.message : String(failure))}`);
    }
  };
  // Before anything changed: a journal that cannot even start leaves nothing (the lock is given back).
  const beginJournal = async (entry: JournalEntry): Promise<void> => {
    try {
      append(entry);
    } catch (failure) {
      if (options.lock) await options.lock.release(runId).catch(() => undefined);
      if (failure instanceof JournalWriteError) throw new Error(`${failure.message}: the run did not start, nothing was changed. ${failure.fix}`);
      throw failure;
    }
  };

  if (options.resumeRunId) {
    if (options.dryRun) throw new Error('--resume continues an executed run; add --execute');
    const status = statusFromJournal(journal!.read());
    if (status.flow !== runbook.flow || status.environment !== options.environment) {
      throw new Error(`Run ${runId} is flow ${status.flow} on environment ${status.environment}; resume it with the same --env and flow`);
    }
    if (status.result === 'success') throw new Error(`Run ${runId} already finished successfully; nothing to resume`);
    // Before the lock and the journal: a journal whose facts cannot be trusted changes nothing.
    const done = underCurrentIds(runbook, status);
    if (runbook.facts) checkJournaledFacts(runbook.facts, status.facts, { runId, flow: runbook.flow, finished: done.finished });
    Object.assign(facts, status.facts);
    finished = done.finished;
    earlier = { durations: done.durations, startedAt: status.startedAt };
    await options.beforeStart?.();
    if (options.lock) await options.lock.acquire(currentHolder(runId, options.environment, options.lockCommand));
    await beginJournal({ type: 'run-resume', at: new Date().toISOString(), runId });
    log.info(`Resuming run ${runId}: ${finished.length} step(s) already done`);
  } else if (journal) {
    if (journal.exists()) throw new Error(`Run ${runId} already exists`);
    await options.beforeStart?.();
    // Taken before anything is journaled or changed: a refused run leaves no trace.
    if (options.lock) await options.lock.acquire(currentHolder(runId, options.environment, options.lockCommand));
    await beginJournal({ type: 'run-start', at: new Date().toISOString(), runId, flow: runbook.flow, environment: options.environment, dryRun: false, options: options.options ?? {} });
  }

  if (options.lock && journal) await beginJournal({ type: 'lock', at: new Date().toISOString(), action: 'acquired', where: options.lock.where });

  let currentStep: string | undefined;
  const record = (learned: Facts): Promise<void> => {
    Object.assign(facts, learned);
    if (currentStep) append({ type: 'step-progress', at: new Date().toISOString(), step: currentStep, facts: learned });
    return Promise.resolve(currentStep && options.onRecord ? options.onRecord(currentStep, learned) : undefined);
  };

  // Interrupts: remembered, journaled, acted on at the next step boundary (see handleSignals).
  let interrupt: { signal: string; step?: string } | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (hardStopped) return; // the verdict is said: nothing is finishing any more
    if (interrupt) {
      log.warn(`${signal} again: still finishing ${interrupt.step ?? 'the current step'} (the switch finishes or aborts within --switch-timeout); kill -9 leaves the run resumable`);
      return;
    }
    interrupt = { signal, step: currentStep };
    appendIfPossible({ type: 'interrupt', at: new Date().toISOString(), signal, step: currentStep });
    log.warn(`${signal} received: finishing ${currentStep ?? 'the current step'}, then stopping (the run stays resumable)`);
  };
  const signals = openSignalScope(onSignal, {
    enabled: Boolean(options.handleSignals && !options.dryRun),
    onHardStop: (signal) => {
      const before = currentStep ?? results.find((r) => r.status === 'not-run')?.id;
      const where = currentStep ? ` during ${currentStep}` : before ? ` before ${before}` : '';
      const why = `${signal} twice: the sandbox's servers were stopped at once${where}; this rehearsal is void, nothing to resume: run it again`;
      appendIfPossible({ type: 'run-end', at: new Date().toISOString(), result: 'interrupted', error: why, ...(before ? { interruptedBefore: before } : {}) });
      hardStopped = true;
      log.error(`${runbook.flow} on ${options.environment}: INTERRUPTED (${why})`);
    },
  });
  const signalledBefore = signals.enabled ? options.interruptedAlready?.() : undefined;
  if (signalledBefore) {
    interrupt = { signal: signalledBefore };
    appendIfPossible({ type: 'interrupt', at: new Date().toISOString(), signal: signalledBefore });
    log.warn(`${signalledBefore} received before the run started: it stops before its first step (nothing is changed)`);
  }
  // Before a step starts (and before a destructive action inside one), signals that already
  // reached the process run their handler first: otherwise a Ctrl-C at the end of a step is
  // seen only inside the next one (lib/util/pending-signals.ts).
  const settleSignals = (): Promise<void> => signals.settle();
  const checkpoint = async (action: string): Promise<void> => {
    await settleSignals();
    if (interrupt) throw new RunInterrupted(`Interrupted by ${interrupt.signal} before ${action} (not done)`);
  };
  const context: StepContext = { runId, dryRun: options.dryRun, log, facts, resources, record, stopRequested: () => interrupt !== undefined, checkpoint };
  const results: StepResult[] = runbook.steps.map((step) => ({ id: step.id, status: 'not-run', durationMs: 0 }));
  const problems: string[] = [];
  let result: RunResultKind = options.dryRun ? 'planned' : 'success';
  let error: string | undefined;

  // Once a step past the point of no return has run, stopping would only skip verification
  // and clean-up: a failing hook is then recorded (the run ends failed) but does not stop it.
  let pastPointOfNoReturn = false;
  const lateHookFailures: string[] = [];
  const hook = async (phase: HookPhase, step?: Step) => {
    for (const command of options.hooks?.[phase] ?? []) {
      log.info(`hook ${phase}: ${command}`);
      const outcome = await runHook(command, { runId, flow: runbook.flow, environment: options.environment, phase, dryRun: options.dryRun, step: step?.id, facts }, { hideEnv: options.hideEnvFromHooks });
      appendIfPossible({ type: 'hook', at: new Date().toISOString(), phase, command: outcome.command, exitCode: outcome.exitCode, durationMs: outcome.durationMs });
      if (outcome.outputTail) log.info(`hook ${phase} output:\n${outcome.outputTail}`);
      if (outcome.exitCode === 0) continue;
      const message = `hook ${phase} (${outcome.command}) exited with ${outcome.exitCode}`;
      if (!pastPointOfNoReturn) throw new AbortRun(message);
      log.error(`${message}; past the point of no return the run goes on (verification, fencing)`);
      lateHookFailures.push(message);
    }
  };

  // Until the freezing step starts, the caller may stop the run (abortBeforeFreeze): aborted, nothing frozen.
  let freezeStarted = false;
  const abortIfAsked = (step: Step): void => {
    if (freezeStarted || options.dryRun) return;
    const why = options.abortBeforeFreeze?.();
    if (why) throw new AbortRun(`${why}. The run stopped before ${step.id}: the source was never frozen`);
  };

  try {
    await hook('startup');
    let validatedHookDone = false;
    for (const [index, step] of runbook.steps.entries()) {
      const stepResult = results[index];
      if (step.kind === 'action' && !validatedHookDone) {
        validatedHookDone = true;
        if (problems.length > 0) break;
        await hook('validated');
      }
      if (finished.includes(step.id)) {
        stepResult.status = 'done-earlier';
        stepResult.durationMs = earlier?.durations[step.id] ?? 0;
        log.info(`${step.id}: done by an earlier attempt of this run, not run again`);
        continue;
      }
      // A step that needs the previous step's in-process state (switch-time snapshots) still
      // runs after an interrupt: stopping before it would throw that proof away.
      const previousRanHere = index > 0 && results[index - 1].status === 'done';
      await settleSignals();
      if (interrupt && !(step.runThroughInterrupt && previousRanHere)) {
        throw new RunInterrupted(`Interrupted by ${interrupt.signal} before ${step.id}`);
      }
      abortIfAsked(step);
      if (step.hookBefore) {
        await hook(step.hookBefore, step);
        await settleSignals();
      }
      // An interrupt during the before-hook (e.g. before-switch) still stops ahead of the step.
      if (interrupt && !(step.runThroughInterrupt && previousRanHere)) throw new RunInterrupted(`Interrupted by ${interrupt.signal} before ${step.id}`);
      abortIfAsked(step);
      if (step.hookBefore === 'before-switch') freezeStarted = true;
      if (options.dryRun && step.kind === 'action') {
        stepResult.status = 'planned';
        continue;
      }
      const stepStart = nowMs();
      stepResult.startedAt = Math.round(wallClockMs());
      try {
        append({ type: 'step-start', at: new Date().toISOString(), step: step.id });
      } catch (failure) {
        if (failure instanceof JournalWriteError) throw new JournalStop(`${failure.message}: the run stopped before ${step.id} (nothing of it ran).`);
        throw failure;
      }
      currentStep = step.id;
      log.info(`${step.id}: ${step.describe(facts)[0] ?? ''}`);
      try {
        // The engine owns the current step: AWS calls and SQL made inside are labelled with it.
        const learned = await runInStep(step.id, async () => {
          if (step.precondition) await step.precondition(context);
          const stepFacts = (await step.apply(context)) ?? {};
          Object.assign(facts, stepFacts);
          if (step.verify) await step.verify(context);
          return stepFacts;
        });
        stepResult.durationMs = Math.round(nowMs() - stepStart);
        stepResult.status = step.kind === 'check' && options.dryRun ? 'checked' : 'done';
        currentStep = undefined;
        appendIfPossible({ type: 'step-done', at: new Date().toISOString(), step: step.id, durationMs: stepResult.durationMs, facts: learned });
        if (journalFailure) {
          // Done, but its journal is incomplete: a --resume runs it again (steps read the actual state first).
          throw new JournalStop(`${journalFailure.message}: ${step.id} finished but the journal does not say so; the run stopped after it (a --resume runs it again, from the actual state).`);
        }
        log.info(`${step.id}: ${stepResult.status} in ${stepResult.durationMs} ms`);
        if (step.irreversible && !options.dryRun) pastPointOfNoReturn = true;
      } catch (failure) {
        stepResult.durationMs = Math.round(nowMs() - stepStart);
        const message = redact(failure instanceof Error ? failure.message : String(failure));
        stepResult.error = message;
        if (failure instanceof AbortRun) Object.assign(facts, failure.facts);
        const aborted = failure instanceof AbortRun;
        appendIfPossible({ type: 'step-failed', at: new Date().toISOString(), step: step.id, durationMs: stepResult.durationMs, error: message, aborted });
        currentStep = undefined;
        if (options.dryRun && failure instanceof PreconditionFailed) {
          // Keep checking: the operator wants every problem at once.
          stepResult.status = 'failed';
          problems.push(`${step.id}: ${message}`);
          continue;
        }
        stepResult.status = aborted ? 'aborted' : failure instanceof RunInterrupted ? 'not-run' : 'failed';
        throw failure;
      }
      // Outside the step's try: the step is done and journaled as such; a failing observer
      // (a rehearsal's load) fails the run, it does not make a finished step look failed.
      try {
        await options.onStepDone?.(step, facts);
      } catch (failure) {
        throw new Error(`after ${step.id} (done): ${failure instanceof Error ? failure.message : String(failure)}`);
      }
      if (step.hookAfter) await hook(step.hookAfter, step);
    }
    await settleSignals();
    if (problems.length > 0) {
      result = 'failed';
      error = `${problems.length} precondition(s) failed`;
    } else if (lateHookFailures.length > 0) {
      result = 'failed';
      error = lateHookFailures.join('; ');
    } else if (interrupt) {
      // Ctrl-C during the last step: that step finished (nothing was left to stop before), but
      // the operator asked to stop and the process exits 130 (npm/npx wrappers exit 130 at once
      // anyway): summary, report and exit code say INTERRUPTED, never SUCCESS with exit 130.
      result = 'interrupted';
      error = `Interrupted by ${interrupt.signal} ${interrupt.step ? `during ${interrupt.step}, which finished` : 'after the last step'}; every step is done, nothing is left to resume`;
    }
  } catch (caught) {
    let failure = caught;
    if ((failure instanceof JournalStop || failure instanceof RunInterrupted) && runbook.onStopBetweenSteps) {
      // Nobody will be running: the flow undoes what must not stay as it is (an undo that fails is said, never hidden).
      const undone = await runbook.onStopBetweenSteps(context).catch((error: Error) => `Undoing what the run left failed too (${error.message}): check both sides before --resume.`);
      if (undone) failure = failure instanceof RunInterrupted ? new RunInterrupted(`${failure.message}. ${undone}`) : new AbortRun(`${failure.message} ${undone}`);
    }
    result = failure instanceof AbortRun ? 'aborted' : failure instanceof RunInterrupted ? 'interrupted' : 'failed';
    error = redact(failure instanceof Error ? failure.message : String(failure));
    if (journalFailure) error = `${error}${error.includes(journalFailure.clause) || error.includes(journalFailure.message) ? '' : ` (${journalFailure.clause})`} ${journalFailure.fix}`;
    if (!(failure instanceof AbortRun) && !(failure instanceof PreconditionFailed) && failure instanceof Error && failure.stack) {
      log.debug(redact(failure.stack));
    }
  }

  try {
    await hook(result === 'success' || result === 'planned' ? 'success' : 'failure');
  } catch (failure) {
    log.warn(redact(failure instanceof Error ? failure.message : String(failure)));
  }
  signals.close();
  const interruptedBefore = result === 'interrupted' ? results.find((r) => r.status === 'not-run')?.id : undefined;
  appendIfPossible({ type: 'run-end', at: new Date().toISOString(), result, error, ...(interruptedBefore ? { interruptedBefore } : {}) });
  if (journalFailure && (result === 'success' || result === 'planned')) {
    // Every step ran, but the journal cannot say so (a status would show the run in progress).
    result = 'failed';
    error = `${journalFailure.message}: every step finished but the journal does not record the run's end. ${journalFailure.fix}`;
  }
  if (options.lock && journal) {
    try {
      await options.lock.release(runId);
      appendIfPossible({ type: 'lock', at: new Date().toISOString(), action: 'released', where: options.lock.where });
    } catch (failure) {
      log.warn(`could not release the run lock ${options.lock.where}: ${redact(failure instanceof Error ? failure.message : String(failure))}`);
    }
  }
  journal?.close();
  return { runId, flow: runbook.flow, environment: options.environment, dryRun: options.dryRun, result, error, steps: results, facts, problems, durationMs: Math.round(nowMs() - started), ...(earlier ? { firstStartedAt: earlier.startedAt } : {}) };
}
