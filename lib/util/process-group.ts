import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { redact } from './secrets';
import { sleep } from './time';

const SETPRIV = '/usr/bin/setpriv';

/**
 * The command line that makes a child die with this process even when no handler of ours runs
 * (SIGKILL, a crash): util-linux `setpriv --pdeathsig KILL` sets the kernel's parent-death
 * signal, then execs the command (same pid). The setting is cleared when a process changes its
 * user, so a command that switches user (runuser) must apply it again after the switch.
 * https://man7.org/linux/man-pages/man2/PR_SET_PDEATHSIG.2const.html
 */
export function dieWithParent(command: string, args: string[]): [string, string[]] {
  return existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
}

/**
 * Tracks every long-running process the sandbox starts, so that one call stops them all:
 * at the end of a run, on failure, and on Ctrl-C (SIGINT/SIGTERM handlers installed once).
 * Children run in their own process group (detached) so that a terminal Ctrl-C reaches
 * us first and we shut servers down in order instead of having them die mid-write; if this
 * process dies without running any handler, the kernel kills them (`dieWithParent`).
 */
export interface ProcessGroupOptions {
  /**
   * Servers that must outlive this process (`npm run sandbox -- up`, and the servers a run
   * against that sandbox starts, so that a killed run can be resumed): no parent-death signal,
   * not stopped on Ctrl-C or exit, output to `<logDir>/<name>.log` instead of a pipe, and the
   * child does not keep this process alive. They are stopped by pid (`stopPid`).
   * @default - children die with this process
   */
  persistentLogDir?: string;
  /**
   * A throwaway folder of this group's servers (a rehearsal's sandbox): removed after a second
   * SIGINT/SIGTERM stopped them at once, so that the hard stop leaves nothing in the temp dir.
   * @default - nothing is removed
   */
  removeOnHardStop?: string;
}

export class ProcessGroup {
  private readonly children = new Map<number, { name: string; child: ChildProcess; output: string[]; logFile?: string }>();
  private static readonly live = new Set<ProcessGroup>();
  private static handlersInstalled = false;

  constructor(private readonly groupOptions: ProcessGroupOptions = {}) {
    if (this.persistent) return;
    ProcessGroup.live.add(this);
    ProcessGroup.installSignalHandlers();
  }

  /** True when the children outlive this process (see ProcessGroupOptions.persistentLogDir). */
  get persistent(): boolean {
    return this.groupOptions.persistentLogDir !== undefined;
  }

  /** Start a process; its last output lines are kept for error messages. */
  start(name: string, command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    if (this.persistent) return this.startPersistent(name, command, args, options);
    const [program, programArgs] = dieWithParent(command, args);
    const child = spawn(program, programArgs, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
    const output: string[] = [];
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) output.push(redact(line));
      if (output.length > 50) output.splice(0, output.length - 50);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.children.set(child.pid, { name, child, output });
    child.on('exit', () => child.pid !== undefined && this.children.delete(child.pid));
    return child;
  }

  private startPersistent(name: string, command: string, args: string[], options: SpawnOptions): ChildProcess {
    const logFile = join(this.groupOptions.persistentLogDir!, `${name}.log`);
    const fd = openSync(logFile, 'a', 0o600);
    try {
      const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', fd, fd] });
      if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
      child.unref();
      this.children.set(child.pid, { name, child, output: [], logFile });
      child.on('exit', () => child.pid !== undefined && this.children.delete(child.pid));
      return child;
    } finally {
      closeSync(fd);
    }
  }

  /** The last lines a named process printed (for error messages). */
  tail(child: ChildProcess): string {
    const entry = child.pid === undefined ? undefined : this.children.get(child.pid);
    if (entry?.logFile) {
      try {
        return redact(readFileSync(entry.logFile, 'utf8').split('\n').filter((line) => line.trim()).slice(-15).join('\n'));
      } catch {
        return '';
      }
    }
    return entry ? entry.output.slice(-15).join('\n') : '';
  }

  /**
   * The last lines a named process wrote, also for a process an earlier orchestrator started
   * (a persistent group reads its log file; otherwise the kept output of `child`, 50 lines).
   */
  recentOutput(name: string, child: ChildProcess | undefined, lines = 50): string {
    if (this.persistent) {
      try {
        const file = join(this.groupOptions.persistentLogDir!, `${name}.log`);
        const size = statSync(file).size;
        const fd = openSync(file, 'r');
        try {
          const length = Math.min(size, 65536);
          const buffer = Buffer.alloc(length);
          readSync(fd, buffer, 0, length, size - length);
          return redact(buffer.toString('utf8').split('\n').filter((line) => line.trim()).slice(-lines).join('\n'));
        } finally {
          closeSync(fd);
        }
      } catch {
        return '';
      }
    }
    const entry = child?.pid === undefined ? undefined : this.children.get(child.pid);
    return entry ? entry.output.slice(-lines).join('\n') : '';
  }

  pids(): number[] {
    return [...this.children.keys()];
  }

  /** Stop one process: SIGTERM to its group, then SIGKILL after the grace period. */
  async stopProcess(child: ChildProcess, graceMs = 10000): Promise<void> {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      signalGroup(child.pid, 'SIGKILL');
      await exited;
    }
  }

  /**
   * Stop a process this process did not start (a persistent sandbox server recorded by pid):
   * SIGTERM to its group, SIGKILL after the grace period. `mustMention` guards against a
   * reused pid: the process is only signalled while its command line names that folder.
   */
  static async stopPid(pid: number, mustMention: string, graceMs = 10000): Promise<void> {
    if (!isAlive(pid) || !commandLineOf(pid).includes(mustMention)) return;
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    if (!isAlive(pid)) return;
    signalGroup(pid, 'SIGKILL');
    for (let attempt = 0; attempt < 100 && isAlive(pid); attempt += 1) await sleep(50);
  }

  /** Stop everything this group started, newest first. */
  async stopAll(graceMs = 10000): Promise<void> {
    const entries = [...this.children.values()].reverse();
    for (const { child } of entries) await this.stopProcess(child, graceMs);
    ProcessGroup.live.delete(this);
  }

  /** While above 0, a runbook engine handles the first SIGINT/SIGTERM (see deferProcessGroupSignals). */
  static deferrals = 0;
  private static signalsSeen = 0;
  /**
   * Called synchronously when a second signal stops every sandbox process at once, before they
   * stop: a runbook engine journals its run as interrupted there (what fails after that is the
   * hard stop's doing, not the run's) and says so. Returns the function that unregisters it.
   */
  static onHardStop(callback: (signal: NodeJS.Signals) => void): () => void {
    ProcessGroup.hardStopCallbacks.add(callback);
    return () => ProcessGroup.hardStopCallbacks.delete(callback);
  }
  private static readonly hardStopCallbacks = new Set<(signal: NodeJS.Signals) => void>();

  private static installSignalHandlers(): void {
    if (ProcessGroup.handlersInstalled) return;
    ProcessGroup.handlersInstalled = true;
    let stopping = false;
    const stopEverything = async (signal: NodeJS.Signals) => {
      ProcessGroup.signalsSeen += 1;
      // An executing runbook finishes its step first (never a source frozen with traffic on
      // it); only a second signal stops the servers at once.
      if (ProcessGroup.deferrals > 0 && ProcessGroup.signalsSeen === 1) return;
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\n${signal} received: stopping every sandbox process before exiting\n`);
      for (const callback of ProcessGroup.hardStopCallbacks) {
        try {
          callback(signal);
        } catch {
          // the servers must stop whatever a callback did
        }
      }
      const groups = [...ProcessGroup.live];
      await Promise.all(groups.map((group) => group.stopAll(5000)));
      for (const group of groups) if (group.groupOptions.removeOnHardStop) rmSync(group.groupOptions.removeOnHardStop, { recursive: true, force: true });
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('SIGINT', stopEverything);
    process.on('SIGTERM', stopEverything);
    process.once('exit', () => {
      // Last resort (synchronous): anything still alive gets SIGKILL.
      for (const group of ProcessGroup.live) for (const pid of group.pids()) signalGroup(pid, 'SIGKILL');
    });
  }
}

/** How a program run by `runInOwnGroup` failed, shaped like `execFile`'s error. */
export class ToolFailed extends Error {
  constructor(
    message: string,
    /** Its exit code (null when a signal ended it). */
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    /** True when it was stopped by us (the timeout or the abort signal). */
    readonly killed: boolean,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ToolFailed';
  }
}

/**
 * Run a program to its end (pg_dump, pg_restore, mariadb-backup …) in a process group of its
 * own (detached), as `execFile` would otherwise: a terminal's Ctrl-C (SIGINT to the foreground
 * group) reaches only the orchestrator, which lets the step finish and stops at its boundary,
 * instead of killing the tool mid-copy. It still dies with this process (`dieWithParent`; a
 * tool's own workers see their leader's pipes close). A timeout or `signal` stops the whole
 * group (`killSignal`, SIGTERM by default). Output is collected (last `maxBuffer` bytes each).
 * `execFile` cannot do this: it does not pass `detached` on to spawn.
 */
export function runInOwnGroup(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; signal?: AbortSignal; maxBuffer?: number; killSignal?: NodeJS.Signals } = {},
): Promise<{ stdout: string; stderr: string }> {
  const maxBuffer = options.maxBuffer ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(new ToolFailed(`${command} not started: aborted`, null, null, true, '', ''));
    const child = spawn(...dieWithParent(command, args), { env: options.env, cwd: options.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: string[] = ['', ''];
    const keep = (index: number) => (chunk: Buffer) => {
      out[index] += chunk.toString('utf8');
      if (out[index].length > maxBuffer) out[index] = out[index].slice(-maxBuffer);
    };
    child.stdout!.on('data', keep(0));
    child.stderr!.on('data', keep(1));
    let killed = false;
    const stop = () => {
      killed = true;
      if (child.pid !== undefined) signalGroup(child.pid, options.killSignal ?? 'SIGTERM');
    };
    const timer = options.timeoutMs ? setTimeout(stop, options.timeoutMs) : undefined;
    options.signal?.addEventListener('abort', stop, { once: true });
    const settle = (error?: Error) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', stop);
      if (error) reject(error);
    };
    child.on('error', (error) => settle(new ToolFailed(`${command} could not start: ${error.message}`, null, null, false, '', '')));
    child.on('close', (code, signal) => {
      if (code === 0) {
        settle();
        resolve({ stdout: out[0], stderr: out[1] });
      } else settle(new ToolFailed(`Command failed: ${command} ${args.join(' ')}\n${out[1]}`, code, signal, killed, out[0], out[1]));
    });
  });
}

/**
 * The environment variable that marks every process a guarded shell starts: a program that leaves
 * the group (`setsid`, a daemonising load tool, `nohup setsid …&`) keeps its environment, so it is
 * still found (in /proc/PID/environ) and stopped with the rest. The idea is Jenkins' process tree
 * killer's; a program that clears its environment (`env -i`) escapes it.
 */
export const GUARDED_SHELL_MARK = 'RDS_CUTOVER_GUARDED_SHELL';

/**
 * The shell wrapper of `spawnGuardedShell`. The background subshell is the group's watchdog: it
 * waits on fd 3 (a pipe whose other end only this process holds) and, when that pipe closes
 * (we release it or die in any way, SIGKILL included), kills every process carrying this shell's
 * mark but itself (one grep over every /proc/PID/environ), then the whole group. It ignores
 * SIGTERM so that a graceful stop of the group does not disarm it. `exec` keeps the user's command at the group leader's pid (with setpriv's
 * parent-death signal). `read … < /proc/self/stat` is a builtin's redirection: the watchdog's pid.
 */
/** The watchdog's own words: its command line contains them (the user's command does not). */
export const GUARDED_SHELL_WATCHDOG = 'read -r _ <&3; read -r watchdog _ < /proc/self/stat';
const GUARDED_SHELL = `(trap '' TERM INT HUP; ${GUARDED_SHELL_WATCHDOG}
for f in $(grep -lzxF "${GUARDED_SHELL_MARK}=\$${GUARDED_SHELL_MARK}" /proc/[0-9]*/environ 2>/dev/null); do
  p=\${f#/proc/}; p=\${p%/environ}
  [ "$p" = "$watchdog" ] || kill -KILL "$p" 2>/dev/null
done
kill -KILL 0) </dev/null >/dev/null 2>&1 &
exec 3<&-
exec sh -c "$1"`;

export interface GuardedShell {
  /** The group leader (`sh -c COMMAND`); its pid is the group id. */
  child: ChildProcess;
  /** Living processes of this shell that left its group (they carry its mark, see GUARDED_SHELL_MARK). */
  escaped(): number[];
  /** SIGKILL whatever is left of the group (through its watchdog); idempotent. */
  release(): void;
}

/**
 * Run a user's command (`sh -c COMMAND`) as the leader of its own process group, so that one
 * signal reaches every program it starts (a signal to `sh` alone does not reach its children),
 * and so that the group dies with this process even when no handler of ours runs: the
 * parent-death signal (setpriv) covers the leader only, since it is not inherited across fork,
 * so a watchdog inside the group covers the rest. stdin is closed; stdout and stderr are pipes.
 */
export function spawnGuardedShell(command: string, options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): GuardedShell {
  const [program, args] = dieWithParent('sh', ['-c', GUARDED_SHELL, 'sh', command]);
  const mark = randomUUID();
  const env = { ...(options.env ?? process.env), [GUARDED_SHELL_MARK]: mark };
  const child = spawn(program, args, { ...options, env, detached: true, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  const escaped = () => processesMarked(mark, child.pid);
  const guard = child.stdio[3] as NodeJS.WritableStream & { destroy(): void };
  // The guard pipe must not keep our event loop alive on its own.
  (guard as unknown as { unref?: () => void }).unref?.();
  let released = false;
  return {
    child,
    escaped,
    release() {
      if (released) return;
      released = true;
      guard.destroy();
      for (const pid of escaped()) signalProcess(pid, 'SIGKILL');
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    },
  };
}

/** Living processes whose environment carries this guarded shell's mark, outside its own group. */
function processesMarked(mark: string, outsideGroup: number | undefined): number[] {
  const entry = `${GUARDED_SHELL_MARK}=${mark}`;
  return livingProcesses(({ pid, group }) => group !== outsideGroup && environmentOf(pid).includes(entry));
}

/** A process's environment entries (none when it is gone or not ours to read). */
function environmentOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  } catch {
    return [];
  }
}

/** Signal one process; a vanished target is fine. */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

/**
 * Living (non-zombie) members of a process group, from /proc. `kill(-pgid, 0)` is not enough:
 * it also succeeds for zombies, and an init that does not reap (as in some containers) keeps
 * those around.
 */
export function livingGroupMembers(pgid: number): number[] {
  return livingProcesses(({ group }) => group === pgid);
}

/** The living (non-zombie) processes in /proc that `keep` accepts, by pid and process group. */
function livingProcesses(keep: (process: { pid: number; group: number }) => boolean): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the command name (which may contain spaces and parentheses): state ppid pgrp …
    const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state !== 'Z' && state !== 'X' && keep({ pid: Number(entry), group: Number(group) })) found.push(Number(entry));
  }
  return found;
}

/** Signal a process group (falling back to the single process); a vanished target is fine. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** True when a process with this pid exists and is not a zombie (exited, not yet reaped). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) STATE ..."; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** The command line of a process ('' when it is gone). */
export function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Pids of live processes whose command line mentions a folder (servers of a sandbox). */
export function processesMentioning(folder: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const pid = Number(entry);
    if (commandLineOf(pid).includes(folder) && isAlive(pid)) pids.push(pid);
  }
  return pids;
}

/**
 * A runbook engine that handles interrupts itself calls this while it executes: the sandbox's
 * processes then stay up on the first SIGINT/SIGTERM (the engine stops at a step boundary and
 * the rehearsal stops them in order). Returns the function that ends the deferral.
 */
export function deferProcessGroupSignals(): () => void {
  ProcessGroup.deferrals += 1;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    ProcessGroup.deferrals -= 1;
  };
}
