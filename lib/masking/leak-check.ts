import { createHash } from 'node:crypto';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { engineTools } from './engines';
import { BASE64_CANDIDATE, base64RunsAscii, decodeBase64Run, EMAIL_IN_TEXT, foldForMatching, hiddenTexts, MIN_BASE64_CHARS, MIN_PATTERN_CHARS, type PatternMatch } from './leak-patterns';
import type { MaskedDumpManifest } from './manifest';
import type { MysqlTarget } from './mysql-client';
import { buildPatterns, originalsPlan, type OriginalsReader } from './originals';
import type { ColumnRule, MaskingRules } from './rules';
import { type TableMasking, type ValueMasker } from './transformers';

export { originalsPlan, type OriginalsPlan } from './originals';


/**
 * Masked columns whose output is not scanned: outputs that keep the original's shape (a
 * phone number, a postcode, a date) are by design other plausible values and may equal
 * someone else's original by chance (1 M phones in 10^9 numbers: ~1 000 such "hits").
 * They cannot carry another column's value, and their transformers are tested to change
 * every digit and letter.
 */
function scansOutput(rule: ColumnRule | undefined): boolean {
  if (rule === undefined) return true;
  if (rule.transform === 'phone' || rule.transform === 'dateShift') return false;
  if (rule.transform === 'address' && rule.part === 'postcode') return false;
  return true;
}

export interface LeakHit {
  /** `original`: a personal column's original value; `email`: an address in a kept column that no email rule produced. */
  kind: 'original' | 'email';
  /** The personal column the original was read from (kind `original`). */
  originalFrom?: string;
  /** table.column of the masked dump where it was found. */
  foundIn: string;
  /** The row: its key when the first column is a kept number ("id=42"), else its position ("row 7"). */
  row: string;
  /** sha256 prefix of the matched (folded) text: the value itself is never printed. */
  fingerprint: string;
}

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
    scanCpuSeconds: number;
  };
  ok: boolean;
}

const MAX_REPORTED_HITS = 1000;
const NON_ASCII = /[^\x00-\x7f]/;

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
}): Promise<LeakReport> {
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
  const allowedDomains = new Set([...rules.allowedEmailDomains, 'example.com', ...[...rules.tables.values()].flatMap((t) => [...t.columns.values()].flatMap((r) => (r.transform === 'email' && r.domain ? [r.domain] : [])))]);
  const hits: LeakHit[] = [];
  const seen = new Set<string>();
  let hitCount = 0;
  const record = (hit: LeakHit) => {
    const id = `${hit.kind}|${hit.originalFrom}|${hit.foundIn}|${hit.row}|${hit.fingerprint}`;
    if (seen.has(id)) return; // a row parsed again when it spans chunks
    seen.add(id);
    hitCount++;
    if (hits.length < MAX_REPORTED_HITS) hits.push(hit);
  };
  let scannedValues = 0;
  const latin1Values = manifest.engine === 'postgres';
  const rewriter = tools.rewriter(
    (table, tableColumns): TableMasking => {
      const tableRules = rules.tables.get(table);
      // The row's key (a kept first column that is a whole number), as text or, read from the
      // bytes, as a number (no string per row); '' when the row has none.
      let rowKey: string | number = '';
      const firstKept = tableRules?.columns.get(tableColumns[0]?.name)?.transform === 'keep';
      const keyName = tableColumns[0]?.name;
      /** The first column's value read from bytes: true when done (the key is kept as a number, or there is none). */
      const keyFromBytes = (bytes: Uint8Array, start: number, end: number): boolean => {
        const number = firstKept ? wholeNumberOf(bytes, start, end) : undefined;
        if (number === undefined && firstKept) return false; // anything else: the string path decides
        rowKey = number ?? '';
        return true;
      };
      const maskers = tableColumns.map((c, index): ValueMasker | undefined => {
        const rule = tableRules?.columns.get(c.name);
        const where = `${table}.${c.name}`;
        const kept = rule === undefined || rule.transform === 'keep';
        // An output not scanned is skipped by the parser (only its end is found), unless it is the row's key.
        if (!scansOutput(rule) && index !== 0) return undefined;
        if (!scansOutput(rule)) {
          const notScanned = (raw: string) => {
            if (index === 0) rowKey = firstKept && /^-?\d{1,20}$/.test(raw) ? `${c.name}=${raw}` : '';
            return null;
          };
          const fromBytes = (bytes: Uint8Array, start: number, end: number): null | undefined => (index !== 0 || keyFromBytes(bytes, start, end) ? null : undefined);
          return Object.assign(notScanned, { fromAscii: fromBytes, fromUnquoted: fromBytes });
        }
        // Made once per column, not per value: the hot path allocates no closures. The row is
        // named only when there is a hit.
        const row = () => (rowKey === '' ? `row ${rewriter.currentRow(table)}` : typeof rowKey === 'number' ? `${keyName}=${rowKey}` : rowKey);
        const onMatch = (match: PatternMatch) => record({ kind: 'original', originalFrom: patterns.sources[match.source], foundIn: where, row: row(), fingerprint: fingerprint(match.matched) });
        // A masked column holds a transformer's output: exact originals are looked for, a phone's other forms only in kept text.
        const scanOptions = { rewrittenForms: kept };
        const scanText = (text: string) => {
          patterns.scan(text, onMatch, scanOptions);
          if (kept && text.includes('@')) {
            for (const address of foldForMatching(text).match(EMAIL_IN_TEXT) ?? []) {
              const domain = address.slice(address.lastIndexOf('@') + 1);
              if (!allowedDomains.has(domain)) record({ kind: 'email', foundIn: where, row: row(), fingerprint: fingerprint(address) });
            }
          }
        };
        // The scan's output is thrown away: NULL is the cheapest thing to write.
        const masker = (raw: string) => {
          // pg-dump-rewriter hands over values as Latin-1 strings of the dump's UTF-8 bytes.
          const value = latin1Values && NON_ASCII.test(raw) ? Buffer.from(raw, 'latin1').toString('utf8') : raw;
          if (index === 0) rowKey = firstKept && /^-?\d{1,20}$/.test(value) ? `${c.name}=${value}` : '';
          scannedValues++;
          // Shorter than any pattern, email or hidden text that could hold one: nothing to find.
          if (value.length < MIN_PATTERN_CHARS) return null;
          scanText(value);
          // Hex literals (0x…, \x…), JSON escapes and base64 runs hide text: decoded and scanned too.
          const first = value.charCodeAt(0);
          if (first === 0x30 || first === 0x5c || value.includes('\\') || (kept && value.length >= MIN_BASE64_CHARS && BASE64_CANDIDATE.test(value))) for (const hidden of hiddenTexts(value)) scanText(hidden);
          return null;
        };
        // A quoted value of printable ASCII without escapes (most of a dump): scanned from its
        // bytes. It hides nothing (no hex literal, no escape); one with an '@' in a kept
        // column takes the string path for the email check.
        const fromAscii = (bytes: Uint8Array, start: number, end: number): null | undefined => {
          if (index === 0 && !keyFromBytes(bytes, start, end)) return undefined;
          // Text that spells a hex literal ('0x6a6f…') is decoded by the string path, as a BLOB's would be.
          if (end - start >= 2 && bytes[start] === 0x30 && bytes[start + 1] === 0x78) return undefined;
          if (kept && bytes.indexOf(0x40, start) !== -1 && bytes.indexOf(0x40, start) < end) return undefined;
          scannedValues++;
          if (end - start >= MIN_PATTERN_CHARS) patterns.scanAscii(bytes, start, end, onMatch, scanOptions);
          // Base64 runs in kept text (an address or a name encoded in it): decoded and scanned as the
          // string path would. A masked column holds a transformer's output, which encodes nothing.
          if (kept && end - start >= MIN_BASE64_CHARS) for (const [runStart, runEnd] of base64RunsAscii(bytes, start, end)) for (const text of decodeBase64Run(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1', runStart, runEnd))) scanText(text);
          return null;
        };
        // An unquoted value (a number, or a hex literal that hides text: the string path decodes it).
        const fromUnquoted = (bytes: Uint8Array, start: number, end: number): null | undefined => {
          if (end - start >= 2 && bytes[start] === 0x30 && (bytes[start + 1] | 0x20) === 0x78) return undefined;
          for (let k = start; k < end; k++) if (bytes[k] < 0x20 || bytes[k] > 0x7e || bytes[k] === 0x5c || bytes[k] === 0x40) return undefined;
          return fromAscii(bytes, start, end);
        };
        return Object.assign(masker, { fromAscii, fromUnquoted });
      });
      return { table, columns: tableColumns.map((c) => c.name), maskers, masksAnything: true };
    },
    { cacheResults: false, discardOutput: true },
  );
  // Chunks as the decompressor wrote them ('data' events through pipeline): an async iterator
  // would concatenate whatever is buffered into one new buffer first, a copy of the whole dump.
  await pipeline(
    options.dump,
    new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _encoding, done) {
        try {
          rewriter.push(chunk);
          done();
        } catch (error) {
          done(error as Error);
        }
      },
    }),
  );
  rewriter.finish();
  const phases = { readSeconds: round2(readSeconds), readCpuSeconds: round2(readCpuSeconds), readInBackground: background !== undefined, readWaitSeconds: round2(readWaitSeconds), scanSeconds: round2((Date.now() - scanStarted) / 1000), scanCpuSeconds: round2(cpuSince(scanCpu)) };

  const dumpRows = rewriter.summary.rows;
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



/**
 * The value of ASCII bytes [start, end) that `/^-?\d{1,20}$/` accepts and that prints back as
 * the same text (no leading zero, no "-0", at most 15 digits); otherwise undefined.
 */
function wholeNumberOf(bytes: Uint8Array, start: number, end: number): number | undefined {
  const negative = bytes[start] === 0x2d;
  const from = negative ? start + 1 : start;
  const digits = end - from;
  if (digits < 1 || digits > 15 || (bytes[from] === 0x30 && (digits > 1 || negative))) return undefined;
  let value = 0;
  for (let k = from; k < end; k++) {
    const d = bytes[k] - 0x30;
    if (d < 0 || d > 9) return undefined;
    value = value * 10 + d;
  }
  return negative ? -value : value;
}
function cpuSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

const fingerprint = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

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
