/**
 * The fault matrix's machinery (bench/faults.ts runs it; a jest test runs a few points).
 * One point: a fresh `npm run sandbox -- up`, a write load through its endpoint from this
 * process, the real CLI (`--env sandbox --execute`) SIGKILLed at a journal entry through the
 * RDS_CUTOVER_KILL_AT hook, `--resume` until it finishes, then the invariants:
 *   finished      the run ended successfully, fence and replica removal reached;
 *   lost          every acknowledged write is readable through the endpoint;
 *   bothWritable  never both sides writable for the application (sampled during the run);
 *   replayed      the target has no replication configured or failed, the unchanged tables have
 *                 equal row counts on both sides, every load row of the frozen source is on the target.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, rows, type Connection } from '../lib/engines/mysql/connection';
import { summariseWrites, WriteLoad } from '../lib/load/write-load';
import { mysqlWriteClient } from '../lib/load/mysql-write-client';
import { postgresWriteClient } from '../lib/load/postgres-write-client';
import { closePg, connectPg, pgRows, type PgClient } from '../lib/engines/postgres/connection';
import { Journal, statusFromJournal, type JournalEntry } from '../lib/runbook/journal';
import { EXIT_CODES } from '../lib/report';
import { FILE_LIMIT_AT_ENV, KILL_AT_ENV, PAUSE_AT_ENV, PAUSE_FILE_ENV, killPointOf } from '../lib/runbook/kill-point';
import { readSandboxState, sandboxFolder, type SandboxEngine, type SandboxSecrets, type SandboxState } from '../lib/platforms/local/sandbox-state';
import { sandboxDown, sandboxUp } from '../lib/cli/sandbox';
import { silentLogger } from '../lib/util/log';
import { sleep } from '../lib/util/time';

const ROOT = resolve(__dirname, '..');
const ZX = join(ROOT, 'node_modules', '.bin', 'zx');

export interface FaultOutcome {
  point: string;
  outcome: 'recovered' | 'not-recovered' | 'unclear';
  lost: number;
  bothWritable: number;
  resumes: number;
  note: string;
  /** The journal of the run (the baseline's gives the points). */
  journal?: JournalEntry[];
  /** With `fileLimitAt`: how the attempt that hit the full state folder ended, and what it left. */
  faulted?: { code: number | null; signal: NodeJS.Signals | null; output: string; left: EndpointWritability };
}

/** Where the application endpoint sends writes after an attempt ended, and whether that server takes them. */
export interface EndpointWritability {
  on: string;
  /** Application writes accepted there (MySQL: read_only OFF and the app account unlocked; PostgreSQL: not read-only, role may log in). */
  writable: boolean;
}

export interface FaultPointOptions {
  /** @default 'mysql' */
  engine?: SandboxEngine;
  /** PostgreSQL only: the copy method. @default 'logical' */
  method?: 'logical' | 'dump';
  /** Journal entry to kill at; undefined: a clean run (the baseline). */
  point?: string;
  /**
   * Instead of a kill: the journal entry after which the first attempt's state folder is "full"
   * (RDS_CUTOVER_FILE_LIMIT_AT). That attempt must stop by itself, leaving the endpoint on a
   * writable server (`faulted`); the resumes that follow have room again.
   */
  fileLimitAt?: string;
  seedRows?: number;
  load?: { connections: number; ratePerSecond: number };
  maxResumes?: number;
  log?: (line: string) => void;
}

/** The kill points of a finished run's journal, in order (new sub-phases show up by themselves). */
export function killPointsOf(entries: JournalEntry[]): string[] {
  const progress = new Map<string, number>();
  const points: string[] = [];
  for (const entry of entries) {
    let count = 0;
    if (entry.type === 'step-progress') {
      count = (progress.get(entry.step) ?? 0) + 1;
      progress.set(entry.step, count);
    }
    const point = killPointOf(entry, count);
    if (point && !points.includes(point)) points.push(point);
  }
  return points;
}

function runCli(args: string[], cwd: string, killAt?: string, fileLimitAt?: string, pause?: { at: string; file: string }): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((resolvePromise) => {
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_STATE_DIR: join(cwd, '.rds-cutover') };
    delete env[KILL_AT_ENV];
    delete env[FILE_LIMIT_AT_ENV];
    delete env[PAUSE_AT_ENV];
    delete env[PAUSE_FILE_ENV];
    if (killAt) env[KILL_AT_ENV] = killAt;
    if (fileLimitAt) env[FILE_LIMIT_AT_ENV] = fileLimitAt;
    if (pause) {
      env[PAUSE_AT_ENV] = pause.at;
      env[PAUSE_FILE_ENV] = pause.file;
    }
    const child = spawn(ZX, [join(ROOT, 'scripts', 'cutover.mjs'), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code, signal) => resolvePromise({ code, signal, output }));
  });
}

/**
 * Samples, every ~50 ms, whether the application could write on the source and on the target.
 * MySQL: read_only OFF and its account unlocked; PostgreSQL: default_transaction_read_only off
 * and its role allowed to log in. The target is read first: the switch freezes the source
 * before it opens the target, so "target writable, then source writable" in one sample can
 * only mean both really were.
 */
class WritabilitySampler {
  bothWritable = 0;
  /** Samples with both writable while the application had no route to the target (counted apart, named in the note). */
  bothUnreachable = 0;
  samples = 0;
  private running = true;
  private readonly loop: Promise<void>;
  private mysql = new Map<string, Connection>();
  private pg = new Map<string, PgClient>();

  constructor(private readonly engine: SandboxEngine, private readonly folder: string, private readonly secrets: SandboxSecrets, private readonly runsDir: string) {
    this.loop = this.run();
  }

  private async writable(state: SandboxState, name: string): Promise<boolean> {
    const server = state.servers.find((s) => s.name === name);
    if (!server) return false;
    const key = `${name}:${server.port}`;
    try {
      if (this.engine === 'postgres') {
        let client = this.pg.get(key);
        if (!client) {
          client = await connectPg({ name, host: '127.0.0.1', port: server.port, user: 'postgres', password: this.secrets.postgresSuperuserPassword, database: 'postgres' }, { connectTimeoutMs: 1000 });
          this.pg.set(key, client);
        }
        // The freeze is ALTER SYSTEM + pg_reload_conf: an idle session reads the reloaded value at its next command.
        const [row] = await pgRows<{ ro: string; login: boolean | null }>(client, "SELECT current_setting('default_transaction_read_only') AS ro, (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app') AS login");
        return row.ro !== 'on' && row.login === true;
      }
      let connection = this.mysql.get(key);
      if (!connection) {
        connection = await connect({ name, host: '127.0.0.1', port: server.port, user: 'root', password: this.secrets.mysqlRootPassword }, { connectTimeoutMs: 1000 });
        this.mysql.set(key, connection);
      }
      const [row] = await rows<{ ro: number | string; locked: string | null }>(connection, "SELECT @@global.read_only AS ro, (SELECT JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv WHERE User = 'app' LIMIT 1) AS locked");
      return Number(row.ro) === 0 && row.locked !== 'true';
    } catch {
      const broken = this.mysql.get(key);
      this.mysql.delete(key);
      broken?.destroy();
      const brokenPg = this.pg.get(key);
      this.pg.delete(key);
      await closePg(brokenPg).catch(() => undefined);
      return false; // unreachable: the application cannot write there either
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      const state = readSandboxState(this.folder)?.state;
      if (state) {
        const target = await this.writable(state, 'target');
        const source = await this.writable(state, 'source');
        this.samples += 1;
        if (target && source) {
          if (this.targetReachable()) this.bothWritable += 1;
          else this.bothUnreachable += 1;
        }
      }
      await sleep(50);
    }
  }

  /**
   * MySQL: from mysql.replication.start on, the target must be closed (before it the clone is
   * an island: HAProxy keeps its slot parked; on AWS its endpoint is unpublished).
   * PostgreSQL: the target's application role is NOLOGIN from the moment the target exists
   * until the switch opens it, so every sample counts.
   */
  private targetReachable(): boolean {
    if (this.engine === 'postgres') return true;
    try {
      return readdirSync(this.runsDir).some((run) =>
        new Journal(join(this.runsDir, '..'), run)
          .read()
          .some((e) => e.type === 'step-done' && e.step === 'mysql.replication.start'),
      );
    } catch {
      return false;
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const connection of this.mysql.values()) connection.destroy();
    for (const client of this.pg.values()) await closePg(client).catch(() => undefined);
  }
}

/**
 * Kill points a clean run does not journal by itself: a sub-phase that only a fault produces.
 * The bench makes the fault happen for real, in the first attempt only, while the CLI is held
 * at `pauseAt` (RDS_CUTOVER_PAUSE_AT: it blocks right after that journal entry until the bench
 * removes the pause file), then lets it go on into the kill point.
 */
interface FaultScenario {
  /** Where the CLI is held while the fault is made. */
  pauseAt: string;
  /** What the note says happened. */
  describe: string;
  /** Make the fault, on the sandbox's real servers (the load keeps writing meanwhile). */
  inject(state: SandboxState, secrets: SandboxSecrets): Promise<void>;
}

/**
 * `mysql.replica.catch-up` journals a sub-phase only when it finds the replica's replication
 * stopped without an error (a replica restarted with skip-slave-start, or stopped by hand) and
 * starts it again (`replicationRestartedDuringCatchUp`); a clean run never does (a baseline
 * that shows it caught the IO thread still "Connecting"). Made real here: right after the
 * replica was created, a session on it holds a write lock on the load's table, so its SQL
 * thread stalls behind it while the load goes on writing (real lag, growing); an administrator
 * then stops replication there (STOP SLAVE) and releases the lock. The catch-up finds a lagging
 * replica with replication stopped, starts it (the sub-phase: the CLI is killed right after),
 * and the resumed run waits out the lag.
 */
export const REPLICA_STOPPED_DURING_CATCH_UP: FaultScenario = {
  pauseAt: 'step-done:mysql.replica.create',
  describe: 'replica stalled behind a table lock (lag) and its replication stopped during the catch-up',
  async inject(state, secrets) {
    const replica = state.servers.find((s) => s.name === 'replica');
    if (!replica) throw new Error('no replica recorded in the sandbox after mysql.replica.create');
    const endpoint = { name: 'replica', host: '127.0.0.1', port: replica.port, user: 'root', password: secrets.mysqlRootPassword };
    const locker = await connect(endpoint);
    const admin = await connect(endpoint);
    try {
      await locker.query('LOCK TABLES app.cutover_load WRITE');
      // Until the applier waits for the lock with load events behind it (the load writes ~200/s).
      // The sandbox replicates in parallel: the waiting threads are the Slave_worker ones.
      for (let attempt = 0; attempt < 600; attempt += 1) {
        const waiting = await rows<{ n: number | string }>(admin, "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND IN ('Slave_SQL', 'Slave_worker') AND STATE LIKE '%lock%'");
        if (Number(waiting[0].n) > 0) break;
        await sleep(50);
      }
      await sleep(1000); // a second of the load's writes behind the stalled applier
      // STOP SLAVE waits for the parallel workers, which wait for the lock (MariaDB 10.11 does not
      // interrupt that wait: measured, it hung): the lock is released once the stop is asked for.
      const stopping = admin.query('STOP SLAVE');
      await sleep(200);
      await locker.query('UNLOCK TABLES');
      await stopping;
    } finally {
      await locker.query('UNLOCK TABLES').catch(() => undefined);
      await locker.end().catch(() => locker.destroy());
      await admin.end().catch(() => admin.destroy());
    }
  },
};

/** Points that exist only with their fault made, per engine (added to the baseline's points). */
export const SCENARIO_POINTS: Record<SandboxEngine, Record<string, FaultScenario>> = {
  mysql: { 'step-progress:mysql.replica.catch-up:1': REPLICA_STOPPED_DURING_CATCH_UP },
  postgres: {},
};

/** The baseline's points plus the fault-made ones, each right after its step starts. */
export function withScenarioPoints(points: string[], engine: SandboxEngine): string[] {
  const all = [...points];
  for (const point of Object.keys(SCENARIO_POINTS[engine])) {
    if (all.includes(point)) continue;
    const step = /^step-progress:(.+):\d+$/.exec(point)?.[1];
    const at = step ? all.indexOf(`step-start:${step}`) : -1;
    all.splice(at >= 0 ? at + 1 : all.length, 0, point);
  }
  return all;
}

/** Hold the CLI at the scenario's entry, make the fault, let the CLI go on. */
async function injectWhenPaused(scenario: FaultScenario, pauseFile: string, folder: string, attempt: Promise<unknown>): Promise<string | undefined> {
  let ended = false;
  void attempt.then(() => (ended = true));
  while (!existsSync(pauseFile)) {
    if (ended) return `the CLI never reached ${scenario.pauseAt}`;
    await sleep(50);
  }
  try {
    const { state, secrets } = readSandboxState(folder)!;
    await scenario.inject(state, secrets);
    return undefined;
  } catch (error) {
    return `fault not made (${(error as Error).message.split('\n')[0]})`;
  } finally {
    rmSync(pauseFile, { force: true });
  }
}

/** The steps a finished run must have reached, per engine and method (fence and clean-up). */
const FINISHING_STEPS: Record<SandboxEngine | 'postgres-dump', string[]> = {
  mysql: ['mysql.source.fence', 'mysql.replica.remove'],
  postgres: ['postgres.switch', 'postgres.replication.remove'],
  // The dump method has no replication to remove: the switch (which fences the source) is the end.
  'postgres-dump': ['postgres.switch'],
};

/** One point of the MySQL matrix (kept for callers of the first version). */
export function runMysqlFaultPoint(options: FaultPointOptions): Promise<FaultOutcome> {
  return runFaultPoint({ ...options, engine: 'mysql' });
}

/** One point of the matrix on a fresh sandbox; never throws (a harness failure is 'unclear'). */
export async function runFaultPoint(options: FaultPointOptions): Promise<FaultOutcome> {
  const engine = options.engine ?? 'mysql';
  const point = options.point ?? (options.fileLimitAt ? `state folder full after ${options.fileLimitAt}` : 'none (clean run)');
  const say = options.log ?? (() => undefined);
  const work = mkdtempSync(join(tmpdir(), 'rc-faults-'));
  const stateDir = join(work, '.rds-cutover');
  const method = options.method ?? 'logical';
  const cliArgs = ['--env', 'sandbox', '--execute', ...(engine === 'postgres' ? ['--engine', 'postgres', '--method', method] : [])];
  let load: WriteLoad | undefined;
  let sampler: WritabilitySampler | undefined;
  try {
    await sandboxUp(stateDir, engine, silentLogger, options.seedRows ?? 2000);
    const folder = sandboxFolder(stateDir, engine);
    const { state, secrets } = readSandboxState(folder)!;
    // The built-in load's writer (lib/load), run in this process: its worker-process wrapper
    // lost its IPC channel under this machine's load (issue 9), and this process is idle anyway.
    const appEndpoint = { name: 'endpoint', host: '127.0.0.1', port: state.endpoint.port, user: state.endpoint.user, password: engine === 'mysql' ? secrets.mysqlAppPassword : secrets.postgresAppPassword };
    load = new WriteLoad({
      ...(options.load ?? { connections: 4, ratePerSecond: 200 }),
      connect: () => (engine === 'mysql' ? mysqlWriteClient(appEndpoint, state.endpoint.database) : postgresWriteClient({ ...appEndpoint, database: state.endpoint.database })),
    });
    load.start();
    sampler = new WritabilitySampler(engine, folder, secrets, join(stateDir, 'runs'));

    const scenario = options.point ? SCENARIO_POINTS[engine][options.point] : undefined;
    const pauseFile = join(work, 'pause');
    const attempt = runCli(cliArgs, work, options.point, options.fileLimitAt, scenario ? { at: scenario.pauseAt, file: pauseFile } : undefined);
    const notMade = scenario ? await injectWhenPaused(scenario, pauseFile, folder, attempt) : undefined;
    const first = await attempt;
    const runs = readdirSync(join(stateDir, 'runs'));
    if (runs.length !== 1) return { point, outcome: 'unclear', lost: 0, bothWritable: 0, resumes: 0, note: `expected one run, found ${runs.length}: ${first.output.split('\n').slice(-3).join(' | ')}` };
    const runId = runs[0];
    let note = '';
    const problemsBefore: string[] = [];
    if (notMade) note = `${notMade}; `;
    if (options.point && first.signal !== 'SIGKILL') note += `point not reached (exit ${first.code}); `;
    let faulted: FaultOutcome['faulted'];
    if (options.fileLimitAt) {
      faulted = { code: first.code, signal: first.signal, output: first.output, left: await endpointWritability(engine, folder, secrets) };
      if (first.code === 0 || !first.output.includes('EFBIG')) note = `state folder never filled (exit ${first.code}); `;
      else if (first.signal) note = `the attempt with a full state folder died by ${first.signal}; `;
      else if (!faulted.left.writable) note = `left the endpoint on a server the application cannot write (${faulted.left.on}); `;
    }
    let resumes = 0;
    let last = first;
    // Exit 4 = finished with the checksums honestly not verified: nothing left to resume.
    while (last.code !== 0 && last.code !== EXIT_CODES.unverified && resumes < (options.maxResumes ?? 2)) {
      resumes += 1;
      say(`  ${point}: resume ${resumes}`);
      last = await runCli([...cliArgs, '--resume', runId], work);
    }
    const failureLine = last.code === 0 || last.code === EXIT_CODES.unverified ? '' : (last.output.split('\n').find((line) => / error /.test(line)) ?? last.output.split('\n').filter(Boolean).slice(-1)[0] ?? '').replace(/^\S+ error\s+/, '');

    await sleep(1500); // writes after the switch (or after the last resume) belong in the proof
    await sampler.stop();
    await load.stop();
    if (sampler.bothUnreachable > 0) {
      problemsBefore.push(engine === 'mysql'
        ? `(target clone writable for the app account before replication started: ${sampler.bothUnreachable} samples, not reachable)`
        : `(target open for the app role before the switch: ${sampler.bothUnreachable} samples)`);
    }

    const journal = new Journal(stateDir, runId).read();
    const status = statusFromJournal(journal);
    const finished = status.result === 'success' && FINISHING_STEPS[engine === 'postgres' && method === 'dump' ? 'postgres-dump' : engine].every((step) => status.finished.includes(step));
    const after = readSandboxState(folder)!.state;
    const problems = engine === 'mysql' ? await mysqlChecks(after, secrets, finished) : await postgresChecks(after, secrets, finished);
    const present = engine === 'mysql' ? problems.present : problems.present;
    const writes = summariseWrites(load.attempts, present);
    const checksums = status.facts.checksums as { match?: boolean } | undefined;
    let verification = '';
    if (finished && checksums?.match !== true) {
      // Honestly reported as not possible (a resume past the switch lost the switch-time snapshots): recovered, and said.
      if (status.facts.checksumsVerified === false && typeof status.facts.checksumsNotVerifiedReason === 'string') verification = 'checksums honestly not verified (exit 4, reason and the way to verify in the report)';
      else problems.list.push(`verification: ${checksums ? 'checksums differ' : 'not done'}`);
    }
    const recovered = finished && writes.lost === 0 && sampler.bothWritable === 0 && problems.list.length === 0 && note === '';
    if (!finished) problems.list.unshift(`run ${status.result}${status.failed ? ` at ${status.failed.step}` : ''}: ${status.failed?.error || failureLine}`.trim());
    const okNote = `${scenario ? `${scenario.describe}; ` : ''}${writes.acknowledged} writes acknowledged, ${sampler.samples} writability samples${verification ? `; ${verification}` : ''}`;
    return {
      point,
      outcome: recovered ? 'recovered' : note ? 'unclear' : 'not-recovered',
      lost: writes.lost,
      bothWritable: sampler.bothWritable,
      resumes,
      note: (note + [...problems.list, ...(recovered ? [okNote] : []), ...problemsBefore].join('; ')).slice(0, 400),
      journal,
      ...(faulted ? { faulted } : {}),
    };
  } catch (error) {
    return { point, outcome: 'unclear', lost: 0, bothWritable: 0, resumes: 0, note: `harness error: ${(error as Error).message.split('\n')[0]}` };
  } finally {
    await sampler?.stop().catch(() => undefined);
    if (load && load.stoppedAt === 0) await load.stop().catch(() => undefined);
    await sandboxDown(stateDir, engine).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

/** Which server the endpoint sends the application to, and whether the application can write there. */
async function endpointWritability(engine: SandboxEngine, folder: string, secrets: SandboxSecrets): Promise<EndpointWritability> {
  const state = readSandboxState(folder)!.state;
  const name = (port: number) => state.servers.find((s) => s.port === port)?.name ?? `port ${port}`;
  try {
    if (engine === 'postgres') {
      const client = await connectPg({ name: 'endpoint', host: '127.0.0.1', port: state.endpoint.port, user: state.endpoint.user, password: secrets.postgresAppPassword, database: state.endpoint.database }, { connectTimeoutMs: 5000 });
      try {
        const [row] = await pgRows<{ port: number; ro: string }>(client, "SELECT inet_server_port() AS port, current_setting('default_transaction_read_only') AS ro");
        return { on: name(Number(row.port)), writable: row.ro !== 'on' };
      } finally {
        await closePg(client);
      }
    }
    const admin = await connect({ name: 'endpoint', host: '127.0.0.1', port: state.endpoint.port, user: 'root', password: secrets.mysqlRootPassword }, { connectTimeoutMs: 5000 });
    try {
      const [row] = await rows<{ port: number; ro: number | string; locked: string | null }>(admin, "SELECT @@port AS port, @@global.read_only AS ro, (SELECT JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv WHERE User = 'app' LIMIT 1) AS locked");
      return { on: name(Number(row.port)), writable: Number(row.ro) === 0 && row.locked !== 'true' };
    } finally {
      await admin.end();
    }
  } catch (error) {
    return { on: `unreachable (${(error as Error).message})`, writable: false };
  }
}

/** MySQL end state: no replication left on the target, unchanged tables equal, every load row of the frozen source on the target. */
async function mysqlChecks(after: SandboxState, secrets: SandboxSecrets, finished: boolean): Promise<{ present: Set<string>; list: string[] }> {
  const server = (name: string) => after.servers.find((s) => s.name === name);
  const endpoint = { name: 'endpoint', host: '127.0.0.1', port: after.endpoint.port, user: 'root', password: secrets.mysqlRootPassword };
  const admin = await connect(endpoint, { database: 'app' });
  const present = new Set((await rows<{ id: string }>(admin, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
  await admin.end();
  const problems: string[] = [];
  const targetRecord = server('target');
  const sourceRecord = server('source')!;
  if (targetRecord) {
    const target = await connect({ ...endpoint, name: 'target', port: targetRecord.port }, { database: 'app' });
    const source = await connect({ ...endpoint, name: 'source', port: sourceRecord.port }, { database: 'app' });
    try {
      const [replication] = await rows<{ Last_Errno?: number; Last_Error?: string; Slave_SQL_Running?: string }>(target, 'SHOW SLAVE STATUS');
      if (replication && (Number(replication.Last_Errno) !== 0 || replication.Slave_SQL_Running === 'Yes')) {
        problems.push(`target still replicating or failed: ${replication.Last_Error || 'SQL thread running'}`);
      }
      for (const table of ['customers', 'orders', 'audit_log']) {
        const [s] = await rows<{ n: string }>(source, `SELECT COUNT(*) AS n FROM ${table}`);
        const [t] = await rows<{ n: string }>(target, `SELECT COUNT(*) AS n FROM ${table}`);
        if (s.n !== t.n) problems.push(`${table}: ${s.n} rows on the source, ${t.n} on the target`);
      }
      const sourceIds = (await rows<{ id: string }>(source, 'SELECT id FROM cutover_load')).map((r) => String(r.id));
      const targetIds = new Set((await rows<{ id: string }>(target, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
      const missing = sourceIds.filter((id) => !targetIds.has(id)).length;
      if (finished && missing > 0) problems.push(`${missing} load rows of the frozen source are not on the target`);
    } finally {
      await target.end();
      await source.end();
    }
  } else if (finished) {
    problems.push('no target server recorded after a finished run');
  }
  return { present, list: problems };
}

/**
 * PostgreSQL end state: no subscription on the target and no slot on the source (the slot
 * would keep WAL forever), unchanged tables equal, every load row of the frozen source on the
 * target, the load's sequence not rewound (the target's is at least the source's).
 */
async function postgresChecks(after: SandboxState, secrets: SandboxSecrets, finished: boolean): Promise<{ present: Set<string>; list: string[] }> {
  const server = (name: string) => after.servers.find((s) => s.name === name);
  const as = (port: number, name: string) => ({ name, host: '127.0.0.1', port, user: 'postgres', password: secrets.postgresSuperuserPassword, database: 'app' });
  const problems: string[] = [];
  const reader = await connectPg({ name: 'endpoint', host: '127.0.0.1', port: after.endpoint.port, user: after.endpoint.user, password: secrets.postgresAppPassword, database: after.endpoint.database });
  const present = new Set((await pgRows<{ id: string }>(reader, 'SELECT id::text AS id FROM cutover_load')).map((r) => r.id));
  await closePg(reader);
  const targetRecord = server('target');
  const sourceRecord = server('source')!;
  if (targetRecord) {
    const target = await connectPg(as(targetRecord.port, 'target'));
    const source = await connectPg(as(sourceRecord.port, 'source'));
    try {
      if (finished) {
        const subs = await pgRows<{ subname: string }>(target, 'SELECT subname FROM pg_subscription');
        if (subs.length > 0) problems.push(`subscription(s) left on the target: ${subs.map((r) => r.subname).join(', ')}`);
        const slots = await pgRows<{ slot_name: string }>(source, 'SELECT slot_name FROM pg_replication_slots');
        if (slots.length > 0) problems.push(`replication slot(s) left on the source: ${slots.map((r) => r.slot_name).join(', ')}`);
      }
      for (const table of ['customers', 'orders', 'audit_log']) {
        const [s] = await pgRows<{ n: string }>(source, `SELECT COUNT(*)::text AS n FROM ${table}`);
        const [t] = await pgRows<{ n: string }>(target, `SELECT COUNT(*)::text AS n FROM ${table}`).catch(() => [{ n: 'missing' }]);
        if (s.n !== t.n) problems.push(`${table}: ${s.n} rows on the source, ${t.n} on the target`);
      }
      if (finished) {
        const sourceIds = (await pgRows<{ id: string }>(source, 'SELECT id::text AS id FROM cutover_load')).map((r) => r.id);
        const targetIds = new Set((await pgRows<{ id: string }>(target, 'SELECT id::text AS id FROM cutover_load')).map((r) => r.id));
        const missing = sourceIds.filter((id) => !targetIds.has(id)).length;
        if (missing > 0) problems.push(`${missing} load rows of the frozen source are not on the target`);
        const sequence = "SELECT last_value::text AS v FROM cutover_load_serial_no_seq";
        const [s] = await pgRows<{ v: string }>(source, sequence);
        const [t] = await pgRows<{ v: string }>(target, sequence);
        if (BigInt(t.v) < BigInt(s.v)) problems.push(`sequence cutover_load_serial_no_seq rewound: ${t.v} on the target, ${s.v} on the source`);
      }
    } finally {
      await closePg(target);
      await closePg(source);
    }
  } else if (finished) {
    problems.push('no target server recorded after a finished run');
  }
  return { present, list: problems };
}

/** The matrix as text lines and the JSON summary line. */
export function matrixLines(outcomes: FaultOutcome[]): string[] {
  const width = Math.max(5, ...outcomes.map((o) => o.point.length));
  const lines = [`${'point'.padEnd(width)}  ${'outcome'.padEnd(13)}  lost  bothWritable  resumes  note`];
  for (const o of outcomes) lines.push(`${o.point.padEnd(width)}  ${o.outcome.padEnd(13)}  ${String(o.lost).padStart(4)}  ${String(o.bothWritable).padStart(12)}  ${String(o.resumes).padStart(7)}  ${o.note}`);
  const summary = {
    points: outcomes.length,
    recovered: outcomes.filter((o) => o.outcome === 'recovered').length,
    lost: outcomes.reduce((sum, o) => sum + o.lost, 0),
    bothWritable: outcomes.reduce((sum, o) => sum + o.bothWritable, 0),
    unclear: outcomes.filter((o) => o.outcome === 'unclear').length,
  };
  lines.push(JSON.stringify(summary));
  return lines;
}
