import { performance } from 'node:perf_hooks';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A wall clock with sub-millisecond resolution that stays within a millisecond of `systemMs`:
 * monotonic readings offset by an anchor, re-anchored whenever the system clock was stepped.
 * `performance.timeOrigin + performance.now()` alone keeps the offset of the process's start, so
 * after a clock step (NTP, a resumed VM) it drifted seconds away from Date.now() and from other
 * processes' readings (seen: 4.5 s in a test worker after 55 minutes).
 */
export function makeWallClock(systemMs: () => number, monotonicMs: () => number): () => number {
  let anchor = systemMs() - monotonicMs();
  return () => {
    const mono = monotonicMs();
    const system = systemMs();
    if (Math.abs(anchor + mono - system) > 1) anchor = system - mono;
    return anchor + mono;
  };
}

/**
 * Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one
 * machine (load worker and orchestrator) and with Date.now() (within a millisecond).
 */
export const wallClockMs = makeWallClock(Date.now, () => performance.now());

/** Monotonic milliseconds (fractional), for measuring gaps and durations. */
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * Poll `probe` until it returns a value other than undefined, or throw after `timeoutMs`
 * with a message that names what was waited for and for how long.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, options: { timeoutMs: number; intervalMs?: number }): Promise<T> {
  const start = nowMs();
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (nowMs() - start > options.timeoutMs) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`Timed out after ${Math.round(options.timeoutMs)} ms waiting for ${what}${cause}`);
    }
    await sleep(options.intervalMs ?? 100);
  }
}
