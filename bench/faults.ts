/**
 * Fault matrix on real servers: kill -9 of the operator's process at every journal entry of
 * the MySQL flow (every step boundary and every switch sub-phase), then --resume until done,
 * and check that nothing was lost, both sides were never writable at once and no replication
 * was replayed. Points come from the journal of a clean run first, so new sub-phases
 * (context.record) are picked up by themselves. See bench/fault-matrix.ts.
 *
 *   npm run bench:faults [-- --engine mysql|postgres] [--method logical|dump] [--points step-done:mysql.switch,step-start:mysql.switch] [--seed-rows 2000]
 *   (PostgreSQL: `--method logical` (default) or `dump` on `npm run sandbox -- up --engine postgres`)
 *
 * Last line: {"points":N,"recovered":N,"lost":0,"bothWritable":0,"unclear":0}
 * A point that does not recover is a finding, printed with the reason; the exit code is 1 then.
 */
import { parseArgs } from 'node:util';
import { killPointsOf, matrixLines, runFaultPoint, withScenarioPoints, type FaultOutcome } from './fault-matrix';

const USAGE = `npm run bench:faults -- [--engine mysql|postgres] [--method logical|dump] [--points P1,P2] [--seed-rows N]
  --engine     mysql (default) or postgres
  --method     PostgreSQL copy method: logical (default) or dump
  --points     journal entries to kill at (default: every entry of a clean run's journal)
  --seed-rows  rows per table in the sandbox (default 2000)
Last line: {"points":N,"recovered":N,"lost":0,"bothWritable":0,"unclear":0}; exit 1 when a point did not recover.
`;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { points: { type: 'string' }, 'seed-rows': { type: 'string', default: '2000' }, engine: { type: 'string', default: 'mysql' }, method: { type: 'string', default: 'logical' }, help: { type: 'boolean', default: false } } });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.engine !== 'mysql' && values.engine !== 'postgres') {
    process.stderr.write(`--engine ${values.engine} is unknown: expected mysql or postgres\n`);
    return 2;
  }
  if (values.method !== 'logical' && values.method !== 'dump') {
    process.stderr.write(`--method ${values.method} is unknown: expected logical or dump (PostgreSQL only)\n`);
    return 2;
  }
  const engine = values.engine;
  const method = values.method;
  const seedRows = Number(values['seed-rows']);
  const log = (line: string) => process.stderr.write(line + '\n');
  let points: string[];
  if (values.points) {
    points = values.points.split(',').map((p) => p.trim()).filter(Boolean);
  } else {
    log('clean run (baseline): enumerating kill points from its journal');
    const baseline = await runFaultPoint({ engine, method, seedRows, log });
    log(`baseline: ${baseline.outcome} (${baseline.note})`);
    if (!baseline.journal) throw new Error(`the clean run did not produce a journal: ${baseline.note}`);
    // Plus the points only a fault produces (made for real at that point: fault-matrix.ts SCENARIO_POINTS).
    points = withScenarioPoints(killPointsOf(baseline.journal), engine);
  }
  log(`${points.length} kill points`);
  const outcomes: FaultOutcome[] = [];
  for (const [index, point] of points.entries()) {
    const outcome = await runFaultPoint({ engine, method, point, seedRows, log });
    outcomes.push(outcome);
    log(`[${index + 1}/${points.length}] ${point}: ${outcome.outcome}, lost ${outcome.lost}, bothWritable ${outcome.bothWritable}, ${outcome.note}`);
  }
  for (const line of matrixLines(outcomes)) process.stdout.write(line + '\n');
  return outcomes.every((o) => o.outcome === 'recovered') ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  },
);
