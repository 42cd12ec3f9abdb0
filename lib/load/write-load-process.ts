import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ConnectAttempt, WriteAttempt } from './write-load';

export interface LoadWorkerStart {
  engine: 'mysql' | 'postgres';
  host: string;
  port: number;
  user: string;
  database: string;
  connections: number;
  ratePerSecond: number;
}

/** One write attempt on the wire: [id, sentAt, doneAt, acknowledged (1/0), error]. */
export type CompactWriteRecord = [string, number, number, number, string | null];

/** One connection attempt on the wire: [client, startedAt, doneAt, ok (1/0)]. */
export type CompactConnectRecord = [number, number, number, number];

/** Records per IPC message: a 100k-write load is ~6 MB of JSON, sent as ~1 MB pieces. */
export const RECORDS_PER_MESSAGE = 10000;

export type LoadWorkerCommand = { type: 'start'; start: LoadWorkerStart } | { type: 'stop' };

export type LoadWorkerMessage =
  | { type: 'started'; startedAt: number }
  | { type: 'records'; rows: CompactWriteRecord[] }
  | { type: 'connects'; rows: CompactConnectRecord[] }
  | { type: 'stopped'; startedAt: number; stoppedAt: number; connectErrors: number; lastConnectError?: string; records: number; connects: number };

/** The built-in load's worker died or stopped answering: its write records are missing. */
export class LoadWorkerDied extends Error {}

export interface WriteLoadProcessTimeouts {
  /** From fork to "started" (includes compiling the worker: slow on a busy machine). @default 120000 */
  startMs?: number;
  /** From "stop" to the last record (the writes in flight finish first). @default 120000 */
  stopMs?: number;
}

/**
 * The built-in write load, run in a child process (lib/load/load-worker.ts): same interface
 * and records as WriteLoad. Timestamps are wall-clock (performance.timeOrigin + now()), so they
 * compare with the switch times the orchestrator records.
 *
 * A worker that dies, or a channel that closes, never throws out of the event loop (every send
 * has a callback, the child has an 'error' listener): `start`/`stop` reject with a
 * LoadWorkerDied that says what happened, and `failure` keeps the sentence for the report.
 */
export class WriteLoadProcess {
  attempts: WriteAttempt[] = [];
  /** Every connection attempt of the load (lib/load/write-load.ts). */
  connects: ConnectAttempt[] = [];
  connectErrors = 0;
  lastConnectError: string | undefined;
  startedAt = 0;
  stoppedAt = 0;
  /** Why the records are missing ("load worker died: …"), once the worker failed. */
  failure: string | undefined;
  private child: ChildProcess | undefined;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderrTail = '';
  private stopRequested = false;
  private readonly received: CompactWriteRecord[] = [];
  private readonly receivedConnects: CompactConnectRecord[] = [];

  constructor(
    private readonly options: LoadWorkerStart & { password: string },
    private readonly timeouts: WriteLoadProcessTimeouts = {},
  ) {}

  /** The worker's pid while it runs (tests use it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const { password, ...start } = this.options;
    const child = fork(join(__dirname, 'load-worker.ts'), [], {
      execArgv: ['--require', require.resolve('tsx/cjs')],
      env: { ...process.env, CUTOVER_LOAD_PASSWORD: password },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      // Its own process group: a terminal's Ctrl-C signals the whole foreground group, and a
      // worker killed by it takes the run's proof (its write records) with it. The orchestrator
      // stops it in order (stop, then disconnect); if the orchestrator dies, even by SIGKILL,
      // the IPC channel closes and the worker exits (load-worker.ts, 'disconnect').
      detached: true,
    });
    this.child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-2000);
    });
    // A send into a closed channel is reported here instead of crashing the orchestrator.
    child.on('error', (error) => this.fail(`the IPC channel failed (${error.message})`));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        if (this.stoppedAt === 0) this.fail(`it exited (${signal ? `signal ${signal}` : `code ${code}`}) ${this.stopRequested ? 'before it sent every write record' : 'before it was asked to stop'}`);
        resolve();
      }),
    );
    child.on('message', (message: LoadWorkerMessage) => {
      if (message.type === 'records') this.received.push(...message.rows);
      if (message.type === 'connects') this.receivedConnects.push(...message.rows);
    });
    const started = this.next('started', this.timeouts.startMs ?? 120000);
    this.send({ type: 'start', start });
    const message = await started;
    if (message.type === 'started') this.startedAt = message.startedAt;
  }

  /** Stop writing and collect every record; rejects with LoadWorkerDied if the worker failed. */
  async stop(): Promise<void> {
    if (this.stoppedAt !== 0) return;
    if (!this.child) throw new LoadWorkerDied('load worker died: it was never started');
    if (this.failure) throw new LoadWorkerDied(this.failure);
    this.stopRequested = true;
    const stopped = this.next('stopped', this.timeouts.stopMs ?? 120000);
    this.send({ type: 'stop' });
    const message = await stopped;
    if (message.type !== 'stopped') return;
    if (this.received.length !== message.records || this.receivedConnects.length !== message.connects) {
      this.kill();
      throw new LoadWorkerDied(this.fail(`it sent ${this.received.length} of ${message.records} write records and ${this.receivedConnects.length} of ${message.connects} connection records`));
    }
    this.startedAt = message.startedAt;
    this.stoppedAt = message.stoppedAt;
    this.connectErrors = message.connectErrors;
    this.lastConnectError = message.lastConnectError;
    this.connects = this.receivedConnects.map(([client, startedAt, doneAt, ok]) => ({ client, startedAt, doneAt, ok: ok === 1 }));
    this.attempts = this.received.map(([id, sentAt, doneAt, acknowledged, error]) => ({ id, sentAt, doneAt, acknowledged: acknowledged === 1, ...(error ? { error } : {}) }));
    // Everything is here: closing the channel is the worker's cue to exit.
    if (this.child.connected) this.child.disconnect();
    await this.exited;
  }

  /** Kill the worker without collecting results (clean-up after a failure). */
  kill(): void {
    if (this.child && this.exit === undefined) this.child.kill('SIGKILL');
  }

  /** Record the first failure (later ones are consequences) and return the report sentence. */
  private fail(what: string): string {
    if (!this.failure) {
      const tail = this.stderrTail.trim().split('\n').slice(-5).join(' | ');
      this.failure = `load worker died: ${what}${tail ? ` (its last output: ${tail})` : ''}`;
    }
    return this.failure;
  }

  private send(command: LoadWorkerCommand): void {
    const child = this.child!;
    if (!child.connected) {
      this.fail('its IPC channel was already closed');
      return;
    }
    child.send(command, (error) => {
      if (error) this.fail(`a "${command.type}" message could not be sent (${error.message})`);
    });
  }

  /** The next message of a type; rejects (LoadWorkerDied) if the worker exits, fails or times out first. */
  private next(type: LoadWorkerMessage['type'], timeoutMs: number): Promise<LoadWorkerMessage> {
    return new Promise((resolve, reject) => {
      const child = this.child!;
      const give = (why: string) => {
        cleanup();
        this.kill();
        reject(new LoadWorkerDied(this.fail(why)));
      };
      const onMessage = (message: LoadWorkerMessage) => {
        if (message.type !== type) return;
        cleanup();
        resolve(message);
      };
      const onExit = () => give(`it exited before it reported "${type}"`);
      const onError = (error: Error) => give(`the IPC channel failed (${error.message})`);
      const timer = setTimeout(() => give(`it did not report "${type}" within ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        child.off('error', onError);
      };
      if (this.exit !== undefined) return give(`it exited before it reported "${type}"`);
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.on('error', onError);
    });
  }
}
