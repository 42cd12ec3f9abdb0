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
}

export interface WriteLoadOptions {
  connections: number;
  /** Total target rate over all connections. */
  ratePerSecond: number;
  connect(): Promise<WriteClient>;
  /** Pause after a failed write or connect before trying again. */
  retryDelayMs?: number;
}

export { wallClockMs };

/**
 * Writes through the application's endpoint from several connections at a paced rate, each
 * row with a unique id, reconnecting on error, and records every attempt: the evidence for
 * `lost` (acknowledged but missing) and for the write gap around the switch.
 */
export class WriteLoad {
  readonly attempts: WriteAttempt[] = [];
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
    const retryDelay = this.options.retryDelayMs ?? 2;
    let connection: WriteClient | undefined;
    let seq = 0;
    let next = wallClockMs() + Math.random() * interval;
    while (this.running) {
      if (!connection) {
        try {
          connection = await this.options.connect();
        } catch (error) {
          this.connectErrors += 1;
          this.lastConnectError = (error as Error).message;
          await sleep(retryDelay);
          continue;
        }
      }
      const wait = next - wallClockMs();
      if (wait > 0) await sleep(wait);
      next = Math.max(next + interval, wallClockMs() - interval);
      seq += 1;
      const id = String(client * 1_000_000_000 + seq);
      const attempt: WriteAttempt = { id, sentAt: wallClockMs(), doneAt: 0, acknowledged: false };
      this.attempts.push(attempt);
      try {
        await connection.write(id, client, seq);
        attempt.acknowledged = true;
      } catch (error) {
        attempt.error = (error as { code?: string }).code ?? (error as Error).message;
        const broken = connection;
        connection = undefined;
        await broken.close().catch(() => undefined);
        await sleep(retryDelay);
      } finally {
        attempt.doneAt = wallClockMs();
      }
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
 * there was none on that side).
 */
export function writeGapAroundSwitch(attempts: WriteAttempt[], switchStartedAt: number, switchEndedAt: number): { lastAckBeforeSwitch: number | null; firstAckAfterSwitch: number | null } {
  // A loop, not Math.max(...list): a long run has more acknowledgements than a call takes arguments.
  let lastBefore = -Infinity;
  let firstAfter = Infinity;
  for (const attempt of attempts) {
    if (!attempt.acknowledged) continue;
    if (attempt.doneAt <= switchStartedAt && attempt.doneAt > lastBefore) lastBefore = attempt.doneAt;
    if (attempt.doneAt >= switchEndedAt && attempt.doneAt < firstAfter) firstAfter = attempt.doneAt;
  }
  return {
    lastAckBeforeSwitch: Number.isFinite(lastBefore) ? Math.round((switchStartedAt - lastBefore) * 10) / 10 : null,
    firstAckAfterSwitch: Number.isFinite(firstAfter) ? Math.round((firstAfter - switchEndedAt) * 10) / 10 : null,
  };
}
