import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { clientBinDir, runTool } from './copy';
import { closePg, connectPg, libpqEnvironment, pgRows, qualified, type PgClient } from './connection';
import type { PostgresEndpoint } from './endpoint';
import { sequenceValues, setSequencesSql, SYSTEM_SCHEMAS } from './server';
import { redact } from '../../util/secrets';

export interface ParallelCopyOptions {
  /** Concurrent COPY streams (and pg_restore jobs for indexes). */
  jobs: number;
  /** Folder for the small schema-only archive. */
  workDir: string;
  /** Read the source in this exported snapshot; default: one exported here for the copy. */
  snapshot?: string;
  /** Tables above this many pages are split into page (ctid) ranges. @default 2000 (16 MB) */
  chunkPages?: number;
  /** Copy sequence values at the end (right for a frozen source; the logical flow copies them at the switch). */
  copySequences?: boolean;
}

export interface ParallelCopyResult {
  schemaMs: number;
  dataMs: number;
  indexMs: number;
  chunks: number;
  totalMs: number;
}

interface Chunk {
  table: string;
  where: string;
  pages: number;
}

/**
 * The project's copy path (what pgcopydb does): schema without indexes first, then table
 * data streamed source → target with COPY … TO STDOUT | COPY … FROM STDIN (no intermediate
 * files, no compression), big tables split into ctid page ranges so that one table does not
 * serialise the copy, then indexes and constraints built in parallel after the load. Every
 * stream reads the same exported snapshot, so the copy is one consistent state.
 */
export async function parallelCopy(source: PostgresEndpoint, target: PostgresEndpoint, options: ParallelCopyOptions): Promise<ParallelCopyResult> {
  const started = Date.now();
  let coordinator: PgClient | undefined;
  let snapshot = options.snapshot;
  try {
    coordinator = await connectPg(source);
    if (!snapshot) {
      await coordinator.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      snapshot = (await coordinator.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0].s;
    }
    const archive = join(options.workDir, 'schema.dump');
    await runTool('pg_dump', ['--format=custom', '--schema-only', '--no-publications', '--no-subscriptions', `--snapshot=${snapshot}`, `--file=${archive}`], source);
    await runTool('pg_restore', ['--exit-on-error', '--section=pre-data', `--dbname=${target.database}`, archive], target);
    const schemaMs = Date.now() - started;

    const chunks = await planChunks(coordinator, options.chunkPages ?? 2000, options.jobs);
    const dataStarted = Date.now();
    const queue = [...chunks].sort((a, b) => b.pages - a.pages);
    const worker = async () => {
      for (let chunk = queue.shift(); chunk; chunk = queue.shift()) await copyChunk(source, target, chunk, snapshot!);
    };
    await Promise.all(Array.from({ length: Math.max(1, options.jobs) }, worker));
    const dataMs = Date.now() - dataStarted;

    const indexStarted = Date.now();
    await runTool('pg_restore', ['--exit-on-error', '--section=post-data', `--jobs=${options.jobs}`, `--dbname=${target.database}`, archive], target, { env: { PGOPTIONS: `-c maintenance_work_mem=256MB -c max_parallel_maintenance_workers=${Math.max(0, options.jobs - 1)}` } });
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
    return { schemaMs, dataMs, indexMs: Date.now() - indexStarted, chunks: chunks.length, totalMs: Date.now() - started };
  } finally {
    await coordinator?.query('ROLLBACK').catch(() => undefined);
    await closePg(coordinator);
  }
}

/** Ordinary tables, big ones cut into page ranges (TID range scans, PostgreSQL 14+). */
async function planChunks(client: PgClient, chunkPages: number, jobs: number): Promise<Chunk[]> {
  const tables = await pgRows<{ schema: string; name: string; pages: number }>(
    client,
    `SELECT n.nspname AS schema, c.relname AS name, greatest(c.relpages, 0) AS pages
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg_temp%'`,
    [SYSTEM_SCHEMAS],
  );
  const chunks: Chunk[] = [];
  for (const table of tables) {
    const name = qualified(table);
    // Enough pieces to keep every stream busy, none smaller than chunkPages.
    const pieces = table.pages > chunkPages ? Math.min(Math.ceil(table.pages / chunkPages), jobs * 4) : 1;
    if (pieces === 1) {
      chunks.push({ table: name, where: '', pages: table.pages });
      continue;
    }
    const step = Math.ceil(table.pages / pieces);
    for (let piece = 0; piece < pieces; piece += 1) {
      const from = `ctid >= '(${piece * step},0)'::tid`;
      // The last range is open: relpages is an estimate and the table may have grown.
      const where = piece === pieces - 1 ? `WHERE ${from}` : `WHERE ${from} AND ctid < '(${(piece + 1) * step},0)'::tid`;
      chunks.push({ table: name, where, pages: step });
    }
  }
  return chunks;
}

/** One stream: psql reading COPY out of the source in the snapshot, piped into psql COPYing into the target. */
function copyChunk(source: PostgresEndpoint, target: PostgresEndpoint, chunk: Chunk, snapshot: string): Promise<void> {
  const psql = join(clientBinDir(), 'psql');
  const reader = spawn(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1',
    '-c', 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    '-c', `SET TRANSACTION SNAPSHOT '${snapshot.replace(/'/g, "''")}'`,
    '-c', `COPY (SELECT * FROM ${chunk.table} ${chunk.where}) TO STDOUT (FORMAT binary)`,
    '-c', 'COMMIT'], { env: libpqEnvironment(source), stdio: ['ignore', 'pipe', 'pipe'] });
  const writer = spawn(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1',
    '-c', 'SET synchronous_commit = off',
    '-c', `COPY ${chunk.table} FROM STDIN (FORMAT binary)`], { env: libpqEnvironment(target), stdio: ['pipe', 'ignore', 'pipe'] });
  reader.stdout.pipe(writer.stdin);
  const outcome = (child: ChildProcess, what: string) =>
    new Promise<void>((resolve, reject) => {
      let stderr = '';
      child.stderr?.on('data', (data: Buffer) => (stderr = (stderr + data.toString()).slice(-2000)));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(redact(`${what} of ${chunk.table} ${chunk.where} failed (${code}): ${stderr.trim()}`)))));
    });
  return Promise.all([outcome(reader, 'COPY out'), outcome(writer, 'COPY in')]).then(() => undefined);
}
