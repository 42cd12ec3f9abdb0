import type { Compression } from './compression';
import type { Engine } from './engines';

/** What a masked dump is, written next to it (and as `latest.json`) after the dump is complete. */
export interface MaskedDumpManifest {
  format: 'rds-cutover/masked-dump/v1';
  database: string;
  engine: Engine;
  /** Where the data came from (no credentials). */
  source: { name: string; host: string; port: number };
  /** The dump object, e.g. s3://bucket/app/2026-01-01T03-00-00Z/dump.sql.zst, or a file path. */
  object: string;
  compression: Compression;
  bytes: number;
  sha256: string;
  rulesFile: string;
  rulesHash: string;
  /** Public fingerprint of the HMAC key: equal fingerprints, comparable outputs. */
  keyFingerprint: string;
  rows: Record<string, number>;
  startedAt: string;
  finishedAt: string;
  seconds: number;
  dumpedBytes: number;
  /**
   * The leak check this dump passed. Present in every published manifest (and so in
   * latest.json); absent while the dump is only staged. A restore refuses a manifest without it.
   */
  verification?: { ok: true; originals: number; patterns: number; scannedValues: number; hits: 0; seconds: number; checkedAt: string };
}

/**
 * Object keys of one run. The upload goes to `staged` (`<prefix><database>/staged/<UTC time>/dump.sql.zst`),
 * which nothing reads as a published dump; only after the leak check passed is it copied to
 * `dump` (`<prefix><database>/<UTC time>/dump.sql.zst`), its `manifest` written beside it, and
 * `latest.json` pointed at it. A bucket lifecycle rule may expire `staged/` after a day.
 */
export function runKeys(prefix: string, database: string, startedAt: Date, extension: string): { staged: string; dump: string; manifest: string; latest: string } {
  const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const base = `${prefix}${database}`;
  return { staged: `${base}/staged/${stamp}/dump${extension}`, dump: `${base}/${stamp}/dump${extension}`, manifest: `${base}/${stamp}/manifest.json`, latest: `${base}/latest.json` };
}

export function parseS3Url(url: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (!match) throw new Error(`manifest object ${url} is not an s3:// URL`);
  return { bucket: match[1], key: match[2] };
}
