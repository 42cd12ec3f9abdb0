import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isAlive, ProcessGroup } from '../util/process-group';

/** Who holds an environment's run lock: enough for another operator to find them. */
export interface RunLockHolder {
  runId: string;
  environment: string;
  host: string;
  pid: number;
  startedAt: string;
  /** The command that resumes the holder when it is not `--env ENV --execute --resume ID` (e.g. `switch-back RUN_ID`). */
  command?: string;
}

/**
 * One executed run per environment at a time. `acquire` refuses (throws `RunLockHeld`) while
 * another run holds the lock; the same run id (a `--resume`) takes its own lock back.
 * The lock stays when a run is killed: the next operator sees who held it, and releases it
 * explicitly (`--break-lock RUN_ID`), never silently.
 */
export interface RunLock {
  /** Where the lock lives (a file, a tag on the source), for messages. */
  readonly where: string;
  acquire(holder: RunLockHolder): Promise<void>;
  /** Release if `runId` holds it; a lock held by another run is left alone. */
  release(runId: string): Promise<void>;
  /** The current holder, if any. */
  holder(): Promise<RunLockHolder | undefined>;
  /** Remove the lock held by `runId` (the operator's explicit decision); refuses another run's. */
  breakLock(runId: string): Promise<RunLockHolder>;
}

export class RunLockHeld extends Error {
  constructor(
    readonly holder: RunLockHolder,
    where: string,
    note = '',
  ) {
    super(
      `Environment ${holder.environment} is locked by run ${holder.runId} (host ${holder.host}, pid ${holder.pid}, started ${holder.startedAt}; lock: ${where})${note}. ` +
        `One run per environment at a time: wait for it to end, ` +
        (holder.command
          ? `resume it with: npx zx scripts/cutover.mjs ${holder.command} --execute --resume ${holder.runId}, `
          : `resume it with --resume ${holder.runId} (an executed run; a rehearsal cannot be resumed: start a new one), `) +
        `or, if you are sure it is gone, release the lock with: npx zx scripts/cutover.mjs --env ${holder.environment} --break-lock ${holder.runId}`,
    );
    this.name = 'RunLockHeld';
  }
}

export function currentHolder(runId: string, environment: string, command?: string): RunLockHolder {
  return { runId, environment, host: hostname(), pid: process.pid, startedAt: new Date().toISOString(), ...(command ? { command } : {}) };
}

/**
 * The local lock: `<stateDir>/locks/<environment>.lock`, created with O_EXCL (atomic: of two
 * runs starting at once exactly one creates it). A holder on this host whose pid is gone is
 * named as stale in the refusal, but the lock is not taken over: a pid can be reused, and a
 * person decides (--break-lock).
 */
export class LocalRunLock implements RunLock {
  readonly where: string;

  constructor(stateDir: string, private readonly environment: string) {
    if (!/^[A-Za-z0-9._-]+$/.test(environment)) throw new Error(`Invalid environment name "${environment}"`);
    this.where = join(stateDir, 'locks', `${environment}.lock`);
  }

  async holder(): Promise<RunLockHolder | undefined> {
    if (!existsSync(this.where)) return undefined;
    try {
      return JSON.parse(readFileSync(this.where, 'utf8')) as RunLockHolder;
    } catch {
      // A lock file torn by a crash between create and write still means "someone was here".
      return { runId: 'unknown (unreadable lock file)', environment: this.environment, host: 'unknown', pid: 0, startedAt: 'unknown' };
    }
  }

  async acquire(holder: RunLockHolder): Promise<void> {
    mkdirSync(join(this.where, '..'), { recursive: true, mode: 0o700 });
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const fd = openSync(this.where, 'wx', 0o600);
        writeSync(fd, JSON.stringify(holder) + '\n');
        fsyncSync(fd);
        closeSync(fd);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const current = await this.holder();
      if (!current) continue; // released between our open and our read: try once more
      if (current.runId === holder.runId && current.host === holder.host && current.pid !== holder.pid && current.pid > 0 && isAlive(current.pid)) {
        // --resume while the run's own process is still at work: two processes on one run.
        throw new RunLockHeld(current, this.where, ' — that run is still running here (its pid is alive): wait for it, or stop it first');
      }
      if (current.runId === holder.runId) {
        // The same run resumed (its previous process was killed, or ended failed): take it back.
        await this.write(holder);
        return;
      }
      const stale = current.host === holder.host && current.pid > 0 && !isAlive(current.pid) ? ' — its pid is not running on this host (the run was killed?)' : '';
      throw new RunLockHeld(current, this.where, stale);
    }
    throw new Error(`Could not take the lock ${this.where}`);
  }

  async release(runId: string): Promise<void> {
    const current = await this.holder();
    if (current?.runId === runId) unlinkSync(this.where);
  }

  async breakLock(runId: string): Promise<RunLockHolder> {
    const current = await this.holder();
    if (!current) throw new Error(`No lock on environment ${this.environment} (${this.where}): nothing to release`);
    if (current.runId !== runId) throw new Error(`The lock on ${this.environment} is held by run ${current.runId}, not ${runId}: pass the holder's run id to --break-lock`);
    unlinkSync(this.where);
    return current;
  }

  /** Removes the lock now (synchronously: the process is about to exit) if this process holds it. */
  dropHeldBy(pid: number): void {
    try {
      const current = JSON.parse(readFileSync(this.where, 'utf8')) as RunLockHolder;
      if (current.pid === pid && current.host === hostname()) unlinkSync(this.where);
    } catch {
      // no lock file, or one being written: nothing of ours to drop
    }
  }

  /** Rewrites the lock for `to` if `fromRunId` holds it (a reservation handing over to its run, and back). */
  async handOver(fromRunId: string, to: RunLockHolder): Promise<boolean> {
    const current = await this.holder();
    if (current?.runId !== fromRunId) return false;
    // Other processes never overwrite a lock file (they create it with O_EXCL): read-then-write is safe here.
    await this.write(to);
    return true;
  }

  private async write(holder: RunLockHolder): Promise<void> {
    const fd = openSync(this.where, 'w', 0o600);
    writeSync(fd, JSON.stringify(holder) + '\n');
    fsyncSync(fd);
    closeSync(fd);
  }
}

/**
 * The lock held for a local rehearsal before its runs have ids: reserved before the sandbox and
 * the load start, so that a second rehearsal is refused before it starts servers or the user's
 * workload (reading the lock there and taking it in the run left the whole sandbox start open).
 * Each run of the rehearsal (forward, then the switch back) takes it over from the reservation
 * and hands it back at its end, so nothing can slip in between; `end()` gives it up. A killed
 * rehearsal leaves the reservation's or its run's lock, named with its pid like any other.
 */
export class ReservedRunLock implements RunLock {
  private constructor(
    private readonly inner: LocalRunLock,
    readonly reservation: RunLockHolder,
  ) {}

  static async reserve(inner: LocalRunLock, environment: string, runId: string): Promise<ReservedRunLock> {
    const reservation = currentHolder(runId, environment);
    await inner.acquire(reservation);
    const reserved = new ReservedRunLock(inner, reservation);
    // A second Ctrl-C stops the sandbox at once and the process exits: the rehearsal is void and
    // nothing can resume it, so the lock (the reservation's or the run's it was handed to) goes too.
    reserved.forgetHardStop = ProcessGroup.onHardStop(() => inner.dropHeldBy(process.pid));
    return reserved;
  }

  private forgetHardStop: (() => void) | undefined;

  get where(): string {
    return this.inner.where;
  }

  holder(): Promise<RunLockHolder | undefined> {
    return this.inner.holder();
  }

  async acquire(holder: RunLockHolder): Promise<void> {
    if (await this.inner.handOver(this.reservation.runId, holder)) return;
    await this.inner.acquire(holder);
  }

  async release(runId: string): Promise<void> {
    if (!(await this.inner.handOver(runId, this.reservation))) await this.inner.release(runId);
  }

  breakLock(runId: string): Promise<RunLockHolder> {
    return this.inner.breakLock(runId);
  }

  /** Gives the lock up (the rehearsal ended, whatever its result). */
  async end(): Promise<void> {
    this.forgetHardStop?.();
    await this.inner.release(this.reservation.runId);
  }
}
