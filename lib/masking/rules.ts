import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TEMPLATE_PLACEHOLDER } from './template-placeholder';

/**
 * The masking rules of one database: per table and column, a transformer.
 *
 * A table lists every column (with `keep` for the ones that hold no personal data); one
 * that says `"personalData": false` lists them too, each `keep`. Anything else in the dump
 * stops the run (fail closed on schema drift), see `tableMasking` in transformers.ts.
 */
export const TRANSFORMER_NAMES = ['email', 'name', 'phone', 'address', 'dateShift', 'hash', 'constant', 'null', 'template', 'keep'] as const;
export type TransformerName = (typeof TRANSFORMER_NAMES)[number];

/** How a value is normalised before hashing. */
export const NORMALISATIONS = ['collation', 'exact', 'fold'] as const;

export { TEMPLATE_PLACEHOLDER };

const normalise = z.enum(NORMALISATIONS).optional();
const common = { normalise };

const columnRule = z.discriminatedUnion('transform', [
  z.object({ transform: z.literal('email'), domain: z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, { error: 'expected a domain such as "example.com"' }).optional(), ...common }).strict(),
  z.object({ transform: z.literal('name'), part: z.enum(['first', 'last', 'full']).optional(), ...common }).strict(),
  z.object({ transform: z.literal('phone'), ...common }).strict(),
  z.object({ transform: z.literal('address'), part: z.enum(['street', 'city', 'postcode', 'full']).optional(), ...common }).strict(),
  z.object({ transform: z.literal('dateShift'), maxDays: z.number().int().min(1).max(3650).optional(), ...common }).strict(),
  z.object({ transform: z.literal('hash'), length: z.number().int().min(8).max(64).optional(), ...common }).strict(),
  z.object({ transform: z.literal('constant'), value: z.union([z.string(), z.number()]) }).strict(),
  z.object({ transform: z.literal('null') }).strict(),
  z.object({ transform: z.literal('template'), template: z.string().min(1), ...common }).strict(),
  /** `reason`: why the column holds no personal data (for reviewers; part of the rules hash). */
  z.object({ transform: z.literal('keep'), reason: z.string().min(1, { error: 'reason: expected a sentence saying why the column holds no personal data' }).optional() }).strict(),
]);
export type ColumnRule = z.infer<typeof columnRule>;

const tableRule = z.union([
  z.object({ personalData: z.literal(false), columns: z.record(z.string(), z.unknown()).optional(), note: z.string().optional() }).strict(),
  z.object({ columns: z.record(z.string(), z.unknown()), note: z.string().optional() }).strict(),
]);

const rulesFile = z
  .object({
    /** The database (schema) these rules describe. */
    database: z.string().min(1),
    /** Email domains the leak check accepts in kept text (the company's own addresses); the email rules' domains always are. */
    allowedEmailDomains: z.array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/)).optional(),
    tables: z.record(z.string(), z.unknown()),
  })
  .strict();

export interface TableRules {
  /** True when the rules declare the table free of personal data: every column is kept. */
  readonly personalData: boolean;
  readonly columns: ReadonlyMap<string, ColumnRule>;
}

export interface MaskingRules {
  readonly database: string;
  readonly tables: ReadonlyMap<string, TableRules>;
  /** Email domains the leak check accepts in kept columns. */
  readonly allowedEmailDomains: readonly string[];
  /** sha256 of the canonical form of the rules (in the manifest: which rules made a dump). */
  readonly hash: string;
  /** Where they were read from, for messages. */
  readonly source: string;
}

export class MaskingRulesError extends Error {
  constructor(readonly source: string, readonly problems: readonly string[]) {
    super(`${source}: invalid masking rules:\n${problems.map((line) => `  - ${line}`).join('\n')}`);
    this.name = 'MaskingRulesError';
  }
}

const FIXES: Record<string, string> = {
  email: '{ "transform": "email" }',
  dateShift: '{ "transform": "dateShift", "maxDays": 180 }',
  template: '{ "transform": "template", "template": "user_{hash:8}" }',
  constant: '{ "transform": "constant", "value": "x" }',
};

/** Validate a parsed rules object. Every problem is listed with table, column and the fix. */
export function parseRules(input: unknown, source = 'masking rules'): MaskingRules {
  const top = rulesFile.safeParse(input);
  if (!top.success) {
    throw new MaskingRulesError(source, top.error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}; expected { "database": "app", "tables": { ... } }`));
  }
  const problems: string[] = [];
  const tables = new Map<string, TableRules>();
  for (const [table, rawTable] of Object.entries(top.data.tables)) {
    const parsedTable = tableRule.safeParse(rawTable);
    if (!parsedTable.success) {
      problems.push(`table ${table}: expected either { "personalData": false } or { "columns": { "<column>": "<transformer>", ... } }`);
      continue;
    }
    const free = 'personalData' in parsedTable.data;
    if (free && parsedTable.data.columns === undefined) {
      // Without the list, a column added later (an email, a note) would be kept unseen.
      problems.push(`table ${table}: "personalData": false must list the table's columns, each "keep", so that a new column stops the run: "columns": { "<column>": { "transform": "keep", "reason": "<why it holds no personal data>" }, ... }`);
      continue;
    }
    const columns = new Map<string, ColumnRule>();
    for (const [column, rawRule] of Object.entries(parsedTable.data.columns!)) {
      const where = `table ${table}, column ${column}`;
      const candidate = typeof rawRule === 'string' ? { transform: rawRule } : rawRule;
      const transform = (candidate as { transform?: unknown } | null)?.transform;
      if (typeof transform !== 'string' || !(TRANSFORMER_NAMES as readonly string[]).includes(transform)) {
        problems.push(`${where}: unknown transformer ${JSON.stringify(transform ?? rawRule)}; use one of ${TRANSFORMER_NAMES.join(', ')} (e.g. "keep" for a column without personal data)`);
        continue;
      }
      const parsed = columnRule.safeParse(candidate);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          const field = issue.path.join('.') || 'rule';
          const example = FIXES[transform] ? `, e.g. ${FIXES[transform]}` : '';
          problems.push(`${where}: ${field}: ${issue.message} (transformer "${transform}"${example})`);
        }
        continue;
      }
      const rule = parsed.data;
      if (free && rule.transform !== 'keep') {
        problems.push(`${where}: the table is marked "personalData": false, so every column is "keep"; remove "personalData": false to mask this column`);
        continue;
      }
      if (rule.transform === 'template') {
        const stripped = rule.template.replace(TEMPLATE_PLACEHOLDER, '');
        const unknown = stripped.match(/\{[^}]*\}?/);
        if (unknown) problems.push(`${where}: template has an unknown placeholder ${unknown[0]}; use {hash:N}, {digits:N}, {first} or {last}`);
        else if (stripped === rule.template) problems.push(`${where}: template "${rule.template}" has no placeholder, so every row would get the same value; use the "constant" transformer for that, or add {hash:8}`);
      }
      columns.set(column, rule);
    }
    tables.set(table, { personalData: !free, columns });
  }
  if (problems.length > 0) throw new MaskingRulesError(source, problems);
  return { database: top.data.database, tables, allowedEmailDomains: top.data.allowedEmailDomains ?? [], hash: rulesHash(top.data), source };
}

/** Read and validate a JSON rules file. */
export function loadRules(path: string): MaskingRules {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`masking rules: cannot read ${path} (${(error as Error).message}); pass a rules file that exists, see config/masking/`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new MaskingRulesError(path, [`not valid JSON: ${(error as Error).message}`]);
  }
  return parseRules(parsed, path);
}

/** sha256 of the rules with keys sorted, so formatting and key order do not change it. */
export function rulesHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
