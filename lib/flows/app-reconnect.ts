import { nowMs, sleep } from '../util/time';

/** How long, at most, the work right after a switch waits for the application to reconnect. */
export const APP_RECONNECT_GRACE_MS = 1000;

/**
 * Wait (at most `graceMs`) until `connected()` says an application account has a session on the
 * side traffic moved to; returns how long that took. Both engines use it for the same reason:
 * right after the switch the application's pool reconnects and its first writes land, and on
 * the same cores heavy work started at that moment (MySQL: the checksums reading every table;
 * PostgreSQL: the fence and the next replication way) delayed the very writes whose gap the
 * switch is judged by (measurements beside each caller). Without application traffic (no load,
 * an app that stays away) it waits the whole grace.
 */
export async function untilApplicationIsBack(connected: () => Promise<boolean>, graceMs: number = APP_RECONNECT_GRACE_MS): Promise<number> {
  const started = nowMs();
  while (nowMs() - started < graceMs) {
    if (await connected()) break;
    await sleep(10);
  }
  return Math.round(nowMs() - started);
}
