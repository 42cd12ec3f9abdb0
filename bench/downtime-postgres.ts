/**
 * Write downtime of the PostgreSQL flows: N local rehearsals per method under the built-in
 * load (8 connections, 400 writes/s through pgbouncer), each a fresh sandbox.
 *   npx tsx bench/downtime-postgres.ts [--runs 5] [--method logical|dump|both] [--target-version 17]
 * Last line per method: JSON {"engine":"postgres","method":…,"runs":…,"writeUnavailableMs":{min,median,max},"lost":…,"failed":…}
 * Targets (logical): failed 0, lost 0, median <= 100 ms.
 */
import { parseArgs } from 'node:util';
import { rehearsePostgres } from '../lib/rehearsal/postgres-rehearsal';
import { postgresSettings } from '../lib/cli/postgres';
import { parseCutoverArgs } from '../lib/cli/cutover';
import { loadEnvironment } from '../config/cutover';
import { createLogger, silentLogger } from '../lib/util/log';
import type { CutoverReport } from '../lib/report';
import { withBenchStateDir } from './state-dir';
import { spread } from './stats';

export interface PostgresDowntimeSummary {
  engine: 'postgres';
  method: 'logical' | 'dump';
  runs: number;
  writeUnavailableMs: { min: number; median: number; max: number };
  switchDurationMs: { min: number; median: number; max: number };
  lost: number;
  failed: number;
  results: string[];
}

/** One local PostgreSQL rehearsal as the benchmarks run it (its state folder removed after); `switchBack` forward and back. */
export function rehearsePostgresForBench(options: { method: 'logical' | 'dump'; targetVersion?: number; verbose?: boolean; switchBack?: boolean }): Promise<CutoverReport> {
  const environment = loadEnvironment('local');
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--method', options.method, ...(options.targetVersion ? ['--target-version', String(options.targetVersion)] : [])]);
  const { workDir: _workDir, ...settings } = postgresSettings(environment, args);
  return withBenchStateDir(options.switchBack ? 'rc-bench-pg-back-' : 'rc-bench-pg-', (stateDir) =>
    rehearsePostgres({
      environment: 'local',
      method: options.method,
      settings,
      stateDir,
      log: options.verbose ? createLogger({}) : silentLogger,
      seedRows: 5000,
      load: { connections: environment.rehearsal.loadConnections, ratePerSecond: environment.rehearsal.loadRatePerSecond, tailMs: 2000 },
      ...(options.switchBack ? { switchBack: true } : {}),
    }),
  );
}

/** Run `runs` rehearsals of one method and summarise them (what bench:downtime prints for postgres). */
export async function benchPostgresDowntime(options: { method: 'logical' | 'dump'; runs: number; targetVersion?: number; verbose?: boolean; onRun?: (report: CutoverReport, index: number) => void }): Promise<PostgresDowntimeSummary> {
  const reports: CutoverReport[] = [];
  for (let index = 0; index < options.runs; index += 1) {
    const report = await rehearsePostgresForBench(options);
    reports.push(report);
    options.onRun?.(report, index);
  }
  return {
    engine: 'postgres',
    method: options.method,
    runs: reports.length,
    writeUnavailableMs: spread(reports.map((r) => r.writeUnavailableMs ?? Number.NaN)),
    switchDurationMs: spread(reports.map((r) => r.switchDurationMs ?? Number.NaN)),
    lost: reports.reduce((sum, r) => sum + (r.writes?.lost ?? 0), 0),
    failed: reports.reduce((sum, r) => sum + (r.writes?.failed ?? 0), 0),
    results: reports.map((r) => r.result),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, method: { type: 'string', default: 'both' }, 'target-version': { type: 'string' }, verbose: { type: 'boolean', default: false } } });
  const methods = values.method === 'both' ? (['logical', 'dump'] as const) : [values.method as 'logical' | 'dump'];
  for (const method of methods) {
    const summary = await benchPostgresDowntime({
      method,
      runs: Number(values.runs),
      targetVersion: values['target-version'] ? Number(values['target-version']) : undefined,
      verbose: values.verbose,
      onRun: (r, i) => process.stderr.write(`${method} run ${i + 1}: ${r.result}, gap ${r.writeUnavailableMs} ms, switch ${r.switchDurationMs} ms, failed ${r.writes?.failed}, lost ${r.writes?.lost}, phases ${JSON.stringify(r.facts.switchPhasesMs)}\n`),
    });
    console.log(JSON.stringify(summary));
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
