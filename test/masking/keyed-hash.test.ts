import { createHmac } from 'node:crypto';
import { bits16, blake2sDigester, hexPrefix, KeyedHasher, nibble } from '../../lib/masking/keyed-hash';
import { columnMasker } from '../../lib/masking/transformers';
import { TEST_KEY } from './helpers';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('keyed BLAKE2s (the masking digest)', () => {
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
  const digest = blake2sDigester(key);

  test('equals the BLAKE2 reference keyed test vectors and OpenSSL BLAKE2SMAC, across block boundaries and for UTF-8', () => {
    // Expected values: `printf '%s' VALUE | openssl mac -macopt hexkey:0001…1f BLAKE2SMAC` (OpenSSL 3.0).
    const vectors: [string, string][] = [
      ['', '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49'],
      ['abc', 'a281f725754969a702f6fe36fc591b7def866e4b70173ece402fc01c064d6b65'],
      ['x'.repeat(63), 'bed2aaacdb650d80f2f869a7f56f3f9246feefdfe0ab042020b63afb704b6ea5'],
      ['x'.repeat(64), 'd97d10f084fa87c8d035a3b776f62190e719d4872f58251301c21e82f2675e1e'],
      ['x'.repeat(65), '4aaf36467179f5591c9f28fd3900f6f29b46dd0cb705cbbd435985a021c80bdb'],
      ['y'.repeat(300), '8351795112e6c34a7996f5b649a0dd2a0a704a80d7c8bc28e7598a8351a6bcd4'],
      ['García Zoë 😀', 'bf79f52f222c1bd34b52bb418be2314f1dcb1a9efbae927d5383c5c4fb6d42fc'],
    ];
    for (const [value, expected] of vectors) expect(hex(digest(value))).toBe(expected);
    // A 16-byte key (the key length is part of BLAKE2's parameter block).
    expect(hex(blake2sDigester(Buffer.from('short key bytes!'))('a@b.c'))).toBe('2de59595ed968673ccbbeaaa79a3b320fe7a331b09d7686bb1b958b3c9da89a1');
  });

  test('the digest of a value does not depend on what was hashed before (state is reset every call)', () => {
    const first = hex(digest('a@b.c'));
    digest('y'.repeat(300));
    digest('García');
    expect(hex(digest('a@b.c'))).toBe(first);
  });

  test('KeyedHasher: per-domain keys derived by HMAC-SHA256, pinned so outputs stay the same across runs and releases', () => {
    const hasher = new KeyedHasher(TEST_KEY);
    const domainKey = createHmac('sha256', TEST_KEY).update('rds-cutover/mask/v2/email').digest();
    expect(hasher.digest('email', 'a@b.c')).toBe(hex(blake2sDigester(domainKey)('a@b.c')));
    // Pinned (also: printf '%s' a@b.c | openssl mac -macopt hexkey:<that HMAC> BLAKE2SMAC): a change here changes every masked dump.
    expect(hasher.digest('email', 'a@b.c')).toBe('018fbfd70e7826a4ae756b9f0a6f9052ea5e16f25f677c0c303f32cfbcb5beff');
    expect(new KeyedHasher(TEST_KEY).digest('email', 'a@b.c')).toBe(hasher.digest('email', 'a@b.c'));
    expect(hasher.digest('name', 'a@b.c')).not.toBe(hasher.digest('email', 'a@b.c'));
    // The manifest's fingerprint names the construction too: dumps of the v1 digest do not look comparable.
    expect(hasher.fingerprint()).toBe(createHmac('sha256', TEST_KEY).update('rds-cutover/mask/v2/fingerprint').digest('hex').slice(0, 12));
    expect(hasher.fingerprint()).not.toBe(createHmac('sha256', TEST_KEY).update('rds-cutover/mask/v1/fingerprint').digest('hex').slice(0, 12));
    expect(new KeyedHasher(Buffer.from('another key of sixteen bytes')).digest('email', 'a@b.c')).not.toBe(hasher.digest('email', 'a@b.c'));
  });

  test('hex helpers read the digest as its hex string does', () => {
    const bytes = digest('abc');
    const text = hex(bytes);
    for (const length of [0, 1, 7, 16, 32, 63, 64]) expect(hexPrefix(bytes, length)).toBe(text.slice(0, length));
    for (let i = 0; i < 64; i++) expect(nibble(bytes, i)).toBe(parseInt(text[i], 16));
    for (let i = 0; i < 60; i += 2) expect(bits16(bytes, i)).toBe(parseInt(text.slice(i, i + 4), 16));
  });
});

describe('dateShift', () => {
  const hasher = new KeyedHasher(TEST_KEY);
  // The definition, with Date objects: shift by 1…maxDays days, direction from hex digit 8.
  const reference = (value: string, maxDays: number) => {
    const d = hasher.digest('dateShift', value.slice(0, 10));
    const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(value)!;
    if (match[1] === '0000' || match[2] === '00' || match[3] === '00') return value;
    const days = (parseInt(d.slice(0, 8), 16) % maxDays) + 1;
    const sign = parseInt(d[8], 16) % 2 === 0 ? 1 : -1;
    return new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) + sign * days * 86400000).toISOString().slice(0, 10) + value.slice(10);
  };

  test('integer calendar arithmetic gives what Date gives, for every day of several years and odd values', () => {
    for (const maxDays of [1, 30, 180, 3650]) {
      const shift = columnMasker({ transform: 'dateShift', maxDays }, { name: 'born' }, hasher, 'w')!;
      const values: string[] = [];
      for (let day = Date.UTC(1899, 11, 1); day < Date.UTC(1901, 2, 1); day += 86400000) values.push(new Date(day).toISOString().slice(0, 10));
      for (let day = Date.UTC(1999, 11, 1); day < Date.UTC(2001, 2, 1); day += 86400000) values.push(new Date(day).toISOString().slice(0, 10) + ' 12:34:56');
      values.push('2023-02-29', '2023-02-31', '2024-04-31', '1100-01-01', '1099-12-31', '0099-06-15', '9980-12-31', '9999-12-31', '0000-00-00', '2024-00-10', '2024-13-01', '1970-01-01 00:00:00.123456');
      for (const value of values) expect([value, shift(value)]).toEqual([value, reference(value, maxDays)]);
    }
  });
});
