import { redact } from '../util/secrets';
import type { Logger } from '../util/log';
import { runInStep, currentStepId } from './current-step';
import { RunResources } from './resources';
import { detachedContext, type Facts, type HookPhase, type Runbook, type StepContext } from './step';

/**
 * The dry-run plan as what the steps actually tried to do: recordPlan runs every step of the
 * runbook, in the runbook's order, through the same precondition/apply/verify code that
 * `--execute` runs, on a platform whose clients record instead of sending (the planning AWS
 * gateway, recording SQL connections). The calls land here in order, labelled with the step
 * the engine was running (current-step.ts), together with the sub-phases the steps journal
 * (`context.record`), which place the point of no return and the downtime phases.
 */

/** What a recorded call does: only `change` calls alter anything. */
export type CallEffect = 'read' | 'change' | 'wait' | 'session';

export interface PlanCall {
  type: 'call';
  step: string;
  /** `aws` (an SDK command), `sql` (a statement) or `process` (a client tool's command line, e.g. pg_dump). */
  channel: 'aws' | 'sql' | 'process';
  /** AWS: the service (`rds`); SQL and processes: the server's role (`source`, `target`). */
  on: string;
  /** AWS: the operation (`CreateDBSnapshot`); SQL: the statement. */
  operation: string;
  /** AWS: the command input (secrets redacted when rendered). */
  input?: object;
  effect: CallEffect;
  /** Waits: what is awaited and for how long. */
  note?: string;
  /** Sent once per row of an earlier read, which a dry run cannot have: "for each …". */
  forEach?: string;
}

/** A sub-phase a step journaled (`context.record`), in order with the calls. */
export interface PlanMark {
  type: 'mark';
  step: string;
  facts: Facts;
}

export type PlanEntry = PlanCall | PlanMark;

export interface PlannedStep {
  id: string;
  kind: 'check' | 'action';
  irreversible: boolean;
  hookBefore?: HookPhase;
  hookAfter?: HookPhase;
  describe: string[];
  /** `recorded`: ran against the recording clients; `failed`: stopped the plan (see `error`). */
  status: 'recorded' | 'failed' | 'not-reached';
  error?: string;
}

export interface RecordedPlan {
  flow: string;
  summary: string[];
  steps: PlannedStep[];
  entries: PlanEntry[];
  /** Values only a run knows, by the name the plan shows for them. */
  runtimeValues: string[];
  /** The step whose failure ended the recording, with the reason (a real state the plan met). */
  stoppedAt?: string;
  /**
   * false: the calls were listed from the platform's operations in the flow's order, not recorded
   * while the steps ran (PostgreSQL on AWS, so far). The document says so instead of claiming it.
   * @default true
   */
  recordedFromSteps?: boolean;
}

/** Stand-ins for run-time values; rendering turns them back into `<name>`. */
export class PlanTimeline {
  readonly entries: PlanEntry[] = [];
  private readonly numbers = new Map<string, number>();
  private readonly names = new Set<string>();
  private readonly strings = new Map<string, string>();

  /** Record one call, labelled with the engine's current step (or `fallbackStep` outside one). */
  call(call: Omit<PlanCall, 'type' | 'step'> & { step?: string }): void {
    this.entries.push({ type: 'call', ...call, step: currentStepId() ?? call.step ?? '(outside a step)' });
  }

  mark(facts: Facts): void {
    this.entries.push({ type: 'mark', step: currentStepId() ?? '(outside a step)', facts: { ...facts } });
  }

  /** A number standing for `name` (large and odd enough not to occur in a real plan). */
  number(name: string): number {
    this.names.add(name);
    let value = this.numbers.get(name);
    if (value === undefined) {
      value = 987654321000 + this.numbers.size * 7919;
      this.numbers.set(name, value);
    }
    return value;
  }

  text(name: string): string {
    this.names.add(name);
    return `<${name}>`;
  }

  /**
   * A PostgreSQL WAL position standing for `name`: a valid LSN (the flows compare positions
   * as numbers), far from any real one; rendering turns it back into `<name>`.
   */
  lsn(name: string, options: { pastEveryOther?: boolean } = {}): string {
    this.names.add(name);
    for (const [value, known] of this.strings) if (known === name) return value;
    // `pastEveryOther`: a position at or past every other stand-in (what a caught-up subscriber reports).
    const high = options.pastEveryOther ? 0xfffff000 + this.strings.size : 0x7ab00 + this.strings.size;
    const value = `${high.toString(16).toUpperCase()}/C0FFEE${String(this.strings.size % 100).padStart(2, '0')}`;
    this.strings.set(value, name);
    return value;
  }

  /** Turn stand-in numbers back into `<name>` and mask secrets. */
  render(text: string): string {
    let out = text;
    for (const [name, value] of this.numbers) out = out.split(String(value)).join(`<${name}>`);
    for (const [value, name] of this.strings) out = out.split(value).join(`<${name}>`);
    return redact(out);
  }

  /** The same for a JSON value (a command's input, facts): stand-in numbers become `"<name>"`. */
  renderValue<T>(value: T): T {
    const byNumber = new Map([...this.numbers].map(([name, number]) => [number, `<${name}>`]));
    return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && byNumber.has(v) ? byNumber.get(v) : typeof v === 'string' ? this.render(v) : v))) as T;
  }

  get runtimeValueNames(): string[] {
    return [...this.names];
  }
}

/**
 * Run every step against recording clients. A step that throws ends the recording there: the
 * plan says where and why (a real state met through read-only calls, or a value nobody gave).
 */
export async function recordPlan(runbook: Runbook, timeline: PlanTimeline, options: { runId: string; log: Logger; facts?: Facts }): Promise<RecordedPlan> {
  const facts: Facts = { ...(options.facts ?? {}) };
  // The recording's own (recorded) connections, disposed when it is done, as a run's are.
  const resources = new RunResources();
  const context: StepContext = {
    ...detachedContext({ runId: options.runId, dryRun: true, log: options.log, facts, resources }),
    record: (learned) => {
      Object.assign(facts, learned);
      timeline.mark(learned);
    },
  };
  const steps: PlannedStep[] = runbook.steps.map((step) => ({ id: step.id, kind: step.kind, irreversible: Boolean(step.irreversible), hookBefore: step.hookBefore, hookAfter: step.hookAfter, describe: step.describe({}).map(redact), status: 'not-reached' }));
  let stoppedAt: string | undefined;
  try {
    for (const [index, step] of runbook.steps.entries()) {
      try {
        await runInStep(step.id, async () => {
          if (step.precondition) await step.precondition(context);
          Object.assign(facts, (await step.apply(context)) ?? {});
          if (step.verify) await step.verify(context);
        });
        steps[index].status = 'recorded';
      } catch (error) {
        // A check step's own findings are the checks' business (they run for real afterwards).
        if (step.kind === 'check' && (error as Error).name === 'PreconditionFailed') {
          steps[index].status = 'recorded';
          continue;
        }
        steps[index].status = 'failed';
        steps[index].error = redact((error as Error).message);
        stoppedAt = `${step.id}: ${steps[index].error}`;
        break;
      }
    }
  } finally {
    await resources.disposeAll();
  }
  const entries = timeline.entries.map((entry) => (entry.type === 'call' ? { ...entry, operation: timeline.render(entry.operation), ...(entry.input ? { input: timeline.renderValue(entry.input) } : {}) } : { ...entry, facts: timeline.renderValue(entry.facts) }));
  return { flow: runbook.flow, summary: runbook.summary.map(redact), steps, entries, runtimeValues: timeline.runtimeValueNames, stoppedAt };
}
