import { spawn, type ChildProcess } from 'node:child_process';
import { redact } from '../util/secrets';
import { dieWithParent } from '../util/process-group';

export interface LoadCommandOutcome {
  command: string;
  exitCode: number | null;
  signal: string | null;
  outputTail: string;
}

/**
 * The user's own workload (`--load-command CMD`), run through `sh -c` with the application
 * endpoint in CUTOVER_DB_* variables (the password only in the environment, never argv).
 */
export class LoadCommand {
  private child: ChildProcess | undefined;
  private output = '';
  private exit: Promise<{ code: number | null; signal: string | null }> | undefined;

  constructor(private readonly command: string, private readonly env: { host: string; port: number; user: string; password: string; database: string }) {}

  start(): void {
    // Dies with the rehearsal even if that is killed outright (its own children are the user's).
    const [program, args] = dieWithParent('sh', ['-c', this.command]);
    this.child = spawn(program, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        CUTOVER_DB_HOST: this.env.host,
        CUTOVER_DB_PORT: String(this.env.port),
        CUTOVER_DB_USER: this.env.user,
        CUTOVER_DB_PASSWORD: this.env.password,
        CUTOVER_DB_NAME: this.env.database,
      },
    });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exit = new Promise((resolve) => this.child!.on('close', (code, signal) => resolve({ code, signal })));
  }

  /** SIGTERM, then SIGKILL after 10 s; returns the exit status and the output tail. */
  async stop(): Promise<LoadCommandOutcome> {
    if (!this.child || !this.exit) throw new Error('load command was not started');
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([this.exit, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 10000)))]);
    clearTimeout(timer);
    const final = result ?? (this.child.kill('SIGKILL'), await this.exit);
    return { command: redact(this.command), exitCode: final.code, signal: final.signal, outputTail: redact(this.output.split('\n').slice(-20).join('\n').trim()) };
  }
}
