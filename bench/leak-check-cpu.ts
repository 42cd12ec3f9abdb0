/**
 * npm run bench:leak-check-cpu [-- --customers N] [--rounds 3] [--scan-threads 1]
 *
 * The leak check's two halves alone, in this thread, against one seeded source: reading every
 * original into the pattern tables (lib/masking/source-snapshot.ts readOriginalPatterns, as the
 * reader thread does during a --verify stream) and scanning the masked dump once
 * (lib/masking/leak-scan.ts scanDump). No stream runs beside them (bench:mask measures them in
 * place), so the CPU seconds show the cost per value of each half, for work on that cost.
 * Each round prints one JSON line: wall and CPU seconds of the read and of the scan, patterns,
 * originals, values scanned, hits (0), and `tables`, a sha256 prefix of the pattern tables
 * (slots, last-word table, sources, counts): a change that should not alter the patterns must
 * leave it equal for the same --customers (the seeded data is the same run to run).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '../lib/engines/mysql/connection';
import { defaultCompression } from '../lib/masking/compression';
import { originalsPlan } from '../lib/masking/leak-check';
import { scanDump } from '../lib/masking/leak-scan';
import { MASKING_REQUIREMENTS } from '../lib/masking/local/sandbox';
import { decompressed, maskedDump } from '../lib/masking/pipeline';
import { loadRules } from '../lib/masking/rules';
import { readOriginalPatterns } from '../lib/masking/source-snapshot';
import { ensureDebianPackages } from '../lib/platforms/local/debian-packages';
import { createLogger } from '../lib/util/log';
import { ProcessGroup } from '../lib/util/process-group';
import { seededMaskingSource } from './seeded-source';

const log = createLogger();
const round = (value: number) => Math.round(value * 100) / 100;
const cpuSince = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return round((used.user + used.system) / 1e6);
};
const secondsSince = (start: bigint) => round(Number(process.hrtime.bigint() - start) / 1e9);

async function main(): Promise<void> {
  const args = process.argv.slice(process.argv.findIndex((arg) => /leak-check-cpu\.ts$/.test(arg)) + 1);
  const { values } = parseArgs({ args, options: { customers: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '3' }, 'scan-threads': { type: 'string', default: '1' } } });
  const customers = Number(values.customers);
  const rounds = Number(values.rounds);
  const scanThreads = Number(values['scan-threads']);
  if (!Number.isInteger(customers) || customers < 100) throw new Error(`--customers ${values.customers}: expected a whole number of at least 100`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds ${values.rounds}: expected a whole number of at least 1`);
  if (!Number.isInteger(scanThreads) || scanThreads < 1) throw new Error(`--scan-threads ${values['scan-threads']}: expected a whole number of at least 1`);
  ensureDebianPackages(MASKING_REQUIREMENTS, log);
  const baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-bench-leak-check-'));
  const group = new ProcessGroup();
  try {
    const source = await seededMaskingSource({ baseDir, group, log, customers });
    const rules = loadRules(join(__dirname, '..', 'config', 'masking', 'app.rules.json'));
    const compression = defaultCompression();
    const staged = await maskedDump({ source, rules, key: randomBytes(32), compression, destination: { kind: 'file', path: join(baseDir, 'masked.out') }, log: createLogger({ write: () => undefined }) });
    const session = await connect(source, { database: source.database });
    try {
      for (let n = 1; n <= rounds; n++) {
        const load = round(loadavg()[0]);
        const readStart = process.hrtime.bigint();
        const readCpu = process.cpuUsage();
        const built = await readOriginalPatterns(session, originalsPlan(rules));
        const read = { seconds: secondsSince(readStart), cpuSeconds: cpuSince(readCpu) };
        const tables = built.patterns.toTransferable();
        const checksum = createHash('sha256')
          .update(new Uint8Array(tables.slots.buffer, tables.slots.byteOffset, tables.slots.byteLength))
          .update(new Uint8Array(tables.lastWords.buffer, tables.lastWords.byteOffset, tables.lastWords.byteLength))
          .update(JSON.stringify([tables.sources, tables.originals, tables.skippedShort, built.skippedOrdinary]))
          .digest('hex')
          .slice(0, 16);
        const scanStart = process.hrtime.bigint();
        const scanCpu = process.cpuUsage();
        const scanned = await scanDump(decompressed(createReadStream(staged.object), compression), { patterns: built.patterns, rules, engine: 'mysql', threads: scanThreads });
        const scan = { seconds: secondsSince(scanStart), cpuSeconds: cpuSince(scanCpu), threads: scanned.threads };
        if (scanned.hitCount !== 0) throw new Error(`the scan of the benchmark's masked dump found ${scanned.hitCount} hits: the figures would describe a broken check`);
        process.stdout.write(JSON.stringify({ round: n, customers, read, scan, patterns: built.patterns.size, originals: built.patterns.originals, scannedValues: scanned.scannedValues, hits: scanned.hitCount, tables: checksum, loadAverageAtStart: load }) + '\n');
      }
    } finally {
      await session.end();
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
