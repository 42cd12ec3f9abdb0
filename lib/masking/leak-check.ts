import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { engineTools } from './engines';
import type { MaskedDumpManifest } from './manifest';
import type { MysqlTarget } from './mysql-client';
import type { MaskingRules } from './rules';
import { foldValue, isOrdinaryOutput } from './transformers';

const TOKEN_SEPARATOR = /[\s,;:()<>"'[\]]/;
const TOKEN_SEPARATORS = /[\s,;:()<>"'[\]]+/;

/** Transformers whose output is checked for original values. */
const CHECKED = new Set(['email', 'name', 'phone', 'address', 'hash', 'template', 'null', 'constant']);

export interface LeakHit {
  /** Where the original was sampled. */
  sampledFrom: string;
  /** Where it was found in the masked dump. */
  foundIn: string;
  /** sha256 prefix of the original value: the value itself is never printed. */
  valueFingerprint: string;
}

export interface LeakReport {
  sampledValues: number;
  /** Per masked column: how many originals were sampled, and skipped because a fake value can look like them. */
  columns: { column: string; sampled: number; skippedOrdinary: number }[];
  /** Columns not checked by value, and why. */
  notChecked: string[];
  scannedValues: number;
  hits: LeakHit[];
  rowCounts: { table: string; manifest: number; dump: number }[];
  rowCountMismatches: string[];
  ok: boolean;
}

/**
 * The leak check behind `--verify`: sample original values of every masked column from
 * the source, then read the whole masked dump and prove none of them occurs as a value in
 * any table or column, as a whole value or as a word of a longer text (compared after
 * case/accent folding, so "ALICE@…" counts as a hit for "alice@…"), and that the dump's
 * row counts match the manifest.
 *
 * dateShift columns are not checked by value: a shifted date is by design another real
 * date that may equal someone's original. Sampled originals a fake value can equal (a
 * real surname that is also in the fake-name list) are skipped and counted.
 */
export async function leakCheck(options: { source: MysqlTarget; rules: MaskingRules; manifest: MaskedDumpManifest; dump: Readable; samplePerColumn?: number }): Promise<LeakReport> {
  const { source, rules, manifest } = options;
  const tools = engineTools(manifest.engine);
  const perColumn = options.samplePerColumn ?? 500;
  const samples = new Map<string, { sampledFrom: string; original: string }>();
  const columns: LeakReport['columns'] = [];
  const notChecked: string[] = [];
  for (const [table, tableRules] of rules.tables) {
    for (const [column, rule] of tableRules.columns) {
      const where = `${table}.${column}`;
      if (rule.transform === 'keep') continue;
      if (!CHECKED.has(rule.transform)) {
        notChecked.push(`${where} (${rule.transform}: a shifted date is another plausible date)`);
        continue;
      }
      let sampled = 0;
      let skippedOrdinary = 0;
      for (const v of await tools.sample(source, table, column, perColumn)) {
        // Very short values ("1", "GB") occur everywhere by chance and identify no one.
        if (v.length < 4) continue;
        if (isOrdinaryOutput(rule, v)) {
          skippedOrdinary++;
          continue;
        }
        samples.set(foldValue(v), { sampledFrom: where, original: v });
        sampled++;
      }
      columns.push({ column: where, sampled, skippedOrdinary });
    }
  }

  const hits: LeakHit[] = [];
  let scannedValues = 0;
  const rewriter = tools.rewriter((table, tableColumns) => ({
      table,
      columns: tableColumns.map((c) => c.name),
      masksAnything: true,
      maskers: tableColumns.map((c) => (value: string) => {
        scannedValues++;
        const folded = foldValue(value);
        // The whole value, and each word of a longer text: an email pasted into a kept note is a leak too.
        const candidates = folded.length > 8 && TOKEN_SEPARATOR.test(folded) ? [folded, ...folded.split(TOKEN_SEPARATORS)] : [folded];
        for (const candidate of candidates) {
          const sample = samples.get(candidate);
          if (sample && hits.length < 1000) {
            hits.push({ sampledFrom: sample.sampledFrom, foundIn: `${table}.${c.name}`, valueFingerprint: createHash('sha256').update(sample.original).digest('hex').slice(0, 12) });
          }
        }
        return value;
      }),
    }));
  for await (const chunk of options.dump) rewriter.push(chunk as Buffer);
  rewriter.finish();

  const dumpRows = rewriter.summary.rows;
  const tables = [...new Set([...Object.keys(manifest.rows), ...Object.keys(dumpRows)])];
  const rowCounts = tables.map((table) => ({ table, manifest: manifest.rows[table] ?? 0, dump: dumpRows[table] ?? 0 }));
  const rowCountMismatches = rowCounts.filter((r) => r.manifest !== r.dump).map((r) => `${r.table}: manifest ${r.manifest}, dump ${r.dump}`);
  return {
    sampledValues: samples.size,
    columns,
    notChecked,
    scannedValues,
    hits,
    rowCounts,
    rowCountMismatches,
    ok: hits.length === 0 && rowCountMismatches.length === 0 && samples.size > 0,
  };
}

/** Plain-text summary of a leak report (no original values, only fingerprints). */
export function describeLeakReport(report: LeakReport): string[] {
  const lines = [
    `leak check: ${report.sampledValues} original values sampled from ${report.columns.length} masked columns, ${report.scannedValues} values scanned in the masked dump: ${report.hits.length} hits`,
    ...report.columns.map((c) => `  ${c.column}: ${c.sampled} sampled${c.skippedOrdinary ? `, ${c.skippedOrdinary} skipped (also ordinary fake values)` : ''}`),
    ...report.notChecked.map((c) => `  not checked by value: ${c}`),
    ...report.hits.slice(0, 20).map((h) => `  HIT: a value sampled from ${h.sampledFrom} occurs unmasked in ${h.foundIn} (value sha256 ${h.valueFingerprint}…)`),
    `row counts: ${report.rowCounts.map((r) => `${r.table} ${r.dump}`).join(', ')}${report.rowCountMismatches.length ? ` — MISMATCH: ${report.rowCountMismatches.join('; ')}` : ' (match the manifest)'}`,
  ];
  if (report.sampledValues === 0) lines.push('  no values could be sampled: the check proves nothing (are the masked tables empty?)');
  return lines;
}
