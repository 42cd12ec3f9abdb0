/**
 * Copy speed on the same data in one run: the single-stream baseline
 * `pg_dump -Fc | pg_restore` against the project's copy path (lib/engines/postgres/parallel-copy.ts:
 * schema, one COPY TO STDOUT | COPY FROM STDIN FREEZE stream per table in one snapshot, `--jobs`
 * tables at a time, indexes built in parallel after the load), between two local PostgreSQL 15
 * servers on this machine (both servers and the client tools share its cores).
 *   npm run bench:pg-copy [-- --scale 60] [--jobs 2] [--runs 2] [--split-pages N] [--no-verify]
 * Fairness: every copy goes into a fresh database, after a CHECKPOINT of both servers and with
 * no autovacuum worker busy on the target (the previous copy's vacuum would otherwise eat the
 * next one's CPU); the order alternates between runs (odd runs: baseline first). Every copy is
 * verified against the source's per-table checksums unless --no-verify. Reported: medians, every
 * run, the project's phases, and the CPU seconds each side used (source server, target server,
 * client tools) — wall time on a shared 2-core machine is noisy, CPU seconds much less so.
 * Default scale 20 (~330 MB) keeps the run short; --scale 60 is the issue's ~900 MB.
 * Last line: JSON {"bytes":…,"baselineSeconds":…,"projectSeconds":…,"ratio":…,…}. Target ratio >= 2.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { ProcessGroup } from '../lib/util/process-group';
import { generatePassword } from '../lib/util/secrets';
import { createLogger } from '../lib/util/log';
import { openForPostgres, PostgresInstance } from '../lib/platforms/local/postgres-instance';
import { ensureDebianPackages, POSTGRES_REQUIREMENTS } from '../lib/platforms/local/debian-packages';
import { closePg, connectPg, libpqEnvironment, pgRow } from '../lib/engines/postgres/connection';
import { clientBinDir } from '../lib/engines/postgres/copy';
import { parallelCopy, type ParallelCopyResult } from '../lib/engines/postgres/parallel-copy';
import { tableChecksums, compareChecksums, type TableChecksum } from '../lib/engines/postgres/checksum';
import { userTables } from '../lib/engines/postgres/server';
import type { PostgresEndpoint } from '../lib/engines/postgres/endpoint';
import { median as medianOf } from './stats';
import { sleep } from '../lib/util/time';

const run = promisify(execFile);
const TICKS = 100; // USER_HZ on Linux

async function adminQuery(server: PostgresInstance, sql: string): Promise<void> {
  const admin = await connectPg(server.endpoint());
  try {
    await admin.query(sql);
  } finally {
    await closePg(admin);
  }
}

/** `pg_dump -Fc | pg_restore` as one pipe (the single-stream baseline: default compression). */
function baselineCopy(source: PostgresEndpoint, target: PostgresEndpoint): Promise<void> {
  const dump = spawn(join(clientBinDir(), 'pg_dump'), ['--format=custom', '--no-sync'], { env: libpqEnvironment(source), stdio: ['ignore', 'pipe', 'inherit'] });
  const restore = spawn(join(clientBinDir(), 'pg_restore'), ['--exit-on-error', `--dbname=${target.database}`], { env: libpqEnvironment(target), stdio: ['pipe', 'inherit', 'inherit'] });
  dump.stdout.pipe(restore.stdin);
  const done = (child: typeof restore | typeof dump, what: string) => new Promise<void>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited ${code}`)))));
  return Promise.all([done(dump, 'pg_dump'), done(restore, 'pg_restore')]).then(() => undefined);
}

/** Fields of /proc/PID/stat after the command name (index 0 = state, 1 = ppid, 11..14 = utime, stime, cutime, cstime). */
function procStat(pid: number | string): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds a server used so far: the postmaster with its reaped backends, plus its live processes. */
function serverCpu(server: PostgresInstance): number {
  const postmaster = Number(readFileSync(join(server.datadir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let ticks = 0;
  const own = procStat(postmaster);
  if (own) ticks += Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(entry);
    if (stat && Number(stat[1]) === postmaster) ticks += Number(stat[11]) + Number(stat[12]);
  }
  return ticks / TICKS;
}

/** CPU seconds of this process's finished children (pg_dump, pg_restore, psql). */
function toolsCpu(): number {
  const own = procStat('self')!;
  return (Number(own[13]) + Number(own[14])) / TICKS;
}

interface Measured {
  seconds: number;
  cpu: { source: number; target: number; tools: number };
}

async function measure(source: PostgresInstance, target: PostgresInstance, what: () => Promise<unknown>): Promise<Measured> {
  const before = { source: serverCpu(source), target: serverCpu(target), tools: toolsCpu() };
  const started = process.hrtime.bigint();
  await what();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // Let the copy's backends finish exiting and be reaped: a backend caught mid-exit is missed.
  await sleep(500);
  const round = (n: number) => Math.round(n * 100) / 100;
  return { seconds: round(seconds), cpu: { source: round(serverCpu(source) - before.source), target: round(serverCpu(target) - before.target), tools: round(toolsCpu() - before.tools) } };
}

/** Start a copy on quiet servers: flushed, and no autovacuum worker busy on the target. */
async function quiesce(source: PostgresInstance, target: PostgresInstance): Promise<void> {
  await adminQuery(source, 'CHECKPOINT');
  await adminQuery(target, 'CHECKPOINT');
  const client = await connectPg(target.endpoint());
  try {
    for (let waited = 0; waited < 120000; waited += 250) {
      const busy = Number((await pgRow<{ n: string }>(client, "SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"))!.n);
      if (busy === 0) return;
      await sleep(250);
    }
  } finally {
    await closePg(client);
  }
}

async function checksumsOf(endpoint: PostgresEndpoint, tables?: Awaited<ReturnType<typeof userTables>>): Promise<{ tables: Awaited<ReturnType<typeof userTables>>; sums: TableChecksum[] }> {
  const client = await connectPg(endpoint);
  try {
    const list = tables ?? (await userTables(client));
    return { tables: list, sums: await tableChecksums(client, list) };
  } finally {
    await closePg(client);
  }
}

/** Seconds, to the hundredth. */
const median = (values: number[]) => medianOf(values, 2);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { scale: { type: 'string', default: '20' }, jobs: { type: 'string', default: '2' }, runs: { type: 'string', default: '2' }, 'split-pages': { type: 'string' }, verify: { type: 'boolean', default: true }, 'no-verify': { type: 'boolean', default: false } } });
  const scale = Number(values.scale);
  const jobs = Number(values.jobs);
  const runs = Math.max(1, Number(values.runs));
  const splitPages = values['split-pages'] ? Number(values['split-pages']) : undefined;
  const verify = values.verify && !values['no-verify'];
  const log = createLogger({});
  ensureDebianPackages(POSTGRES_REQUIREMENTS, log);
  const group = new ProcessGroup();
  const baseDir = mkdtempSync(join(tmpdir(), 'rc-pg-copy-'));
  openForPostgres(baseDir);
  const password = generatePassword();
  const source = new PostgresInstance({ name: 'source', baseDir, version: 15, superuserPassword: password, group, log });
  const target = new PostgresInstance({ name: 'target', baseDir, version: 15, superuserPassword: password, group, log });
  const loadStart = loadavg()[0];
  try {
    await Promise.all([source.initialise(), target.initialise()]);
    await adminQuery(source, 'CREATE DATABASE bench');
    log.info(`pgbench -i -s ${scale} on the source`);
    await run(join(clientBinDir(), 'pgbench'), ['-i', '-q', '-s', String(scale), 'bench'], { env: libpqEnvironment(source.endpoint('bench')), maxBuffer: 64 * 1024 * 1024 });
    const probe = await connectPg(source.endpoint('bench'));
    const bytes = Number((await pgRow<{ b: string }>(probe, 'SELECT pg_database_size(current_database()) AS b'))!.b);
    await closePg(probe);
    log.info(`source database: ${(bytes / 1e6).toFixed(0)} MB`);
    const expected = verify ? await checksumsOf(source.endpoint('bench')) : undefined;

    const baselineRuns: Measured[] = [];
    const projectRuns: Array<Measured & { phases: ParallelCopyResult }> = [];
    let mismatches = 0;
    let copyNumber = 0;
    const copyOnce = async (method: 'baseline' | 'project') => {
      copyNumber += 1;
      const database = `${method}_${copyNumber}`;
      await adminQuery(target, `CREATE DATABASE ${database}`);
      await quiesce(source, target);
      const load = loadavg()[0];
      if (method === 'baseline') {
        const measured = await measure(source, target, () => baselineCopy(source.endpoint('bench'), target.endpoint(database)));
        baselineRuns.push(measured);
        log.info(`baseline pg_dump -Fc | pg_restore: ${measured.seconds.toFixed(2)} s, cpu ${JSON.stringify(measured.cpu)}, load ${load.toFixed(2)}`);
      } else {
        const workDir = mkdtempSync(join(baseDir, 'work-'));
        let phases: ParallelCopyResult | undefined;
        const measured = await measure(source, target, async () => {
          phases = await parallelCopy(source.endpoint('bench'), target.endpoint(database), { jobs, workDir, copySequences: true, splitPages });
        });
        projectRuns.push({ ...measured, phases: phases! });
        log.info(`project copy (${jobs} streams): ${measured.seconds.toFixed(2)} s, cpu ${JSON.stringify(measured.cpu)}, load ${load.toFixed(2)}, ${JSON.stringify(phases)}`);
      }
      if (expected) {
        const got = await checksumsOf(target.endpoint(database), expected.tables);
        const match = compareChecksums(expected.sums, got.sums).match;
        log.info(`checksums ${method} run ${copyNumber}: ${match ? 'match' : 'DIFFER'}`);
        if (!match) mismatches += 1;
      }
      await adminQuery(target, `DROP DATABASE ${database}`);
    };
    for (let r = 0; r < runs; r += 1) {
      const order: Array<'baseline' | 'project'> = r % 2 === 0 ? ['baseline', 'project'] : ['project', 'baseline'];
      for (const method of order) await copyOnce(method);
    }
    if (mismatches > 0) process.exitCode = 1;
    const baselineSeconds = median(baselineRuns.map((m) => m.seconds));
    const projectSeconds = median(projectRuns.map((m) => m.seconds));
    const cpuMedian = (list: Measured[]) => ({ source: median(list.map((m) => m.cpu.source)), target: median(list.map((m) => m.cpu.target)), tools: median(list.map((m) => m.cpu.tools)) });
    console.log(JSON.stringify({
      bytes,
      scale,
      jobs,
      runs,
      ...(splitPages ? { splitPages } : {}),
      verified: verify ? mismatches === 0 : 'skipped',
      baselineSeconds,
      projectSeconds,
      ratio: Math.round((baselineSeconds / projectSeconds) * 100) / 100,
      baselineRunsSeconds: baselineRuns.map((m) => m.seconds),
      projectRunsSeconds: projectRuns.map((m) => m.seconds),
      projectPhasesMs: projectRuns.map((m) => ({ schema: m.phases.schemaMs, data: m.phases.dataMs, index: m.phases.indexMs })),
      cpuSeconds: { baseline: cpuMedian(baselineRuns), project: cpuMedian(projectRuns) },
      loadAverage: [Math.round(loadStart * 100) / 100, Math.round(loadavg()[0] * 100) / 100],
    }));
  } finally {
    await Promise.all([source.stop(), target.stop()]);
    await group.stopAll();
    rmSync(baseDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
