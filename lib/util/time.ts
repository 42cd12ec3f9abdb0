import { performance } from 'node:perf_hooks';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one
 * machine (load worker and orchestrator) and with Date.now().
 */
export const wallClockMs = () => performance.timeOrigin + performance.now();

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
