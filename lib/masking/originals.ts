import { PatternSet, REWRITTEN_ADDRESS, REWRITTEN_NAME, REWRITTEN_PHONE } from './leak-patterns';
import type { ColumnRule, MaskingRules } from './rules';
import { isOrdinaryOutput, isOrdinaryOutputAscii } from './transformers';

/** Transformers whose originals are not patterns: a shifted date is another real date. */
const NOT_PATTERNS = new Set<ColumnRule['transform']>(['keep', 'dateShift']);

/** Where the leak check reads the originals: any source of a table's column values. */
export interface OriginalsReader {
  /** Every non-NULL value of the columns, as text, row by row. */
  readValues(table: string, columns: string[], onValue: (column: number, value: string) => void): Promise<void>;
  /** For the report: "in the dump's snapshot" or "after the dump". */
  readonly describe: string;
  /** The originals already read in the background (a worker thread), if this reader does that. */
  originalPatterns?(plan: OriginalsPlan): Promise<{ patterns: PatternSet; skippedOrdinary: number; readSeconds: number; readCpuSeconds: number }>;
}

/** The rewritten forms of a column's originals that are patterns too (names surname first, phones in any national form, street words abbreviated). */
export function rewrittenForms(rule: ColumnRule): number {
  if (rule.transform === 'name') return rule.part === 'full' || rule.part === undefined ? REWRITTEN_NAME : 0;
  if (rule.transform === 'phone') return REWRITTEN_PHONE;
  if (rule.transform === 'address') return rule.part === 'street' || rule.part === 'full' || rule.part === undefined ? REWRITTEN_ADDRESS : 0;
  return 0;
}

/** The personal columns whose originals the check reads, per table (every column whose rule is not keep or dateShift). */
export type OriginalsPlan = { table: string; columns: { name: string; rule: ColumnRule }[] }[];
export function originalsPlan(rules: MaskingRules): OriginalsPlan {
  const plan: OriginalsPlan = [];
  for (const [table, tableRules] of rules.tables) {
    const personal = [...tableRules.columns].filter(([, rule]) => !NOT_PATTERNS.has(rule.transform));
    if (personal.length > 0) plan.push({ table, columns: personal.map(([name, rule]) => ({ name, rule })) });
  }
  return plan;
}

/** Read every original of the plan (through `read`) into a pattern set; values the fake dictionaries also produce are skipped and counted. */
export async function buildPatterns(
  plan: OriginalsPlan,
  read: (table: string, columns: string[], onValue: (column: number, value: string) => void) => Promise<void>,
): Promise<{ patterns: PatternSet; skippedOrdinary: number; readSeconds?: number; readCpuSeconds?: number }> {
  const patterns = new PatternSet();
  let skippedOrdinary = 0;
  for (const { table, columns } of plan) {
    const names = columns.map((c) => `${table}.${c.name}`);
    const forms = columns.map((c) => rewrittenForms(c.rule));
    await read(
      table,
      columns.map((c) => c.name),
      (index, value) => {
        if (isOrdinaryOutput(columns[index].rule, value)) skippedOrdinary++;
        else patterns.add(value, names[index], forms[index]);
      },
    );
  }
  return { patterns, skippedOrdinary };
}

/** Transformers whose fake outputs `isOrdinaryOutput` recognises (from bytes when printable ASCII, else as text); other columns' originals are added from their bytes. */
const ORDINARY_CHECKED = new Set<ColumnRule['transform']>(['name', 'address', 'constant']);

/**
 * `buildPatterns` from values given as UTF-8 bytes (source-snapshot.ts's streamColumnBytes):
 * the same patterns and counts, with no string per value except where the fake-dictionary
 * check needs one (a name or address that is not printable ASCII).
 */
export async function buildPatternsFromBytes(
  plan: OriginalsPlan,
  read: (table: string, columns: string[], onValue: (column: number, bytes: Buffer, start: number, end: number) => void) => Promise<void>,
  options: { expectedPatterns?: number } = {},
): Promise<{ patterns: PatternSet; skippedOrdinary: number }> {
  const patterns = new PatternSet({ expectedPatterns: options.expectedPatterns });
  let skippedOrdinary = 0;
  for (const { table, columns } of plan) {
    // Each column's id, asked once (not a Map look-up per value).
    const names = columns.map((c) => patterns.sourceId(`${table}.${c.name}`));
    const forms = columns.map((c) => rewrittenForms(c.rule));
    const asText = columns.map((c) => ORDINARY_CHECKED.has(c.rule.transform) && c.rule.transform !== 'constant');
    // A constant rule's own value is skipped by comparing bytes.
    const constants = columns.map((c) => (c.rule.transform === 'constant' ? Buffer.from(String(c.rule.value)) : undefined));
    await read(
      table,
      columns.map((c) => c.name),
      (index, bytes, start, end) => {
        const constant = constants[index];
        if (constant !== undefined && end - start === constant.length && bytes.compare(constant, 0, constant.length, start, end) === 0) {
          skippedOrdinary++;
          return;
        }
        if (!asText[index]) return patterns.addBytes(bytes, start, end, names[index], forms[index]);
        // Printable ASCII is checked from its bytes; anything else is decoded.
        const ordinary = isOrdinaryOutputAscii(columns[index].rule, bytes, start, end);
        if (ordinary === true) skippedOrdinary++;
        else if (ordinary === false) patterns.addBytes(bytes, start, end, names[index], forms[index]);
        if (ordinary !== undefined) return;
        const value = bytes.toString('utf8', start, end);
        if (isOrdinaryOutput(columns[index].rule, value)) skippedOrdinary++;
        else patterns.add(value, names[index], forms[index]);
      },
    );
  }
  return { patterns, skippedOrdinary };
}
