import { CITIES, FIRST_NAMES, LAST_NAMES, STREETS } from './dictionaries';
import type { KeyedHasher } from './keyed-hash';
import { TEMPLATE_PLACEHOLDER, type ColumnRule, type MaskingRules } from './rules';

/** A column as the dump's CREATE TABLE declares it. */
export interface ColumnInfo {
  name: string;
  /** Effective collation: the column's own, else the table default (e.g. utf8mb4_general_ci). */
  collation?: string;
}

/** Masks one value (already unescaped); returns null for SQL NULL. Never sees NULL input. */
export type ValueMasker = (value: string) => string | null;

/**
 * Normalisation before hashing. Values equal under a case- and accent-insensitive collation
 * (García = Garcia = GARCIA in utf8mb4_general_ci) compare equal in the source database: a
 * join or a unique key treats them as one value, so they must mask to one value. We fold
 * case and combining accents (NFD, drop marks), and trailing spaces (PAD SPACE collations)
 * for `_ci` collations, and hash bytes exactly for `_bin`/`_cs` ones. The fold is never
 * coarser than those collations for the characters it touches, so masking cannot merge
 * two values a unique key keeps apart.
 */
export function normaliser(rule: ColumnRule, column: ColumnInfo): (value: string) => string {
  const mode = 'normalise' in rule && rule.normalise ? rule.normalise : 'collation';
  const fold = mode === 'fold' || (mode === 'collation' && isInsensitiveCollation(column.collation));
  return fold ? foldValue : (value) => value;
}

export function isInsensitiveCollation(collation: string | undefined): boolean {
  // MariaDB/MySQL default collations are _ci; a column without its own collation in a table
  // without one is treated like that default. Anything else (_bin, _cs, PostgreSQL's
  // deterministic collations) compares bytes.
  if (collation === undefined) return true;
  return /_ci$/i.test(collation);
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
export function foldValue(value: string): string {
  const lower = PRINTABLE_ASCII.test(value) ? value.toLowerCase() : value.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
  return lower.replace(/ +$/, '');
}

const pick = <T>(list: readonly T[], digest: string, offset: number): T => list[parseInt(digest.slice(offset, offset + 4), 16) % list.length];

function digitsFrom(digest: string, count: number, offset = 0): string {
  let out = '';
  for (let i = 0; out.length < count; i++) out += (parseInt(digest[(offset + i) % digest.length], 16) % 10).toString();
  return out;
}

/** Replace every digit (and letter) of a value, keeping separators, length and a leading "+". */
function keepShape(value: string, digest: string, lettersToo: boolean): string {
  let out = '';
  let index = 0;
  for (const char of value) {
    const nibble = parseInt(digest[index % digest.length], 16);
    if (char >= '0' && char <= '9') {
      // Keep a leading zero (trunk prefix) and keep non-zero digits non-zero where it matters.
      out += index === 0 && char !== '0' ? String((nibble % 9) + 1) : index === 0 ? '0' : String(nibble % 10);
      index++;
    } else if (lettersToo && /[A-Za-z]/.test(char)) {
      const letter = String.fromCharCode(65 + ((nibble * 7 + index) % 26));
      out += char === char.toLowerCase() ? letter.toLowerCase() : letter;
      index++;
    } else out += char;
  }
  return out;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})/;
function shiftDate(value: string, digest: string, maxDays: number, where: string): string {
  const match = DATE.exec(value);
  if (!match) throw new Error(`${where}: dateShift expects values like 2024-01-31 or 2024-01-31 12:00:00 (the value is not shown: it may be personal data); use another transformer for this column`);
  if (match[1] === '0000' || match[2] === '00' || match[3] === '00') return value; // zero dates stay zero
  const days = (parseInt(digest.slice(0, 8), 16) % maxDays) + 1;
  const sign = parseInt(digest[8], 16) % 2 === 0 ? 1 : -1;
  const time = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) + sign * days * 86400000;
  return new Date(time).toISOString().slice(0, 10) + value.slice(10);
}

/**
 * Remember recent results of a masker. Many columns repeat values (cities, dates, tiers,
 * the same email in many orders), and a lookup costs far less than a keyed hash. Memory
 * stays bounded (the map is emptied when full), and a column whose values do not repeat
 * (emails in `customers`) turns the cache off after a trial, so it costs nothing there.
 */
export function memoise(masker: ValueMasker, options: { maxEntries?: number; trial?: number } = {}): ValueMasker {
  const maxEntries = options.maxEntries ?? 50000;
  const trial = options.trial ?? 20000;
  let cache: Map<string, string | null> | undefined = new Map();
  let lookups = 0;
  let hits = 0;
  return (value) => {
    if (cache === undefined) return masker(value);
    const known = cache.get(value);
    lookups++;
    if (known !== undefined) {
      hits++;
      return known;
    }
    const result = masker(value);
    if (cache.size >= maxEntries) cache.clear();
    cache.set(value, result);
    if (lookups === trial && hits < trial / 10) cache = undefined;
    return result;
  };
}

/** Build the masker of one column, or undefined when the column is kept as it is. */
export function columnMasker(rule: ColumnRule, column: ColumnInfo, hasher: KeyedHasher, where: string): ValueMasker | undefined {
  const masker = unmemoisedMasker(rule, column, hasher, where);
  return masker === undefined || rule.transform === 'null' || rule.transform === 'constant' ? masker : memoise(masker);
}

function unmemoisedMasker(rule: ColumnRule, column: ColumnInfo, hasher: KeyedHasher, where: string): ValueMasker | undefined {
  if (rule.transform === 'keep') return undefined;
  if (rule.transform === 'null') return () => null;
  if (rule.transform === 'constant') {
    const constant = String(rule.value);
    return () => constant;
  }
  const normalise = normaliser(rule, column);
  const digestOf = (domain: string) => {
    const digest = hasher.digester(domain);
    return (value: string) => digest(normalise(value));
  };
  switch (rule.transform) {
    case 'email': {
      const domain = rule.domain ?? 'example.com';
      const digest = digestOf('email');
      // 64 bits of the digest: unique across billions of addresses, and a valid address.
      return (value) => `u${digest(value).slice(0, 16)}@${domain}`;
    }
    case 'name': {
      const digest = digestOf('name');
      const part = rule.part ?? 'full';
      return (value) => {
        const d = digest(value);
        if (part === 'first') return pick(FIRST_NAMES, d, 0);
        if (part === 'last') return pick(LAST_NAMES, d, 4);
        return `${pick(FIRST_NAMES, d, 0)} ${pick(LAST_NAMES, d, 4)}`;
      };
    }
    case 'phone': {
      const digest = digestOf('phone');
      return (value) => keepShape(value, digest(value), false);
    }
    case 'address': {
      const digest = digestOf('address');
      const part = rule.part ?? 'full';
      return (value) => {
        const d = digest(value);
        const street = `${(parseInt(d.slice(0, 4), 16) % 998) + 1} ${pick(STREETS, d, 4)}`;
        if (part === 'street') return street;
        if (part === 'city') return pick(CITIES, d, 8);
        if (part === 'postcode') return keepShape(value, d, true);
        return `${street}, ${pick(CITIES, d, 8)}`;
      };
    }
    case 'dateShift': {
      // Dates shift by the digest of the date itself: equal dates stay equal, order within a day is kept.
      const maxDays = rule.maxDays ?? 180;
      const digestDate = hasher.digester('dateShift');
      const digest = (value: string) => digestDate(value.slice(0, 10));
      return (value) => shiftDate(value, digest(value), maxDays, where);
    }
    case 'hash': {
      const digest = digestOf('hash');
      const length = rule.length ?? 16;
      return (value) => digest(value).slice(0, length);
    }
    case 'template': {
      const digest = digestOf('template');
      const template = rule.template;
      return (value) => {
        const d = digest(value);
        return template.replace(TEMPLATE_PLACEHOLDER, (_, name: string, size?: string) => {
          const n = size === undefined ? 8 : Number(size);
          if (name === 'hash') return d.slice(0, Math.min(n, 64));
          if (name === 'digits') return digitsFrom(d, n, 16);
          if (name === 'first') return pick(FIRST_NAMES, d, 0);
          return pick(LAST_NAMES, d, 4);
        });
      };
    }
  }
}

/**
 * Could this rule have produced `value` from some other input? Used by the leak check to
 * skip sampled originals that are also ordinary fake values ("Garcia" is both a real
 * surname and, here, not; "Rossi" is both), so that a hit always means a real leak.
 */
export function isOrdinaryOutput(rule: ColumnRule, value: string): boolean {
  // Compared folded, as the leak check compares: "Zoë Rossi" is equal to the fake "Zoe Rossi".
  const folded = foldValue(value);
  switch (rule.transform) {
    case 'name':
      return folded.split(' ').every((part) => FOLDED_NAMES.has(part));
    case 'address':
      return FOLDED_CITIES.has(folded) || FOLDED_STREETS.some((street) => folded.includes(street));
    case 'constant':
      return String(rule.value) === value;
    default:
      return false;
  }
}

const FOLDED_NAMES = new Set([...FIRST_NAMES, ...LAST_NAMES].map(foldValue));
const FOLDED_CITIES = new Set(CITIES.map(foldValue));
const FOLDED_STREETS = STREETS.map(foldValue);

/** How the rows of one table are masked: a masker per column position (undefined = kept). */
export interface TableMasking {
  table: string;
  columns: string[];
  maskers: (ValueMasker | undefined)[];
  /** True when at least one column is masked (otherwise rows are copied byte for byte). */
  masksAnything: boolean;
}

/** Thrown when the dump has a table or column the rules do not classify (schema drift). */
export class SchemaDriftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaDriftError';
  }
}

/**
 * Match a table's columns (from the dump's CREATE TABLE) with the rules. Fails closed: an
 * unclassified table or column stops the run, named, with the fix; so does a rule for a
 * column the table no longer has (renamed columns would otherwise pass unmasked).
 */
export function tableMasking(rules: MaskingRules, table: string, columns: ColumnInfo[], hasher: KeyedHasher): TableMasking {
  const tableRules = rules.tables.get(table);
  if (tableRules === undefined) {
    throw new SchemaDriftError(
      `table ${table} is not in the masking rules (${rules.source}): it is new since the rules were written. Add it under "tables" with a transformer for each of its columns (${columns.map((c) => c.name).join(', ')}), or as { "personalData": false } if it holds no personal data.`,
    );
  }
  if (!tableRules.personalData) return { table, columns: columns.map((c) => c.name), maskers: columns.map(() => undefined), masksAnything: false };
  const unclassified = columns.filter((c) => !tableRules.columns.has(c.name)).map((c) => c.name);
  if (unclassified.length > 0) {
    throw new SchemaDriftError(
      `table ${table}: column${unclassified.length > 1 ? 's' : ''} ${unclassified.join(', ')} not classified in the masking rules (${rules.source}): new since the rules were written. Add each under tables.${table}.columns with a transformer ("keep" if it holds no personal data).`,
    );
  }
  const known = new Set(columns.map((c) => c.name));
  const stale = [...tableRules.columns.keys()].filter((name) => !known.has(name));
  if (stale.length > 0) {
    throw new SchemaDriftError(`table ${table}: the masking rules (${rules.source}) name column${stale.length > 1 ? 's' : ''} ${stale.join(', ')} that the table does not have (renamed or dropped?). Update tables.${table}.columns to match the table.`);
  }
  const maskers = columns.map((column) => columnMasker(tableRules.columns.get(column.name)!, column, hasher, `table ${table}, column ${column.name}`));
  return { table, columns: columns.map((c) => c.name), maskers, masksAnything: maskers.some((m) => m !== undefined) };
}
