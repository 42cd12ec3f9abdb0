/**
 * npm run bench:mask-threads [-- --customers N] [--threads 0,1,2] [--rounds 2]
 *
 * The masking stream alone with different numbers of masking threads (MariaDB/MySQL:
 * lib/masking/parallel-masking.ts; 0 is the calling thread alone, as before), interleaved round
 * by round with the floor (the same dump and zstd, no masking), against one seeded source. No
 * leak-check reader runs beside it (bench:mask starts one, as a --verify run does), so this
 * shows what the threads do when the machine has a core to spare. One JSON line per run: wall
 * seconds, CPU seconds of this process (all its threads) and of the dump client and zstd, peak
 * RSS, the 1-minute load average at its start, and the output's sha256 prefix, rows and bytes
 * (equal across thread counts: the output is byte for byte the same).
 */
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { codec } from '../lib/masking/compression';
import { MASKING_REQUIREMENTS } from '../lib/masking/local/sandbox';
import { DUMP_OPTIONS, startClient, type MysqlTarget } from '../lib/masking/mysql-client';
import { maskedDump } from '../lib/masking/pipeline';
import { loadRules } from '../lib/masking/rules';
import { ensureDebianPackages } from '../lib/platforms/local/debian-packages';
import { createLogger } from '../lib/util/log';
import { ProcessGroup } from '../lib/util/process-group';
import { seededMaskingSource } from './seeded-source';

const log = createLogger();
const quiet = createLogger({ write: () => undefined });
const round = (value: number) => Math.round(value * 100) / 100;

/** CPU seconds (user + sys) of this process's exited and reaped children (mariadb-dump, zstd). */
function childCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function floor(source: MysqlTarget, path: string): Promise<void> {
  const dump = startClient('mariadb-dump', source, [...DUMP_OPTIONS, source.database], 'read');
  await Promise.all([pipeline(dump.child.stdout!, codec('zstd', 'compress'), createWriteStream(path)), dump.exited]);
}

async function main(): Promise<void> {
  const args = process.argv.slice(process.argv.findIndex((arg) => /mask-threads\.ts$/.test(arg)) + 1);
  const { values } = parseArgs({ args, options: { customers: { type: 'string', default: '100000' }, threads: { type: 'string', default: '0,1,2' }, rounds: { type: 'string', default: '2' } } });
  const customers = Number(values.customers);
  const modes = values.threads.split(',').map(Number);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(customers) || customers < 100 || modes.some((m) => !Number.isInteger(m) || m < 0) || !Number.isInteger(rounds) || rounds < 1) throw new Error('expected --customers N (>= 100), --threads a,b,… (whole numbers >= 0), --rounds N (>= 1)');
  ensureDebianPackages(MASKING_REQUIREMENTS, log);
  const baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-bench-mask-threads-'));
  const group = new ProcessGroup();
  try {
    const source = await seededMaskingSource({ baseDir, group, log, customers });
    const rules = loadRules(join(__dirname, '..', 'config', 'masking', 'app.rules.json'));
    const key = Buffer.alloc(32, 7);
    await floor(source, join(baseDir, 'warm.out')); // the buffer pool and page cache, once
    for (let r = 1; r <= rounds; r++) {
      for (const mode of ['floor', ...modes] as const) {
        const load = round(loadavg()[0]);
        let peak = process.memoryUsage.rss();
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
        const cpu = process.cpuUsage();
        const children = childCpuSeconds();
        const start = process.hrtime.bigint();
        let output = {};
        if (mode === 'floor') await floor(source, join(baseDir, 'floor.out'));
        else {
          const staged = await maskedDump({ source, rules, key, compression: 'zstd', destination: { kind: 'file', path: join(baseDir, 'stream.out') }, log: quiet, threads: mode });
          output = { sha256: staged.sha256.slice(0, 12), rows: staged.rows, dumpedBytes: staged.dumpedBytes };
          rmSync(staged.object);
        }
        const wall = Number(process.hrtime.bigint() - start) / 1e9;
        const used = process.cpuUsage(cpu);
        clearInterval(sampler);
        process.stdout.write(JSON.stringify({ round: r, threads: mode, wallSeconds: round(wall), thisProcessCpuSeconds: round((used.user + used.system) / 1e6), dumpAndCompressorCpuSeconds: round(childCpuSeconds() - children), peakRssMb: Math.round(peak / 1048576), loadAverageAtStart: load, ...output }) + '\n');
      }
    }
  } finally {
    await group.stopAll();
    rmSync(baseDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}

main().catch((error: Error) => {
  log.error(error.message);
  process.exitCode = 1;
});
