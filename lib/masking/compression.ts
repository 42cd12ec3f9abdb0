import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Duplex, PassThrough } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { dieWithParent } from '../util/process-group';

export type Compression = 'zstd' | 'gzip';

/** zstd when its command-line tool is installed (Node 20 has no zstd in zlib), else gzip -1. */
export function defaultCompression(): Compression {
  return zstdPath() !== undefined ? 'zstd' : 'gzip';
}

const zstdPath = () => ['/usr/bin/zstd', '/usr/local/bin/zstd'].find((path) => existsSync(path));
export const extensionOf = (compression: Compression) => (compression === 'zstd' ? '.sql.zst' : '.sql.gz');

/** A stream that compresses (or decompresses) with the chosen format. */
export function codec(compression: Compression, direction: 'compress' | 'decompress'): Duplex {
  if (compression === 'gzip') return direction === 'compress' ? createGzip({ level: 1, chunkSize: 256 * 1024 }) : createGunzip();
  const path = zstdPath();
  if (path === undefined) throw new Error('zstd compression needs the zstd command (apt-get install zstd), or choose compression "gzip"');
  // -1: the fastest level, as with gzip -1; -T0 lets zstd use a second core.
  const child = spawn(...dieWithParent(path, direction === 'compress' ? ['-1', '-T0', '-q', '-c'] : ['-d', '-q', '-c']), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const output = new PassThrough({ highWaterMark: 1024 * 1024 });
  child.stdout.pipe(output, { end: false });
  const duplex = Duplex.from({ writable: child.stdin, readable: output });
  child.stdout.once('end', () => {
    child.once('close', (code) => {
      if (code === 0) output.end();
      else output.destroy(new Error(`zstd ${direction} exited with code ${code}: ${stderr.trim()}`));
    });
  });
  child.once('error', (error) => output.destroy(error));
  duplex.once('close', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return duplex;
}
