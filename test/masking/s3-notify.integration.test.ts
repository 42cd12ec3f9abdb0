/**
 * The S3 upload through the real SDK (multipart, abort) against the local S3-compatible
 * server over HTTP, and the Slack notification against a local HTTP server.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pbkdf2 } from 'node:crypto';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { LocalS3Server } from '../../lib/masking/local/s3-server';
import { copyObject, createBucket, createS3Client, deleteObject, downloadStream, objectExists, uploadStream } from '../../lib/masking/s3-store';
import { notifySlack } from '../../lib/masking/notify';
import { registerSecret } from '../../lib/util/secrets';
import { startWebhook } from './helpers';

const MiB = 1024 * 1024;
let s3: LocalS3Server;
const saved = { ...process.env };
const client = () => createS3Client({ env: { AWS_ENDPOINT_URL: s3.endpoint } });

beforeAll(async () => {
  s3 = new LocalS3Server(mkdtempSync(join(tmpdir(), 'mask-s3-')));
  await s3.start();
  Object.assign(process.env, { AWS_ENDPOINT_URL: s3.endpoint, AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local-secret' });
  await createBucket(client(), 'dumps');
});

afterAll(async () => {
  process.env = saved;
  await s3.stop();
  rmSync(s3.rootDir, { recursive: true, force: true });
});

/** A stream of `parts` MiB of patterned bytes; fails after `failAfter` MiB when given. */
function body(mebibytes: number, failAfter?: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (failAfter !== undefined && sent >= failAfter) return void this.destroy(new Error('masking failed mid-stream'));
      if (sent >= mebibytes) return void this.push(null);
      this.push(Buffer.alloc(MiB, sent % 251));
      sent++;
    },
  });
}

test('a body of unknown length goes up as a multipart upload through the SDK and reads back byte for byte', async () => {
  s3.requests.length = 0;
  await uploadStream(client(), { bucket: 'dumps', key: 'big/dump.sql.zst' }, body(12), { partSize: 5 * MiB });
  expect(s3.requests.filter((r) => r.startsWith('POST /dumps/big/dump.sql.zst?uploads'))).toHaveLength(1);
  expect(s3.requests.filter((r) => r.startsWith('PUT /dumps/big/dump.sql.zst?') && r.includes('partNumber='))).toHaveLength(3);
  const chunks: Buffer[] = [];
  for await (const chunk of await downloadStream(client(), { bucket: 'dumps', key: 'big/dump.sql.zst' })) chunks.push(chunk as Buffer);
  const data = Buffer.concat(chunks);
  expect(data.length).toBe(12 * MiB);
  expect(data[5 * MiB + 1]).toBe(5);
  expect(data[12 * MiB - 1]).toBe(11);
});

test('a body that fails mid-stream aborts the multipart upload and leaves no object', async () => {
  s3.requests.length = 0;
  await expect(uploadStream(client(), { bucket: 'dumps', key: 'failed/dump.sql.zst' }, body(20, 11), { partSize: 5 * MiB })).rejects.toThrow('masking failed mid-stream');
  expect(s3.requests.some((r) => r.startsWith('DELETE /dumps/failed/dump.sql.zst?uploadId='))).toBe(true);
  expect(s3.objectPath('dumps', 'failed/dump.sql.zst')).toBeUndefined();
  await expect(downloadStream(client(), { bucket: 'dumps', key: 'failed/dump.sql.zst' })).rejects.toThrow(/does not exist: run the masked dump first/);
});

test('a staged dump is published by a server-side copy: one CopyObject, or part by part past the single-copy limit', async () => {
  await uploadStream(client(), { bucket: 'dumps', key: 'staged/a/dump.sql.zst' }, body(12), { partSize: 5 * MiB });
  s3.requests.length = 0;
  await copyObject(client(), { bucket: 'dumps', key: 'staged/a/dump.sql.zst' }, { bucket: 'dumps', key: 'a/dump.sql.zst' });
  await copyObject(client(), { bucket: 'dumps', key: 'staged/a/dump.sql.zst' }, { bucket: 'dumps', key: 'b/dump.sql.zst' }, { singleCopyLimit: MiB, partSize: 5 * MiB });
  expect(s3.requests.filter((r) => r.startsWith('PUT /dumps/b/dump.sql.zst?') && r.includes('partNumber='))).toHaveLength(3);
  const original = readFileSync(s3.objectPath('dumps', 'staged/a/dump.sql.zst')!);
  expect(readFileSync(s3.objectPath('dumps', 'a/dump.sql.zst')!).equals(original)).toBe(true);
  expect(readFileSync(s3.objectPath('dumps', 'b/dump.sql.zst')!).equals(original)).toBe(true);
  await deleteObject(client(), { bucket: 'dumps', key: 'staged/a/dump.sql.zst' });
  expect(await objectExists(client(), { bucket: 'dumps', key: 'staged/a/dump.sql.zst' })).toBe(false);
  expect(await objectExists(client(), { bucket: 'dumps', key: 'a/dump.sql.zst' })).toBe(true);
});

test('a GET that has begun reads the whole object even when a DELETE of it is handled before the file is opened (as S3 does), instead of an unhandled ENOENT in the process that runs the server', async () => {
  // The masked refresh's Ctrl-C deletes the staged dump while the leak check may be starting to read it.
  const data = Buffer.alloc(MiB, 7);
  await uploadStream(client(), { bucket: 'dumps', key: 'race/object' }, Readable.from([data]));
  // Every thread of libuv's pool busy: an asynchronous file open waits behind them; the DELETE (synchronous) runs first.
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const busy = Array.from({ length: threads }, () => promisify(pbkdf2)('busy', 'salt', 1_000_000, 32, 'sha512'));
  const reading = fetch(`${s3.endpoint}/dumps/race/object`, { signal: AbortSignal.timeout(20000) }).then(async (response) => ({ status: response.status, body: Buffer.from(await response.arrayBuffer()) }));
  while (!s3.requests.includes('GET /dumps/race/object')) await new Promise((resolve) => setTimeout(resolve, 5));
  expect((await fetch(`${s3.endpoint}/dumps/race/object`, { method: 'DELETE' })).status).toBe(204);
  await Promise.all(busy);
  const read = await reading;
  expect({ status: read.status, same: read.body.equals(data) }).toEqual({ status: 200, same: true });
  expect(await objectExists(client(), { bucket: 'dumps', key: 'race/object' })).toBe(false);
}, 60000);

test('a missing object (no latest.json yet: `--no-dump` before any dump) names the option that runs the dump, not one that does not exist', async () => {
  await expect(downloadStream(client(), { bucket: 'dumps', key: 'never/latest.json' })).rejects.toThrow(
    's3://dumps/never/latest.json does not exist: run the masked dump first (without --no-dump)',
  );
});

test('path-style addressing is used only with an endpoint override', () => {
  expect(createS3Client({ env: {} }).config.forcePathStyle).toBeFalsy();
  expect(createS3Client({ env: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' } }).config.forcePathStyle).toBe(true);
});

describe('Slack notification', () => {
  let status = 200;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;
  let url = '';
  beforeAll(async () => {
    webhook = await startWebhook(() => status);
    url = webhook.url;
  });
  afterAll(() => webhook.close());

  test('posts {"text": …} as JSON with secrets masked', async () => {
    const password = registerSecret('hunter2-staging-password');
    await notifySlack(url, `mask-refresh prod: FAILED\nmariadb: access denied using ${password}`);
    expect(webhook.received.at(-1)).toEqual({ body: JSON.stringify({ text: 'mask-refresh prod: FAILED\nmariadb: access denied using ***' }), contentType: 'application/json' });
  });

  test('a webhook that refuses is an error naming the status, without the webhook URL', async () => {
    status = 403;
    registerSecret(url);
    const error = await notifySlack(url, 'x').catch((e: Error) => e);
    status = 200;
    expect((error as Error).message).toMatch(/^Slack webhook answered 403 Forbidden: invalid_token/);
    expect((error as Error).message).not.toContain('/services/');
  });
});

test('GIVEN a dump in S3 cut short after its manifest was written WHEN it is read back (the check, --no-dump, the restore) THEN the stream fails naming it, never waits for bytes that will not come', async () => {
  const { gzipSync } = await import('node:zlib');
  const { createHash } = await import('node:crypto');
  const { openDump } = await import('../../lib/masking/cli');
  const whole = gzipSync(Buffer.from('INSERT INTO t VALUES (1);\n'.repeat(20000)));
  await uploadStream(client(), { bucket: 'dumps', key: 'app/2026-12-01T06-00-00Z/dump.sql.gz' }, Readable.from([whole.subarray(0, whole.length >> 1)]));
  const manifest = { object: 's3://dumps/app/2026-12-01T06-00-00Z/dump.sql.gz', compression: 'gzip', bytes: whole.length, sha256: createHash('sha256').update(whole).digest('hex') } as Parameters<typeof openDump>[0];
  const read = new Promise<void>((resolve, reject) => openDump(manifest).on('data', () => undefined).once('end', resolve).once('error', reject));
  await expect(read).rejects.toThrow(`s3://dumps/app/2026-12-01T06-00-00Z/dump.sql.gz is not the dump its manifest describes: ${whole.length >> 1} bytes`);
});
