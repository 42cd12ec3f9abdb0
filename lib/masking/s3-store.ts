import { AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, UploadPartCopyCommand, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';

/**
 * An S3 client for the masked dumps. The SDK itself honours AWS_ENDPOINT_URL and
 * AWS_ENDPOINT_URL_S3 (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html);
 * with an endpoint override we also use path-style addressing, which S3-compatible servers
 * (and our local one) expect.
 */
export function createS3Client(options: { region?: string; env?: NodeJS.ProcessEnv } = {}): S3Client {
  const env = options.env ?? process.env;
  const overridden = Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL);
  const config: S3ClientConfig = { region: options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'eu-west-1' };
  if (overridden || env.AWS_S3_FORCE_PATH_STYLE === 'true') config.forcePathStyle = true;
  return new S3Client(config);
}

export interface S3Location {
  bucket: string;
  key: string;
}

export const s3Url = ({ bucket, key }: S3Location) => `s3://${bucket}/${key}`;

/**
 * Stream a body of unknown length to S3 as a multipart upload (parts of `partSize`, a few
 * in flight). If the body fails (a masking error, a truncated dump) the upload is aborted
 * and no object appears: lib-storage only completes the upload at the body's clean end.
 */
export async function uploadStream(client: S3Client, location: S3Location, body: Readable, options: { partSize?: number; contentType?: string } = {}): Promise<void> {
  const upload = new Upload({
    client,
    params: { Bucket: location.bucket, Key: location.key, Body: body, ContentType: options.contentType ?? 'application/octet-stream' },
    partSize: options.partSize ?? 16 * 1024 * 1024,
    queueSize: 2,
    leavePartsOnError: false,
  });
  // A failing body fails done(), which first sends AbortMultipartUpload (leavePartsOnError
  // false); calling upload.abort() instead would return before that request is made.
  await upload.done();
}

export async function downloadStream(client: S3Client, location: S3Location): Promise<Readable> {
  try {
    const result = await client.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
    return result.Body as Readable;
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') throw new Error(`${s3Url(location)} does not exist: run the masked dump first (without --no-dump)`);
    throw error;
  }
}

export async function putJson(client: S3Client, location: S3Location, value: unknown): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: location.bucket, Key: location.key, Body: JSON.stringify(value, null, 2) + '\n', ContentType: 'application/json' }));
}

export async function getJson<T>(client: S3Client, location: S3Location): Promise<T> {
  const body = await downloadStream(client, location);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
}

export async function createBucket(client: S3Client, bucket: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** CopyObject's limit; larger objects are copied part by part (UploadPartCopy). */
const SINGLE_COPY_LIMIT = 5 * 1024 ** 3;

/**
 * Server-side copy (no bytes through this process): one CopyObject up to 5 GiB, else a
 * multipart copy in `partSize` ranges (https://docs.aws.amazon.com/AmazonS3/latest/userguide/CopyingObjectsMPUapi.html).
 * A failed multipart copy is aborted, so no partial object appears.
 */
export async function copyObject(client: S3Client, from: S3Location, to: S3Location, options: { singleCopyLimit?: number; partSize?: number } = {}): Promise<void> {
  const source = `${from.bucket}/${from.key.split('/').map(encodeURIComponent).join('/')}`;
  const head = await client.send(new HeadObjectCommand({ Bucket: from.bucket, Key: from.key }));
  const size = head.ContentLength ?? 0;
  if (size <= (options.singleCopyLimit ?? SINGLE_COPY_LIMIT)) {
    await client.send(new CopyObjectCommand({ Bucket: to.bucket, Key: to.key, CopySource: source }));
    return;
  }
  const partSize = options.partSize ?? 1024 ** 3;
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, ContentType: head.ContentType }));
  try {
    const parts: { ETag: string; PartNumber: number }[] = [];
    for (let start = 0, part = 1; start < size; start += partSize, part++) {
      const end = Math.min(size, start + partSize) - 1;
      const result = await client.send(new UploadPartCopyCommand({ Bucket: to.bucket, Key: to.key, UploadId, PartNumber: part, CopySource: source, CopySourceRange: `bytes=${start}-${end}` }));
      parts.push({ ETag: result.CopyPartResult!.ETag!, PartNumber: part });
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId, MultipartUpload: { Parts: parts } }));
  } catch (error) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId })).catch(() => undefined);
    throw error;
  }
}

export async function deleteObject(client: S3Client, location: S3Location): Promise<void> {
  await client.send(new DeleteObjectCommand({ Bucket: location.bucket, Key: location.key }));
}

/** True when the object exists. */
export async function objectExists(client: S3Client, location: S3Location): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: location.bucket, Key: location.key }));
    return true;
  } catch (error) {
    if ((error as { name?: string; $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}
