import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { WriteAttempt } from './write-load';

export interface LoadWorkerStart {
  engine: 'mysql' | 'postgres';
  host: string;
  port: number;
  user: string;
  database: string;
  connections: number;
  ratePerSecond: number;
}

export type LoadWorkerMessage =
  | { type: 'started'; startedAt: number }
  | { type: 'stopped'; startedAt: number; stoppedAt: number; connectErrors: number; lastConnectError?: string; rows: Array<[string, number, number, number, string | null]> };

/**
 * The built-in write load, run in a child process (lib/load/load-worker.ts): same interface
 * and records as WriteLoad. Timestamps are wall-clock (performance.timeOrigin + now()), so they
 * compare with the switch times the orchestrator records.
 */
export class WriteLoadProcess {
  attempts: WriteAttempt[] = [];
  connectErrors = 0;
  lastConnectError: string | undefined;
  startedAt = 0;
  stoppedAt = 0;
  private child: ChildProcess | undefined;

  constructor(private readonly options: LoadWorkerStart & { password: string }) {}

  async start(): Promise<void> {
    const { password, ...start } = this.options;
    const child = fork(join(__dirname, 'load-worker.ts'), [], {
      execArgv: ['--require', require.resolve('tsx/cjs')],
      env: { ...process.env, CUTOVER_LOAD_PASSWORD: password },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    const started = this.next('started');
    child.send({ type: 'start', start });
    const message = await started;
    if (message.type === 'started') this.startedAt = message.startedAt;
  }

  async stop(): Promise<void> {
    if (!this.child || this.stoppedAt !== 0) return;
    const stopped = this.next('stopped');
    this.child.send({ type: 'stop' });
    const message = await stopped;
    if (message.type !== 'stopped') return;
    this.startedAt = message.startedAt;
    this.stoppedAt = message.stoppedAt;
    this.connectErrors = message.connectErrors;
    this.lastConnectError = message.lastConnectError;
    this.attempts = message.rows.map(([id, sentAt, doneAt, acknowledged, error]) => ({ id, sentAt, doneAt, acknowledged: acknowledged === 1, ...(error ? { error } : {}) }));
    await new Promise<void>((resolve) => (this.child!.exitCode !== null ? resolve() : this.child!.once('exit', () => resolve())));
  }

  /** Kill the worker without collecting results (clean-up after a failure). */
  kill(): void {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  private next(type: LoadWorkerMessage['type']): Promise<LoadWorkerMessage> {
    return new Promise((resolve, reject) => {
      const child = this.child!;
      const onMessage = (message: LoadWorkerMessage) => {
        if (message.type !== type) return;
        cleanup();
        resolve(message);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`the load worker exited (code ${code}) before it reported "${type}"`));
      };
      const cleanup = () => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
    });
  }
}
