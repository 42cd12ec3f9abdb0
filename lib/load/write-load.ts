import { sleep, wallClockMs } from '../util/time';

/** One write the load generator tried: a unique id, when it was sent and whether it was acknowledged. */
export interface WriteAttempt {
  id: string;
  sentAt: number;
  doneAt: number;
  acknowledged: boolean;
  error?: string;
}

/** What an engine must give the generator: a way to connect and to write one row. */
export interface WriteClient {
  write(id: string, client: number, seq: number): Promise<void>;
  close(): Promise<void>;
  /**
   * True once the server or the network ended the connection on its own (a killed session, a
   * proxy that cut it): the driver saw the socket close, before any request was sent on it.
   */
  readonly ended?: boolean;
}

export interface WriteLoadOptions {
  connections: number;
  /** Total target rate over all connections. */
  ratePerSecond: number;
  connect(): Promise<WriteClient>;
}

/** One connection attempt of the load: when it started and ended, and whether it got in. */
export interface ConnectAttempt {
  client: number;
  startedAt: number;
  doneAt: number;
  ok: boolean;
}

export { wallClockMs };

/**
 * Writes through the application's endpoint from several connections at a paced rate, each
 * row with a unique id, reconnecting on error, and records every attempt: the evidence for
 * `lost` (acknowledged but missing) and for the write gap around the switch.
 *
 * Reconnecting (why it is paced): each connection stands for an application worker taking
 * requests at its share of the rate. A request that finds its connection gone opens a new one
 * (what mysql2's and Go's database/sql pools do: connect on demand, no back-off); if that
 * connect is refused, the next try is the next request, not a tight loop. Retrying every 2 ms
 * (the old behaviour) made 8 clients hammer the frozen side with refused logins (each one a
 * TCP connection through the proxy, a server thread and an auth check) for the whole switch,
 * on the same cores the switch itself needs; a real pool does not do that, so the gap it
 * measured was not the one an application sees. Connection attempts are recorded too
 * (`connects`), to split the gap after the switch into reconnecting and the first write.
 *
 * A connection the server ended while it sat idle (the switch kills every application session)
 * is not written to: the request that comes next opens a fresh one at once. A pool does the
 * same: mysql2's PoolConnection leaves the pool on its 'end' or 'error' event, pg-pool drops an
 * idle client that emits 'error', Go's database/sql retries a statement that got
 * driver.ErrBadConn on a new connection. Sending the request into the dead socket instead (the
 * old behaviour) failed it at once and left the reconnect to the request after it: one whole
 * interval (20 ms at 8 connections and 400 writes/s) of write gap that no application has.
 * A write in flight when its session is killed still fails and counts as failed.
 */
export class WriteLoad {
  readonly attempts: WriteAttempt[] = [];
  readonly connects: ConnectAttempt[] = [];
  connectErrors = 0;
  /** The last connection error, for the report when a load cannot get in at all. */
  lastConnectError: string | undefined;
  private running = false;
  private loops: Promise<void>[] = [];
  startedAt = 0;
  stoppedAt = 0;

  constructor(private readonly options: WriteLoadOptions) {}

  start(): void {
    this.running = true;
    this.startedAt = wallClockMs();
    for (let client = 1; client <= this.options.connections; client += 1) this.loops.push(this.loop(client));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.stoppedAt = wallClockMs();
  }

  private async loop(client: number): Promise<void> {
    const interval = (1000 * this.options.connections) / this.options.ratePerSecond;
    let connection: WriteClient | undefined;
    let seq = 0;
    let next = wallClockMs() + Math.random() * interval;
    // The next request's time: a paced rate, catching up at most one interval after a stall.
    const nextRequest = async () => {
      const wait = next - wallClockMs();
      if (wait > 0) await sleep(wait);
      next = Math.max(next + interval, wallClockMs() - interval);
    };
    const drop = async () => {
      const broken = connection;
      connection = undefined;
      await broken?.close().catch(() => undefined);
    };
    while (this.running) {
      // One request per turn.
      await nextRequest();
      if (!this.running) break;
      // Ended by the server while idle: replaced for this request, as a pool does (see the class comment).
      if (connection?.ended) await drop();
      if (!connection) {
        // The request needs a connection: it opens one now (see the class comment).
        const startedAt = wallClockMs();
        try {
          connection = await this.options.connect();
          this.connects.push({ client, startedAt, doneAt: wallClockMs(), ok: true });
        } catch (error) {
          this.connects.push({ client, startedAt, doneAt: wallClockMs(), ok: false });
          this.connectErrors += 1;
          this.lastConnectError = (error as Error).message;
          // This request could not get a connection; the next one tries again.
          continue;
        }
      }
      seq += 1;
      const id = String(client * 1_000_000_000 + seq);
      const attempt: WriteAttempt = { id, sentAt: wallClockMs(), doneAt: 0, acknowledged: false };
      this.attempts.push(attempt);
      try {
        await connection.write(id, client, seq);
        attempt.acknowledged = true;
      } catch (error) {
        attempt.error = (error as { code?: string }).code ?? (error as Error).message;
      } finally {
        attempt.doneAt = wallClockMs();
      }
      // The write's outcome is recorded when it arrived; closing the broken connection comes after.
      if (!attempt.acknowledged) await drop();
    }
    await connection?.close().catch(() => undefined);
  }
}

export interface WriteSummary {
  attempted: number;
  acknowledged: number;
  failed: number;
  /** Acknowledged but missing where the application now writes. */
  lost: number;
  lostIds: string[];
}

export function summariseWrites(attempts: WriteAttempt[], presentIds: Set<string>): WriteSummary {
  const acknowledged = attempts.filter((a) => a.acknowledged);
  const lostIds = acknowledged.filter((a) => !presentIds.has(a.id)).map((a) => a.id);
  return { attempted: attempts.length, acknowledged: acknowledged.length, failed: attempts.length - acknowledged.length, lost: lostIds.length, lostIds: lostIds.slice(0, 20) };
}

/**
 * The longest time writes were unavailable around a window: the largest gap between
 * consecutive acknowledgements (of any client) among the gaps that overlap [from, to].
 * If the load ended before writes came back, the gap runs to the end of the load.
 */
export function longestWriteGapMs(attempts: WriteAttempt[], window: { from: number; to: number }, loadEnd: number): number {
  const acks = attempts.filter((a) => a.acknowledged).map((a) => a.doneAt).sort((a, b) => a - b);
  const times = [...acks, loadEnd];
  let longest = 0;
  for (let i = 1; i < times.length; i += 1) {
    const [start, end] = [times[i - 1], times[i]];
    if (end >= window.from && start <= window.to) longest = Math.max(longest, end - start);
  }
  return Math.round(longest * 10) / 10;
}

/**
 * Where the write downtime went around the switch: how long before the freeze started the last
 * write was acknowledged, and how long after traffic moved the first one was (ms, null when
 * there was none on that side). Writes sent before the freeze took effect can still be acknowledged
 * inside the window: they are counted, with the last one's offset from the switch's start, so the
 * figures add up to the write gap (switch - lastAckDuringSwitch + firstAckAfterSwitch when there was one). Given the load's connection attempts, also how long after
 * traffic moved the first new connection got in (the rest of firstAckAfterSwitch is that
 * connection's first write) and how many connection attempts were refused during the switch.
 */
export function writeGapAroundSwitch(
  attempts: WriteAttempt[],
  switchStartedAt: number,
  switchEndedAt: number,
  connects?: ConnectAttempt[],
): {
  lastAckBeforeSwitch: number | null;
  firstAckAfterSwitch: number | null;
  acknowledgedDuringSwitch: number;
  lastAckDuringSwitch: number | null;
  firstConnectAfterSwitch?: number | null;
  connectsRefusedDuringSwitch?: number;
} {
  // A loop, not Math.max(...list): a long run has more acknowledgements than a call takes arguments.
  let lastBefore = -Infinity;
  let firstAfter = Infinity;
  let during = 0;
  let lastDuring = -Infinity;
  for (const attempt of attempts) {
    if (!attempt.acknowledged) continue;
    if (attempt.doneAt <= switchStartedAt && attempt.doneAt > lastBefore) lastBefore = attempt.doneAt;
    if (attempt.doneAt >= switchEndedAt && attempt.doneAt < firstAfter) firstAfter = attempt.doneAt;
    if (attempt.doneAt > switchStartedAt && attempt.doneAt < switchEndedAt) {
      during += 1;
      if (attempt.doneAt > lastDuring) lastDuring = attempt.doneAt;
    }
  }
  const ms = (value: number) => Math.round(value * 10) / 10;
  const gap = {
    lastAckBeforeSwitch: Number.isFinite(lastBefore) ? ms(switchStartedAt - lastBefore) : null,
    firstAckAfterSwitch: Number.isFinite(firstAfter) ? ms(firstAfter - switchEndedAt) : null,
    acknowledgedDuringSwitch: during,
    lastAckDuringSwitch: Number.isFinite(lastDuring) ? ms(lastDuring - switchStartedAt) : null,
  };
  if (!connects) return gap;
  let firstConnect = Infinity;
  let refused = 0;
  for (const connect of connects) {
    if (connect.ok && connect.doneAt >= switchEndedAt && connect.doneAt < firstConnect) firstConnect = connect.doneAt;
    if (!connect.ok && connect.doneAt >= switchStartedAt && connect.doneAt <= switchEndedAt) refused += 1;
  }
  return { ...gap, firstConnectAfterSwitch: Number.isFinite(firstConnect) ? ms(firstConnect - switchEndedAt) : null, connectsRefusedDuringSwitch: refused };
}
