import { createHash } from 'node:crypto';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../util/log';
import { codec, extensionOf, type Compression } from './compression';
import { MaskingTransform, type RewriteSummary } from './dump-rewriter';
import { KeyedHasher } from './keyed-hash';
import { runKeys, type MaskedDumpManifest } from './manifest';
import type { MysqlTarget } from './mysql-client';
import { engineTools, type Engine } from './engines';
import type { MaskingRules } from './rules';
import { putJson, s3Url, uploadStream } from './s3-store';
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
 * Dump the source with mariadb-dump, mask in the stream, compress and write to S3 (multipart)
 * or a file, then write the manifest. The unmasked dump exists only as bytes in flight
 * between mariadb-dump and this process. Fail closed: a dump that exits non-zero, a
 * truncated or unreadable dump, schema drift or an upload error leaves no dump object, no
 * manifest and no file (the upload is aborted, the partial file deleted).
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
  const dump = tools.startDump(source, options.dumpCommand);
  const masking = new MaskingTransform(tools.rewriter((table, columns) => tableMasking(rules, table, columns, hasher)), () => dump.exited);
  const digest = new Digest();
  const extension = extensionOf(compression);
  const keys = destination.kind === 's3' ? runKeys(destination.prefix, source.database, startedAt, extension) : undefined;
  const object = destination.kind === 's3' ? s3Url({ bucket: destination.bucket, key: keys!.dump }) : destination.path;
  log.info(`masked dump of ${source.name} (${source.host}:${source.port}/${source.database}) to ${object} with rules ${rules.source} (${rules.hash.slice(0, 12)})`);

  const body = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
  const stages = pipeline(dump.stdout, masking, codec(compression, 'compress'), digest, body);
  const partial = destination.kind === 'file' ? `${destination.path}.partial` : '';
  const write: Promise<void> =
    destination.kind === 's3'
      ? uploadStream(destination.client, { bucket: destination.bucket, key: keys!.dump }, body, { partSize: destination.partSize })
      : pipeline(body, createWriteStream(partial, { mode: 0o600 }));
  try {
    await Promise.all([stages, write, dump.exited]);
  } catch (error) {
    dump.kill();
    body.destroy();
    if (destination.kind === 'file') rmSync(partial, { force: true });
    await Promise.allSettled([stages, write, dump.exited]);
    throw error;
  } finally {
    dump.dispose();
  }
  if (destination.kind === 'file') renameSync(partial, destination.path);

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
  // The manifest is written last: a manifest means a complete dump.
  if (destination.kind === 's3') {
    await putJson(destination.client, { bucket: destination.bucket, key: keys!.manifest }, manifest);
    await putJson(destination.client, { bucket: destination.bucket, key: keys!.latest }, manifest);
  }
  const totalRows = Object.values(summary.rows).reduce((a, b) => a + b, 0);
  log.info(`masked dump done: ${totalRows} rows in ${Object.keys(summary.rows).length} tables, ${summary.bytesIn} bytes dumped, ${digest.bytes} bytes ${compression}, ${manifest.seconds} s`);
  return manifest;
}

/** A readable of the decompressed dump behind a manifest-like object. */
export function decompressed(body: Readable, compression: Compression): Readable {
  const out = codec(compression, 'decompress');
  pipeline(body, out).catch((error: Error) => out.destroy(error));
  return out;
}
