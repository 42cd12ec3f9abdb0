/**
 * Write downtime of a cutover, measured: N full local rehearsals under the built-in load
 * (8 connections, 400 durable writes/s through the application endpoint), each in a fresh
 * sandbox. Targets (issue 2, MySQL): writeUnavailableMs median <= 100, max <= 250, lost 0.
 *
 *   npm run bench:downtime -- --engine mysql [--runs 5] [--verbose]
 *   npm run bench:downtime -- --engine mysql --switch-back [--runs 5]   forward and back under the same load
 *   npm run bench:downtime -- --engine postgres [--method logical|dump|both] [--runs 5]
 *   npm run bench:downtime -- --engine postgres --switch-back [--runs 5]   logical method, forward and back
 *
 * Last line: {"engine":"mysql","runs":5,"writeUnavailableMs":{"min":…,"median":…,"max":…},"lost":…,"failed":…}
 * (PostgreSQL: one such line per method, with "method".)
 * With --switch-back (issue 12 targets: each direction median <= 60 ms, max <= 150 ms, 0 lost):
 * {"engine":"mysql","runs":5,"forward":{"min":…,"median":…,"max":…},"back":{…},"lost":0,"failed":…,"phasesMedianMs":{"forward":{"freeze":…,…},"back":{…}}}
 * (PostgreSQL: the same with "method":"logical".)
 */
import { parseArgs } from 'node:util';
import { loadEnvironment } from '../config/cutover';
import { rehearseMysql } from '../lib/rehearsal/mysql-rehearsal';
import { createLogger, silentLogger } from '../lib/util/log';
import { benchPostgresDowntime, rehearsePostgresForBench } from './downtime-postgres';
import { withBenchStateDir } from './state-dir';
import { median, spread } from './stats';

/** One local MySQL rehearsal as both MySQL benchmarks run it (its state folder removed after). */
function rehearseForBench(environment: ReturnType<typeof loadEnvironment>, verbose: boolean, switchBack: boolean) {
  return withBenchStateDir(switchBack ? 'rc-bench-mysql-back-' : 'rc-bench-mysql-', (stateDir) =>
    rehearseMysql({
      environment: 'local',
      settings: environment.mysql!,
      stateDir,
      log: verbose ? createLogger({}) : silentLogger,
      seedRows: 5000,
      load: { connections: environment.rehearsal.loadConnections, ratePerSecond: environment.rehearsal.loadRatePerSecond, tailMs: 2000 },
      ...(switchBack ? { switchBack: true } : {}),
    }),
  );
}

async function benchMysql(runs: number, verbose: boolean): Promise<void> {
  const environment = loadEnvironment('local');
  const gaps: number[] = [];
  let lost = 0;
  let failed = 0;
  for (let index = 0; index < runs; index += 1) {
    const report = await rehearseForBench(environment, verbose, false);
    if (report.result !== 'success') throw new Error(`run ${index + 1} ended ${report.result}: ${report.error}`);
    gaps.push(report.writeUnavailableMs ?? Number.NaN);
    lost += report.writes?.lost ?? 0;
    failed += report.writes?.failed ?? 0;
    process.stderr.write(
      `mysql run ${index + 1}: gap ${report.writeUnavailableMs} ms, switch ${report.switchDurationMs} ms, lag at switch ${report.lagAtSwitchMs} ms, lag before the freeze ${report.facts.lagBeforeFreezeMs} ms, around ${JSON.stringify(report.facts.writeGapAroundSwitchMs)}, ` +
        `failed ${report.writes?.failed}, lost ${report.writes?.lost}, phases ${JSON.stringify(report.facts.switchPhasesMs)}\n`,
    );
  }
  console.log(JSON.stringify({ engine: 'mysql', runs, writeUnavailableMs: spread(gaps), lost, failed }));
}

async function benchSwitchBack(engine: 'mysql' | 'postgres', runs: number, verbose: boolean): Promise<void> {
  const environment = loadEnvironment('local');
  const forward: number[] = [];
  const back: number[] = [];
  // Each direction's switch phases (switchPhasesMs) per run, summarised by their medians in the last line.
  const phases: Record<'forward' | 'back', Array<Record<string, number>>> = { forward: [], back: [] };
  let lost = 0;
  let failed = 0;
  for (let index = 0; index < runs; index += 1) {
    const report = engine === 'mysql' ? await rehearseForBench(environment, verbose, true) : await rehearsePostgresForBench({ method: 'logical', verbose, switchBack: true });
    if (report.result !== 'success' || !report.switchBack || report.switchBack.result !== 'success' || !report.windows) {
      throw new Error(`run ${index + 1} ended ${report.result}${report.switchBack ? ` / switch back ${report.switchBack.result}` : ''}: ${report.error ?? report.switchBack?.error}`);
    }
    if (report.switchBack.checksums?.match !== true || report.checksums?.match !== true) throw new Error(`run ${index + 1}: checksums did not match after a switch`);
    phases.forward.push((report.facts.switchPhasesMs as Record<string, number> | undefined) ?? {});
    phases.back.push((report.switchBack.facts.switchPhasesMs as Record<string, number> | undefined) ?? {});
    forward.push(report.windows.forward.writeUnavailableMs ?? Number.NaN);
    back.push(report.windows.back.writeUnavailableMs ?? Number.NaN);
    lost += report.windows.forward.writes.lost + report.windows.back.writes.lost;
    failed += report.windows.forward.writes.failed + report.windows.back.writes.failed;
    process.stderr.write(
      `${engine} run ${index + 1}: forward gap ${report.windows.forward.writeUnavailableMs} ms (switch ${report.switchDurationMs} ms, failed ${report.windows.forward.writes.failed}, lost ${report.windows.forward.writes.lost}, phases ${JSON.stringify(report.facts.switchPhasesMs)}, around ${JSON.stringify(report.facts.writeGapAroundSwitchMs)}); ` +
        `back gap ${report.windows.back.writeUnavailableMs} ms (switch ${report.switchBack.switchDurationMs} ms, failed ${report.windows.back.writes.failed}, lost ${report.windows.back.writes.lost}, phases ${JSON.stringify(report.switchBack.facts.switchPhasesMs)}, around ${JSON.stringify(report.switchBack.facts.writeGapAroundSwitchMs)})\n`,
    );
  }
  console.log(JSON.stringify({ engine, ...(engine === 'postgres' ? { method: 'logical' } : {}), runs, forward: spread(forward), back: spread(back), lost, failed, phasesMedianMs: { forward: phaseMedians(phases.forward), back: phaseMedians(phases.back) } }));
}

/** The median of each phase over the runs that had it (ms, one decimal), in the order the switch goes through them. */
function phaseMedians(runs: Array<Record<string, number>>): Record<string, number> {
  const names = [...new Set(runs.flatMap((run) => Object.keys(run)))];
  return Object.fromEntries(names.map((name) => [name, median(runs.filter((run) => typeof run[name] === 'number').map((run) => run[name]), 1)]));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engine: { type: 'string', default: 'mysql' },
      runs: { type: 'string', default: '5' },
      method: { type: 'string', default: 'both' },
      verbose: { type: 'boolean', default: false },
      'switch-back': { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs expects a positive whole number, got ${values.runs}`);
  if (values['switch-back'] && (values.engine === 'mysql' || values.engine === 'postgres')) {
    if (values.engine === 'postgres' && values.method === 'dump') throw new Error('--switch-back needs the logical method (the dump method builds no way back): drop --method dump');
    return benchSwitchBack(values.engine, runs, values.verbose as boolean);
  }
  if (values.engine === 'mysql') return benchMysql(runs, values.verbose as boolean);
  if (values.engine === 'postgres') {
    const methods = values.method === 'both' ? (['logical', 'dump'] as const) : [values.method as 'logical' | 'dump'];
    for (const method of methods) {
      const summary = await benchPostgresDowntime({ method, runs, verbose: values.verbose as boolean });
      const { results: _results, switchDurationMs: _switch, ...line } = summary;
      console.log(JSON.stringify(line));
    }
    return;
  }
  throw new Error(`--engine ${values.engine} is unknown: expected mysql or postgres`);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
