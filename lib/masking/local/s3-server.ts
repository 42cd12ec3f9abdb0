import { createHash, randomUUID } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';

/**
 * A minimal S3-compatible server for the local pipeline and its tests: real HTTP that the
 * real SDK client talks to (path-style, through AWS_ENDPOINT_URL). It implements only what
 * the masked refresh uses: CreateBucket, PutObject, GetObject, HeadObject, DeleteObject,
 * CopyObject, and multipart uploads (create, upload part, upload part copy, complete, abort). Objects are files under `rootDir`;
 * signatures are not checked. Request bodies in aws-chunked encoding (streaming uploads
 * with trailing checksums, the SDK's default) are decoded.
 */
export class LocalS3Server {
  private server: Server | undefined;
  port = 0;
  /** Every request as "METHOD path?query" (tests assert multipart use and aborts). */
  readonly requests: string[] = [];

  constructor(readonly rootDir: string) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    mkdirSync(join(this.rootDir, '.uploads'), { recursive: true });
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: Error) => sendError(response, 500, 'InternalError', error.message));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('local S3 server: could not read its port');
    this.port = address.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Path of an object on disk, or undefined when it does not exist. */
  objectPath(bucket: string, key: string): string | undefined {
    const path = join(this.rootDir, bucket, key);
    return existsSync(path) ? path : undefined;
  }

  /** The bytes of the object named by x-amz-copy-source (CopyObject, UploadPartCopy), if the request has one. */
  private copySource(request: IncomingMessage): Buffer | undefined {
    const header = request.headers['x-amz-copy-source'];
    if (typeof header !== 'string') return undefined;
    const [bucket, ...key] = decodeURIComponent(header.replace(/^\//, '').split('?')[0]).split('/');
    if (key.some((part) => part === '..')) throw new Error('bad copy source');
    return readFileSync(join(this.rootDir, bucket, key.join('/')));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const [, bucket = '', ...keyParts] = url.pathname.split('/');
    const key = keyParts.map(decodeURIComponent).join('/');
    const method = request.method ?? 'GET';
    this.requests.push(`${method} ${url.pathname}${url.search}`);
    if (bucket === '' || key.split('/').some((part) => part === '..')) return sendError(response, 400, 'InvalidRequest', 'expected /bucket/key');
    const bucketDir = join(this.rootDir, bucket);
    const objectFile = join(bucketDir, key);
    const uploadId = url.searchParams.get('uploadId');

    if (key === '') {
      if (method === 'PUT') {
        mkdirSync(bucketDir, { recursive: true });
        return send(response, 200);
      }
      return sendError(response, 405, 'MethodNotAllowed', 'bucket operations other than CreateBucket are not implemented');
    }
    if (!existsSync(bucketDir)) return sendError(response, 404, 'NoSuchBucket', `bucket ${bucket} does not exist`);

    if (method === 'POST' && url.searchParams.has('uploads')) {
      const id = randomUUID();
      mkdirSync(join(this.rootDir, '.uploads', id), { recursive: true });
      return sendXml(response, `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${escapeXml(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`);
    }
    if (uploadId !== null) {
      const uploadDir = join(this.rootDir, '.uploads', uploadId.replace(/[^0-9a-f-]/g, ''));
      if (!existsSync(uploadDir)) return sendError(response, 404, 'NoSuchUpload', 'unknown upload id');
      if (method === 'PUT') {
        const part = Number(url.searchParams.get('partNumber'));
        const copied = this.copySource(request);
        if (copied !== undefined) {
          // UploadPartCopy: a byte range of another object.
          const range = /^bytes=(\d+)-(\d+)$/.exec(String(request.headers['x-amz-copy-source-range'] ?? ''));
          const data = range ? copied.subarray(Number(range[1]), Number(range[2]) + 1) : copied;
          writeFileSync(join(uploadDir, String(part)), data);
          return sendXml(response, `<CopyPartResult><ETag>"${md5(data)}"</ETag></CopyPartResult>`);
        }
        const body = await readBody(request);
        writeFileSync(join(uploadDir, String(part)), body);
        return send(response, 200, { ETag: `"${md5(body)}"` });
      }
      if (method === 'DELETE') {
        rmSync(uploadDir, { recursive: true, force: true });
        return send(response, 204);
      }
      if (method === 'POST') {
        const manifest = (await readBody(request)).toString('utf8');
        const parts = [...manifest.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
        const data = Buffer.concat(parts.map((part) => readFileSync(join(uploadDir, String(part)))));
        writeObject(objectFile, data);
        rmSync(uploadDir, { recursive: true, force: true });
        return sendXml(response, `<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${escapeXml(key)}</Key><ETag>"${md5(data)}-${parts.length}"</ETag></CompleteMultipartUploadResult>`);
      }
    }
    if (method === 'PUT') {
      const copied = this.copySource(request);
      if (copied !== undefined) {
        writeObject(objectFile, copied);
        return sendXml(response, `<CopyObjectResult><ETag>"${md5(copied)}"</ETag></CopyObjectResult>`);
      }
      const body = await readBody(request);
      writeObject(objectFile, body);
      return send(response, 200, { ETag: `"${md5(body)}"` });
    }
    if (method === 'GET' || method === 'HEAD') {
      if (!existsSync(objectFile) || statSync(objectFile).isDirectory()) return sendError(response, 404, 'NoSuchKey', 'The specified key does not exist.', method === 'HEAD');
      // Opened before answering, as S3 serves a GET that has begun whole: a DELETE handled
      // before an asynchronous open (a Ctrl-C'd run deleting the staged dump the check starts
      // to read) made the read stream fail with ENOENT, unhandled, in the process running the server.
      const fd = openSync(objectFile, 'r');
      response.writeHead(200, { 'Content-Length': fstatSync(fd).size, 'Content-Type': 'application/octet-stream', ETag: '"local"' });
      if (method === 'HEAD') {
        closeSync(fd);
        return void response.end();
      }
      const file = createReadStream('', { fd });
      file.once('error', () => response.destroy());
      file.pipe(response);
      return;
    }
    if (method === 'DELETE') {
      rmSync(objectFile, { force: true });
      return send(response, 204);
    }
    return sendError(response, 405, 'MethodNotAllowed', `${method} is not implemented by the local S3 server`);
  }
}

function writeObject(path: string, data: Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.partial`, data);
  renameSync(`${path}.partial`, path);
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const encoding = request.headers['content-encoding'] ?? '';
  const sha = request.headers['x-amz-content-sha256'] ?? '';
  return encoding.includes('aws-chunked') || String(sha).startsWith('STREAMING-') ? decodeAwsChunked(body) : body;
}

/** aws-chunked: `<hex size>[;chunk-signature=…]\r\n<bytes>\r\n` … `0\r\n<trailers>\r\n\r\n`. */
export function decodeAwsChunked(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', pos);
    if (lineEnd === -1) throw new Error('aws-chunked body: missing chunk header');
    const size = parseInt(body.toString('latin1', pos, lineEnd).split(';')[0], 16);
    if (Number.isNaN(size)) throw new Error('aws-chunked body: bad chunk size');
    if (size === 0) return Buffer.concat(out);
    out.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    pos = lineEnd + 2 + size + 2;
  }
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function send(response: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  response.writeHead(status, headers);
  response.end();
}

function sendXml(response: ServerResponse, xml: string): void {
  response.writeHead(200, { 'Content-Type': 'application/xml' });
  response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
}

function sendError(response: ServerResponse, status: number, code: string, message: string, headOnly = false): void {
  if (response.headersSent) return void response.destroy();
  response.writeHead(status, { 'Content-Type': 'application/xml' });
  response.end(headOnly ? undefined : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`);
}
