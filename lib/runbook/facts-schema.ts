import { z } from 'zod';

/**
 * The facts a flow journals that a resumed run decides on, typed: what each is, and which must
 * be there once a step finished (the start coordinates after the clone). A resume reads them
 * back from the journal; a fact of the wrong type (a hand-edited line, another version's
 * journal) or one missing after the step that writes it is refused before anything runs,
 * naming the fact, instead of surfacing later as `String(undefined)` in a CHANGE MASTER.
 * Facts not listed pass unchecked (reports read them, nothing decides on them).
 */
export interface FactsSchema {
  /** Each listed fact's type when present (`null` only where the schema allows it). */
  shape: z.ZodRawShape;
  /** Facts that must be present once the step (by id) is done. */
  requiredAfter?: Record<string, string[]>;
  /**
   * Facts journaled together with a sub-phase: present once `fact` holds one of `values` (the
   * switch's final binlog position once `switchPhase` says it froze), or once `fact` is there
   * at all when no values are given, since the line that recorded the phase recorded them too.
   */
  requiredWith?: Array<{ fact: string; values?: readonly string[]; required: string[] }>;
}

/** Thrown by a resume whose journal holds facts this flow cannot trust; nothing was changed. */
export class JournalFactsRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JournalFactsRefused';
  }
}

/**
 * Checks the facts a journal gives back to a resumed run (or, `use` given, to the run that
 * builds on it: a switch-back reads the forward run's); throws JournalFactsRefused naming every bad fact.
 */
export function checkJournaledFacts(schema: FactsSchema, facts: Record<string, unknown>, run: { runId: string; flow: string; finished: string[] }, use = 'be resumed'): void {
  const problems: string[] = [];
  for (const [step, names] of Object.entries(schema.requiredAfter ?? {})) {
    if (!run.finished.includes(step)) continue;
    for (const name of names) if (facts[name] === undefined) problems.push(`fact "${name}" is missing (${step} is done, and records it)`);
  }
  for (const { fact, values, required } of schema.requiredWith ?? []) {
    if (values ? !values.includes(facts[fact] as string) : facts[fact] == null) continue;
    for (const name of required) if (facts[name] === undefined) problems.push(`fact "${name}" is missing (${fact} is ${JSON.stringify(facts[fact])}, journaled in the same line)`);
  }
  const parsed = z.looseObject(schema.shape).safeParse(facts);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '');
      if (facts[name] === undefined) continue; // absent: said above when it is required
      problems.push(`fact "${name}" is ${JSON.stringify(facts[name])}: ${issue.message.toLowerCase()}`);
    }
  }
  if (problems.length === 0) return;
  throw new JournalFactsRefused(
    `Run ${run.runId} (${run.flow}) cannot ${use}: its journal's ${problems.join('; ')}. ` +
      'The journal was edited or written by another version: nothing was changed. Check the run with `status`, correct the journal line, or start a new run.',
  );
}
