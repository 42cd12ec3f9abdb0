import { CITIES, FIRST_NAMES, LAST_NAMES, STREETS } from './dictionaries';
import { bits16, hexPrefix, nibble, type Digester, type KeyedHasher } from './keyed-hash';
import { TEMPLATE_PLACEHOLDER, type ColumnRule, type MaskingRules } from './rules';

/** A column as the dump's CREATE TABLE declares it. */
export interface ColumnInfo {
  name: string;
  /** Effective collation: the column's own, else the table default (e.g. utf8mb4_general_ci). */
  collation?: string;
}

/**
 * Masks one value (already unescaped); returns null for SQL NULL. Never sees NULL input.
 * `constantResult` is set when the result does not depend on the value (constant, null):
 * the rewriters then encode it once and do not decode the values.
 */
export type ValueMasker = ((value: string) => string | null) & {
  constantResult?: string | null;
  /**
   * The same result from the value's bytes[start, end), for a value the dump writes without
   * escapes; undefined when the bytes are not printable ASCII (then the string path runs).
   * Saves decoding and normalising strings for the transformers that only need the digest.
   * null: the value becomes NULL (as from the string path).
   */
  fromAscii?: (bytes: Uint8Array, start: number, end: number) => string | null | undefined;
  /**
   * The same for an unquoted value (a number or a hex literal; NULL never reaches a masker):
   * its bytes as they stand in the dump. undefined: take the string path.
   */
  fromUnquoted?: (bytes: Uint8Array, start: number, end: number) => string | null | undefined;
};

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
  return folds(rule, column) ? foldValue : (value) => value;
}

function folds(rule: ColumnRule, column: ColumnInfo): boolean {
  const mode = 'normalise' in rule && rule.normalise ? rule.normalise : 'collation';
  return mode === 'fold' || (mode === 'collation' && isInsensitiveCollation(column.collation));
}

/** A masker that also computes its result from printable-ASCII bytes (same digest, same result). */
function withBytes(digester: Digester, fold: boolean, result: (digest: Uint8Array) => string): ValueMasker {
  const fromAscii = (bytes: Uint8Array, start: number, end: number) => {
    const digest = digester.ascii(bytes, start, end, fold);
    return digest === undefined ? undefined : result(digest);
  };
  const normalise = fold ? foldValue : undefined;
  return Object.assign((value: string) => result(digester(normalise === undefined ? value : normalise(value))), { fromAscii });
}

export function isInsensitiveCollation(collation: string | undefined): boolean {
  // MariaDB/MySQL default collations are _ci; a column without its own collation in a table
  // without one is treated like that default. Anything else (_bin, _cs, PostgreSQL's
  // deterministic collations) compares bytes.
  if (collation === undefined) return true;
  return /_ci$/i.test(collation);
}

export function foldValue(value: string): string {
  // Printable ASCII (most values): lower case and trailing spaces, without regular expressions.
  const length = value.length;
  let upper = false;
  let k = 0;
  for (; k < length; k++) {
    const code = value.charCodeAt(k);
    if (code < 0x20 || code > 0x7e) break;
    if (code >= 0x41 && code <= 0x5a) upper = true;
  }
  if (k === length) {
    let end = length;
    while (end > 0 && value.charCodeAt(end - 1) === 0x20) end--;
    const trimmed = end === length ? value : value.slice(0, end);
    return upper ? trimmed.toLowerCase() : trimmed;
  }
  return value.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/ +$/, '');
}

/*
 * Transformers read the 256-bit digest as 64 hex digits (positions below are hex digits):
 * `bits16(d, 4)` is the number that hex digits 4-7 spell, `nibble(d, 8)` hex digit 8.
 */
const pick = <T>(list: readonly T[], digest: Uint8Array, offset: number): T => list[bits16(digest, offset) % list.length];

function digitsFrom(digest: Uint8Array, count: number, offset = 0): string {
  let out = '';
  for (let i = 0; out.length < count; i++) out += String(nibble(digest, (offset + i) % 64) % 10);
  return out;
}

/** Replace every digit (and letter) of a value, keeping separators, length and a leading "+". */
function keepShape(value: string, digest: Uint8Array, lettersToo: boolean): string {
  // By UTF-16 unit: only ASCII digits and letters change (and count), so a surrogate pair is
  // copied unit by unit, as a whole character would be.
  const codes = SHAPE_CODES;
  codes.length = 0;
  let out = '';
  let index = 0;
  for (let k = 0; k < value.length; k++) {
    const code = value.charCodeAt(k);
    const n = nibble(digest, index % 64);
    if (code >= 0x30 && code <= 0x39) {
      // Keep a leading zero (trunk prefix) and keep non-zero digits non-zero where it matters.
      codes.push(0x30 + (index === 0 && code !== 0x30 ? (n % 9) + 1 : index === 0 ? 0 : n % 10));
      index++;
    } else if (lettersToo && ((code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a))) {
      const letter = 65 + ((n * 7 + index) % 26);
      codes.push(code >= 0x61 ? letter + 32 : letter);
      index++;
    } else codes.push(code);
    if (codes.length === 4096) {
      out += String.fromCharCode(...codes);
      codes.length = 0;
    }
  }
  return out + String.fromCharCode(...codes);
}
const SHAPE_CODES: number[] = [];

const DATE = /^(\d{4})-(\d{2})-(\d{2})/;
const isDigit = (code: number) => code >= 0x30 && code <= 0x39;
const digitAt = (value: string, index: number) => value.charCodeAt(index) - 0x30;

/** Days since 1970-01-01 of a proleptic Gregorian date (month 1-12; the day may overflow the month). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
/** `new Date(days * 86400000).toISOString().slice(0, 10)` for years 1000-9999, without a Date. */
function civilFromDays(days: number): string {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return `${year}-${pad2(month)}-${pad2(day)}`;
}

/** `shiftDate`'s arithmetic for ordinary dates (integer calendar maths instead of Date objects); undefined otherwise. */
function shiftDateFast(value: string, days: number): string | undefined {
  if (value.length < 10 || value.charCodeAt(4) !== 0x2d || value.charCodeAt(7) !== 0x2d) return undefined;
  for (const index of [0, 1, 2, 3, 5, 6, 8, 9]) if (!isDigit(value.charCodeAt(index))) return undefined;
  const year = digitAt(value, 0) * 1000 + digitAt(value, 1) * 100 + digitAt(value, 2) * 10 + digitAt(value, 3);
  const month = digitAt(value, 5) * 10 + digitAt(value, 6);
  const day = digitAt(value, 8) * 10 + digitAt(value, 9);
  // Date.UTC reads years 0-99 as 1900-1999 and toISOString writes years past 9999 differently: those keep the Date path.
  if (year < 1100 || year > 9980 || month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  return civilFromDays(daysFromCivil(year, month, day) + days) + value.slice(10);
}

function shiftDate(value: string, digest: Uint8Array, maxDays: number, where: string): string {
  const days = ((bits16(digest, 0) * 65536 + bits16(digest, 4)) % maxDays) + 1;
  const sign = nibble(digest, 8) % 2 === 0 ? 1 : -1;
  const fast = maxDays <= 36500 ? shiftDateFast(value, sign * days) : undefined;
  if (fast !== undefined) return fast;
  const match = DATE.exec(value);
  if (!match) throw new Error(`${where}: dateShift expects values like 2024-01-31 or 2024-01-31 12:00:00 (the value is not shown: it may be personal data); use another transformer for this column`);
  if (match[1] === '0000' || match[2] === '00' || match[3] === '00') return value; // zero dates stay zero
  const time = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) + sign * days * 86400000;
  return new Date(time).toISOString().slice(0, 10) + value.slice(10);
}

/**
 * Remember recent results of a masker. Many columns repeat values (cities, dates, tiers,
 * the same email in many orders). Not used by `columnMasker` since the keyed digest became
 * cheaper than a lookup in a large Map (~0.2 µs); kept for maskers that are expensive. Memory
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
  // Not memoised: a lookup in a large Map costs more than the keyed digest (see keyed-hash.ts).
  return buildMasker(rule, column, hasher, where);
}

function buildMasker(rule: ColumnRule, column: ColumnInfo, hasher: KeyedHasher, where: string): ValueMasker | undefined {
  if (rule.transform === 'keep') return undefined;
  if (rule.transform === 'null') return Object.assign(() => null, { constantResult: null });
  if (rule.transform === 'constant') {
    const constant = String(rule.value);
    return Object.assign(() => constant, { constantResult: constant });
  }
  const normalise = normaliser(rule, column);
  const digestOf = (domain: string) => {
    const digest = hasher.digester(domain);
    return (value: string) => digest(normalise(value));
  };
  switch (rule.transform) {
    case 'email': {
      const domain = `@${rule.domain ?? 'example.com'}`;
      // 64 bits of the digest: unique across billions of addresses, and a valid address.
      return withBytes(hasher.digester('email'), folds(rule, column), (d) => 'u' + hexPrefix(d, 16) + domain);
    }
    case 'name': {
      const part = rule.part ?? 'full';
      return withBytes(hasher.digester('name'), folds(rule, column), (d) => {
        if (part === 'first') return pick(FIRST_NAMES, d, 0);
        if (part === 'last') return pick(LAST_NAMES, d, 4);
        return `${pick(FIRST_NAMES, d, 0)} ${pick(LAST_NAMES, d, 4)}`;
      });
    }
    case 'phone': {
      const digest = digestOf('phone');
      return (value) => keepShape(value, digest(value), false);
    }
    case 'address': {
      const part = rule.part ?? 'full';
      if (part === 'postcode') {
        const digest = digestOf('address');
        return (value) => keepShape(value, digest(value), true);
      }
      return withBytes(hasher.digester('address'), folds(rule, column), (d) => {
        const street = `${(bits16(d, 0) % 998) + 1} ${pick(STREETS, d, 4)}`;
        if (part === 'street') return street;
        if (part === 'city') return pick(CITIES, d, 8);
        return `${street}, ${pick(CITIES, d, 8)}`;
      });
    }
    case 'dateShift': {
      // Dates shift by the digest of the date itself: equal dates stay equal, order within a day is kept.
      const maxDays = rule.maxDays ?? 180;
      const digestDate = hasher.digester('dateShift');
      const digest = (value: string) => digestDate(value.slice(0, 10));
      return (value) => shiftDate(value, digest(value), maxDays, where);
    }
    case 'hash': {
      const length = rule.length ?? 16;
      return withBytes(hasher.digester('hash'), folds(rule, column), (d) => hexPrefix(d, length));
    }
    case 'template': {
      // The template is split once into literal text and placeholders.
      const parts: (string | ((d: Uint8Array) => string))[] = [];
      let last = 0;
      for (const match of rule.template.matchAll(new RegExp(TEMPLATE_PLACEHOLDER.source, 'g'))) {
        if (match.index! > last) parts.push(rule.template.slice(last, match.index));
        const name = match[1];
        const n = match[2] === undefined ? 8 : Number(match[2]);
        if (name === 'hash') parts.push((d) => hexPrefix(d, Math.min(n, 64)));
        else if (name === 'digits') parts.push((d) => digitsFrom(d, n, 16));
        else if (name === 'first') parts.push((d) => pick(FIRST_NAMES, d, 0));
        else parts.push((d) => pick(LAST_NAMES, d, 4));
        last = match.index! + match[0].length;
      }
      if (last < rule.template.length) parts.push(rule.template.slice(last));
      return withBytes(hasher.digester('template'), folds(rule, column), (d) => {
        let out = '';
        for (const part of parts) out += typeof part === 'string' ? part : part(d);
        return out;
      });
    }
  }
}

/**
 * Could this rule have produced `value` from some other input? Used by the leak check to
 * skip sampled originals that are also ordinary fake values ("Garcia" is both a real
 * surname and, here, not; "Rossi" is both), so that a hit always means a real leak.
 */
export function isOrdinaryOutput(rule: ColumnRule, value: string): boolean {
  if (rule.transform !== 'name' && rule.transform !== 'address' && rule.transform !== 'constant') return false;
  // Compared folded, as the leak check compares: "Zoë Rossi" is equal to the fake "Zoe Rossi".
  const folded = foldValue(value);
  switch (rule.transform) {
    case 'name':
      // Every space-separated part a dictionary name (as split(' ').every(…), without arrays or closures: the leak check asks this of every original name).
      for (let start = 0; ; ) {
        const space = folded.indexOf(' ', start);
        if (!FOLDED_NAMES.has(space === -1 ? folded.slice(start) : folded.slice(start, space))) return false;
        if (space === -1) return true;
        start = space + 1;
      }
    case 'address':
      return FOLDED_CITIES.has(folded) || ANY_FOLDED_STREET.test(folded);
    case 'constant':
      return String(rule.value) === value;
    default:
      return false;
  }
}

/**
 * `isOrdinaryOutput` for a name or address value given as UTF-8 bytes [start, end), without
 * decoding it: the same answer for printable ASCII (folding is then lower case and trailing
 * spaces); `undefined` for anything else (the caller decodes it and asks `isOrdinaryOutput`).
 * The leak check asks this of every original name and address (millions).
 */
export function isOrdinaryOutputAscii(rule: ColumnRule, bytes: Uint8Array, start: number, end: number): boolean | undefined {
  if (rule.transform !== 'name' && rule.transform !== 'address') return false;
  for (let k = start; k < end; k++) if (bytes[k] < 0x20 || bytes[k] > 0x7e) return undefined;
  while (end > start && bytes[end - 1] === 0x20) end--;
  if (rule.transform === 'name') {
    // Every space-separated part a dictionary name (an empty part is none).
    for (let from = start; ; ) {
      let space = from;
      while (space < end && bytes[space] !== 0x20) space++;
      if (!FOLDED_NAME_BYTES.has(bytes, from, space)) return false;
      if (space === end) return true;
      from = space + 1;
    }
  }
  if (FOLDED_CITY_BYTES.has(bytes, start, end)) return true;
  // Contains a street: candidates by their first letter, compared in lower case.
  for (let k = start; k < end; k++) {
    const candidates = STREETS_BY_FIRST[lowerAscii(bytes[k])];
    if (candidates === undefined) continue;
    for (const street of candidates) {
      if (k + street.length > end) continue;
      let j = 1;
      while (j < street.length && lowerAscii(bytes[k + j]) === street[j]) j++;
      if (j === street.length) return true;
    }
  }
  return false;
}

const lowerAscii = (c: number) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

/** A set of lower-case ASCII words, asked with bytes folded to lower case on the fly (no string per question). */
class AsciiFoldedSet {
  private readonly byLength = new Map<number, Uint8Array[]>();
  constructor(words: Iterable<string>) {
    for (const word of words) {
      // A word with other characters never equals printable ASCII folded to lower case.
      if (!/^[\x20-\x7e]*$/.test(word) || word !== word.toLowerCase()) continue;
      const bytes = Buffer.from(word, 'latin1');
      const list = this.byLength.get(bytes.length) ?? [];
      list.push(bytes);
      this.byLength.set(bytes.length, list);
    }
  }
  has(bytes: Uint8Array, start: number, end: number): boolean {
    const list = this.byLength.get(end - start);
    if (list === undefined) return false;
    for (const word of list) {
      let j = 0;
      while (j < word.length && lowerAscii(bytes[start + j]) === word[j]) j++;
      if (j === word.length) return true;
    }
    return false;
  }
}

const FOLDED_NAMES = new Set([...FIRST_NAMES, ...LAST_NAMES].map(foldValue));
const FOLDED_CITIES = new Set(CITIES.map(foldValue));
const FOLDED_STREETS = STREETS.map(foldValue);
/** Contains any folded street (one expression instead of an `includes` per street). */
const ANY_FOLDED_STREET = new RegExp(FOLDED_STREETS.map((street) => street.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));
const FOLDED_NAME_BYTES = new AsciiFoldedSet(FOLDED_NAMES);
const FOLDED_CITY_BYTES = new AsciiFoldedSet(FOLDED_CITIES);
const STREETS_BY_FIRST: (Uint8Array[] | undefined)[] = [];
for (const street of FOLDED_STREETS) (STREETS_BY_FIRST[street.charCodeAt(0)] ??= []).push(Buffer.from(street, 'latin1'));

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
      `table ${table} is not in the masking rules (${rules.source}): it is new since the rules were written. Add it under "tables" with a transformer for each of its columns (${columns.map((c) => c.name).join(', ')}), or as { "personalData": false, "columns": { "<column>": "keep", ... } } if it holds no personal data.`,
    );
  }
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
