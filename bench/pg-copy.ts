/**
 * Copy speed on the same data in one run: the single-stream baseline
 * `pg_dump -Fc | pg_restore` against the project's copy path (parallel COPY streams over
 * ctid ranges in one snapshot, indexes built after the load), between two local
 * PostgreSQL 15 servers.
 *   npm run bench:pg-copy [-- --scale 60] [--jobs 2] [--chunk-pages 2000] [--no-verify]
 * Default scale 20 (~330 MB) keeps the run short; --scale 60 is the issue's ~900 MB.
 * Last line: JSON {"bytes":…,"baselineSeconds":…,"projectSeconds":…,"ratio":…}. Target ratio >= 2.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { ProcessGroup } from '../lib/util/process-group';
import { generatePassword } from '../lib/util/secrets';
import { createLogger } from '../lib/util/log';
import { openForPostgres, PostgresInstance } from '../lib/platforms/local/postgres-instance';
import { ensureDebianPackages, POSTGRES_REQUIREMENTS } from '../lib/platforms/local/debian-packages';
import { closePg, connectPg, libpqEnvironment, pgRow } from '../lib/engines/postgres/connection';
import { clientBinDir } from '../lib/engines/postgres/copy';
import { parallelCopy } from '../lib/engines/postgres/parallel-copy';
import { tableChecksums, compareChecksums } from '../lib/engines/postgres/checksum';
import { userTables } from '../lib/engines/postgres/server';
import type { PostgresEndpoint } from '../lib/engines/postgres/endpoint';

const run = promisify(execFile);

async function createDatabase(server: PostgresInstance, name: string): Promise<void> {
  const admin = await connectPg(server.endpoint());
  await admin.query(`CREATE DATABASE ${name}`);
  await closePg(admin);
}

/** `pg_dump -Fc | pg_restore` as one pipe (the single-stream baseline: default compression). */
function baselineCopy(source: PostgresEndpoint, target: PostgresEndpoint): Promise<void> {
  const dump = spawn(join(clientBinDir(), 'pg_dump'), ['--format=custom', '--no-sync'], { env: libpqEnvironment(source), stdio: ['ignore', 'pipe', 'inherit'] });
  const restore = spawn(join(clientBinDir(), 'pg_restore'), ['--exit-on-error', `--dbname=${target.database}`], { env: libpqEnvironment(target), stdio: ['pipe', 'inherit', 'inherit'] });
  dump.stdout.pipe(restore.stdin);
  const done = (child: typeof restore | typeof dump, what: string) => new Promise<void>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited ${code}`)))));
  return Promise.all([done(dump, 'pg_dump'), done(restore, 'pg_restore')]).then(() => undefined);
}

async function seconds(what: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await what();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function checksumsMatch(a: PostgresEndpoint, b: PostgresEndpoint): Promise<boolean> {
  const [ca, cb] = [await connectPg(a), await connectPg(b)];
  try {
    const tables = await userTables(ca);
    return compareChecksums(await tableChecksums(ca, tables), await tableChecksums(cb, tables)).match;
  } finally {
    await closePg(ca);
    await closePg(cb);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { scale: { type: 'string', default: '20' }, jobs: { type: 'string', default: '2' }, 'chunk-pages': { type: 'string', default: '2000' }, verify: { type: 'boolean', default: true }, 'no-verify': { type: 'boolean', default: false } } });
  const scale = Number(values.scale);
  const jobs = Number(values.jobs);
  const log = createLogger({});
  ensureDebianPackages(POSTGRES_REQUIREMENTS, log);
  const group = new ProcessGroup();
  const baseDir = mkdtempSync(join(tmpdir(), 'rc-pg-copy-'));
  openForPostgres(baseDir);
  const password = generatePassword();
  const source = new PostgresInstance({ name: 'source', baseDir, version: 15, superuserPassword: password, group, log });
  const target = new PostgresInstance({ name: 'target', baseDir, version: 15, superuserPassword: password, group, log });
  try {
    await Promise.all([source.initialise(), target.initialise()]);
    await createDatabase(source, 'bench');
    log.info(`pgbench -i -s ${scale} on the source`);
    await run(join(clientBinDir(), 'pgbench'), ['-i', '-q', '-s', String(scale), 'bench'], { env: libpqEnvironment(source.endpoint('bench')), maxBuffer: 64 * 1024 * 1024 });
    const probe = await connectPg(source.endpoint('bench'));
    const bytes = Number((await pgRow<{ b: string }>(probe, 'SELECT pg_database_size(current_database()) AS b'))!.b);
    await probe.query('CHECKPOINT');
    await closePg(probe);
    log.info(`source database: ${(bytes / 1e6).toFixed(0)} MB`);

    await createDatabase(target, 'baseline');
    const baselineSeconds = await seconds(() => baselineCopy(source.endpoint('bench'), target.endpoint('baseline')));
    log.info(`baseline pg_dump -Fc | pg_restore: ${baselineSeconds.toFixed(2)} s`);
    await createDatabase(target, 'project');
    const workDir = mkdtempSync(join(baseDir, 'work-'));
    let detail = {};
    const projectSeconds = await seconds(async () => {
      detail = await parallelCopy(source.endpoint('bench'), target.endpoint('project'), { jobs, workDir, copySequences: true, chunkPages: Number(values['chunk-pages']) });
    });
    log.info(`project copy (${jobs} streams): ${projectSeconds.toFixed(2)} s ${JSON.stringify(detail)}`);
    if (values.verify && !values['no-verify']) {
      const baselineOk = await checksumsMatch(source.endpoint('bench'), target.endpoint('baseline'));
      const projectOk = await checksumsMatch(source.endpoint('bench'), target.endpoint('project'));
      log.info(`checksums: baseline ${baselineOk ? 'match' : 'DIFFER'}, project ${projectOk ? 'match' : 'DIFFER'}`);
      if (!baselineOk || !projectOk) process.exitCode = 1;
    }
    console.log(JSON.stringify({ bytes, scale, jobs, baselineSeconds: Math.round(baselineSeconds * 100) / 100, projectSeconds: Math.round(projectSeconds * 100) / 100, ratio: Math.round((baselineSeconds / projectSeconds) * 100) / 100 }));
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
