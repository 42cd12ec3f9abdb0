import type { Readable } from 'node:stream';
import { engineTools } from './engines';
import { scanDump, scansOutput, type LeakHit } from './leak-scan';
import type { MaskedDumpManifest } from './manifest';
import type { MysqlTarget } from './mysql-client';
import { buildPatterns, originalsPlan, type OriginalsReader } from './originals';
import type { MaskingRules } from './rules';

export { originalsPlan, type OriginalsPlan } from './originals';
export type { LeakHit } from './leak-scan';


export interface LeakReport {
  /** Original values read from the source's personal columns. */
  originals: number;
  /** Patterns built from them (whole values, shingles of long texts, emails and numbers inside them). */
  patterns: number;
  /** Memory of the pattern tables. */
  patternBytes: number;
  /** Originals too short to identify anyone (< 5 letters and digits, or a short number). */
  skippedShort: number;
  /** Originals also produced by the fake-data dictionaries (skipped, else every fake name would be a hit). */
  skippedOrdinary: number;
  /** Personal columns whose originals were read. */
  columns: string[];
  /** When the originals were read: "in the dump's snapshot", or "after the dump" (a value changed in between is checked in its new form). */
  originalsFrom: string;
  /** Masked columns whose output is not scanned, and why. */
  notScanned: string[];
  scannedValues: number;
  /** Distinct hits (first 1 000). */
  hits: LeakHit[];
  hitCount: number;
  rowCounts: { table: string; manifest: number; dump: number }[];
  rowCountMismatches: string[];
  seconds: number;
  /** Where the time went: reading the originals (and building the patterns), then scanning the dump. */
  phases: {
    readSeconds: number;
    /** CPU of the read (of its worker thread when read in the background). */
    readCpuSeconds: number;
    /** Read by a worker thread while the dump ran (readWaitSeconds: how long the check still waited for it). */
    readInBackground: boolean;
    readWaitSeconds: number;
    scanSeconds: number;
    /** CPU of the scan: this thread's and its scan threads' (all of this process's threads while it ran). */
    scanCpuSeconds: number;
    /** Threads that parsed and scanned the dump (MASKING_SCAN_THREADS, `scanThreads`). */
    scanThreads: number;
  };
  ok: boolean;
}


/**
 * The leak check behind `--verify`, exhaustive: every original value of every personal
 * column (every column whose rule is not `keep`; dateShift's dates excepted) is read from
 * the source and cut into patterns (leak-patterns.ts); then the whole masked dump is read
 * once and every value of every table and column is scanned for them, folded (case,
 * accents, whitespace), with JSON escapes and hex literals (BLOBs) decoded. Kept columns are
 * also scanned for any email address that no email rule produced (a third party's). The
 * dump's row counts must match the manifest.
 */
export async function leakCheck(options: {
  source: MysqlTarget;
  rules: MaskingRules;
  manifest: MaskedDumpManifest;
  dump: Readable;
  /** Where the originals are read: the dump's snapshot (source-snapshot.ts). @default - the source as it is now (after the dump) */
  originals?: OriginalsReader;
  /** Threads that scan a MariaDB/MySQL dump (leak-scan.ts). @default defaultScanThreads() */
  scanThreads?: number;
}): Promise<LeakReport> {
  try {
    return await checkDump(options);
  } catch (error) {
    // Not read to its end: closed here, so that a download failing later (the staged object is
    // deleted after a failed check) does not surface as an unhandled stream error.
    options.dump.destroy();
    throw error;
  }
}

async function checkDump(options: Parameters<typeof leakCheck>[0]): Promise<LeakReport> {
  const started = Date.now();
  const readCpu = process.cpuUsage();
  const { source, rules, manifest } = options;
  const tools = engineTools(manifest.engine);
  const plan = originalsPlan(rules);
  const columns = plan.flatMap((p) => p.columns.map((c) => `${p.table}.${c.name}`));
  const notScanned: string[] = [];
  for (const [table, tableRules] of rules.tables) {
    for (const [column, rule] of tableRules.columns) if (!scansOutput(rule)) notScanned.push(`${table}.${column} (${rule.transform}${'part' in rule && rule.part ? ` ${rule.part}` : ''}: keeps the shape, may equal another original by chance)`);
  }
  // Read in the background (a worker thread in the dump's snapshot, started with the dump), or here.
  const background = options.originals?.originalPatterns?.(plan);
  const built = background
    ? await background
    : await buildPatterns(plan, (table, names, onValue) => (options.originals ? options.originals.readValues(table, names, onValue) : tools.readValues(source, table, names, onValue)));
  const { patterns, skippedOrdinary } = built;
  const readSeconds = background ? built.readSeconds! : (Date.now() - started) / 1000;
  const readCpuSeconds = background ? built.readCpuSeconds! : cpuSince(readCpu);
  const readWaitSeconds = (Date.now() - started) / 1000;
  const scanStarted = Date.now();
  const scanCpu = process.cpuUsage();
  const scanned = await scanDump(options.dump, { patterns, rules, engine: manifest.engine === 'postgres' ? 'postgres' : 'mysql', threads: options.scanThreads });
  const { hits, hitCount, scannedValues } = scanned;
  const phases = { readSeconds: round2(readSeconds), readCpuSeconds: round2(readCpuSeconds), readInBackground: background !== undefined, readWaitSeconds: round2(readWaitSeconds), scanSeconds: round2((Date.now() - scanStarted) / 1000), scanCpuSeconds: round2(cpuSince(scanCpu)), scanThreads: scanned.threads };

  const dumpRows = scanned.rows;
  const tables = [...new Set([...Object.keys(manifest.rows), ...Object.keys(dumpRows)])];
  const rowCounts = tables.map((table) => ({ table, manifest: manifest.rows[table] ?? 0, dump: dumpRows[table] ?? 0 }));
  const rowCountMismatches = rowCounts.filter((r) => r.manifest !== r.dump).map((r) => `${r.table}: manifest ${r.manifest}, dump ${r.dump}`);
  return {
    originals: patterns.originals,
    patterns: patterns.size,
    patternBytes: patterns.bytes,
    skippedShort: patterns.skippedShort,
    skippedOrdinary,
    columns,
    originalsFrom: options.originals?.describe ?? 'after the dump',
    notScanned,
    scannedValues,
    hits,
    hitCount,
    rowCounts,
    rowCountMismatches,
    seconds: Math.round((Date.now() - started) / 10) / 100,
    phases,
    // No originals read at all proves nothing (empty personal tables, or a broken read).
    ok: hitCount === 0 && rowCountMismatches.length === 0 && (patterns.size > 0 || columns.length === 0),
  };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

function cpuSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

/** Plain-text summary of a leak report (no values: locations and fingerprints only). */
export function describeLeakReport(report: LeakReport): string[] {
  const lines = [
    `leak check: ${report.originals} original values of ${report.columns.length} personal columns, read ${report.originalsFrom} (${report.patterns} patterns, ${Math.round(report.patternBytes / 1048576)} MB; ${report.skippedShort} too short, ${report.skippedOrdinary} also fake-dictionary values), ${report.scannedValues} values scanned in the masked dump in ${report.seconds} s: ${report.hitCount} hits`,
    ...report.notScanned.map((c) => `  output not scanned: ${c}`),
    ...report.hits
      .slice(0, 50)
      .map((h) => (h.kind === 'original' ? `  HIT: an original of ${h.originalFrom} occurs in ${h.foundIn}, ${h.row} (sha256 ${h.fingerprint}…)` : `  HIT: an email address no email rule produced occurs in ${h.foundIn}, ${h.row} (sha256 ${h.fingerprint}…)`)),
    ...(report.hitCount > 50 ? [`  … and ${report.hitCount - 50} more hits`] : []),
    `row counts: ${report.rowCounts.map((r) => `${r.table} ${r.dump}`).join(', ')}${report.rowCountMismatches.length ? ` — MISMATCH: ${report.rowCountMismatches.join('; ')}` : ' (match the manifest)'}`,
  ];
  if (report.patterns === 0 && report.columns.length > 0) lines.push('  no original values could be read: the check proves nothing (are the personal tables empty?)');
  return lines;
}
