import type { Logger } from '../../util/log';
import { redact } from '../../util/secrets';
import { nowMs, sleep } from '../../util/time';
import { currentStepId } from '../../runbook/current-step';
import type { PlanTimeline } from '../../runbook/plan-recording';
import { isReadOnlyCommand, type AwsClients, type AwsService } from './clients';

/** The label of a call made outside any runbook step (the run lock, before and after the steps). */
export const OUTSIDE_A_STEP = '(outside a step)';

/** One AWS call as the plan shows it and the log records it. */
export interface RecordedCall {
  /** The runbook step that made the call (the engine's current step), or `(outside a step)` (the run lock). */
  step: string;
  service: AwsService;
  /** API operation name, e.g. `CreateDBSnapshot`. */
  command: string;
  input: object;
  /** `read`: Describe/List/Get; `write`: changes something; `wait`: a waiter polling `command`. */
  kind: 'read' | 'write' | 'wait';
  /** For waits: what is waited for, and for how long at most. */
  note?: string;
}

/** What the SDK's `client.send` accepts; the command's class name is the operation name. */
export interface SdkCommand {
  readonly input: object;
}

export interface WaitSettings {
  /** First poll interval in seconds (the SDK waiters back off from it). */
  pollSeconds: number;
}

/** A waiter gave up: the message names the resource, what was awaited and how long it waited. */
export class AwsWaitError extends Error {
  constructor(readonly resource: string, readonly waitedSeconds: number, detail: string) {
    super(`${resource}: ${detail} after waiting ${formatSeconds(waitedSeconds)}`);
    this.name = 'AwsWaitError';
  }
}

export function formatSeconds(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds * 10) / 10} s`;
  return `${Math.round(seconds / 6) / 10} min`;
}

export interface WaitSpec {
  service: AwsService;
  /** The operation the waiter polls, and its input (shown in the plan). */
  command: string;
  input: object;
  /** Human description of the awaited state: `instance orders-replica available`. */
  resource: string;
  state: string;
  timeoutSeconds: number;
}

/** Configuration the SDK's `waitUntil*` functions take. */
export interface WaiterConfig<C> {
  client: C;
  maxWaitTime: number;
  minDelay: number;
  maxDelay: number;
}

/** A stand-in for a value nobody gave (settings.ts writes them as `<name>`), never a real id. */
export function isPlaceholder(value: string): boolean {
  return /^<[^<>]+>$/.test(value);
}

/** Every placeholder string anywhere in a command's input. */
export function placeholdersIn(input: unknown): string[] {
  if (typeof input === 'string') return isPlaceholder(input) ? [input] : [];
  if (Array.isArray(input)) return input.flatMap(placeholdersIn);
  if (input && typeof input === 'object') return Object.values(input).flatMap(placeholdersIn);
  return [];
}

export function commandName(command: SdkCommand): string {
  return command.constructor.name.replace(/Command$/, '');
}

/**
 * The one door to AWS. Live: sends commands and logs each one. Plan: records every call a run
 * would make, in order, with parameters; reads are sent only when read-only clients were given
 * (dry run with credentials) and never when planning offline; writes and waits are never sent.
 */
export class AwsGateway {
  readonly calls: RecordedCall[] = [];

  constructor(
    private readonly options: {
      mode: 'live' | 'plan';
      /** Absent when planning offline: nothing is sent at all. */
      clients?: AwsClients;
      log: Logger;
      waits: WaitSettings;
      /** Plan mode: every call also goes to this timeline, in order with the SQL (the dry-run plan). */
      timeline?: PlanTimeline;
    },
  ) {
    if (options.mode === 'live' && !options.clients) throw new Error('AwsGateway: live mode needs clients');
  }

  /**
   * The same gateway for another account's clients (aws.targetAccount): same mode, log, waits and
   * plan timeline; without clients of its own when this one has none (offline plan).
   */
  forAccount(clients: AwsClients | undefined): AwsGateway {
    return new AwsGateway({ ...this.options, clients: this.options.clients ? clients : undefined });
  }

  get planning(): boolean {
    return this.options.mode === 'plan';
  }

  /** True when reads return AWS's answer (live, or a dry run with credentials). */
  get canRead(): boolean {
    return this.options.clients !== undefined;
  }

  async read<O>(service: AwsService, command: SdkCommand): Promise<O | undefined> {
    const name = commandName(command);
    if (!isReadOnlyCommand(name)) throw new Error(`${name} is not a read-only call; use write()`);
    this.record({ service, command: name, input: command.input, kind: 'read' });
    if (!this.options.clients) return undefined;
    // A value the config and the stacks' outputs did not give is a `<placeholder>`: AWS would
    // only answer with its own error ("Invalid keyId <storageKeyArn>"); the preflight names it.
    const unknown = placeholdersIn(command.input);
    if (unknown.length > 0) {
      if (this.planning) return undefined;
      throw new Error(`${name} needs ${unknown.join(', ')}, which neither the config nor the stacks' outputs gave: set it in the environment config or write the outputs file (npx cdktf output …)`);
    }
    return this.send<O>(service, command);
  }

  async write<O>(service: AwsService, command: SdkCommand): Promise<O | undefined> {
    const name = commandName(command);
    const call = this.record({ service, command: name, input: command.input, kind: 'write' });
    if (this.planning) return undefined;
    this.options.log.info(`aws ${formatCall(call)}`);
    return this.send<O>(service, command);
  }

  /** Run an SDK waiter (`waitUntil…`); its timeout becomes an AwsWaitError naming the resource. */
  async wait<C>(spec: WaitSpec, waiter: (config: WaiterConfig<C>) => Promise<unknown>): Promise<void> {
    this.record({ service: spec.service, command: spec.command, input: spec.input, kind: 'wait', note: `until ${spec.resource}: ${spec.state} (at most ${formatSeconds(spec.timeoutSeconds)})` });
    if (this.planning) return;
    const started = nowMs();
    const minDelay = this.options.waits.pollSeconds;
    this.options.log.info(`waiting until ${spec.resource}: ${spec.state} (at most ${formatSeconds(spec.timeoutSeconds)})`);
    try {
      await waiter({ client: this.options.clients![spec.service] as C, maxWaitTime: Math.max(spec.timeoutSeconds, minDelay * 1.01), minDelay, maxDelay: Math.max(minDelay, Math.min(120, spec.timeoutSeconds / 4)) });
    } catch (error) {
      const waited = (nowMs() - started) / 1000;
      const name = (error as Error).name;
      const reason = name === 'TimeoutError' ? `not ${spec.state} (timed out)` : `did not become ${spec.state} (${waiterFailure(error as Error)})`;
      throw new AwsWaitError(spec.resource, waited, reason);
    }
  }

  /**
   * Poll with our own loop where progress is worth showing (snapshot copies report
   * PercentProgress). `probe` returns a progress text, or `done`.
   */
  async poll(spec: WaitSpec & { input: object }, probe: () => Promise<{ done: true } | { done: false; progress: string }>): Promise<void> {
    this.record({ service: spec.service, command: spec.command, input: spec.input, kind: 'wait', note: `until ${spec.resource}: ${spec.state}, showing progress (at most ${formatSeconds(spec.timeoutSeconds)})` });
    if (this.planning) return;
    const started = nowMs();
    let delay = this.options.waits.pollSeconds;
    let lastProgress = '';
    for (;;) {
      const outcome = await probe();
      if (outcome.done) return;
      if (outcome.progress !== lastProgress) this.options.log.info(`${spec.resource}: ${outcome.progress}`);
      lastProgress = outcome.progress;
      const waited = (nowMs() - started) / 1000;
      if (waited + delay > spec.timeoutSeconds) throw new AwsWaitError(spec.resource, waited, `not ${spec.state} (timed out; last seen ${outcome.progress})`);
      await sleep(delay * 1000);
      delay = Math.min(delay * 2, 60);
    }
  }

  private record(unlabelled: Omit<RecordedCall, 'step'>): RecordedCall {
    // The engine's current step labels the call, and nothing else does: the plan and the call
    // list show the step that really made it. Outside a step (the run lock) it says so.
    const call = { ...unlabelled, step: currentStepId() ?? OUTSIDE_A_STEP };
    this.calls.push(call);
    this.options.timeline?.call({ step: call.step, channel: 'aws', on: call.service, operation: call.command, input: call.input, effect: call.kind === 'write' ? 'change' : call.kind, note: call.note });
    if (call.kind === 'read') this.options.log.debug(`aws ${formatCall(call)}`);
    return call;
  }

  private async send<O>(service: AwsService, command: SdkCommand): Promise<O> {
    const client = this.options.clients![service] as unknown as { send(c: SdkCommand): Promise<O> };
    return client.send(command);
  }
}

function waiterFailure(error: Error): string {
  try {
    const parsed = JSON.parse(error.message) as { reason?: unknown; state?: string };
    return parsed.reason ? String(typeof parsed.reason === 'object' ? JSON.stringify(parsed.reason) : parsed.reason).slice(0, 300) : String(parsed.state);
  } catch {
    return error.message.slice(0, 300);
  }
}

/** `rds.CreateDBSnapshot {"DBInstanceIdentifier":"orders-replica", …}`, secrets redacted. */
export function formatCall(call: RecordedCall): string {
  const input = JSON.stringify(call.input);
  return redact(`${call.service}.${call.command} ${input === '{}' ? '{}' : input}${call.note ? `  — ${call.note}` : ''}`);
}
