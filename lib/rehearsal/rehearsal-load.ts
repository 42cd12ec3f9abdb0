import type { Logger } from '../util/log';
import { sleep } from '../util/time';
import type { Facts, Runbook, Step } from '../runbook/step';
import { runRunbook, type RunResult } from '../runbook/engine';
import type { HookMap } from '../runbook/hooks';
import type { RunLock } from '../runbook/lock';
import { longestWriteGapMs, summariseWrites, writeGapAroundSwitch, type ConnectAttempt, type WriteAttempt } from '../load/write-load';
import { writeTimeline } from '../report-page/timeline';
import { WriteLoadProcess } from '../load/write-load-process';
import { LoadCommand, describeLoadCommand, type LoadCommandOutcome } from '../load/load-command';
import { reportFromRun, verdictOf, type CutoverReport } from '../report';
import { wallClockMs } from '../util/time';
import { openSignalScope, type SignalScope } from '../util/signal-scope';
import { pauseIfAsked } from '../runbook/kill-point';

export interface RehearsalLoadOptions {
  engine: 'mysql' | 'postgres';
  /** The application's endpoint (the switch point) and account. */
  endpoint: { host: string; port: number; user: string; password: string };
  database: string;
  connections: number;
  ratePerSecond: number;
  /** The user's own workload (`--load-command`), run beside the built-in load. */
  command?: string;
  /** How long the user's workload may take to end after SIGTERM before its group is SIGKILLed. @default 5000 */
  commandGraceMs?: number;
  /** Keep writing this long after the switch (or an abort) before stopping. */
  tailMs: number;
  log: Logger;
}

/**
 * Everything a rehearsal does with write load, for any engine: the built-in load (in its own
 * process) and the user's command start before the flow, stop a little after the switch, and
 * their records become the report's `writes`, `writeUnavailableMs` and `load` fields.
 */
export class RehearsalLoad {
  private readonly load: WriteLoadProcess;
  private command: LoadCommand | undefined;
  private commandOutcome: LoadCommandOutcome | undefined;
  private stopDone = false;

  constructor(private readonly options: RehearsalLoadOptions) {
    this.load = new WriteLoadProcess({ engine: options.engine, ...options.endpoint, database: options.database, connections: options.connections, ratePerSecond: options.ratePerSecond });
  }

  async start(): Promise<void> {
    await this.load.start();
    if (this.options.command) {
      this.command = new LoadCommand(this.options.command, { ...this.options.endpoint, database: this.options.database }, this.options.commandGraceMs);
      this.command.start();
    }
    const { connections, ratePerSecond, command } = this.options;
    this.options.log.info(`load: ${connections} connections, ${ratePerSecond} writes/s through the application endpoint${command ? `, plus: ${command}` : ''}`);
  }

  /** After the switch step: keep writing for the tail, then stop. */
  async stopAfterTail(): Promise<void> {
    await sleep(this.options.tailMs);
    await this.stop();
  }

  /**
   * Stop the user's command (SIGTERM to its group) and the built-in load; idempotent. Never
   * throws: a load that died is recorded (`problems()`) and makes the run fail, but must not
   * turn a finished switch step into a failed one or skip the clean-up.
   */
  async stop(): Promise<void> {
    if (this.command && !this.commandOutcome) this.commandOutcome = await this.command.stop();
    await this.load.stop().catch(() => undefined); // the failure stays in this.load.failure
    this.stopDone = true;
  }

  /** Why the proof is already broken while the run goes on (the user's workload crashed), if it is. */
  brokenProof(): string | undefined {
    return this.command?.crashedEarly;
  }

  /**
   * What makes the proof incomplete, in sentences for the report: the built-in load's worker
   * died (its records are missing), or the user's workload crashed before it was asked to stop.
   */
  problems(): string[] {
    const problems: string[] = [];
    if (this.load.failure) problems.push(this.load.failure);
    if (this.commandOutcome?.crashed) problems.push(`${describeLoadCommand(this.commandOutcome)}; output: ${this.commandOutcome.outputTail.split('\n').slice(-3).join(' | ') || '(none)'}`);
    return problems;
  }

  /**
   * The proof's problems once `run` ended (`problems()`), except a workload crash the run
   * already stopped for before the freeze: that is the run's own error then (aborted, the
   * source never frozen), not a second failure on top of it.
   */
  problemsAfter(run: { result: string; error?: string }): string[] {
    const broken = this.brokenProof();
    if (run.result === 'aborted' && broken !== undefined && run.error?.includes(broken) === true) return [];
    return this.problems();
  }

  /** The built-in load's records (complete once stopped) and when it stopped. */
  records(): { attempts: WriteAttempt[]; connects: ConnectAttempt[]; startedAt: number; stoppedAt: number } {
    return { attempts: this.load.attempts, connects: this.load.connects, startedAt: this.load.startedAt, stoppedAt: this.load.stoppedAt };
  }

  /** Connections and rate, as journaled and reported. */
  settings(): { connections: number; ratePerSecond: number } {
    return { connections: this.options.connections, ratePerSecond: this.options.ratePerSecond };
  }

  get stopped(): boolean {
    return this.stopDone;
  }

  /** Clean-up after a failure: nothing is collected. */
  async abandon(): Promise<void> {
    if (this.command && !this.commandOutcome) await this.command.stop().catch(() => undefined);
    this.load.kill();
  }

  /**
   * The report fields, given the ids present where the application now writes and the run's
   * facts (switch or abort times). Also adds `writesAfterAbort` to the facts after an abort.
   */
  reportFields(presentIds: Set<string>, facts: Facts): Pick<CutoverReport, 'writes' | 'writeUnavailableMs' | 'writesMeasuredBy' | 'timeline' | 'load'> {
    const { attempts, startedAt, stoppedAt } = this.load;
    const load = { ...this.settings(), ...(this.load.failure ? { failure: this.load.failure } : {}), ...(this.commandOutcome ? { command: this.commandOutcome } : {}) };
    // Without the worker's records there is no evidence either way: no numbers rather than zeros.
    if (this.load.failure) return { writes: undefined, writeUnavailableMs: null, writesMeasuredBy: BUILT_IN_LOAD, load };
    const writes = summariseWrites(attempts, presentIds);
    const from = typeof facts.switchStartedAt === 'number' ? facts.switchStartedAt : startedAt;
    const to = typeof facts.switchEndedAt === 'number' ? facts.switchEndedAt : typeof facts.abortedAt === 'number' ? facts.abortedAt : stoppedAt;
    if (typeof facts.abortedAt === 'number') {
      const abortedAt = facts.abortedAt;
      facts.writesAfterAbort = attempts.filter((a) => a.acknowledged && a.sentAt > abortedAt).length;
    }
    if (typeof facts.switchStartedAt === 'number' && typeof facts.switchEndedAt === 'number') {
      // Where the downtime went: before the freeze started, inside the switch, after it ended.
      facts.writeGapAroundSwitchMs = writeGapAroundSwitch(attempts, facts.switchStartedAt, facts.switchEndedAt, this.load.connects);
    }
    if (writes.acknowledged === 0 && this.load.lastConnectError) facts.loadConnectError = this.load.lastConnectError;
    return {
      writes: { attempted: writes.attempted, acknowledged: writes.acknowledged, failed: writes.failed, lost: writes.lost, ...(writes.lost > 0 ? { lostIds: writes.lostIds } : {}) },
      writeUnavailableMs: longestWriteGapMs(attempts, { from, to }, stoppedAt),
      writesMeasuredBy: BUILT_IN_LOAD,
      timeline: writeTimeline(attempts, { startedAt, stoppedAt, gapWindow: { from, to }, focus: typeof facts.switchStartedAt === 'number' ? { from, to } : undefined }),
      load,
    };
  }
}

/** One switch window of a rehearsal that switched forward and back: its write gap and its writes. */
export interface SwitchWindow {
  writeUnavailableMs: number | null;
  writes: { attempted: number; acknowledged: number; failed: number; lost: number; lostIds?: string[] };
}

/**
 * Split the built-in load's records at the start of the switch back: writes sent before it
 * belong to the forward window, the others to the back window. A forward-window write is lost
 * if it was acknowledged before the checkpoint (taken on the target after the forward switch)
 * and missing there, or missing at the end (on the source after the switch back); a
 * back-window write if it is missing at the end. Measured from the records, never assumed.
 */
export function switchWindows(
  attempts: WriteAttempt[],
  input: { checkpointAt: number; presentAtCheckpoint: Set<string>; presentAtEnd: Set<string>; forwardFacts: Facts; backFacts: Facts; loadStoppedAt: number },
): { forward: SwitchWindow; back: SwitchWindow } {
  const { forwardFacts, backFacts } = input;
  const backStart = typeof backFacts.switchStartedAt === 'number' ? backFacts.switchStartedAt : input.checkpointAt;
  const window = (facts: Facts, part: WriteAttempt[], lostIf: (a: WriteAttempt) => boolean): SwitchWindow => {
    const acknowledged = part.filter((a) => a.acknowledged);
    const lostIds = acknowledged.filter(lostIf).map((a) => a.id);
    const from = facts.switchStartedAt;
    const to = typeof facts.switchEndedAt === 'number' ? facts.switchEndedAt : facts.abortedAt;
    return {
      writeUnavailableMs: typeof from === 'number' && typeof to === 'number' ? longestWriteGapMs(attempts, { from, to }, input.loadStoppedAt) : null,
      writes: { attempted: part.length, acknowledged: acknowledged.length, failed: part.length - acknowledged.length, lost: lostIds.length, ...(lostIds.length > 0 ? { lostIds: lostIds.slice(0, 20) } : {}) },
    };
  };
  const forward = attempts.filter((a) => a.sentAt < backStart);
  const back = attempts.filter((a) => a.sentAt >= backStart);
  return {
    forward: window(forwardFacts, forward, (a) => !input.presentAtEnd.has(a.id) || (a.doneAt <= input.checkpointAt && !input.presentAtCheckpoint.has(a.id))),
    back: window(backFacts, back, (a) => !input.presentAtEnd.has(a.id)),
  };
}

/** Where `writes` and `writeUnavailableMs` come from: the user's workload is run, not measured. */
export const BUILT_IN_LOAD = 'built-in load';

export interface RehearsalRunOptions {
  runbook: Runbook;
  environment: string;
  stateDir: string;
  log: Logger;
  hooks?: HookMap;
  load: RehearsalLoad;
  /** The step after which the load keeps writing for its tail, then stops. */
  switchStep: string;
  /** What the journal records about this rehearsal, beside `rehearsal: true` and the load. */
  journalOptions: Facts;
  /** Fault injection and test probes, called after each step before the load reacts to it. */
  onStepDone?: (step: Step) => Promise<void> | void;
  /** Fault injection inside a step: called with each sub-phase a step journals (context.record). */
  onRecord?: (step: string, facts: Facts) => Promise<void> | void;
  /** One run per environment (the CLI passes the environment's lock). */
  lock?: RunLock;
  /** SIGINT/SIGTERM stop the run at a step boundary (the CLI sets it). */
  handleSignals?: boolean;
  /** Keep the load running after the switch and after the run (a switch back follows). */
  keepLoad?: boolean;
  /** Handles Ctrl-C from the rehearsal's start to its report, around the run's own handling (see WindDown). */
  windDown?: WindDown;
}

/**
 * A rehearsal's Ctrl-C from its start to its report. The engine handles SIGINT/SIGTERM only while
 * its run executes, and the switch back (switchBackUnderLoad) between and after its runs; before
 * and around them (the sandbox and the load starting, the lock handed over, the final tail, the
 * count of the writes, the sandbox's stop, the report) only the sandbox's hard stop was left,
 * which stopped everything and exited 130 without a report. Open from the rehearsal's start
 * (the CLI opens it before it takes the lock, `end` right before it writes the report), it
 * remembers the first signal and lets the sandbox's processes stay up (a second signal still
 * stops everything at once); the run and the switch back read it (`signal`) once their own
 * handling starts, so a Ctrl-C that came before stops them before their first step; and `end`
 * makes a report that would say success say INTERRUPTED.
 */
export class WindDown {
  private scope: SignalScope | undefined;
  private interruptedBy: NodeJS.Signals | undefined;
  /** Set right before the run starts (its engine tells of the signals from then on). */
  runStarted = false;
  /** Set as the run returns. */
  runReturned = false;

  constructor(
    private readonly log: Logger,
    private readonly enabled: boolean,
    /** A switch back handles (and tells of) the signals after the forward run itself. */
    private readonly quietAfterRun = false,
  ) {}

  /** Called at the rehearsal's start (idempotent). */
  open(): void {
    if (this.scope) return;
    this.scope = openSignalScope(
      (signal) => {
        if (this.interruptedBy) return;
        this.interruptedBy = signal;
        // During the run the engine says what it does with it; before it, the engine will.
        if (this.runReturned && !this.quietAfterRun) this.log.warn(`${signal} received after the run: finishing the load's tail, the count of the writes and the report, then stopping`);
        else if (!this.runStarted) this.log.warn(`${signal} received before the run started: it will stop before its first step, then the report`);
      },
      { enabled: this.enabled },
    );
  }

  /** The first SIGINT/SIGTERM since `open` (signals already delivered to this process included once `settle`d). */
  get signal(): NodeJS.Signals | undefined {
    return this.interruptedBy;
  }

  /** Lets signals that already reached this process run its listener (lib/util/pending-signals.ts). */
  async settle(): Promise<void> {
    await this.scope?.settle();
  }

  /** Right before the report: the report, INTERRUPTED if a signal came and it would say success otherwise. */
  async end(report: CutoverReport | undefined): Promise<void> {
    if (!this.scope) return;
    await this.scope.settle();
    this.scope.close();
    if (report && this.interruptedBy && report.result === 'success' && verdictOf(report).kind !== 'interrupted') {
      report.result = 'interrupted';
      report.error = `Interrupted by ${this.interruptedBy} after the run (every step had finished)`;
    }
  }
}

/**
 * Runs one rehearsal (`once`, given the wind-down) so that a Ctrl-C anywhere in it still gets its
 * report. The CLI passes its own `windDown`, opened before the lock and ended right before the
 * report is written (a Ctrl-C while the lock is given back counts too); otherwise one is opened
 * here, from before the sandbox starts to the rehearsal's end.
 */
export async function withWindDown(options: { log: Logger; handleSignals?: boolean; switchBack?: boolean; windDown?: WindDown }, once: (windDown: WindDown) => Promise<CutoverReport>): Promise<CutoverReport> {
  const windDown = options.windDown ?? new WindDown(options.log, Boolean(options.handleSignals), options.switchBack);
  windDown.open();
  let report: CutoverReport | undefined;
  try {
    pauseIfAsked('rehearsal:sandbox-start');
    report = await once(windDown);
    return report;
  } finally {
    if (!options.windDown) await windDown.end(report);
  }
}

/**
 * The part every engine's rehearsal shares: start the load, execute the runbook, stop the load
 * a tail after the switch (or, after an abort, a tail after the run: that proves, or disproves,
 * that the source took writes again).
 */
export async function runRehearsalRunbook(options: RehearsalRunOptions): Promise<RunResult> {
  const { load } = options;
  pauseIfAsked('rehearsal:load-start');
  await load.start();
  // Open already, from the rehearsal's start: a Ctrl-C before the run's own handling starts
  // stops the run before its first step (interruptedAlready).
  options.windDown?.open();
  if (options.windDown) options.windDown.runStarted = true;
  const run = await runRunbook({
    runbook: options.runbook,
    environment: options.environment,
    stateDir: options.stateDir,
    dryRun: false,
    hooks: options.hooks,
    log: options.log,
    options: { rehearsal: true, ...options.journalOptions, load: load.settings() },
    lock: options.lock,
    handleSignals: options.handleSignals,
    interruptedAlready: () => options.windDown?.signal,
    // A workload that crashed before the freeze: stop there, the source untouched (its proof would not be the one asked for).
    abortBeforeFreeze: () => load.brokenProof(),
    onRecord: options.onRecord,
    onStepDone: async (step) => {
      await options.onStepDone?.(step);
      if (step.id === options.switchStep && !options.keepLoad) await load.stopAfterTail();
    },
  });
  if (options.windDown) options.windDown.runReturned = true;
  if (options.keepLoad) return withRehearsalWayForward(run);
  if (!load.stopped) await load.stopAfterTail();
  // A crashed load is one of the lies a green report must never tell.
  const problems = load.problemsAfter(run);
  if (problems.length > 0) options.log.error(problems.join('\n'));
  return withRehearsalWayForward<RunResult>(problems.length === 0 ? run : { ...run, result: 'failed', error: [run.error, ...problems].filter(Boolean).join('; ') });
}

/** What a rehearsal's failed or aborted run says after the flow's own way forward (written for a real run, which can be resumed). */
export const REHEARSAL_NOT_RESUMABLE = 'This was a rehearsal on a throwaway sandbox, now gone: it cannot be resumed (--resume is for a real run); fix the cause and run the rehearsal again.';

/** A flow's message that ends in "--resume" is right for a real run; a rehearsal's sandbox is gone, so it says so. */
export function withRehearsalWayForward<T extends { error?: string }>(run: T): T {
  if (!run.error || !/--resume/.test(run.error) || run.error.includes(REHEARSAL_NOT_RESUMABLE)) return run;
  return { ...run, error: `${run.error} ${REHEARSAL_NOT_RESUMABLE}` };
}

/**
 * `--switch-back` (either engine): the load kept writing through the forward switch; after a
 * tail on the target (replicated back to the old source), a checkpoint of what the target
 * holds, then the switch back as its own run (`switchBack`), then the load's tail and the
 * report with both windows, writes failed and lost for each, and the switch back's checksums.
 */
export async function switchBackUnderLoad(input: {
  engine: 'mysql' | 'postgres';
  tailMs: number;
  log: Logger;
  load: RehearsalLoad;
  run: RunResult;
  startedAt: Date;
  presentIds: () => Promise<Set<string>>;
  /** A SIGINT/SIGTERM the rehearsal saw after the forward run, before this took over (WindDown.signal). */
  interruptedAlready?: () => NodeJS.Signals | undefined;
  /** The switch back, run here as its own journaled run under the same lock and signal handling. */
  switchBack: {
    runbook: Runbook;
    environment: string;
    stateDir: string;
    hooks?: HookMap;
    lock?: RunLock;
    handleSignals?: boolean;
  };
}): Promise<CutoverReport> {
  const { engine, log, load, run, startedAt, presentIds } = input;
  let back: RunResult | undefined;
  let checkpointAt = 0;
  let presentAtCheckpoint = new Set<string>();
  // Between the two runs (the tail on the target, the checkpoint) and after the switch back
  // (its tail, the proof), Ctrl-C is handled here as the engine handles it inside a run: the
  // switch back does not start, the load is stopped in order and the report says INTERRUPTED
  // with what was measured (without this, the sandbox's hard stop ended the process unreported).
  let interruptedBy: { signal: NodeJS.Signals; when: string } | undefined;
  let engineRunning = false;
  const handleSignals = Boolean(input.switchBack.handleSignals);
  const onSignal = (signal: NodeJS.Signals) => {
    if (engineRunning || interruptedBy) return;
    interruptedBy = { signal, when: back ? 'after the switch back' : 'before the switch back' };
    log.warn(`${signal} received ${interruptedBy.when}: ${back ? 'finishing the proof' : 'the switch back will not start'}; stopping the load, then the report`);
  };
  const signals = openSignalScope(onSignal, { enabled: handleSignals });
  // A Ctrl-C from the forward run's end to here (its resources closing, the lock handed back) counts too.
  const signalledBefore = run.result === 'success' && handleSignals ? input.interruptedAlready?.() : undefined;
  if (signalledBefore) onSignal(signalledBefore);
  try {
    if (run.result === 'success') {
      await sleep(input.tailMs);
      checkpointAt = wallClockMs();
      presentAtCheckpoint = await presentIds();
      await signals.settle();
    }
    if (run.result === 'success' && !interruptedBy) {
      log.info(`switch back: ${presentAtCheckpoint.size} load rows on the target at the checkpoint; switching back under load`);
      const { switchBack } = input;
      engineRunning = true;
      try {
        back = await runRunbook({
          runbook: switchBack.runbook,
          environment: switchBack.environment,
          stateDir: switchBack.stateDir,
          dryRun: false,
          hooks: switchBack.hooks,
          log,
          options: { rehearsal: true, forwardRunId: run.runId, load: load.settings() },
          lock: switchBack.lock,
          handleSignals: switchBack.handleSignals,
        });
      } finally {
        engineRunning = false;
      }
    }
  } finally {
    await load.stopAfterTail();
  }
  const presentAtEnd = await presentIds();
  await signals.settle();
  signals.close();
  const base = reportFromRun(run, { engine, startedAt, ...load.reportFields(presentAtEnd, run.facts) });
  if (interruptedBy && base.result === 'success' && (!back || back.result === 'success')) {
    base.result = 'interrupted';
    base.error = `Interrupted by ${interruptedBy.signal} ${interruptedBy.when}${back ? ' (it finished)' : ' (traffic stays on the target)'}`;
  }
  const problems = load.problemsAfter(run);
  if (problems.length > 0) {
    log.error(problems.join('\n'));
    base.result = 'failed';
    base.error = [base.error, ...problems].filter(Boolean).join('; ');
  }
  if (!back || !base.writes) return base;
  const { attempts, connects, startedAt: loadStartedAt, stoppedAt } = load.records();
  const windows = switchWindows(attempts, { checkpointAt, presentAtCheckpoint, presentAtEnd, forwardFacts: run.facts, backFacts: back.facts, loadStoppedAt: stoppedAt });
  const backFrom = back.facts.switchStartedAt;
  const backTo = typeof back.facts.switchEndedAt === 'number' ? back.facts.switchEndedAt : back.facts.abortedAt;
  if (typeof backFrom === 'number' && typeof back.facts.switchEndedAt === 'number') back.facts.writeGapAroundSwitchMs = writeGapAroundSwitch(attempts, backFrom, back.facts.switchEndedAt, connects);
  // The page draws both windows: fine buckets and the write gap around the switch back too.
  const forwardFrom = run.facts.switchStartedAt;
  const forwardTo = typeof run.facts.switchEndedAt === 'number' ? run.facts.switchEndedAt : run.facts.abortedAt;
  if (base.timeline && typeof forwardFrom === 'number' && typeof forwardTo === 'number' && typeof backFrom === 'number' && typeof backTo === 'number') {
    base.timeline = writeTimeline(attempts, { startedAt: loadStartedAt, stoppedAt, gapWindow: { from: forwardFrom, to: forwardTo }, focus: [{ from: forwardFrom, to: forwardTo }, { from: backFrom, to: backTo }], backGapWindow: { from: backFrom, to: backTo } });
  }
  const backReport = reportFromRun(back, { engine, startedAt });
  // The totals count a write lost at the checkpoint too (on the target after the forward switch).
  base.writes.lost = windows.forward.writes.lost + windows.back.writes.lost;
  const lostIds = [...(windows.forward.writes.lostIds ?? []), ...(windows.back.writes.lostIds ?? [])];
  if (lostIds.length > 0) base.writes.lostIds = lostIds.slice(0, 20);
  return {
    ...base,
    windows,
    switchBack: {
      runId: back.runId,
      result: back.result,
      ...(back.error ? { error: withRehearsalWayForward(back).error } : {}),
      steps: backReport.steps,
      switchDurationMs: backReport.switchDurationMs ?? null,
      lagAtSwitchMs: backReport.lagAtSwitchMs ?? null,
      checksums: backReport.checksums ?? null,
      ...(backReport.checksumsVerified !== undefined ? { checksumsVerified: backReport.checksumsVerified } : {}),
      ...(backReport.checksumsNotVerifiedReason ? { checksumsNotVerifiedReason: backReport.checksumsNotVerifiedReason } : {}),
      facts: backReport.facts,
    },
  };
}
