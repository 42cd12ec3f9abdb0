import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The runbook step now running, owned by the engine (runRunbook, recordPlan): every AWS call
 * and every SQL statement made inside a step's precondition/apply/verify is labelled with it,
 * so the plan groups calls by the step that really made them (not by a hand-kept id).
 */
const current = new AsyncLocalStorage<string>();

export function runInStep<T>(stepId: string, work: () => Promise<T>): Promise<T> {
  return current.run(stepId, work);
}

/** The step id the caller runs in, or undefined outside a step (the run lock, tests). */
export function currentStepId(): string | undefined {
  return current.getStore();
}
