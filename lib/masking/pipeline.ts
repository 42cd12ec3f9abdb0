import { createHash } from 'node:crypto';
import { createWriteStream, renameSync, rmSync, writeFileSync } from 'node:fs';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../util/log';
import { codec, extensionOf, type Compression } from './compression';
import { MaskingTransform, type RewriteSummary } from './dump-rewriter';
import { defaultMaskingThreads, ParallelMaskingTransform } from './parallel-masking';
import { KeyedHasher } from './keyed-hash';
import type { LeakReport } from './leak-check';
import { parseS3Url, runKeys, type MaskedDumpManifest } from './manifest';
import type { MysqlTarget } from './mysql-client';
import { engineTools, type Engine } from './engines';
import type { MaskingRules } from './rules';
import { copyObject, deleteObject, putJson, s3Url, uploadStream } from './s3-store';
import { tableMasking } from './transformers';

/** Where the masked, compressed dump goes. Either way nothing is left behind on failure. */
export type DumpDestination = { kind: 'file'; path: string } | { kind: 's3'; client: S3Client; bucket: string; prefix: string; partSize?: number };

export interface MaskedDumpOptions {
  source: MysqlTarget;
  rules: MaskingRules;
  key: Buffer;
  compression: Compression;
  destination: DumpDestination;
  log: Logger;
  /** @default new Date() */
  now?: Date;
  /** @default "mysql" (MariaDB and MySQL) */
  engine?: Engine;
  /** The dump client. @default "mariadb-dump" (mysqldump writes the same format), or "pg_dump" */
  dumpCommand?: string;
  /**
   * The leak check's snapshot (source-snapshot.ts), opened before the dump: the dump's output
   * passes through its `watch()`, which releases the commits it holds once the dump's own
   * snapshot has started. MySQL family only.
   * @default - none: the check reads the originals after the dump
   */
  snapshot?: { watch(): Transform };
  /**
   * PostgreSQL: the snapshot exported for the leak check (pg-snapshot.ts), dumped with
   * `pg_dump --snapshot`, so the check reads its originals in exactly what the dump holds.
   * @default - none: pg_dump takes its own snapshot
   */
  exportedSnapshot?: string;
  /**
   * Threads that rewrite a MariaDB/MySQL dump's INSERT statements (parallel-masking.ts); 0: the
   * calling thread does all of it. The output is the same either way, byte for byte. A
   * PostgreSQL dump is rewritten in the calling thread.
   * @default defaultMaskingThreads(): MASKING_THREADS, else one per core but one (1 to 4)
   */
  threads?: number;
}

/** Counts and hashes the bytes that pass (the compressed output). */
class Digest extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/**
 * Dump the source with mariadb-dump, mask in the stream, compress and STAGE the result: a
 * staging key in S3 (multipart) or `<file>.staged`. Nothing is published here: the returned
 * manifest names the staged object and is not written anywhere; `publishMaskedDump` does that
 * after the leak check passed, `discardStagedDump` removes a dump that failed it. The
 * unmasked dump exists only as bytes in flight between mariadb-dump and this process. Fail
 * closed: a dump that exits non-zero, a truncated or unreadable dump, schema drift or an
 * upload error leaves no object and no file (the upload is aborted, the partial file deleted).
 */
export async function maskedDump(options: MaskedDumpOptions): Promise<MaskedDumpManifest> {
  const { source, rules, compression, destination, log } = options;
  if (rules.database !== source.database) {
    throw new Error(`the rules in ${rules.source} describe database "${rules.database}", but the source database is "${source.database}": use the rules file of that database`);
  }
  const startedAt = options.now ?? new Date();
  const started = Date.now();
  const hasher = new KeyedHasher(options.key);
  const engine = options.engine ?? 'mysql';
  const tools = engineTools(engine);
  if (options.snapshot && engine !== 'mysql') throw new Error(`a leak-check snapshot aligned with the dump is implemented for the MySQL family only, not ${engine}`);
  if (options.exportedSnapshot && engine !== 'postgres') throw new Error('an exported snapshot is a PostgreSQL feature; the MySQL family aligns snapshots with `snapshot`');
  // Everything that can throw comes before the dump client starts: once started, only the
  // clean-up below stops it (a client left writing into a pipe nobody reads hangs the run and
  // keeps its transaction open on the source).
  const threads = engine === 'mysql' ? (options.threads ?? defaultMaskingThreads()) : 0;
  let dump: ReturnType<typeof tools.startDump> | undefined;
  const dumpExited = () => dump!.exited;
  const masking = threads > 0 ? new ParallelMaskingTransform({ rules, key: options.key, threads }, dumpExited) : new MaskingTransform(tools.rewriter((table, columns) => tableMasking(rules, table, columns, hasher)), dumpExited);
  const digest = new Digest();
  const extension = extensionOf(compression);
  const keys = destination.kind === 's3' ? runKeys(destination.prefix, source.database, startedAt, extension) : undefined;
  const object = destination.kind === 's3' ? s3Url({ bucket: destination.bucket, key: keys!.staged }) : stagedPath(destination.path);
  log.info(`masked dump of ${source.name} (${source.host}:${source.port}/${source.database}) to ${object} with rules ${rules.source} (${rules.hash.slice(0, 12)})`);

  try {
    dump = tools.startDump(source, options.dumpCommand, { snapshot: options.exportedSnapshot });
  } catch (error) {
    masking.destroy();
    if (masking instanceof ParallelMaskingTransform) await masking.threadsStopped;
    throw error;
  }
  const body = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
  const stages = options.snapshot ? pipeline(dump.stdout, options.snapshot.watch(), masking, codec(compression, 'compress'), digest, body) : pipeline(dump.stdout, masking, codec(compression, 'compress'), digest, body);
  const partial = destination.kind === 'file' ? `${destination.path}.partial` : '';
  const write: Promise<void> =
    destination.kind === 's3'
      ? uploadStream(destination.client, { bucket: destination.bucket, key: keys!.staged }, body, { partSize: destination.partSize })
      : pipeline(body, createWriteStream(partial, { mode: 0o600 }));
  try {
    await Promise.all([stages, write, dump.exited]);
  } catch (error) {
    dump.kill();
    masking.destroy();
    body.destroy();
    if (destination.kind === 'file') rmSync(partial, { force: true });
    await Promise.allSettled([stages, write, dump.exited]);
    // No masking thread outlives a failed run.
    if (masking instanceof ParallelMaskingTransform) await masking.threadsStopped;
    throw error;
  }
  if (destination.kind === 'file') renameSync(partial, object);

  const summary: RewriteSummary = masking.rewriter.summary;
  const manifest: MaskedDumpManifest = {
    format: 'rds-cutover/masked-dump/v1',
    database: source.database,
    engine,
    source: { name: source.name, host: source.host, port: source.port },
    object,
    compression,
    bytes: digest.bytes,
    sha256: digest.hash.digest('hex'),
    rulesFile: rules.source,
    rulesHash: rules.hash,
    keyFingerprint: hasher.fingerprint(),
    rows: summary.rows,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 10) / 100,
    dumpedBytes: summary.bytesIn,
  };
  const totalRows = Object.values(summary.rows).reduce((a, b) => a + b, 0);
  log.info(`masked dump staged: ${totalRows} rows in ${Object.keys(summary.rows).length} tables, ${summary.bytesIn} bytes dumped, ${digest.bytes} bytes ${compression}, ${manifest.seconds} s; not published until the leak check passes`);
  return manifest;
}

const stagedPath = (path: string) => `${path}.staged`;

/** The staged object's keys, from the staged manifest (the run's time is in its key). */
function keysOf(destination: Extract<DumpDestination, { kind: 's3' }>, staged: MaskedDumpManifest) {
  const location = parseS3Url(staged.object);
  const expectedPrefix = `${destination.prefix}${staged.database}/staged/`;
  if (location.bucket !== destination.bucket || !location.key.startsWith(expectedPrefix)) throw new Error(`${staged.object} is not a staged dump of s3://${destination.bucket}/${expectedPrefix}`);
  const base = `${destination.prefix}${staged.database}`;
  const rest = location.key.slice(expectedPrefix.length); // <stamp>/dump.sql.zst
  const stamp = rest.slice(0, rest.indexOf('/'));
  return { staged: location.key, dump: `${base}/${rest}`, manifest: `${base}/${stamp}/manifest.json`, latest: `${base}/latest.json` };
}

/**
 * Publish a staged dump that passed the leak check: copy it to its final key (server-side),
 * write its manifest with the verification, point latest.json at it, then remove the staged
 * object. In this order, a crash leaves at worst an unpublished copy, never a latest.json
 * naming an unchecked or missing dump. A file destination: rename, then FILE.manifest.json.
 */
export async function publishMaskedDump(destination: DumpDestination, staged: MaskedDumpManifest, report: LeakReport, log: Logger): Promise<MaskedDumpManifest> {
  if (!report.ok || report.hitCount !== 0) throw new Error('refusing to publish a dump that did not pass the leak check');
  const verification = { ok: true as const, originals: report.originals, patterns: report.patterns, scannedValues: report.scannedValues, hits: 0 as const, seconds: report.seconds, checkedAt: new Date().toISOString() };
  if (destination.kind === 'file') {
    renameSync(staged.object, destination.path);
    const manifest = { ...staged, object: destination.path, verification };
    writeFileSync(`${destination.path}.manifest.json`, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
    log.info(`published ${destination.path} (leak check passed)`);
    return manifest;
  }
  const keys = keysOf(destination, staged);
  const manifest = { ...staged, object: s3Url({ bucket: destination.bucket, key: keys.dump }), verification };
  await copyObject(destination.client, { bucket: destination.bucket, key: keys.staged }, { bucket: destination.bucket, key: keys.dump });
  await putJson(destination.client, { bucket: destination.bucket, key: keys.manifest }, manifest);
  await putJson(destination.client, { bucket: destination.bucket, key: keys.latest }, manifest);
  await deleteObject(destination.client, { bucket: destination.bucket, key: keys.staged });
  log.info(`published ${manifest.object} and ${s3Url({ bucket: destination.bucket, key: keys.latest })} (leak check passed)`);
  return manifest;
}

/** Remove a staged dump (it failed the leak check, or the run failed after staging). */
export async function discardStagedDump(destination: DumpDestination, staged: MaskedDumpManifest, log: Logger): Promise<void> {
  if (destination.kind === 'file') rmSync(staged.object, { force: true });
  else await deleteObject(destination.client, { bucket: destination.bucket, key: keysOf(destination, staged).staged });
  log.info(`deleted the staged dump ${staged.object}: it was not published`);
}

/**
 * A readable of the decompressed dump behind a manifest-like object. With `expected` (the
 * manifest), the compressed bytes must be the ones it describes (count and sha256), else the
 * stream fails saying so: a file or object cut short or changed after it was written (an
 * interrupted copy, a full disk) would otherwise fail with only the decompressor's "premature
 * end" / "unexpected end of file", naming neither the dump nor the fix.
 */
export function decompressed(body: Readable, compression: Compression, expected?: Pick<MaskedDumpManifest, 'object' | 'bytes' | 'sha256'>): Readable {
  const out = codec(compression, 'decompress');
  if (!expected) {
    pipeline(body, out).catch((error: Error) => out.destroy(error));
    return out;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  let mismatch: Error | undefined;
  const matches = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      const sha256 = hash.digest('hex');
      if (bytes === expected.bytes && sha256 === expected.sha256) return callback();
      mismatch = new Error(
        `${expected.object} is not the dump its manifest describes: ${bytes} bytes with sha256 ${sha256.slice(0, 16)}…, the manifest says ${expected.bytes} bytes with sha256 ${expected.sha256.slice(0, 16)}… ` +
          '(cut short or changed since it was written): do not use it (a staging restore reading it fails, and staging may then hold a partial load); run a new dump (without --no-dump).',
      );
      callback(mismatch);
    },
  });
  const result = new PassThrough({ highWaterMark: 1024 * 1024 });
  // The manifest's verdict wins over the decompressor's error about the same damage.
  pipeline(body, matches, out, result).catch((error: Error) => result.destroy(mismatch ?? error));
  return result;
}
