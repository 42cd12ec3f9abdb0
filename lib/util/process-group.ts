import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
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

  private static installSignalHandlers(): void {
    if (ProcessGroup.handlersInstalled) return;
    ProcessGroup.handlersInstalled = true;
    const stopEverything = async (signal: NodeJS.Signals) => {
      process.stderr.write(`\n${signal} received: stopping every sandbox process before exiting\n`);
      await Promise.all([...ProcessGroup.live].map((group) => group.stopAll(5000)));
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', stopEverything);
    process.once('SIGTERM', stopEverything);
    process.once('exit', () => {
      // Last resort (synchronous): anything still alive gets SIGKILL.
      for (const group of ProcessGroup.live) for (const pid of group.pids()) signalGroup(pid, 'SIGKILL');
    });
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
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
