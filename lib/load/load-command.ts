import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { redact } from '../util/secrets';
import { GUARDED_SHELL_WATCHDOG, livingGroupMembers, signalGroup, signalProcess, spawnGuardedShell, type GuardedShell } from '../util/process-group';
import { sleep } from '../util/time';

/**
 * How the user's workload ended:
 * - `exited`: on its own, before it was asked to stop (a non-zero code or a signal = it crashed);
 * - `stopped`: after our SIGTERM to its process group;
 * - `killed-after-grace`: it ignored SIGTERM for the grace period and its group was SIGKILLed.
 */
export type LoadCommandEnding = 'exited' | 'stopped' | 'killed-after-grace';

export interface LoadCommandOutcome {
  command: string;
  ending: LoadCommandEnding;
  exitCode: number | null;
  signal: string | null;
  /** True when it ended on its own with a non-zero code or a signal: the run cannot be green. */
  crashed: boolean;
  /** Milliseconds from its start to its end. */
  ranMs: number;
  outputTail: string;
}

/** @default 5000: long enough for a load generator to print its summary, short for a rehearsal. */
export const DEFAULT_LOAD_COMMAND_GRACE_MS = 5000;

/**
 * The user's own workload (`--load-command CMD`), run through `sh -c` with the application
 * endpoint in CUTOVER_DB_* variables (the password only in the environment, never argv).
 * It runs as its own process group, so stopping it reaches every program it started (not only
 * the shell), and the group dies with the orchestrator even on SIGKILL (spawnGuardedShell);
 * a program that left the group (setsid) is found by the mark in its environment and goes too.
 */
export class LoadCommand {
  private shell: GuardedShell | undefined;
  private output = '';
  private startedAt = 0;
  private ended: Ended | undefined;
  private exit: Promise<void> | undefined;
  private stopRequested = false;
  private outcome: LoadCommandOutcome | undefined;

  constructor(
    private readonly command: string,
    private readonly env: { host: string; port: number; user: string; password: string; database: string },
    private readonly graceMs: number = DEFAULT_LOAD_COMMAND_GRACE_MS,
  ) {}

  /** The group leader's pid (= the process group id) while it runs. */
  get pid(): number | undefined {
    return this.shell?.child.pid;
  }

  /** True once the workload's shell has ended, on its own or stopped. */
  get hasEnded(): boolean {
    return this.ended !== undefined;
  }

  /**
   * Set once the workload ended on its own with a non-zero code or a signal, before it was asked
   * to stop: what happened, with its last output lines (secrets masked). A rehearsal stops before
   * the freeze on it: its proof would not be the one the user asked for.
   */
  get crashedEarly(): string | undefined {
    const ended = this.ended;
    if (!ended || !crashed(ended)) return undefined;
    const status = exitStatus(ended.signal, ended.code);
    const tail = redact(this.output.trim().split('\n').slice(-3).join(' | '));
    return `the load command crashed: it exited on its own (${status}) after ${((ended.at - this.startedAt) / 1000).toFixed(1)} s, before it was asked to stop; output: ${tail || '(none)'}`;
  }

  start(): void {
    this.startedAt = Date.now();
    this.shell = spawnGuardedShell(this.command, {
      env: {
        ...process.env,
        CUTOVER_DB_HOST: this.env.host,
        CUTOVER_DB_PORT: String(this.env.port),
        CUTOVER_DB_USER: this.env.user,
        CUTOVER_DB_PASSWORD: this.env.password,
        CUTOVER_DB_NAME: this.env.database,
      },
    });
    const child: ChildProcess = this.shell.child;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // 'exit', not 'close': a program the workload left in the background may hold the pipes.
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.ended = { code, signal, at: Date.now(), beforeStop: !this.stopRequested };
        resolve();
      });
      child.once('error', (error) => {
        this.output += `\n${error.message}`;
        this.ended = { code: 127, signal: null, at: Date.now(), beforeStop: !this.stopRequested };
        resolve();
      });
    });
  }

  /**
   * SIGTERM to the whole group, SIGKILL to the group after the grace period; anything the
   * workload left behind is killed too. Returns how it ended, its exit status and output tail.
   * Idempotent.
   */
  async stop(): Promise<LoadCommandOutcome> {
    if (this.outcome) return this.outcome;
    if (!this.shell || !this.exit) throw new Error('load command was not started');
    const child = this.shell.child;
    const pgid = child.pid;
    this.stopRequested = true;
    let killed = false;
    const shell = this.shell;
    // The workload's programs: its group, and those that left it (setsid, a daemonising tool).
    const members = (group: number) => [...workloadMembers(group), ...shell.escaped()];
    if (pgid !== undefined) {
      signalGroup(pgid, 'SIGTERM');
      for (const pid of shell.escaped()) signalProcess(pid, 'SIGTERM');
      // The grace period is for the workload's programs, not only its shell: `sh -c "script"`
      // dies on SIGTERM at once while the script (or a program it runs) may ignore SIGTERM, or
      // need a moment to print its summary. Wait until nothing of the workload is left.
      const deadline = Date.now() + this.graceMs;
      let timer: NodeJS.Timeout | undefined;
      if (!this.ended) await Promise.race([this.exit, new Promise((resolve) => (timer = setTimeout(resolve, this.graceMs)))]);
      clearTimeout(timer);
      while (members(pgid).length > 0 && Date.now() < deadline) await sleep(50);
      if (!this.ended || members(pgid).length > 0) {
        killed = true;
        for (const pid of shell.escaped()) signalProcess(pid, 'SIGKILL');
        signalGroup(pgid, 'SIGKILL');
        await this.exit;
      }
    }
    await this.exit;
    // Leftovers (a background program holding the pipes, the watchdog): killed as a group.
    this.shell.release();
    if (pgid !== undefined) for (let i = 0; i < 100 && (livingGroupMembers(pgid).length > 0 || shell.escaped().length > 0); i += 1) await sleep(50);
    // The last output still in the pipes (their holders are gone now).
    if (child.stdout?.closed === false || child.stderr?.closed === false) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((resolve) => child.once('close', resolve)), new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
      clearTimeout(timer);
    }
    child.stdout?.destroy();
    child.stderr?.destroy();
    const ended = this.ended!;
    const ending: LoadCommandEnding = ended.beforeStop ? 'exited' : killed ? 'killed-after-grace' : 'stopped';
    this.outcome = {
      command: redact(this.command),
      ending,
      exitCode: ended.code,
      // Killed after the grace period: SIGKILL ended the workload, even when its shell (`sh -c`)
      // had already died of the SIGTERM (the shell's own signal would misreport how it ended).
      signal: killed ? 'SIGKILL' : ended.signal,
      crashed: crashed(ended),
      ranMs: ended.at - this.startedAt,
      outputTail: redact(this.output.split('\n').slice(-20).join('\n').trim()),
    };
    return this.outcome;
  }
}

/**
 * The living members of the workload's process group but its watchdog (spawnGuardedShell's
 * background subshell, which ignores SIGTERM on purpose and is recognised by its command line).
 */
function workloadMembers(pgid: number): number[] {
  return livingGroupMembers(pgid).filter((pid) => {
    try {
      return !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(GUARDED_SHELL_WATCHDOG);
    } catch {
      return false; // exited meanwhile
    }
  });
}

/** How the workload's shell ended: its exit status, when, and whether it was asked to stop first. */
interface Ended {
  code: number | null;
  signal: string | null;
  at: number;
  beforeStop: boolean;
}

/** It ended on its own, before it was asked to stop, with a non-zero code or a signal. */
function crashed(ended: Ended): boolean {
  return ended.beforeStop && (ended.signal !== null || (ended.code ?? 1) !== 0);
}

function exitStatus(signal: string | null, code: number | null): string {
  return signal ? `signal ${signal}` : `code ${code}`;
}

/** One line for the summary: how the user's workload ended. */
export function describeLoadCommand(outcome: LoadCommandOutcome): string {
  const status = exitStatus(outcome.signal, outcome.exitCode);
  if (outcome.ending === 'exited') return outcome.crashed ? `load command CRASHED: it exited on its own (${status}) after ${(outcome.ranMs / 1000).toFixed(1)} s, before it was asked to stop` : `load command exited on its own (${status}) after ${(outcome.ranMs / 1000).toFixed(1)} s, before it was asked to stop`;
  if (outcome.ending === 'stopped') return `load command stopped by SIGTERM (${status})`;
  return `load command ignored SIGTERM: killed after the grace period (${status})`;
}
