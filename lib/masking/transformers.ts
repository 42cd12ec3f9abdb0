import { CITIES, FIRST_NAMES, LAST_NAMES, STREETS } from './dictionaries';
import { bits16, hexPrefix, nibble, type Digester, type KeyedHasher } from './keyed-hash';
import type { ColumnRule, MaskingRules } from './rules';
import { TEMPLATE_PLACEHOLDER } from './template-placeholder';
import { quoteLiteral } from './sql-literals';

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
  /**
   * The result for printable-ASCII bytes[start, end) written straight into `out` from `at` as
   * the dump writes a string (quoted, escaped, UTF-8: `quoteLiteral(masker(value))`), at most
   * `literalBytes + 2 * (end - start)` bytes; returns where it ended, or -1 (nothing claimed)
   * for bytes that are not printable ASCII or a value it leaves to the string path (which
   * then decides). No string is built per value: the stream's hot path.
   */
  writeLiteral?: (bytes: Uint8Array, start: number, end: number, out: Uint8Array, at: number) => number;
  literalBytes?: number;
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

/**
 * A masker whose result is made of parts (fixed text, hex digits, dictionary words, numbers
 * read from the digest): as a string (the masker, `fromAscii`) and, from the same parts,
 * written as a literal into the dump's bytes (`writeLiteral`).
 */
function withBytes(digester: Digester, fold: boolean, parts: ResultPart[]): ValueMasker {
  const result =
    parts.length === 1
      ? parts[0].text
      : (digest: Uint8Array) => {
          let out = '';
          for (const part of parts) out += part.text(digest);
          return out;
        };
  const fromAscii = (bytes: Uint8Array, start: number, end: number) => {
    const digest = digester.ascii(bytes, start, end, fold);
    return digest === undefined ? undefined : result(digest);
  };
  const normalise = fold ? foldValue : undefined;
  const masker = Object.assign((value: string) => result(digester(normalise === undefined ? value : normalise(value))), { fromAscii });
  // A lone surrogate at the edge of a fixed text would pair with its neighbour in the
  // concatenated string but not in separately encoded bytes: such rules keep the string path.
  if (parts.some((part) => part.loneSurrogate)) return masker;
  const writeLiteral = (bytes: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number => {
    const digest = digester.ascii(bytes, start, end, fold);
    if (digest === undefined) return -1;
    out[at++] = 0x27;
    for (const part of parts) at = part.write(digest, out, at);
    out[at++] = 0x27;
    return at;
  };
  return Object.assign(masker, { writeLiteral, literalBytes: 2 + parts.reduce((sum, part) => sum + part.maxBytes, 0) });
}

/**
 * One part of a masked result, as text and as the bytes the dump writes for that text inside
 * a string literal (escaped, UTF-8). Escaping and UTF-8 both work character by character, so
 * the parts' bytes one after another are the whole result's.
 */
interface ResultPart {
  text: (digest: Uint8Array) => string;
  /** Writes the part's literal bytes into out from `at`; returns the end. */
  write: (digest: Uint8Array, out: Uint8Array, at: number) => number;
  maxBytes: number;
  loneSurrogate?: boolean;
}

/** The bytes of `text` inside a string literal as the dump writes it: escaped, UTF-8. */
const literalBytesOf = (text: string): Buffer => Buffer.from(quoteLiteral(text).slice(1, -1), 'utf8');
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function copyBytes(bytes: Uint8Array, out: Uint8Array, at: number): number {
  for (let k = 0; k < bytes.length; k++) out[at++] = bytes[k];
  return at;
}

const fixedPart = (text: string): ResultPart => {
  const bytes = literalBytesOf(text);
  return { text: () => text, write: (_digest, out, at) => copyBytes(bytes, out, at), maxBytes: bytes.length, loneSurrogate: LONE_SURROGATE.test(text) };
};

const HEX_CODES = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** The first `length` hex digits of the digest (`hexPrefix`). */
const hexPart = (length: number): ResultPart => ({
  text: (digest) => hexPrefix(digest, length),
  write: (digest, out, at) => {
    for (let i = 0; i < length; i++) out[at++] = HEX_CODES[nibble(digest, i)];
    return at;
  },
  maxBytes: length,
});

/** A word of a dictionary chosen by hex digits [offset, offset + 4) (`pick`). */
const pickPart = (list: readonly string[], offset: number): ResultPart => {
  const bytes = list.map(literalBytesOf);
  return { text: (digest) => pick(list, digest, offset), write: (digest, out, at) => copyBytes(bytes[bits16(digest, offset) % list.length], out, at), maxBytes: Math.max(...bytes.map((b) => b.length)) };
};

/** `count` decimal digits from hex digits offset… (`digitsFrom`). */
const digitsPart = (count: number, offset: number): ResultPart => ({
  text: (digest) => digitsFrom(digest, count, offset),
  write: (digest, out, at) => {
    for (let i = 0; i < count; i++) out[at++] = 0x30 + (nibble(digest, (offset + i) % 64) % 10);
    return at;
  },
  maxBytes: count,
});

/** A house number 1-998 from hex digits 0-3. */
const houseNumber = (digest: Uint8Array): number => (bits16(digest, 0) % 998) + 1;
const houseNumberPart: ResultPart = {
  text: (digest) => String(houseNumber(digest)),
  write: (digest, out, at) => {
    const n = houseNumber(digest);
    if (n >= 100) out[at++] = 0x30 + Math.floor(n / 100);
    if (n >= 10) out[at++] = 0x30 + (Math.floor(n / 10) % 10);
    out[at++] = 0x30 + (n % 10);
    return at;
  },
  maxBytes: 3,
};

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

/** `keepShape` from printable-ASCII bytes, written as a literal (quoted; `'`, `"` and `\\` escaped); returns the end. */
function writeShape(bytes: Uint8Array, start: number, end: number, digest: Uint8Array, lettersToo: boolean, out: Uint8Array, at: number): number {
  out[at++] = 0x27;
  let index = 0;
  for (let k = start; k < end; k++) {
    const code = bytes[k];
    if (code >= 0x30 && code <= 0x39) {
      const n = nibble(digest, index % 64);
      out[at++] = 0x30 + (index === 0 && code !== 0x30 ? (n % 9) + 1 : index === 0 ? 0 : n % 10);
      index++;
    } else if (lettersToo && ((code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a))) {
      const letter = 65 + ((nibble(digest, index % 64) * 7 + index) % 26);
      out[at++] = code >= 0x61 ? letter + 32 : letter;
      index++;
    } else at = writePrintable(code, out, at);
  }
  out[at++] = 0x27;
  return at;
}

/** A printable ASCII byte inside a literal: `'`, `"` and `\\` escaped as mysqldump escapes them. */
function writePrintable(code: number, out: Uint8Array, at: number): number {
  if (code === 0x27 || code === 0x22 || code === 0x5c) out[at++] = 0x5c;
  out[at++] = code;
  return at;
}

/** A masker that keeps the value's shape (phone, postcode), also from printable-ASCII bytes straight into the dump. */
function shapeMasker(digester: Digester, fold: boolean, lettersToo: boolean): ValueMasker {
  const normalise = fold ? foldValue : (value: string) => value;
  const writeLiteral = (bytes: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number => {
    const digest = digester.ascii(bytes, start, end, fold);
    return digest === undefined ? -1 : writeShape(bytes, start, end, digest, lettersToo, out, at);
  };
  return Object.assign((value: string) => keepShape(value, digester(normalise(value)), lettersToo), { writeLiteral, literalBytes: 2 });
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})/;
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
/** Year, month (1-12) and day of a number of days since 1970-01-01 (proleptic Gregorian), into `ymd`. */
function civilInto(days: number, ymd: Int32Array): void {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  ymd[2] = doy - Math.floor((153 * mp + 2) / 5) + 1;
  ymd[1] = mp < 10 ? mp + 3 : mp - 9;
  ymd[0] = yoe + era * 400 + (ymd[1] <= 2 ? 1 : 0);
}
const YMD = new Int32Array(3);

/** `new Date(days * 86400000).toISOString().slice(0, 10)` for years 1000-9999, without a Date. */
function civilFromDays(days: number): string {
  civilInto(days, YMD);
  return `${YMD[0]}-${pad2(YMD[1])}-${pad2(YMD[2])}`;
}

/** Days since 1970-01-01 of an ordinary date written YYYY-MM-DD at the start of a value (the digit at `i` by `digit(i)`), or NaN. */
function ordinaryDate(length: number, digit: (index: number) => number): number {
  if (length < 10 || digit(4) !== 0x2d - 0x30 || digit(7) !== 0x2d - 0x30) return NaN;
  for (const index of [0, 1, 2, 3, 5, 6, 8, 9]) if (!(digit(index) >= 0 && digit(index) <= 9)) return NaN;
  const year = digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3);
  const month = digit(5) * 10 + digit(6);
  const day = digit(8) * 10 + digit(9);
  // Date.UTC reads years 0-99 as 1900-1999 and toISOString writes years past 9999 differently: those keep the Date path.
  if (year < 1100 || year > 9980 || month < 1 || month > 12 || day < 1 || day > 31) return NaN;
  return daysFromCivil(year, month, day);
}

/** `shiftDate`'s arithmetic for ordinary dates (integer calendar maths instead of Date objects); undefined otherwise. */
function shiftDateFast(value: string, days: number): string | undefined {
  const from = ordinaryDate(value.length, (index) => digitAt(value, index));
  return Number.isNaN(from) ? undefined : civilFromDays(from + days) + value.slice(10);
}

/** The days a date moves (signed), from its digest. */
function dateShiftDays(digest: Uint8Array, maxDays: number): number {
  const days = ((bits16(digest, 0) * 65536 + bits16(digest, 4)) % maxDays) + 1;
  return nibble(digest, 8) % 2 === 0 ? days : -days;
}

/**
 * `shiftDateFast` from printable-ASCII bytes, written as a literal into `out`; -1 where it
 * would give undefined (the string path decides). The same arithmetic as the string's.
 */
function writeShiftedDate(bytes: Uint8Array, start: number, end: number, days: number, out: Uint8Array, at: number): number {
  const from = ordinaryDate(end - start, (index) => bytes[start + index] - 0x30);
  if (Number.isNaN(from)) return -1;
  civilInto(from + days, YMD);
  out[at++] = 0x27;
  at = writeDecimal(YMD[0], out, at);
  out[at++] = 0x2d;
  out[at++] = 0x30 + Math.floor(YMD[1] / 10);
  out[at++] = 0x30 + (YMD[1] % 10);
  out[at++] = 0x2d;
  out[at++] = 0x30 + Math.floor(YMD[2] / 10);
  out[at++] = 0x30 + (YMD[2] % 10);
  for (let k = start + 10; k < end; k++) at = writePrintable(bytes[k], out, at);
  out[at++] = 0x27;
  return at;
}

/** A non-negative integer in decimal (as `String(n)`). */
function writeDecimal(n: number, out: Uint8Array, at: number): number {
  let digits = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  for (let k = digits - 1; k >= 0; k--, n = Math.floor(n / 10)) out[at + k] = 0x30 + (n % 10);
  return at + digits;
}

function shiftDate(value: string, digest: Uint8Array, maxDays: number, where: string): string {
  const days = dateShiftDays(digest, maxDays);
  const fast = maxDays <= 36500 ? shiftDateFast(value, days) : undefined;
  if (fast !== undefined) return fast;
  const match = DATE.exec(value);
  if (!match) throw new Error(`${where}: dateShift expects values like 2024-01-31 or 2024-01-31 12:00:00 (the value is not shown: it may be personal data); use another transformer for this column`);
  if (match[1] === '0000' || match[2] === '00' || match[3] === '00') return value; // zero dates stay zero
  const time = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) + days * 86400000;
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
  switch (rule.transform) {
    case 'email': {
      const domain = `@${rule.domain ?? 'example.com'}`;
      // 64 bits of the digest: unique across billions of addresses, and a valid address.
      return withBytes(hasher.digester('email'), folds(rule, column), [fixedPart('u'), hexPart(16), fixedPart(domain)]);
    }
    case 'name': {
      const part = rule.part ?? 'full';
      const first = pickPart(FIRST_NAMES, 0);
      const last = pickPart(LAST_NAMES, 4);
      return withBytes(hasher.digester('name'), folds(rule, column), part === 'first' ? [first] : part === 'last' ? [last] : [first, fixedPart(' '), last]);
    }
    case 'phone':
      return shapeMasker(hasher.digester('phone'), folds(rule, column), false);
    case 'address': {
      const part = rule.part ?? 'full';
      if (part === 'postcode') return shapeMasker(hasher.digester('address'), folds(rule, column), true);
      const street = [houseNumberPart, fixedPart(' '), pickPart(STREETS, 4)];
      const city = pickPart(CITIES, 8);
      return withBytes(hasher.digester('address'), folds(rule, column), part === 'street' ? street : part === 'city' ? [city] : [...street, fixedPart(', '), city]);
    }
    case 'dateShift': {
      // Dates shift by the digest of the date itself: equal dates stay equal, order within a day is kept.
      const maxDays = rule.maxDays ?? 180;
      const digestDate = hasher.digester('dateShift');
      const digest = (value: string) => digestDate(value.slice(0, 10));
      const masker = (value: string) => shiftDate(value, digest(value), maxDays, where);
      if (maxDays > 36500) return masker;
      const writeLiteral = (bytes: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number => {
        for (let k = start + 10; k < end; k++) if (bytes[k] < 0x20 || bytes[k] > 0x7e) return -1;
        const dateDigest = digestDate.ascii(bytes, start, Math.min(end, start + 10), false);
        return dateDigest === undefined ? -1 : writeShiftedDate(bytes, start, end, dateShiftDays(dateDigest, maxDays), out, at);
      };
      return Object.assign(masker, { writeLiteral, literalBytes: 2 + 11 });
    }
    case 'hash': {
      const length = rule.length ?? 16;
      return withBytes(hasher.digester('hash'), folds(rule, column), [hexPart(length)]);
    }
    case 'template': {
      // The template is split once into literal text and placeholders.
      const parts: ResultPart[] = [];
      let last = 0;
      for (const match of rule.template.matchAll(new RegExp(TEMPLATE_PLACEHOLDER.source, 'g'))) {
        if (match.index! > last) parts.push(fixedPart(rule.template.slice(last, match.index)));
        const name = match[1];
        const n = match[2] === undefined ? 8 : Number(match[2]);
        if (name === 'hash') parts.push(hexPart(Math.min(n, 64)));
        else if (name === 'digits') parts.push(digitsPart(n, 16));
        else if (name === 'first') parts.push(pickPart(FIRST_NAMES, 0));
        else parts.push(pickPart(LAST_NAMES, 4));
        last = match.index! + match[0].length;
      }
      if (last < rule.template.length) parts.push(fixedPart(rule.template.slice(last)));
      return withBytes(hasher.digester('template'), folds(rule, column), parts);
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
