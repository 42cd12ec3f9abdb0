import { spawn, type ChildProcess } from 'node:child_process';
import { dieWithParent } from '../../util/process-group';
import { join } from 'node:path';
import { clientBinDir, runTool } from './copy';
import { closePg, connectPg, libpqEnvironment, pgRows, qualified, quoteIdent, quoteLiteral, type PgClient } from './connection';
import type { PostgresEndpoint } from './endpoint';
import { sequenceValues, setSequencesSql, SYSTEM_SCHEMAS } from './server';
import { redact } from '../../util/secrets';

export interface ParallelCopyOptions {
  /** Concurrent COPY streams, and pg_restore jobs for indexes and constraints. */
  jobs: number;
  /** Folder for the small schema-only archive. */
  workDir: string;
  /** Read the source in this exported snapshot; default: one exported here for the copy. */
  snapshot?: string;
  /**
   * Tables above this many pages are split into ctid page ranges copied by concurrent
   * streams into the same table (no FREEZE then). Default: never split — measured on 2 cores,
   * one FREEZE stream per table is as fast end to end and leaves no hint-bit/vacuum work
   * behind (see the README's copy section).
   */
  splitPages?: number;
  /** Copy sequence values at the end (right for a frozen source; the logical flow copies them at the switch). */
  copySequences?: boolean;
  /** maintenance_work_mem of the index/constraint builds (a session setting, legal on RDS). @default '1GB' */
  maintenanceWorkMem?: string;
  /** Stop everything (children killed) past this many milliseconds. */
  timeoutMs?: number;
}

export interface ParallelCopyResult {
  /** Schema (pre-data) restore, after the archive is dumped. */
  schemaMs: number;
  /** All COPY streams. */
  dataMs: number;
  /** Indexes, constraints, triggers (post-data), then large objects and sequences. */
  indexMs: number;
  /** Copy units (tables, or table ranges when split). */
  streams: number;
  /** Units loaded with TRUNCATE + COPY FREEZE in one transaction. */
  frozen: number;
  /** Units copied in text format (a column type without a portable binary form). */
  text: number;
  totalMs: number;
}

interface TableToCopy {
  table: string;
  columns: string[];
  pages: number;
  binary: boolean;
}

interface Unit extends TableToCopy {
  /** A ctid range of a split table; empty for a whole table. */
  where: string;
}

/** FirstNormalObjectId: types below it are built in (their binary form carries no local OIDs). */
const FIRST_NORMAL_OID = 16384;

/**
 * The project's copy path (what pgcopydb does): schema without indexes first, then table
 * data streamed source → target by `COPY … TO STDOUT | COPY … FROM STDIN` (no intermediate
 * files, no compression, binary format where portable), one stream per table with up to
 * `jobs` tables at once, each loaded as `TRUNCATE` + `COPY … FREEZE` in one transaction
 * (rows land frozen with hint bits set: the index build and the first reads do not rewrite
 * every page, and autovacuum has nothing to freeze later). Then indexes and constraints are
 * built in parallel (`pg_restore --section=post-data -j N`) with a large maintenance_work_mem
 * and parallel maintenance workers. Every stream reads the same exported snapshot, so the copy
 * is one consistent state. Large objects are restored from the archive; sequences optionally
 * set to the source's values. Only session settings legal on RDS are used.
 */
export async function parallelCopy(source: PostgresEndpoint, target: PostgresEndpoint, options: ParallelCopyOptions): Promise<ParallelCopyResult> {
  const started = Date.now();
  const abort = new AbortController();
  const timer = options.timeoutMs ? setTimeout(() => abort.abort(new Error(`copy stopped after ${options.timeoutMs} ms`)), options.timeoutMs) : undefined;
  const run = { signal: abort.signal, children: new Set<ChildProcess>() };
  let coordinator: PgClient | undefined;
  try {
    coordinator = await connectPg(source, { applicationName: 'rds-cutover copy' });
    await coordinator.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    let snapshot = options.snapshot;
    if (snapshot) await coordinator.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
    else snapshot = (await coordinator.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0].s;

    // Schema only (table data excluded; large objects, if any, travel in its data section).
    const archive = join(options.workDir, 'schema.dump');
    await runTool('pg_dump', ['--format=custom', '--compress=0', "--exclude-table-data=*.*", '--no-publications', '--no-subscriptions', `--snapshot=${snapshot}`, `--file=${archive}`], source, { signal: run.signal });
    const schemaStarted = Date.now();
    await runTool('pg_restore', ['--exit-on-error', '--section=pre-data', `--dbname=${target.database}`, archive], target, { signal: run.signal });
    const schemaMs = Date.now() - schemaStarted;

    const units = planUnits(await tablesToCopy(coordinator), options.splitPages ?? Infinity, options.jobs);
    const dataStarted = Date.now();
    const queue = [...units].sort((a, b) => b.pages - a.pages);
    const worker = async () => {
      for (let unit = queue.shift(); unit; unit = queue.shift()) await copyUnit(source, target, unit, snapshot!, run);
    };
    await settleAll(Array.from({ length: Math.max(1, Math.min(options.jobs, units.length)) }, worker), abort);
    const dataMs = Date.now() - dataStarted;

    const indexStarted = Date.now();
    const sessionOptions = `-c maintenance_work_mem=${options.maintenanceWorkMem ?? '1GB'} -c max_parallel_maintenance_workers=${Math.max(0, options.jobs - 1)} -c synchronous_commit=off`;
    await runTool('pg_restore', ['--exit-on-error', '--section=post-data', `--jobs=${Math.max(1, options.jobs)}`, `--dbname=${target.database}`, archive], target, { env: { PGOPTIONS: sessionOptions }, signal: run.signal });
    const largeObjects = Number((await coordinator.query<{ n: string }>('SELECT count(*) AS n FROM pg_largeobject_metadata')).rows[0].n);
    if (largeObjects > 0) await runTool('pg_restore', ['--exit-on-error', '--section=data', `--dbname=${target.database}`, archive], target, { signal: run.signal });
    if (options.copySequences) {
      const sql = setSequencesSql(await sequenceValues(coordinator));
      if (sql) {
        const targetClient = await connectPg(target);
        try {
          await targetClient.query(sql);
        } finally {
          await closePg(targetClient);
        }
      }
    }
    return {
      schemaMs,
      dataMs,
      indexMs: Date.now() - indexStarted,
      streams: units.length,
      frozen: units.filter((u) => !u.where).length,
      text: units.filter((u) => !u.binary).length,
      totalMs: Date.now() - started,
    };
  } catch (error) {
    throw abort.signal.aborted && abort.signal.reason instanceof Error ? abort.signal.reason : error;
  } finally {
    if (timer) clearTimeout(timer);
    for (const child of run.children) child.kill('SIGTERM');
    await coordinator?.query('ROLLBACK').catch(() => undefined);
    await closePg(coordinator);
  }
}

/** Wait for every task; on the first failure stop the others (their children are killed). */
async function settleAll(tasks: Array<Promise<void>>, abort: AbortController): Promise<void> {
  const results = await Promise.allSettled(tasks.map((task) => task.catch((error) => {
    if (!abort.signal.aborted) abort.abort(error);
    throw error;
  })));
  if (abort.signal.aborted) throw abort.signal.reason;
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) throw failed.reason;
}

/**
 * Ordinary tables (partitions included, partitioned parents hold no rows) outside the system
 * schemas and not owned by an extension (CREATE EXTENSION fills those, as with pg_dump).
 * Generated columns are left out (COPY FROM recomputes them). Binary format only when every
 * column has a built-in type: the binary form of arrays and composites of user types carries
 * the source's type OIDs, which differ on the target.
 */
async function tablesToCopy(client: PgClient): Promise<TableToCopy[]> {
  const rows = await pgRows<{ schema: string; name: string; pages: number; columns: string[]; builtin: boolean }>(
    client,
    `SELECT n.nspname AS schema, c.relname AS name, (pg_relation_size(c.oid) / 8192)::int AS pages,
            array_agg(a.attname::text ORDER BY a.attnum) AS columns,
            bool_and(a.atttypid < $2) AS builtin
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      WHERE c.relkind = 'r' AND c.relpersistence <> 't'
        AND n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg_temp%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      GROUP BY n.nspname, c.relname, c.oid`,
    [SYSTEM_SCHEMAS, FIRST_NORMAL_OID],
  );
  return rows.map((r) => ({ table: qualified(r), columns: r.columns.map(quoteIdent), pages: r.pages, binary: r.builtin }));
}

/** One unit per table; tables above splitPages are cut into ctid page ranges (TID range scans, PostgreSQL 14+). */
function planUnits(tables: TableToCopy[], splitPages: number, jobs: number): Unit[] {
  const units: Unit[] = [];
  for (const table of tables) {
    const pieces = table.pages > splitPages ? Math.min(Math.ceil(table.pages / splitPages), Math.max(2, jobs * 2)) : 1;
    if (pieces === 1) {
      units.push({ ...table, where: '' });
      continue;
    }
    const step = Math.ceil(table.pages / pieces);
    for (let piece = 0; piece < pieces; piece += 1) {
      const from = `ctid >= '(${piece * step},0)'::tid`;
      // The last range is open: relpages is an estimate.
      const where = piece === pieces - 1 ? `WHERE ${from}` : `WHERE ${from} AND ctid < '(${(piece + 1) * step},0)'::tid`;
      units.push({ ...table, where, pages: step });
    }
  }
  return units;
}

/**
 * One stream: psql COPYing out of the source in the snapshot, piped into psql COPYing into
 * the target. A whole table is loaded as TRUNCATE + COPY FREEZE in one transaction (the
 * table is empty and fresh from the schema restore); a range of a split table is a plain COPY.
 */
function copyUnit(source: PostgresEndpoint, target: PostgresEndpoint, unit: Unit, snapshot: string, run: { signal: AbortSignal; children: Set<ChildProcess> }): Promise<void> {
  if (run.signal.aborted) return Promise.reject(run.signal.reason);
  const psql = join(clientBinDir(), 'psql');
  const columns = unit.columns.join(', ');
  const format = unit.binary ? 'FORMAT binary' : 'FORMAT text';
  const out = unit.where ? `COPY (SELECT ${columns} FROM ONLY ${unit.table} ${unit.where}) TO STDOUT (${format})` : `COPY ${unit.table} (${columns}) TO STDOUT (${format})`;
  const readerArgs = ['-X', '-q', '-v', 'ON_ERROR_STOP=1',
    '-c', 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    '-c', `SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`,
    '-c', out,
    '-c', 'COMMIT'];
  const load = unit.where
    ? ['-c', `COPY ${unit.table} (${columns}) FROM STDIN (${format})`]
    : ['-c', `TRUNCATE ONLY ${unit.table}`, '-c', `COPY ${unit.table} (${columns}) FROM STDIN (${format}, FREEZE)`];
  const writerArgs = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-c', 'SET LOCAL synchronous_commit = off', ...load];
  // Plan mode: both ends of the stream as command lines (psql reading | psql writing), not started.
  const readerRecorded = source.pgRecorder?.process(source.name, 'psql', readerArgs, 'read') ?? false;
  const writerRecorded = target.pgRecorder?.process(target.name, 'psql', writerArgs, 'change') ?? false;
  if (readerRecorded && writerRecorded) return Promise.resolve();
  // Own process groups (detached): a terminal's Ctrl-C must not kill the copy mid-table (the run
  // stops at the step boundary instead); they still die with this process (parent-death signal).
  const reader = spawn(...dieWithParent(psql, readerArgs), { env: libpqEnvironment(source), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const writer = spawn(...dieWithParent(psql, writerArgs), { env: libpqEnvironment(target), stdio: ['pipe', 'ignore', 'pipe'], detached: true });
  reader.stdout.pipe(writer.stdin);
  writer.stdin.on('error', () => undefined); // a failed writer surfaces through its exit code
  const what = `${unit.table}${unit.where ? ' ' + unit.where : ''}`;
  const outcome = (child: ChildProcess, step: string) => {
    run.children.add(child);
    return new Promise<void>((resolve, reject) => {
      let stderr = '';
      child.stderr?.on('data', (data: Buffer) => (stderr = (stderr + data.toString()).slice(-2000)));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        run.children.delete(child);
        if (code === 0) resolve();
        else reject(new Error(redact(`${step} of ${what} failed (${code ?? signal}): ${stderr.trim()}`)));
      });
    });
  };
  const onAbort = () => {
    reader.kill('SIGTERM');
    writer.kill('SIGTERM');
  };
  run.signal.addEventListener('abort', onAbort, { once: true });
  return Promise.all([outcome(reader, 'COPY out'), outcome(writer, 'COPY in')])
    .then(() => undefined)
    .finally(() => run.signal.removeEventListener('abort', onAbort));
}
