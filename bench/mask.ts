/**
 * npm run bench:mask [-- --customers N | --full]
 *
 * The seed's way (restore the dump into a scratch server, UPDATE, dump again) against the
 * project's stream (mask between mariadb-dump and the compressor), and the floor: the same
 * dump and compression with no masking. One run, real MariaDB servers, generated data
 * (customers and twice as many orders). --full is the size: 1 M customers + 2 M orders.
 * Then the exhaustive leak check of the staged dump (`verifySeconds`, its own peak RSS).
 * Last line: JSON {"rows","baselineSeconds","projectSeconds","floorSeconds","ratio","peakRssMb","verifySeconds", …},
 * then `cpu`: CPU seconds (user + sys) of every process and thread doing each measured part,
 * less sensitive than wall time to other work on the machine (see cpuOf below and
 * lib/masking/README.md "Benchmark"), `ratios` on wall and CPU seconds, and `targets` judged
 * on both (`targets.wall`, `targets.cpu`; the top-level target fields are the wall ones).
 * The stream rewrites INSERT statements in `maskingThreads` worker threads (MASKING_THREADS,
 * default one per core but one; 0: the calling thread alone, as before: lib/masking/parallel-masking.ts).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { connect } from '../lib/engines/mysql/connection';
import { codec, defaultCompression, type Compression } from '../lib/masking/compression';
import { seedPersonalData } from '../lib/masking/local/personal-data';
import { DUMP_OPTIONS, startClient, type MysqlTarget } from '../lib/masking/mysql-client';
import { describeLeakReport, leakCheck, originalsPlan } from '../lib/masking/leak-check';
import { DumpSnapshot, streamColumnBytes } from '../lib/masking/source-snapshot';
import { defaultMaskingThreads } from '../lib/masking/parallel-masking';
import { decompressed, maskedDump } from '../lib/masking/pipeline';
import { loadRules } from '../lib/masking/rules';
import { ensureDebianPackages } from '../lib/platforms/local/debian-packages';
import { MASKING_REQUIREMENTS } from '../lib/masking/local/sandbox';
import { MariadbInstance } from '../lib/platforms/local/mariadb-instance';
import { createLogger } from '../lib/util/log';
import { ProcessGroup } from '../lib/util/process-group';
import { generatePassword } from '../lib/util/secrets';

const log = createLogger();
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const round = (value: number) => Math.round(value * 100) / 100;
/** CPU seconds (user + sys) of this process's children that have exited and been reaped (the dump client, zstd). */
function childCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 16 and 17 of proc(5) (cutime, cstime) are at 13 and 14 after the command name.
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return NaN;
  }
}
const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
};
/** CPU seconds (user + sys) of a running process by pid (a database server): its threads and its reaped children. NaN when unreadable. */
function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime: fields 14-17 of proc(5), at 11-14 after the command name.
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * Where the CPU of a measured part is spent, so each part is charged everything it makes the
 * machine do: this process (all its threads), its exited child processes (mariadb-dump, the
 * mariadb client, zstd: reaped before a part ends) and the database servers (read from /proc,
 * by pid; the servers start no other work of their own while the bench runs).
 */
interface CpuMark {
  self: NodeJS.CpuUsage;
  children: number;
  source: number;
  scratch: number;
}
interface CpuUsed {
  thisProcess: number;
  children: number;
  source: number;
  scratch: number;
}
function cpuMark(servers: { source?: number; scratch?: number }): CpuMark {
  return { self: process.cpuUsage(), children: childCpuSeconds(), source: processCpuSeconds(servers.source), scratch: processCpuSeconds(servers.scratch) };
}
function cpuUsedSince(mark: CpuMark, servers: { source?: number; scratch?: number }): CpuUsed {
  return { thisProcess: cpuSeconds(mark.self), children: childCpuSeconds() - mark.children, source: processCpuSeconds(servers.source) - mark.source, scratch: processCpuSeconds(servers.scratch) - mark.scratch };
}

/** mariadb-dump | compressor | file, no masking. */
async function dumpCompressed(source: MysqlTarget, compression: Compression, path: string): Promise<void> {
  const dump = startClient('mariadb-dump', source, [...DUMP_OPTIONS, source.database], 'read');
  const { createWriteStream } = await import('node:fs');
  await Promise.all([pipeline(dump.child.stdout!, codec(compression, 'compress'), createWriteStream(path)), dump.exited]);
}

async function mysqlPipe(from: MysqlTarget, to: MysqlTarget): Promise<void> {
  const dump = startClient('mariadb-dump', from, [...DUMP_OPTIONS, from.database], 'read');
  const load = startClient('mariadb', to, ['--default-character-set=utf8mb4', to.database], 'write');
  await Promise.all([pipeline(dump.child.stdout!, load.child.stdin!), dump.exited, load.exited]);
}

/** The seed's masking, as SQL UPDATEs over the restored copy (same transformer kinds). */
const SEED_UPDATES = [
  `UPDATE customers SET
     email = CONCAT('u', LEFT(SHA2(CONCAT(@k, 'email', LOWER(email)), 256), 16), '@example.com'),
     full_name = CONCAT('Name ', LEFT(SHA2(CONCAT(@k, 'name', LOWER(full_name)), 256), 8)),
     phone = CONCAT('+44 7', LPAD(CONV(LEFT(SHA2(CONCAT(@k, 'phone', phone), 256), 8), 16, 10) % 1000000000, 9, '0')),
     street = CONCAT(1 + CONV(LEFT(SHA2(CONCAT(@k, 'street', street), 256), 4), 16, 10) % 998, ' Oak Street'),
     city = 'Springfield',
     postcode = CONCAT('AB', CONV(LEFT(SHA2(CONCAT(@k, 'pc', postcode), 256), 2), 16, 10) % 99, ' 1CD'),
     born_on = born_on + INTERVAL (CONV(LEFT(SHA2(CONCAT(@k, 'date', born_on), 256), 4), 16, 10) % 361 - 180) DAY,
     username = CONCAT('user_', LEFT(SHA2(CONCAT(@k, 'user', username), 256), 10)),
     password_hash = '$2b$10$masked',
     api_token = LEFT(SHA2(CONCAT(@k, 'token', api_token), 256), 32),
     support_notes = NULL`,
  `UPDATE orders SET
     customer_email = CONCAT('u', LEFT(SHA2(CONCAT(@k, 'email', LOWER(customer_email)), 256), 16), '@example.com'),
     shipping_address = CONCAT(1 + CONV(LEFT(SHA2(CONCAT(@k, 'addr', shipping_address), 256), 4), 16, 10) % 998, ' Oak Street, Springfield')`,
];

async function main(): Promise<void> {
  const args = process.argv.slice(process.argv.findIndex((arg) => /mask\.(mjs|ts)$/.test(arg)) + 1);
  const { values } = parseArgs({ args, options: { customers: { type: 'string' }, full: { type: 'boolean', default: false }, gzip: { type: 'boolean', default: false } } });
  const customers = values.full ? 1_000_000 : Number(values.customers ?? 100_000);
  if (!Number.isInteger(customers) || customers < 100) throw new Error(`--customers ${values.customers}: expected a whole number of at least 100`);
  const compression: Compression = values.gzip ? 'gzip' : defaultCompression();
  const loadAtStart = loadavg();
  ensureDebianPackages(MASKING_REQUIREMENTS, log);
  const baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-bench-mask-'));
  const group = new ProcessGroup();
  const rootPassword = generatePassword();
  const common = { baseDir, rootPassword, group, log };
  const sourceServer = new MariadbInstance({ ...common, name: 'bench-source', serverId: 1 });
  const scratchServer = new MariadbInstance({ ...common, name: 'bench-scratch', serverId: 2 });
  try {
    await sourceServer.initialise();
    await scratchServer.initialise();
    const source: MysqlTarget = { ...sourceServer.endpoint(), name: 'source', database: 'app' };
    const scratch: MysqlTarget = { ...scratchServer.endpoint(), name: 'scratch', database: 'app' };
    // The sandbox servers are configured durable and small (64 MB buffer pool, sync_binlog=1).
    // For bulk loads both get what a scratch server for this job would get; this speeds up
    // the seeding and the baseline's restore and UPDATEs, never the stream.
    for (const target of [source, scratch]) {
      const tuning = await connect(target);
      await tuning.query('SET GLOBAL innodb_buffer_pool_size = 1073741824, GLOBAL innodb_flush_log_at_trx_commit = 2, GLOBAL sync_binlog = 0');
      await tuning.end();
    }
    const seedStart = process.hrtime.bigint();
    const connection = await connect(source);
    await connection.query('CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci');
    await connection.query('USE app');
    mkdirSync(join(baseDir, 'seed'));
    const counts = await seedPersonalData(connection, { customers, workDir: join(baseDir, 'seed') });
    await connection.end();
    rmSync(join(baseDir, 'seed'), { recursive: true });
    const rows = counts.customers + counts.orders + counts.products;
    log.info(`seeded ${rows} rows in ${round(seconds(seedStart))} s; compression ${compression}`);

    // Warm the source's buffer pool and page cache once, so the first measured run is not penalised.
    await dumpCompressed(source, compression, join(baseDir, 'warm.out'));

    const servers = { source: sourceServer.pid, scratch: scratchServer.pid };
    const floorStart = process.hrtime.bigint();
    const floorMark = cpuMark(servers);
    await dumpCompressed(source, compression, join(baseDir, 'floor.out'));
    const floorSeconds = seconds(floorStart);
    const floorUsed = cpuUsedSince(floorMark, servers);
    const floorChildCpu = floorUsed.children;
    log.info(`floor (dump + ${compression}, no masking): ${round(floorSeconds)} s, ${statSync(join(baseDir, 'floor.out')).size} bytes`);

    let peakRss = process.memoryUsage.rss();
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
    const projectStart = process.hrtime.bigint();
    const projectMark = cpuMark(servers);
    const rules = loadRules(join(__dirname, '..', 'config', 'masking', 'app.rules.json'));
    // As a --verify run: the leak check's snapshot is opened (commits held) before the dump starts.
    const snapshot = await DumpSnapshot.open(source, log, { readInBackground: originalsPlan(rules) });
    const staged = await maskedDump({ source, rules, key: randomBytes(32), compression, destination: { kind: 'file', path: join(baseDir, 'project.out') }, log: createLogger({ write: () => undefined }), snapshot });
    const projectSeconds = seconds(projectStart);
    const projectUsed = cpuUsedSince(projectMark, servers);
    // The originals' reader thread runs during the stream: its CPU is the check's, not the stream's.
    const readerCpuDuringStream = snapshot.readerCpuSeconds();
    const projectCpuSeconds = projectUsed.thisProcess - readerCpuDuringStream;
    const projectChildCpu = projectUsed.children;
    log.info(`project (dump | mask | ${compression}): ${round(projectSeconds)} s (${round(projectCpuSeconds)} s CPU in this process, ${round(projectChildCpu)} s in dump + ${compression}, ${round(projectUsed.source)} s in the server), peak RSS of this process ${Math.round(peakRss / 1048576)} MB`);

    // The exhaustive leak check of the staged dump, as --verify runs it before publishing:
    // read every original of every personal column, then scan the whole dump once.
    const streamPeakRss = peakRss;
    peakRss = process.memoryUsage.rss();
    const verifyStart = process.hrtime.bigint();
    const verifyMark = cpuMark(servers);
    const report = await leakCheck({ source, rules, manifest: staged, dump: decompressed(createReadStream(staged.object), compression), originals: snapshot });
    await snapshot.close();
    const verifySeconds = seconds(verifyStart);
    const verifyUsed = cpuUsedSince(verifyMark, servers);
    // This process during the check (scan, and the reader thread if it was still reading) + the reader's CPU during the stream.
    const verifyCpuSeconds = verifyUsed.thisProcess + readerCpuDuringStream;
    const verifyPeakRss = peakRss;
    peakRss = Math.max(streamPeakRss, verifyPeakRss);
    clearInterval(sampler);
    if (!report.ok) {
      // Where (table, column, row, fingerprint: never a value), so a false hit can be traced.
      for (const line of describeLeakReport(report)) log.error(line);
      throw new Error(`the leak check of the benchmark's dump failed (${report.hitCount} hits): the figures would describe a broken run`);
    }
    log.info(`verify (exhaustive leak check): ${round(verifySeconds)} s (${round(verifyCpuSeconds)} s CPU), ${report.originals} originals, ${report.patterns} patterns (${Math.round(report.patternBytes / 1048576)} MB), ${report.scannedValues} values scanned, peak RSS ${Math.round(verifyPeakRss / 1048576)} MB`);

    const baselineStart = process.hrtime.bigint();
    const baselineMark = cpuMark(servers);
    const scratchConnection = await connect(scratch);
    await scratchConnection.query('CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci');
    await mysqlPipe(source, scratch);
    await scratchConnection.query('USE app');
    await scratchConnection.query("SET @k = 'bench-key'");
    for (const statement of SEED_UPDATES) await scratchConnection.query(statement);
    await scratchConnection.end();
    await dumpCompressed(scratch, compression, join(baseDir, 'baseline.out'));
    const baselineSeconds = seconds(baselineStart);
    const baselineUsed = cpuUsedSince(baselineMark, servers);
    log.info(`baseline (restore into scratch, UPDATE, dump + ${compression}): ${round(baselineSeconds)} s`);

    // The server's CPU during the stream includes the SELECT of the originals (the check's reader
    // thread reads them then, in the dump's snapshot). The two cannot be told apart in one run, so
    // that SELECT is run again alone here and its server CPU moved from the stream to the check.
    const selectMark = processCpuSeconds(servers.source);
    const reread = await connect(source, { database: source.database });
    for (const { table, columns } of originalsPlan(rules)) await streamColumnBytes(reread, table, columns.map((c) => c.name), () => undefined);
    await reread.end();
    const originalsSelectServerCpu = processCpuSeconds(servers.source) - selectMark;

    const cpu = {
      floor: { total: 0, thisProcess: floorUsed.thisProcess, dumpAndCompressor: floorUsed.children, server: floorUsed.source },
      stream: { total: 0, thisProcess: projectCpuSeconds, dumpAndCompressor: projectUsed.children, server: projectUsed.source - originalsSelectServerCpu },
      verify: { total: 0, thisProcess: verifyUsed.thisProcess, readerThread: readerCpuDuringStream, decompressor: verifyUsed.children, server: originalsSelectServerCpu + verifyUsed.source },
      baseline: { total: 0, thisProcess: baselineUsed.thisProcess, clientsAndCompressor: baselineUsed.children, sourceServer: baselineUsed.source, scratchServer: baselineUsed.scratch },
      originalsSelectServer: originalsSelectServerCpu,
    };
    for (const part of Object.values(cpu)) {
      if (typeof part === 'number') continue;
      const entries = Object.entries(part) as [string, number][];
      part.total = entries.filter(([name]) => name !== 'total').reduce((sum, [, value]) => sum + value, 0);
      for (const [name, value] of entries) (part as Record<string, number>)[name] = round(name === 'total' ? part.total : value);
    }
    cpu.originalsSelectServer = round(cpu.originalsSelectServer);
    const ratios = {
      wall: { baselineToStream: round(baselineSeconds / projectSeconds), streamToFloor: round(projectSeconds / floorSeconds), verifyToStream: round(verifySeconds / projectSeconds) },
      cpu: { baselineToStream: round(cpu.baseline.total / cpu.stream.total), streamToFloor: round(cpu.stream.total / cpu.floor.total), verifyToStream: round(cpu.verify.total / cpu.stream.total) },
    };
    const targetsOn = (r: { baselineToStream: number; streamToFloor: number; verifyToStream: number }) => ({ ratioAtLeast10: r.baselineToStream >= 10, projectWithin2xFloor: r.streamToFloor <= 2, verifyWithin1xStream: r.verifyToStream <= 1 });
    // What the two targets on the stream and the check allow together, in core-seconds: the stream
    // at most 2x the floor, the check at most the stream, every core busy the whole time; against
    // the CPU seconds the two take. Needed above allowed: no schedule meets both on this machine.
    const cores = availableParallelism();
    const budget = { cores, cpuSecondsNeeded: round(cpu.stream.total + cpu.verify.total), coreSecondsAllowed: round(cores * 4 * floorSeconds) };
    const wallTargets = { ratioAtLeast10: baselineSeconds / projectSeconds >= 10, projectWithin2xFloor: projectSeconds <= 2 * floorSeconds, verifyWithin1xStream: verifySeconds <= projectSeconds };

    const result = {
      rows,
      baselineSeconds: round(baselineSeconds),
      projectSeconds: round(projectSeconds),
      floorSeconds: round(floorSeconds),
      ratio: round(baselineSeconds / projectSeconds),
      peakRssMb: Math.round(peakRss / 1048576),
      verifySeconds: round(verifySeconds),
      verifyCpuSeconds: round(verifyCpuSeconds),
      verifyPeakRssMb: Math.round(verifyPeakRss / 1048576),
      verifyOriginals: report.originals,
      verifyPhases: report.phases,
      maskingThreads: defaultMaskingThreads(),
      projectCpuSeconds: round(projectCpuSeconds),
      projectChildCpuSeconds: round(projectChildCpu),
      floorChildCpuSeconds: round(floorChildCpu),
      cpu,
      ratios,
      budget,
      loadAverageAtStart: loadAtStart.map((l) => round(l)),
      loadAverage: loadavg().map((l) => round(l)),
      targets: {
        ...wallTargets,
        peakRssAtMost512Mb: peakRss <= 512 * 1048576,
        wall: wallTargets,
        cpu: targetsOn(ratios.cpu),
      },
    };
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await group.stopAll();
    rmSync(baseDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}

main().catch((error: Error) => {
  log.error(error.message);
  process.exitCode = 1;
});
