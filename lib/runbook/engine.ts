import { redact } from '../util/secrets';
import type { Logger } from '../util/log';
import { nowMs, wallClockMs } from '../util/time';
import { Journal, newRunId, statusFromJournal } from './journal';
import { runHook, type HookMap } from './hooks';
import { AbortRun, PreconditionFailed, type Facts, type HookPhase, type Runbook, type Step, type StepContext } from './step';

export type StepStatus = 'done' | 'skipped' | 'checked' | 'planned' | 'failed' | 'aborted' | 'not-run';
export type RunResultKind = 'success' | 'aborted' | 'failed' | 'planned';

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
  /** Env var names a hook must not inherit (the ones holding passwords). */
  hideEnvFromHooks?: string[];
  log: Logger;
  /** Options worth journaling (no secrets). */
  options?: Facts;
  /** Called as steps finish: lets a rehearsal stop its load after the switch. */
  onStepDone?: (step: Step, facts: Facts) => Promise<void> | void;
  /** Shared in-process objects (e.g. platform handles). */
  runtime?: Map<string, unknown>;
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
  durationMs: number;
}

/** The plan as plain text lines: deterministic, no secrets, asserted by tests. */
export function planText(runbook: Runbook, facts: Facts = {}): string[] {
  const lines = [`Flow ${runbook.flow}`, ...runbook.summary.map((line) => `  ${line}`), ''];
  runbook.steps.forEach((step, index) => {
    const marks = [step.kind === 'check' ? 'check' : 'action', step.irreversible ? 'POINT OF NO RETURN' : undefined].filter(Boolean).join(', ');
    if (step.hookBefore) lines.push(`    (hook ${step.hookBefore})`);
    lines.push(`${String(index + 1).padStart(2)}. ${step.id} [${marks}]`);
    for (const line of step.describe(facts)) lines.push(`      ${line}`);
    if (step.hookAfter) lines.push(`    (hook ${step.hookAfter})`);
  });
  return lines.map(redact);
}

/**
 * Runs a runbook: the one place that knows about dry-run, the journal, resume, hooks and
 * timing, so every flow gets them the same way (gh-ost's single line of phases).
 */
export async function runRunbook(options: RunOptions): Promise<RunResult> {
  const { runbook, log } = options;
  const started = nowMs();
  const runId = options.resumeRunId ?? newRunId();
  const facts: Facts = {};
  let finished: string[] = [];
  const journal = options.dryRun ? undefined : new Journal(options.stateDir, runId);

  if (options.resumeRunId) {
    if (options.dryRun) throw new Error('--resume continues an executed run; add --execute');
    const status = statusFromJournal(journal!.read());
    if (status.flow !== runbook.flow || status.environment !== options.environment) {
      throw new Error(`Run ${runId} is flow ${status.flow} on environment ${status.environment}; resume it with the same --env and flow`);
    }
    if (status.result === 'success') throw new Error(`Run ${runId} already finished successfully; nothing to resume`);
    Object.assign(facts, status.facts);
    finished = status.finished;
    journal!.append({ type: 'run-resume', at: new Date().toISOString(), runId });
    log.info(`Resuming run ${runId}: ${finished.length} step(s) already done`);
  } else if (journal) {
    if (journal.exists()) throw new Error(`Run ${runId} already exists`);
    journal.append({ type: 'run-start', at: new Date().toISOString(), runId, flow: runbook.flow, environment: options.environment, dryRun: false, options: options.options ?? {} });
  }

  let currentStep: string | undefined;
  const record = (learned: Facts) => {
    Object.assign(facts, learned);
    if (currentStep) journal?.append({ type: 'step-progress', at: new Date().toISOString(), step: currentStep, facts: learned });
  };
  const context: StepContext = { runId, dryRun: options.dryRun, log, facts, runtime: options.runtime ?? new Map(), record };
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
      journal?.append({ type: 'hook', at: new Date().toISOString(), phase, command: outcome.command, exitCode: outcome.exitCode, durationMs: outcome.durationMs });
      if (outcome.outputTail) log.info(`hook ${phase} output:\n${outcome.outputTail}`);
      if (outcome.exitCode === 0) continue;
      const message = `hook ${phase} (${outcome.command}) exited with ${outcome.exitCode}`;
      if (!pastPointOfNoReturn) throw new AbortRun(message);
      log.error(`${message}; past the point of no return the run goes on (verification, fencing)`);
      lateHookFailures.push(message);
    }
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
        stepResult.status = 'skipped';
        log.info(`${step.id}: already done in this run, skipped`);
        continue;
      }
      if (step.hookBefore) await hook(step.hookBefore, step);
      if (options.dryRun && step.kind === 'action') {
        stepResult.status = 'planned';
        continue;
      }
      const stepStart = nowMs();
      stepResult.startedAt = Math.round(wallClockMs());
      journal?.append({ type: 'step-start', at: new Date().toISOString(), step: step.id });
      currentStep = step.id;
      log.info(`${step.id}: ${step.describe(facts)[0] ?? ''}`);
      try {
        if (step.precondition) await step.precondition(context);
        const learned = (await step.apply(context)) ?? {};
        Object.assign(facts, learned);
        if (step.verify) await step.verify(context);
        stepResult.durationMs = Math.round(nowMs() - stepStart);
        stepResult.status = step.kind === 'check' && options.dryRun ? 'checked' : 'done';
        journal?.append({ type: 'step-done', at: new Date().toISOString(), step: step.id, durationMs: stepResult.durationMs, facts: learned });
        log.info(`${step.id}: ${stepResult.status} in ${stepResult.durationMs} ms`);
        if (step.irreversible && !options.dryRun) pastPointOfNoReturn = true;
        await options.onStepDone?.(step, facts);
      } catch (failure) {
        stepResult.durationMs = Math.round(nowMs() - stepStart);
        const message = redact(failure instanceof Error ? failure.message : String(failure));
        stepResult.error = message;
        if (failure instanceof AbortRun) Object.assign(facts, failure.facts);
        const aborted = failure instanceof AbortRun;
        journal?.append({ type: 'step-failed', at: new Date().toISOString(), step: step.id, durationMs: stepResult.durationMs, error: message, aborted });
        if (options.dryRun && failure instanceof PreconditionFailed) {
          // Keep checking: the operator wants every problem at once.
          stepResult.status = 'failed';
          problems.push(`${step.id}: ${message}`);
          continue;
        }
        stepResult.status = aborted ? 'aborted' : 'failed';
        throw failure;
      }
      if (step.hookAfter) await hook(step.hookAfter, step);
    }
    if (problems.length > 0) {
      result = 'failed';
      error = `${problems.length} precondition(s) failed`;
    } else if (lateHookFailures.length > 0) {
      result = 'failed';
      error = lateHookFailures.join('; ');
    }
  } catch (failure) {
    result = failure instanceof AbortRun ? 'aborted' : 'failed';
    error = redact(failure instanceof Error ? failure.message : String(failure));
    if (!(failure instanceof AbortRun) && !(failure instanceof PreconditionFailed) && failure instanceof Error && failure.stack) {
      log.debug(redact(failure.stack));
    }
  }

  try {
    await hook(result === 'success' || result === 'planned' ? 'success' : 'failure');
  } catch (failure) {
    log.warn(redact(failure instanceof Error ? failure.message : String(failure)));
  }
  journal?.append({ type: 'run-end', at: new Date().toISOString(), result, error });
  journal?.close();
  return { runId, flow: runbook.flow, environment: options.environment, dryRun: options.dryRun, result, error, steps: results, facts, problems, durationMs: Math.round(nowMs() - started) };
}
