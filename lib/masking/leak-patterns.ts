/**
 * The matcher behind the exhaustive leak check: every original value of every personal
 * column becomes one or more patterns (sequences of folded words), kept as 64-bit hashes in
* an open-addressing table in one typed array, so millions of originals cost tens of MB and no
 * strings stay alive. A scanned text is folded and cut into words the same way; at the end
 * of each word, the table of last words tells which pattern lengths end with it, and only
 * those sequences are hashed and looked up (a hashed-n-gram variant of a multi-pattern
 * matcher: one pass over the text, independent of the number of patterns).
 *
 * Folding: lower case, canonical decomposition with combining marks dropped (so NFC and NFD
 * forms and accented/unaccented spellings are one), invisible format characters dropped, and words instead of whitespace (any run
 * of spaces, tabs, newlines or punctuation separates words). That is at least as coarse as
 * MariaDB's `_ci` collations for the characters it touches, and coarser than `_bin` ones: the
 * check may report more, never less.
 */

/** Longest original (in words) matched as a whole; longer free text is matched by shingles. */
export const MAX_WHOLE_WORDS = 8;
/** Words per shingle of a long free-text original: a run this long copied elsewhere is a leak. */
export const SHINGLE_WORDS = 6;
/** A pattern shorter than this (folded, without separators) identifies no one and occurs by chance. */
export const MIN_PATTERN_CHARS = 5;
/** A number alone is a pattern only with this many digits (ids and amounts are shorter). */
export const MIN_DIGITS = 8;
/** A name column's original of at most this many words is also a pattern in every rotation (a surname of several words written first). */
export const MAX_ROTATED_NAME_WORDS = 5;

const ASCII_WORD = new Uint8Array(128);
for (let c = 0; c < 128; c++) ASCII_WORD[c] = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) ? 1 : 0;
const NON_ASCII_WORD = /[\p{L}\p{N}]/u;

/**
 * Fold a text for matching: lower case, accents dropped (NFC and NFD alike), and invisible
 * format characters (zero-width space and joiners, soft hyphen: Unicode Cf) removed, so a
 * name with one hidden inside a word is still the name.
 */
export function foldForMatching(text: string): string {
  for (let k = 0; k < text.length; k++) {
    if (text.charCodeAt(k) > 0x7e) return text.normalize('NFD').replace(/[\p{M}\p{Cf}]/gu, '').toLowerCase();
  }
  return text.toLowerCase();
}

const isWordChar = (text: string, k: number, code: number): boolean => (code < 128 ? ASCII_WORD[code] === 1 : NON_ASCII_WORD.test(text[k]));

/** The words of a folded text (letters and digits; everything else separates). */
export function words(folded: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let k = 0; k <= folded.length; k++) {
    const word = k < folded.length && isWordChar(folded, k, folded.charCodeAt(k));
    if (word && start === -1) start = k;
    else if (!word && start !== -1) {
      out.push(folded.slice(start, k));
      start = -1;
    }
  }
  return out;
}

/*
 * Hashing: each word gets two independent 32-bit hashes (FNV-1a and a multiply-rotate one),
 * a sequence combines its words' hashes in order. 64 bits: with 10 M patterns and 1 G
 * look-ups, the chance of one false hit is about 5e-4; a hit is then re-checked by words.
 */
let wordA = 0;
let wordB = 0;
function hashWord(text: string, start: number, end: number): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let k = start; k < end; k++) {
    const c = text.charCodeAt(k);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul((b << 5) | (b >>> 27), 0x5bd1e995) ^ c;
  }
  wordA = a | 0;
  wordB = b | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

let seqA = 0;
let seqB = 0;
/** Hash of the words (hash pairs) [from, to) of a ring of word hashes. */
function hashSequence(ringA: Int32Array, ringB: Int32Array, mask: number, from: number, to: number): void {
  let a = 0x3c6ef372;
  let b = 0x7f4a7c15;
  for (let k = from; k < to; k++) {
    a = Math.imul(((a << 7) | (a >>> 25)) ^ ringA[k & mask], 0x9e3779b1);
    b = Math.imul(((b << 11) | (b >>> 21)) ^ ringB[k & mask], 0x85ebca77);
  }
  a = fmix(a ^ (to - from));
  b = fmix(b ^ Math.imul(to - from, 0x27d4eb2f));
  if (a === 0 && b === 0) b = 1; // (0, 0) marks an empty slot
  seqA = a;
  seqB = b;
}

/**
 * An open-addressing hash table of 64-bit keys with a 16-bit payload, interleaved in one
 * Int32Array (key halves and payload side by side: one cache line per probe, which matters
 * at millions of keys). Grows by doubling at three quarters full (linear probing stays short
 * with a well-mixed key). No strings: 12 bytes a slot.
 */
class HashTable {
  private slots: Int32Array;
  private mask: number;
  /**
   * A two-bit Bloom filter of the keys, FILTER_BITS_PER_SLOT bits a slot (at most 3/4 of slots
   * are used: ~4% false positives when full; 8 MB beside the full benchmark's 192 MB table),
   * asked before the table: a scan's look-ups are nearly all misses, and a miss in the filter
   * costs a cache line of a table 24 times smaller. A key in the table always has both its bits
   * set (set on insert, rebuilt on growth, never cleared), so no key is missed.
   */
  private filter: Int32Array;
  private filterShift: number;
  size = 0;
  constructor(capacity = 1 << 12) {
    this.slots = sharedInt32Array(capacity * 3);
    this.mask = capacity - 1;
    this.filter = sharedInt32Array((capacity * FILTER_BITS_PER_SLOT) >>> 5);
    this.filterShift = filterShiftOf(this.filter);
  }
  get bytes(): number {
    return this.slots.byteLength + this.filter.byteLength;
  }
  private remember(a: number, b: number): void {
    const x = b >>> this.filterShift;
    const y = a >>> this.filterShift;
    this.filter[x >>> 5] |= 1 << (x & 31);
    this.filter[y >>> 5] |= 1 << (y & 31);
  }
  /** Slot index of the key, or -1. */
  find(a: number, b: number): number {
    const x = b >>> this.filterShift;
    if ((this.filter[x >>> 5] & (1 << (x & 31))) === 0) return -1;
    const y = a >>> this.filterShift;
    if ((this.filter[y >>> 5] & (1 << (y & 31))) === 0) return -1;
    const slots = this.slots;
    const mask = this.mask;
    for (let slot = (a ^ Math.imul(b, 0x27d4eb2f)) & mask; ; slot = (slot + 1) & mask) {
      const at = slot * 3;
      const x = slots[at];
      const y = slots[at + 1];
      if (x === a && y === b) return at;
      if (x === 0 && y === 0) return -1;
    }
  }
  /** Insert (or find) the key; `merge` combines the payloads. */
  add(a: number, b: number, payload: number, merge: (old: number, added: number) => number): void {
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) this.grow();
    const slots = this.slots;
    const mask = this.mask;
    for (let slot = (a ^ Math.imul(b, 0x27d4eb2f)) & mask; ; slot = (slot + 1) & mask) {
      const at = slot * 3;
      const x = slots[at];
      const y = slots[at + 1];
      if (x === a && y === b) {
        slots[at + 2] = merge(slots[at + 2], payload);
        return;
      }
      if (x === 0 && y === 0) {
        slots[at] = a;
        slots[at + 1] = b;
        slots[at + 2] = payload;
        this.size++;
        this.remember(a, b);
        return;
      }
    }
  }
  /** Insert the key unless present (the first payload stays). */
  addIfAbsent(a: number, b: number, payload: number): void {
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) this.grow();
    const slots = this.slots;
    const mask = this.mask;
    for (let slot = (a ^ Math.imul(b, 0x27d4eb2f)) & mask; ; slot = (slot + 1) & mask) {
      const at = slot * 3;
      const x = slots[at];
      const y = slots[at + 1];
      if (x === a && y === b) return;
      if (x === 0 && y === 0) {
        slots[at] = a;
        slots[at + 1] = b;
        slots[at + 2] = payload;
        this.size++;
        this.remember(a, b);
        return;
      }
    }
  }
  /** The table's arrays and size, to hand to another thread (the arrays are transferred, not copied). */
  toTransferable(): { slots: Int32Array; size: number; filter: Int32Array } {
    return { slots: this.slots, size: this.size, filter: this.filter };
  }
  static fromTransferable(data: { slots: Int32Array; size: number; filter: Int32Array }): HashTable {
    const table = new HashTable(1);
    table.slots = data.slots;
    table.filter = data.filter;
    table.filterShift = filterShiftOf(data.filter);
    table.mask = data.slots.length / 3 - 1;
    table.size = data.size;
    return table;
  }
  /** The payload at a slot index `find` returned. */
  payloadAt(at: number): number {
    return this.slots[at + 2];
  }
  private grow(): void {
    const old = this.slots;
    const capacity = (this.mask + 1) * 2;
    const slots = (this.slots = sharedInt32Array(capacity * 3));
    const mask = (this.mask = capacity - 1);
    this.filter = sharedInt32Array((capacity * FILTER_BITS_PER_SLOT) >>> 5);
    this.filterShift = filterShiftOf(this.filter);
    for (let at = 0; at < old.length; at += 3) {
      const a = old[at];
      const b = old[at + 1];
      if (a === 0 && b === 0) continue;
      let slot = (a ^ Math.imul(b, 0x27d4eb2f)) & mask;
      while (slots[slot * 3] !== 0 || slots[slot * 3 + 1] !== 0) slot = (slot + 1) & mask;
      slots[slot * 3] = a;
      slots[slot * 3 + 1] = b;
      slots[slot * 3 + 2] = old[at + 2];
      this.remember(a, b);
    }
  }
}

/**
 * The pattern tables live in shared memory: the scan's worker threads (leak-scan.ts) read the
 * same tables without a copy (a SharedArrayBuffer is shared, not cloned, by postMessage).
 */
const sharedInt32Array = (length: number) => new Int32Array(new SharedArrayBuffer(length * 4));
/** HashTable's filter: bits per slot of the table (a power of two), indexed by the top bits of each key half. */
const FILTER_BITS_PER_SLOT = 4;
/** The shift that leaves as many top bits of a 32-bit key half as index the filter's bits. */
const filterShiftOf = (filter: Int32Array) => 32 - Math.log2(filter.length * 32);
/** Whether a buffer is shared memory (by its tag: a table made in another realm, e.g. by the reader thread seen from Jest's, fails `instanceof`). */
export const isShared = (buffer: ArrayBufferLike) => Object.prototype.toString.call(buffer) === '[object SharedArrayBuffer]';

const DIGITS_A = new Int32Array(1);
const DIGITS_B = new Int32Array(1);

/** Rewritten forms of a column's originals that are patterns too (`PatternSet.add`'s `forms`, a bit set): see addRewrittenForms. */
export const REWRITTEN_NAME = 1;
export const REWRITTEN_PHONE = 2;
export const REWRITTEN_ADDRESS = 4;

/** Street words and their abbreviations (either spelling in the original gives the other as a pattern too). */
const STREET_WORDS: [string, string][] = [
  ['street', 'st'], ['road', 'rd'], ['avenue', 'ave'], ['lane', 'ln'], ['drive', 'dr'], ['court', 'ct'], ['place', 'pl'],
  ['square', 'sq'], ['crescent', 'cres'], ['terrace', 'tce'], ['gardens', 'gdns'], ['boulevard', 'blvd'], ['close', 'cl'],
];
/**
 * Word hash (a, b) → the hashes of its other spelling, in an open-addressing table of
 * Int32 quadruples (a, b, other a, other b): asked once per word of every address original,
 * so no string key is made per question.
 */
const STREET_SWAP_SLOTS = 64; // power of two, > 2 x the 26 spellings
const STREET_WORD_SWAP = new Int32Array(STREET_SWAP_SLOTS * 4);
const STREET_SWAP_USED = new Uint8Array(STREET_SWAP_SLOTS);
const streetSwapSlot = (a: number) => Math.imul(a, 0x9e3779b1) >>> 26; // top 6 bits: 0..63
for (const pair of STREET_WORDS) {
  const hashes = pair.map((word) => {
    hashWord(word, 0, word.length);
    return [wordA, wordB] as [number, number];
  });
  for (const [from, to] of [[hashes[0], hashes[1]], [hashes[1], hashes[0]]]) {
    let slot = streetSwapSlot(from[0]);
    while (STREET_SWAP_USED[slot] === 1) slot = (slot + 1) & (STREET_SWAP_SLOTS - 1);
    STREET_SWAP_USED[slot] = 1;
    STREET_WORD_SWAP.set([from[0], from[1], to[0], to[1]], slot * 4);
  }
}
/** The slot of the street word with hashes (a, b) in STREET_WORD_SWAP, or -1 when it has no other spelling. */
function streetWordSwap(a: number, b: number): number {
  for (let slot = streetSwapSlot(a); STREET_SWAP_USED[slot] === 1; slot = (slot + 1) & (STREET_SWAP_SLOTS - 1)) {
    if (STREET_WORD_SWAP[slot * 4] === a && STREET_WORD_SWAP[slot * 4 + 1] === b) return slot;
  }
  return -1;
}

/** Digits of the phone number being added or scanned (0–9 each); a longer run is cut here. */
const PHONE_DIGITS = new Uint8Array(32);
/** Whether the phone value `phoneDigitsOf…` read last began with "+". */
let phoneInternational = false;
const PHONE_CHARS = new Uint8Array(128);
for (const c of ' \t\n\r()+-./0123456789') PHONE_CHARS[c.charCodeAt(0)] = 1;

/** The digits of a value that is a phone number (digits and phone separators only) into PHONE_DIGITS: their count, or -1. */
function phoneDigitsOfString(text: string): number {
  let n = 0;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c >= 128 || PHONE_CHARS[c] !== 1) return -1;
    if (c >= 0x30 && c <= 0x39 && n < PHONE_DIGITS.length) PHONE_DIGITS[n++] = c - 0x30;
  }
  phoneInternational = text.trimStart().startsWith('+');
  return n;
}
/** phoneDigitsOfString for ASCII bytes [start, end). */
function phoneDigitsOfBytes(bytes: Uint8Array, start: number, end: number): number {
  let n = 0;
  let first = -1;
  for (let k = start; k < end; k++) {
    const c = bytes[k];
    if (c >= 128 || PHONE_CHARS[c] !== 1) return -1;
    if (first === -1 && c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) first = c;
    if (c >= 0x30 && c <= 0x39 && n < PHONE_DIGITS.length) PHONE_DIGITS[n++] = c - 0x30;
  }
  phoneInternational = first === 0x2b;
  return n;
}

/**
 * Length of the country calling code at PHONE_DIGITS[from]: E.164 codes are prefix-free,
 * 1 and 7 are one digit, the two-digit ones are listed, every other is three digits
 * (ITU-T E.164 assigned codes; a small rule instead of a numbering-plan library).
 */
function countryCodeLength(from: number): number {
  const first = PHONE_DIGITS[from];
  if (first === 1 || first === 7) return 1;
  const two = first * 10 + PHONE_DIGITS[from + 1];
  return TWO_DIGIT_COUNTRY_CODES.has(two) ? 2 : 3;
}
const TWO_DIGIT_COUNTRY_CODES = new Set([20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98]);

/**
 * Where a phone number's significant digits start in PHONE_DIGITS[0, n) (the national number
 * without a trunk prefix), the same digits whatever form it was written in:
 * - international ("+44 …" or "0044 …"): after the 00, the country code, and a "(0)" trunk digit;
 * - national with a trunk 0 ("07700 900123"): after the 0;
 * - anything else: the digits as they are; for an original (`both`), also read as
 *   international without its "+" (an original "447700900123" may be written "07700 900123").
 * The answers are left in PHONE_SKIPS (international first when `both`), their count returned.
 * Only keys of MIN_DIGITS or more digits. Known limit: Italy keeps its leading 0 ("+39 06 …"),
 * which this rule drops on both sides alike (so matches still work), as it does for every country.
 */
function phoneKeySkips(n: number, international: boolean, both: boolean): number {
  if (international) return keepSkip(n, skipAfterCountry(0), 0);
  if (PHONE_DIGITS[0] === 0 && PHONE_DIGITS[1] === 0) return keepSkip(n, skipAfterCountry(2), 0);
  if (PHONE_DIGITS[0] === 0) return keepSkip(n, 1, 0);
  const count = keepSkip(n, 0, 0);
  return both ? keepSkip(n, skipAfterCountry(0), count) : count;
}
/** PHONE_SKIPS[0, count) plus `skip` when it leaves MIN_DIGITS digits and is not there yet: the new count. */
function keepSkip(n: number, skip: number, count: number): number {
  if (n - skip < MIN_DIGITS) return count;
  for (let k = 0; k < count; k++) if (PHONE_SKIPS[k] === skip) return count;
  PHONE_SKIPS[count] = skip;
  return count + 1;
}
/** phoneKeySkips's answers (at most two), in order: no array per phone number. */
const PHONE_SKIPS = new Int32Array(2);
/** Where the national number starts after a country code at PHONE_DIGITS[from] (and its "(0)" trunk digit). */
function skipAfterCountry(from: number): number {
  let skip = from + countryCodeLength(from);
  if (PHONE_DIGITS[skip] === 0) skip++;
  return skip;
}

/** A phone key's hash (PHONE_DIGITS[skip, n)) into seqA/seqB, apart from every word sequence's (its own seeds and finish). */
function hashPhoneKey(skip: number, n: number): void {
  let a = 0x2f0b3c1d;
  let b = 0x6a09e667;
  for (let k = skip; k < n; k++) {
    a = Math.imul(a ^ (PHONE_DIGITS[k] + 0x30), 0x01000193);
    b = Math.imul((b << 5) | (b >>> 27), 0x5bd1e995) ^ (PHONE_DIGITS[k] + 0x30);
  }
  seqA = fmix(a ^ 0x70686f6e);
  seqB = fmix(b ^ Math.imul(n - skip, 0x9e3779b1)) | 1; // never (0, 0): that marks an empty slot
}
const RING = 16; // > MAX_WHOLE_WORDS, power of two
const RING_MASK = RING - 1;

/** A PatternSet as plain data (see `PatternSet.toTransferable`). */
export interface TransferablePatterns {
  slots: Int32Array;
  size: number;
  /** HashTable's filter of the keys (shared memory, as `slots`). */
  filter: Int32Array;
  lastWords: Uint8Array;
  sources: string[];
  originals: number;
  skippedShort: number;
}

/** Where a match was found, as the scanner reports it: the pattern's source column and a fingerprint of the matched words. */
export interface ScanOptions {
  /**
   * Compare every digit run by its significant digits with the phone columns' keys (a phone in
   * another national or international form). Off for a masked column's output: a transformer's
   * output encodes no phone, and an all-digit hash would equal some phone's digits by chance
   * (about 1 in 10 000 ten-digit hashes against 1 M phones). Exact originals are matched either way.
   * @default true
   */
  rewrittenForms?: boolean;
}

export interface PatternMatch {
  /** Index into `PatternSet.sources` of the first column the pattern was read from. */
  source: number;
  /** The matched words (folded), joined by spaces: to fingerprint, never to print. */
  matched: string;
}

/**
 * The set of patterns built from original values. `add(value, source)` cuts a value into
 * patterns; `scan(text)` returns the patterns found in a text.
 */
export class PatternSet {
  private patterns: HashTable;
  /** Last word → bit L-1 set when some pattern of L words ends with it. */
  /**
   * Last word → the lengths of patterns ending with it (bit L-1), direct-mapped by the word's
   * hash without keys: two words sharing an entry only cost extra look-ups, never a missed
   * pattern. 4 M entries (4 MB) keep those rare at millions of distinct last words.
   */
  private lastWords: Uint8Array = new Uint8Array(new SharedArrayBuffer(LAST_WORD_ENTRIES));
  readonly sources: string[] = [];
  private readonly sourceIndex = new Map<string, number>();
  originals = 0;
  skippedShort = 0;
  private readonly ringA = new Int32Array(RING);
  private readonly ringB = new Int32Array(RING);
  private readonly ringStart = new Int32Array(RING);
  private readonly ringEnd = new Int32Array(RING);

  /**
   * @param options.expectedPatterns how many patterns the caller expects (e.g. from the
   * tables' row counts): the table starts that large instead of doubling its way there
   * (each doubling re-inserts every pattern). @default - 65 536 slots, grown on demand
   */
  constructor(options: { expectedPatterns?: number } = {}) {
    let capacity = 1 << 16;
    const wanted = Math.min(options.expectedPatterns ?? 0, MAX_PRESIZED_PATTERNS);
    while (capacity * 3 < wanted * 4) capacity *= 2;
    this.patterns = new HashTable(capacity);
  }

  get size(): number {
    return this.patterns.size;
  }

  /**
   * Everything `scan` needs, as plain data whose arrays can be transferred to another thread
   * (postMessage's transfer list: no copy): the originals are read in a worker thread.
   */
  toTransferable(): TransferablePatterns {
    const table = this.patterns.toTransferable();
    return { slots: table.slots, size: table.size, filter: table.filter, lastWords: this.lastWords, sources: [...this.sources], originals: this.originals, skippedShort: this.skippedShort };
  }
  static fromTransferable(data: TransferablePatterns): PatternSet {
    const set = new PatternSet();
    set.patterns = HashTable.fromTransferable(data);
    set.lastWords = data.lastWords;
    for (const source of data.sources) set.sourceId(source);
    set.originals = data.originals;
    set.skippedShort = data.skippedShort;
    return set;
  }
  get bytes(): number {
    return this.patterns.bytes + this.lastWords.byteLength;
  }

  /** The id of a source column ("table.column"), for `add`/`addBytes` (asked once per column, not per value). */
  sourceId(source: string | number): number {
    if (typeof source === 'number') return source;
    let id = this.sourceIndex.get(source);
    if (id === undefined) {
      id = this.sources.length;
      if (id >= 0xffff) throw new Error('leak check: more than 65535 personal columns');
      this.sources.push(source);
      this.sourceIndex.set(source, id);
    }
    return id;
  }

  /**
   * Add an original value: as a whole when it has at most MAX_WHOLE_WORDS words, else as
   * shingles of SHINGLE_WORDS words; plus every email address and every long number in it
   * (a phone written with other separators), as patterns of their own. `source`: the column
   * ("table.column"), or its `sourceId`.
   */
  add(original: string, source: string | number, forms = 0): void {
    this.originals++;
    const folded = foldForMatching(original);
    // One pass: each word's hashes (as `scan` computes them), its length, and the digits.
    const length = folded.length;
    let count = 0;
    let chars = 0;
    let digitCount = 0;
    let onlyWordIsDigits = true;
    let start = -1;
    for (let k = 0; k <= length; k++) {
      const code = k < length ? folded.charCodeAt(k) : 0x20;
      if (k < length && isWordChar(folded, k, code)) {
        if (start === -1) start = k;
        if (code >= 0x30 && code <= 0x39) digitCount++;
        else onlyWordIsDigits = false;
        continue;
      }
      if (start === -1) continue;
      if (count === this.wordsA.length) this.growWords();
      hashWord(folded, start, k);
      this.wordsA[count] = wordA;
      this.wordsB[count] = wordB;
      chars += k - start;
      count++;
      start = -1;
    }
    if (count === 0) return;
    const id = this.sourceId(source);
    const wholeAdded = this.addWholeOrShingles(count, chars, onlyWordIsDigits, id);
    if (forms !== 0) this.addRewrittenForms(forms, count, wholeAdded, id, forms & REWRITTEN_PHONE ? phoneDigitsOfString(folded) : -1);
    // Emails and phone numbers inside the value, whatever surrounds them (the regular
    // expressions only run on values that can hold one).
    if (count > 3 && folded.includes('@')) this.addEmailsIn(folded, wholeAdded, id);
    if (digitCount >= MIN_DIGITS) {
      const digits = folded.replace(PHONE_SEPARATORS, '');
      for (const run of digits.match(LONG_DIGITS) ?? []) if (run !== folded) this.addWords([run], 0, 1, id);
    }
  }

  /** The value's words (hashed in wordsA/wordsB) as one pattern, or as shingles; true when the whole value became a pattern. */
  private addWholeOrShingles(count: number, chars: number, onlyWordIsDigits: boolean, id: number): boolean {
    if (count > MAX_WHOLE_WORDS) {
      for (let k = 0; k + SHINGLE_WORDS <= count; k++) this.addHashed(k, k + SHINGLE_WORDS, id);
      return false;
    }
    if (chars < MIN_PATTERN_CHARS || (count === 1 && onlyWordIsDigits && chars < MIN_DIGITS)) {
      this.skippedShort++;
      return false;
    }
    this.addHashed(0, count, id);
    return true;
  }

  /** Every email address inside a folded value, as a pattern of its own (the value itself when it is one address and already a pattern: nothing to add). */
  private addEmailsIn(folded: string, wholeAdded: boolean, id: number): void {
    for (const email of folded.match(EMAIL) ?? []) {
      if (wholeAdded && email.length === folded.length) continue; // the same words, already added as the whole value
      this.addWords(words(email), 0, Infinity, id);
    }
  }

  /**
   * `add` for a value given as UTF-8 bytes [start, end) (a column read from the source's
   * protocol packets, not decoded): the same patterns and counts. Printable ASCII (most
   * originals) is folded, cut and hashed straight from the bytes, no string made; anything
   * else is decoded and takes the string path (folding needs Unicode normalisation).
   */
  addBytes(bytes: Uint8Array, start: number, end: number, source: string | number, forms = 0): void {
    let at = false;
    for (let k = start; k < end; k++) {
      const c = bytes[k];
      if (c > 0x7f) return this.add(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8'), source, forms);
      if (c === 0x40) at = true;
    }
    this.originals++;
    let count = 0;
    let chars = 0;
    let digitCount = 0;
    let onlyWordIsDigits = true;
    let inWord = false;
    let a = 0;
    let b = 0;
    for (let k = start; k <= end; k++) {
      let c = k < end ? bytes[k] : 0x20;
      if (ASCII_WORD[c] === 1) {
        if (!inWord) {
          inWord = true;
          a = 0x811c9dc5;
          b = 0x9747b28c;
        }
        if (c <= 0x39) digitCount++;
        else {
          onlyWordIsDigits = false;
          if (c <= 0x5a) c |= 0x20;
        }
        a = Math.imul(a ^ c, 0x01000193);
        b = Math.imul((b << 5) | (b >>> 27), 0x5bd1e995) ^ c;
        chars++;
        continue;
      }
      if (!inWord) continue;
      inWord = false;
      if (count === this.wordsA.length) this.growWords();
      this.wordsA[count] = a | 0;
      this.wordsB[count] = b | 0;
      count++;
    }
    if (count === 0) return;
    const id = this.sourceId(source);
    const wholeAdded = this.addWholeOrShingles(count, chars, onlyWordIsDigits, id);
    if (forms !== 0) this.addRewrittenForms(forms, count, wholeAdded, id, forms & REWRITTEN_PHONE ? phoneDigitsOfBytes(bytes, start, end) : -1);
    if (count > 3 && at && !(wholeAdded && isOneEmailAscii(bytes, start, end))) {
      this.addEmailsIn(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1').toLowerCase(), wholeAdded, id);
    }
    if (digitCount >= MIN_DIGITS) this.addDigitRunsAscii(bytes, start, end, id);
  }

  /** The runs of 8+ digits once phone separators are removed (`add`'s LONG_DIGITS over PHONE_SEPARATORS), from ASCII bytes; a value that is one such run is a pattern already. */
  private addDigitRunsAscii(bytes: Uint8Array, start: number, end: number, id: number): void {
    // Most values with 8+ digits have no such run (a hex token, a date): found without hashing.
    let longest = 0;
    for (let k = start, length = 0; k < end; k++) {
      const c = bytes[k];
      if (c >= 0x30 && c <= 0x39) longest = Math.max(longest, ++length);
      else if (DIGIT_RUN_SEPARATORS[c] !== 1) length = 0;
    }
    if (longest < MIN_DIGITS || longest === end - start) return;
    let a = 0x811c9dc5;
    let b = 0x9747b28c;
    let length = 0;
    for (let k = start; k <= end; k++) {
      const c = k < end ? bytes[k] : 0x41; // a letter ends the last run
      if (c >= 0x30 && c <= 0x39) {
        a = Math.imul(a ^ c, 0x01000193);
        b = Math.imul((b << 5) | (b >>> 27), 0x5bd1e995) ^ c;
        length++;
        continue;
      }
      if (DIGIT_RUN_SEPARATORS[c] === 1) continue;
      if (length >= MIN_DIGITS && length !== end - start) {
        DIGITS_A[0] = a | 0;
        DIGITS_B[0] = b | 0;
        hashSequence(DIGITS_A, DIGITS_B, 0, 0, 1);
        this.patterns.addIfAbsent(seqA, seqB, id);
        this.lastWords[lastWordEntry(a | 0)] |= 1;
      }
      a = 0x811c9dc5;
      b = 0x9747b28c;
      length = 0;
    }
  }

  /**
   * The rewritten forms of a value (words hashed in wordsA/wordsB; a phone's digits in
   * PHONE_DIGITS, `phoneDigits` of them, -1 when the value is not a phone):
   * - REWRITTEN_NAME: a name of 2–5 words in every rotation, so a surname of one or more words
   *   written first is found: "Smith John", "SMITH, John" (punctuation separates words), "de la
   *   Cruz, Anna" and the sort form "Cruz, Anna de la" for "Anna de la Cruz", "van der Berg, Jan"
   *   and "Berg, Jan van der" for "Jan van der Berg". Other orders are not patterns: a rotation
   *   keeps the name's words adjacent and in their order, which ordinary text (a list of other
   *   people sharing a surname or first name) does not produce. An initial with the surname ("J. Smith") is not a pattern:
   *   with thousands of customers nearly every initial + common surname is someone's, so it
   *   would report every such pair in kept text and identifies no one.
   * - REWRITTEN_ADDRESS: each street word swapped with its abbreviation or long form
   *   ("Rd"/"Road", up to 3 such words, every combination).
   * - REWRITTEN_PHONE: the number's significant digits (see phoneKeys), as the scan reduces
   *   every digit run it reads: "07700 900123", "0044 7700 900 123", "+44 (0)7700 900123".
   */
  private addRewrittenForms(forms: number, count: number, wholeAdded: boolean, id: number, phoneDigits: number): void {
    const ringA = this.ringA;
    const ringB = this.ringB;
    if (forms & REWRITTEN_NAME && wholeAdded && count >= 2 && count <= MAX_ROTATED_NAME_WORDS) {
      // Every rotation: the last `first` words moved to the front.
      for (let first = 1; first < count; first++) {
        for (let k = 0; k < count; k++) {
          const from = (k + count - first) % count;
          ringA[k] = this.wordsA[from];
          ringB[k] = this.wordsB[from];
        }
        this.addRing(count, id);
      }
    }
    if (forms & REWRITTEN_ADDRESS && wholeAdded) {
      const swaps: number[] = [];
      for (let k = 0; k < count && swaps.length < 3; k++) {
        const other = streetWordSwap(this.wordsA[k], this.wordsB[k]);
        if (other !== -1) swaps.push(k, STREET_WORD_SWAP[other * 4 + 2], STREET_WORD_SWAP[other * 4 + 3]);
      }
      const swapped = swaps.length / 3;
      for (let subset = 1; subset < 1 << swapped; subset++) {
        for (let k = 0; k < count; k++) {
          ringA[k] = this.wordsA[k];
          ringB[k] = this.wordsB[k];
        }
        for (let s = 0; s < swapped; s++) {
          if ((subset & (1 << s)) === 0) continue;
          ringA[swaps[s * 3]] = swaps[s * 3 + 1];
          ringB[swaps[s * 3]] = swaps[s * 3 + 2];
        }
        this.addRing(count, id);
      }
    }
    if (forms & REWRITTEN_PHONE && phoneDigits >= MIN_DIGITS) {
      const skips = phoneKeySkips(phoneDigits, phoneInternational, true);
      for (let k = 0; k < skips; k++) {
        hashPhoneKey(PHONE_SKIPS[k], phoneDigits);
        this.patterns.addIfAbsent(seqA, seqB, id);
      }
    }
  }

  /** Whether the scan in progress compares digit runs by their significant digits (ScanOptions.rewrittenForms). */
  private phoneForms = true;

  /** The ring's words [0, length) as one pattern (the ring holds at most MAX_WHOLE_WORDS here). */
  private addRing(length: number, id: number): void {
    hashSequence(this.ringA, this.ringB, RING_MASK, 0, length);
    this.patterns.addIfAbsent(seqA, seqB, id);
    this.lastWords[lastWordEntry(this.ringA[length - 1])] |= 1 << (length - 1);
  }

  /** Word hashes of the value being added (grown on demand: a long text has many words). */
  private wordsA = new Int32Array(64);
  private wordsB = new Int32Array(64);
  private growWords(): void {
    const a = new Int32Array(this.wordsA.length * 2);
    const b = new Int32Array(this.wordsB.length * 2);
    a.set(this.wordsA);
    b.set(this.wordsB);
    this.wordsA = a;
    this.wordsB = b;
  }

  /** The pattern of the added value's words [from, to). */
  private addHashed(from: number, to: number, source: number): void {
    hashSequence(this.wordsA, this.wordsB, -1, from, to);
    this.patterns.addIfAbsent(seqA, seqB, source);
    this.lastWords[lastWordEntry(this.wordsA[to - 1])] |= 1 << (to - from - 1);
  }

  private addWords(list: string[], from: number, to: number, source: number): void {
    to = Math.min(to, list.length);
    const length = to - from;
    if (length <= 0 || length > MAX_WHOLE_WORDS) return;
    for (let k = from; k < to; k++) {
      const word = list[k];
      hashWord(word, 0, word.length);
      this.ringA[(k - from) & RING_MASK] = wordA;
      this.ringB[(k - from) & RING_MASK] = wordB;
    }
    hashSequence(this.ringA, this.ringB, RING_MASK, 0, length);
    this.patterns.addIfAbsent(seqA, seqB, source);
    this.lastWords[lastWordEntry(this.ringA[(length - 1) & RING_MASK])] |= 1 << (length - 1);
  }

  /**
   * Every pattern occurring in `text` (as whole words, in order, folded), and every run of
   * digits split by phone separators that spells a pattern. `onMatch` is called per match.
   */
  scan(text: string, onMatch: (match: PatternMatch) => void, options?: ScanOptions): void {
    this.phoneForms = options?.rewrittenForms !== false;
    const folded = foldForMatching(text);
    const ringA = this.ringA;
    const ringB = this.ringB;
    let count = 0;
    let start = -1;
    // Digits joined across phone separators: "+44 (0)20 7946-0018" → 440207946 0018.
    let digitRun = '';
    let digitWords = 0;
    let digitPlus = false;
    const length = folded.length;
    for (let k = 0; k <= length; k++) {
      const code = k < length ? folded.charCodeAt(k) : 0x20;
      const word = k < length && isWordChar(folded, k, code);
      if (word) {
        if (start === -1) start = k;
        continue;
      }
      if (start !== -1) {
        hashWord(folded, start, k);
        const slot = count & RING_MASK;
        ringA[slot] = wordA;
        ringB[slot] = wordB;
        this.ringStart[slot] = start;
        this.ringEnd[slot] = k;
        count++;
        const lengths = this.lastWords[lastWordEntry(wordA)];
        if (lengths !== 0) this.matchEndingHere(folded, count, lengths, onMatch);
        if (isDigitsBetween(folded, start, k)) {
          if (digitRun === '') digitPlus = start > 0 && folded.charCodeAt(start - 1) === 0x2b;
          digitRun += folded.slice(start, k);
          digitWords++;
        } else {
          this.flushDigits(digitRun, digitWords, digitPlus, onMatch);
          digitRun = '';
          digitWords = 0;
        }
        start = -1;
      }
      if (digitRun !== '' && !(code < 128 && PHONE_SEPARATOR_CODES[code] === 1)) {
        this.flushDigits(digitRun, digitWords, digitPlus, onMatch);
        digitRun = '';
        digitWords = 0;
      }
    }
    this.flushDigits(digitRun, digitWords, digitPlus, onMatch);
  }

  /**
   * `scan` for a value that is printable ASCII (the dump's bytes, no escapes): the same words,
   * folding and hashes, read from the bytes without decoding a string (most values of a dump).
   */
  scanAscii(bytes: Uint8Array, from: number, to: number, onMatch: (match: PatternMatch) => void, options?: ScanOptions): void {
    this.phoneForms = options?.rewrittenForms !== false;
    const ringA = this.ringA;
    const ringStart = this.ringStart;
    const ringEnd = this.ringEnd;
    const lastWords = this.lastWords;
    let count = 0;
    // The digit run (digits joined across phone separators), hashed as it grows.
    let runA = 0x811c9dc5;
    let runB = 0x9747b28c;
    let runLength = 0;
    let runWords = 0;
    let runStart = -1;
    let runEnd = -1;
    // Words [0, secondHashed) of this value have their second hash in the ring already.
    let secondHashed = 0;
    let k = from;
    while (k < to) {
      let c = bytes[k];
      if (ASCII_WORD[c] !== 1) {
        if (runLength !== 0 && PHONE_SEPARATOR_CODES[c] !== 1) {
          if (runLength >= MIN_DIGITS) this.endDigitRunAscii(runA | 0, runB | 0, runWords, bytes, from, runStart, runEnd, onMatch);
          runA = 0x811c9dc5;
          runB = 0x9747b28c;
          runLength = runWords = 0;
          runStart = -1;
        }
        k++;
        continue;
      }
      // A word, folded and hashed in one pass. Only the first hash is needed to ask the
      // last-word table; the second is computed for the ring's words only when it answers.
      const start = k;
      let a = 0x811c9dc5;
      let digits = true;
      for (;;) {
        if (c > 0x39) {
          digits = false;
          if (c <= 0x5a) c |= 0x20;
        }
        a = Math.imul(a ^ c, 0x01000193);
        if (++k === to) break;
        c = bytes[k];
        if (ASCII_WORD[c] !== 1) break;
      }
      const slot = count & RING_MASK;
      ringA[slot] = a;
      ringStart[slot] = start;
      ringEnd[slot] = k;
      count++;
      const lengths = lastWords[lastWordEntry(a)];
      if (lengths !== 0) {
        this.secondHashesAscii(bytes, secondHashed, count);
        secondHashed = count;
        this.matchEndingHere(bytes, count, lengths, onMatch);
      }
      if (digits) {
        for (let j = start; j < k; j++) {
          const d = bytes[j];
          runA = Math.imul(runA ^ d, 0x01000193);
          runB = Math.imul((runB << 5) | (runB >>> 27), 0x5bd1e995) ^ d;
        }
        if (runStart === -1) runStart = start;
        runEnd = k;
        runLength += k - start;
        runWords++;
      } else {
        if (runLength >= MIN_DIGITS) this.endDigitRunAscii(runA | 0, runB | 0, runWords, bytes, from, runStart, runEnd, onMatch);
        runA = 0x811c9dc5;
        runB = 0x9747b28c;
        runLength = runWords = 0;
        runStart = -1;
      }
    }
    if (runLength >= MIN_DIGITS) this.endDigitRunAscii(runA | 0, runB | 0, runWords, bytes, from, runStart, runEnd, onMatch);
  }

  /** A digit run of MIN_DIGITS or more ended (byte path of flushDigits): as one word when it spans several, then by its significant digits. */
  private endDigitRunAscii(a: number, b: number, runWords: number, bytes: Uint8Array, from: number, runStart: number, runEnd: number, onMatch: (match: PatternMatch) => void): void {
    if (runWords >= 2) this.matchDigitRunAscii(a, b, bytes, runStart, runEnd, onMatch);
    let n = 0;
    for (let k = runStart; k < runEnd && n < PHONE_DIGITS.length; k++) {
      const d = bytes[k] - 0x30;
      if (d >= 0 && d <= 9) PHONE_DIGITS[n++] = d;
    }
    this.matchPhone(n, runStart > from && bytes[runStart - 1] === 0x2b, onMatch);
  }

  /**
   * The second hash (`hashWord`'s b, folded) of the ring's last MAX_WHOLE_WORDS words of ASCII
   * bytes, which `scanAscii` leaves out until a last word answers; words before `done` have it
   * already (the ring keeps 16 words, the look-ups need the last 8).
   */
  private secondHashesAscii(bytes: Uint8Array, done: number, count: number): void {
    for (let w = Math.max(done, count - MAX_WHOLE_WORDS); w < count; w++) {
      const slot = w & RING_MASK;
      let b = 0x9747b28c;
      for (let j = this.ringStart[slot], end = this.ringEnd[slot]; j < end; j++) {
        let c = bytes[j];
        if (c >= 0x41 && c <= 0x5a) c |= 0x20;
        b = Math.imul((b << 5) | (b >>> 27), 0x5bd1e995) ^ c;
      }
      this.ringB[slot] = b | 0;
    }
  }

  /** The patterns of 1..MAX_WHOLE_WORDS words that end with the ring's last word. `text`: the folded string, or the ASCII bytes, the ring's positions point into. */
  private matchEndingHere(text: string | Uint8Array, count: number, lengths: number, onMatch: (match: PatternMatch) => void): void {
    for (let length = 1; length <= MAX_WHOLE_WORDS && length <= count; length++) {
      if ((lengths & (1 << (length - 1))) === 0) continue;
      hashSequence(this.ringA, this.ringB, RING_MASK, count - length, count);
      const slot = this.patterns.find(seqA, seqB);
      if (slot === -1) continue;
      const parts: string[] = [];
      for (let k = count - length; k < count; k++) {
        const from = this.ringStart[k & RING_MASK];
        const to = this.ringEnd[k & RING_MASK];
        parts.push(typeof text === 'string' ? text.slice(from, to) : Buffer.from(text.buffer, text.byteOffset + from, to - from).toString('latin1').toLowerCase());
      }
      onMatch({ source: this.patterns.payloadAt(slot), matched: parts.join(' ') });
    }
  }

  /** A digit run hashed as one word (FNV/multiply-rotate state `a`, `b`), looked up as a one-word pattern (in arrays of its own: the scan's ring is in use). */
  private matchDigitRun(a: number, b: number, run: string, onMatch: (match: PatternMatch) => void): void {
    DIGITS_A[0] = a;
    DIGITS_B[0] = b;
    hashSequence(DIGITS_A, DIGITS_B, 0, 0, 1);
    const slot = this.patterns.find(seqA, seqB);
    if (slot !== -1) onMatch({ source: this.patterns.payloadAt(slot), matched: run });
  }

  /** `matchDigitRun` for a run in ASCII bytes: its text is made only for a match. */
  private matchDigitRunAscii(a: number, b: number, bytes: Uint8Array, from: number, to: number, onMatch: (match: PatternMatch) => void): void {
    DIGITS_A[0] = a;
    DIGITS_B[0] = b;
    hashSequence(DIGITS_A, DIGITS_B, 0, 0, 1);
    const slot = this.patterns.find(seqA, seqB);
    if (slot !== -1) onMatch({ source: this.patterns.payloadAt(slot), matched: digitsOf(bytes, from, to) });
  }

  /** A digit run of two or more words (one word was looked up as a word already). */
  private flushDigits(run: string, runWords: number, plus: boolean, onMatch: (match: PatternMatch) => void): void {
    if (run.length < MIN_DIGITS) return;
    if (runWords >= 2) {
      hashWord(run, 0, run.length);
      this.matchDigitRun(wordA, wordB, run, onMatch);
    }
    const n = Math.min(run.length, PHONE_DIGITS.length);
    for (let k = 0; k < n; k++) PHONE_DIGITS[k] = run.charCodeAt(k) - 0x30;
    this.matchPhone(n, plus, onMatch);
  }

  /** A digit run's significant digits (phoneKeySkips, scan side), looked up among the phone columns' keys. */
  private matchPhone(n: number, plus: boolean, onMatch: (match: PatternMatch) => void): void {
    if (!this.phoneForms) return;
    if (phoneKeySkips(n, plus, false) === 0) return;
    const skip = PHONE_SKIPS[0];
    hashPhoneKey(skip, n);
    const slot = this.patterns.find(seqA, seqB);
    if (slot === -1) return;
    let digits = '';
    for (let k = skip; k < n; k++) digits += String.fromCharCode(0x30 + PHONE_DIGITS[k]);
    onMatch({ source: this.patterns.payloadAt(slot), matched: `phone ${digits}` });
  }
}

const EMAIL = /[\p{L}\p{N}._%+'-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}/gu;
/** An email address as it appears in any text (after folding). */
export const EMAIL_IN_TEXT = EMAIL;
const PHONE_SEPARATORS = /[\s()+\-./]/g;
const LONG_DIGITS = new RegExp(`\\d{${MIN_DIGITS},}`, 'g');
const PHONE_SEPARATOR_CODES = new Uint8Array(128);
for (const c of ' \t\n\r()+-./') PHONE_SEPARATOR_CODES[c.charCodeAt(0)] = 1;
/** `\s` and the phone separators of PHONE_SEPARATORS, as ASCII codes (the byte path's digit runs). */
const DIGIT_RUN_SEPARATORS = new Uint8Array(256);
for (const c of ' \t\n\v\f\r()+-./') DIGIT_RUN_SEPARATORS[c.charCodeAt(0)] = 1;
/** A presized pattern table stops here (2^24 slots, 192 MB); past it the table grows on demand. */
const MAX_PRESIZED_PATTERNS = 1 << 23;

/** Whether ASCII bytes [start, end) are exactly one address as EMAIL matches it (local@label.label…tld, the tld 2+ letters). */
function isOneEmailAscii(bytes: Uint8Array, start: number, end: number): boolean {
  let k = start;
  while (k < end && EMAIL_LOCAL[bytes[k]] === 1) k++;
  if (k === start || k === end || bytes[k] !== 0x40) return false;
  let labels = 0;
  let labelStart = ++k;
  let lettersOnly = true;
  for (; k <= end; k++) {
    const c = k < end ? bytes[k] : 0x2e;
    if (c === 0x2e) {
      if (k === labelStart) return false;
      labels++;
      if (k === end) return labels >= 2 && lettersOnly && k - labelStart >= 2;
      labelStart = k + 1;
      lettersOnly = true;
      continue;
    }
    if (ASCII_WORD[c] !== 1 && c !== 0x2d) return false;
    if (!((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a)) lettersOnly = false;
  }
  return false;
}
const EMAIL_LOCAL = new Uint8Array(256);
for (let c = 0; c < 128; c++) if (ASCII_WORD[c] === 1 || "._%+'-".includes(String.fromCharCode(c))) EMAIL_LOCAL[c] = 1;
const LAST_WORD_ENTRIES = 1 << 22;
/** A last word's entry, from the word's first hash only: the byte scan asks it before it computes the second. */
const lastWordEntry = (a: number) => (fmix(a) >>> 0) & (LAST_WORD_ENTRIES - 1);
/** The digits of bytes [from, to) (a digit run's text, for its fingerprint). */
function digitsOf(bytes: Uint8Array, from: number, to: number): string {
  let out = '';
  for (let k = from; k < to; k++) if (bytes[k] >= 0x30 && bytes[k] <= 0x39) out += String.fromCharCode(bytes[k]);
  return out;
}
function isDigitsBetween(text: string, start: number, end: number): boolean {
  for (let k = start; k < end; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * The texts hidden in a dumped value that the scan must read too: a hex literal (a BLOB
 * dumped with --hex-blob as 0x…, or PostgreSQL's bytea as \x…) decoded as UTF-8 (and as
 * Latin-1 when it is not valid UTF-8), and JSON's \uXXXX escapes decoded.
 */
export function hiddenTexts(value: string): string[] {
  const out: string[] = [];
  const hex = /^(?:0x|\\x)([0-9a-fA-F]+)$/.exec(value);
  if (hex && hex[1].length % 2 === 0) {
    const bytes = Buffer.from(hex[1], 'hex');
    const utf8 = bytes.toString('utf8');
    out.push(utf8);
    if (utf8.includes('\ufffd')) out.push(bytes.toString('latin1'));
    if (bytes.length >= 4 && bytes.length % 2 === 0 && bytes.includes(0)) out.push(bytes.toString('utf16le'));
  }
  for (const text of out.length ? [...out] : [value]) {
    if (text.includes('\\u') || text.includes('\\/')) out.push(decodeJsonEscapes(text));
  }
  if (value.length >= MIN_BASE64_CHARS) for (const run of base64Runs(value)) out.push(...decodeBase64Run(run));
  return out;
}

/** A base64 run shorter than this (12 bytes encoded) is left alone: ordinary words and ids are that long. */
export const MIN_BASE64_CHARS = 16;
const BASE64_RUN = new RegExp(`[A-Za-z0-9+/_-]{${MIN_BASE64_CHARS},}`, 'g');
/** A value that may hold a base64 run (the string path asks before it decodes anything). */
export const BASE64_CANDIDATE = new RegExp(`[A-Za-z0-9+/_-]{${MIN_BASE64_CHARS},}`);
const BASE64_CHARS = new Uint8Array(256);
for (let c = 0; c < 128; c++) if (ASCII_WORD[c] === 1 || '+/_-'.includes(String.fromCharCode(c))) BASE64_CHARS[c] = 1;

/**
 * The runs of a text that may be base64 (standard or URL-safe alphabet, MIN_BASE64_CHARS or
 * more, with both upper and lower case letters: base64 of text always has both, while a hex
 * token, a hash or an ordinary long word does not). Padding ends a run.
 */
export function base64Runs(text: string): string[] {
  return (text.match(BASE64_RUN) ?? []).filter((run) => /[A-Z]/.test(run) && /[a-z]/.test(run));
}

const NO_RUNS: [number, number][] = [];
/** base64Runs for printable ASCII bytes [from, to) (a dump's value read without decoding): the runs' [start, end). */
export function base64RunsAscii(bytes: Uint8Array, from: number, to: number): [number, number][] {
  let out = NO_RUNS;
  let start = -1;
  let upper = false;
  let lower = false;
  for (let k = from; k <= to; k++) {
    const c = k < to ? bytes[k] : 0x20;
    if (BASE64_CHARS[c] === 1) {
      if (start === -1) {
        start = k;
        upper = lower = false;
      }
      if (c >= 0x41 && c <= 0x5a) upper = true;
      else if (c >= 0x61 && c <= 0x7a) lower = true;
      continue;
    }
    if (start !== -1 && k - start >= MIN_BASE64_CHARS && upper && lower) {
      if (out === NO_RUNS) out = [];
      out.push([start, k]);
    }
    start = -1;
  }
  return out;
}

/**
 * The texts a base64 run decodes to. The run may start inside its encoding ("u/" + base64),
 * so each of the four alignments is decoded; a decoding is text when it is valid UTF-8
 * without control characters, or, as Latin-1, mostly printable ASCII (a binary payload that
 * holds an address). A misaligned decoding is noise and fails both (printable by chance: ~1e-5).
 */
export function decodeBase64Run(run: string): string[] {
  const out: string[] = [];
  for (let offset = 0; offset < 4 && run.length - offset >= MIN_BASE64_CHARS; offset++) {
    const bytes = Buffer.from(run.slice(offset), 'base64');
    let printable = 0;
    let controls = 0;
    for (const byte of bytes) {
      if ((byte >= 0x20 && byte <= 0x7e) || byte === 0x09 || byte === 0x0a || byte === 0x0d) printable++;
      else if (byte < 0x20 || byte === 0x7f) controls++;
    }
    const utf8 = controls === 0 ? bytes.toString('utf8') : '';
    if (utf8 !== '' && !utf8.includes('\ufffd')) out.push(utf8);
    else if (printable * 4 >= bytes.length * 3) out.push(bytes.toString('latin1'));
  }
  return out;
}

/** \uXXXX (surrogate pairs included), \/ and the other JSON escapes, decoded in place. */
export function decodeJsonEscapes(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\(["\\/bfnrt])/g, (_all, hex: string | undefined, letter: string | undefined) => {
    if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
    return ({ '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' } as Record<string, string>)[letter!];
  });
}
