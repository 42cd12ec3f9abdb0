/** `npm run mask -- --env local` end to end, in process: sandbox servers, local S3, Slack webhook on loopback. */
import { main } from '../../lib/masking/cli';
import type { Logger } from '../../lib/util/log';
import { startWebhook } from './helpers';

jest.setTimeout(180000);

let webhook: Awaited<ReturnType<typeof startWebhook>>;
const messages = () => webhook.received.map((r) => (JSON.parse(r.body) as { text: string }).text);
const lines: string[] = [];
const log: Logger = { debug: () => undefined, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
let stdout = '';
const write = process.stdout.write.bind(process.stdout);

beforeAll(async () => {
  webhook = await startWebhook();
  process.env.MASK_REFRESH_SLACK_WEBHOOK = webhook.url;
  process.stdout.write = ((chunk: string) => {
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
});

afterAll(async () => {
  process.stdout.write = write;
  delete process.env.MASK_REFRESH_SLACK_WEBHOOK;
  await webhook.close();
});

test('--env local --verify: dump, mask, upload, leak check (0 hits), restore staging, notify', async () => {
  const code = await main(['--env', 'local', '--verify', '--customers', '500'], log);
  expect(lines.filter((l) => /error|failed|HIT:/i.test(l))).toEqual([]);
  expect(code).toBe(0);
  expect(stdout).toMatch(/mask-refresh local: OK\nmasked dump: staged s3:\/\/masked-dumps-local\/local\/app\/staged\/.*dump\.sql\.(zst|gz) \(\d+ bytes, 1524 rows/);
  expect(stdout).toMatch(/leak check: 0 hits in \d+ values against \d+ originals \(\d+ patterns\) in [\d.]+ s; row counts match/);
  expect(stdout).toMatch(/published: s3:\/\/masked-dumps-local\/local\/app\/\d{4}-[^/]+\/dump\.sql\.(zst|gz) \(latest\.json points at it\)/);
  expect(stdout).toMatch(/staging: mask-staging restored/);
  expect(messages()).toEqual([expect.stringMatching(/^mask-refresh local: OK\n/)]);
  expect(lines.join('\n') + stdout).not.toContain('/services/');
});

test('a failing run notifies too, and exits non-zero', async () => {
  webhook.received.length = 0;
  // The sandbox is new each run: there is no earlier dump to verify.
  const code = await main(['--env', 'local', '--no-dump', '--verify', '--customers', '50'], log);
  expect(code).toBe(1);
  expect(messages()).toEqual([expect.stringMatching(/^mask-refresh local: FAILED\ns3:\/\/masked-dumps-local\/local\/app\/latest\.json does not exist: run the masked dump first/)]);
});

test('--no-dump --restore-staging never restores a dump whose manifest carries no passed leak check', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'mask-unverified-'));
  try {
    const file = join(dir, 'old.sql.gz');
    writeFileSync(file, '');
    writeFileSync(`${file}.manifest.json`, JSON.stringify({ format: 'rds-cutover/masked-dump/v1', database: 'app', engine: 'mysql', object: file, compression: 'gzip', rows: {} }));
    lines.length = 0;
    const code = await main(['--env', 'local', '--no-dump', '--restore-staging', '--out', file, '--customers', '20'], log);
    expect(code).toBe(1);
    expect(lines.join('\n')).toMatch(/old\.sql\.gz carries no passed leak check in its manifest .*never restored/);
    expect(lines.join('\n')).not.toMatch(/restore: dropping/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run mask -- --env local --verify --plant-leaks: every planted leak is reported, nothing is published, exit 0', async () => {
  const { spawnSync } = await import('node:child_process');
  const run = spawnSync('npm', ['run', '--silent', 'mask', '--', '--env', 'local', '--verify', '--plant-leaks', '--customers', '300'], { encoding: 'utf8', env: { ...process.env, MASK_REFRESH_SLACK_WEBHOOK: '' }, timeout: 290000 });
  const last = run.stdout.trim().split('\n').at(-1)!;
  expect({ status: run.status, last: JSON.parse(last) }).toEqual({ status: 0, last: { planted: 18, found: 18, published: false } });
  expect(run.stdout + run.stderr).not.toMatch(/MISSED/);
}, 300000);

test('GIVEN a published dump cut short after it was written WHEN --no-dump --restore-staging THEN it is refused as not the dump its manifest describes, naming the fix, and nothing is restored', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { gzipSync } = await import('node:zlib');
  const { createHash } = await import('node:crypto');
  const dir = mkdtempSync(join(tmpdir(), 'mask-cut-'));
  try {
    const file = join(dir, 'app.sql.gz');
    const whole = gzipSync(Buffer.from('-- a dump\n'.repeat(5000)));
    // A copy interrupted half way (a full disk, a killed cp): the manifest still describes the whole.
    writeFileSync(file, whole.subarray(0, whole.length >> 1));
    const verification = { ok: true, originals: 1, patterns: 1, scannedValues: 1, hits: 0, seconds: 1, checkedAt: '2026-12-01T06:05:00.000Z' };
    writeFileSync(`${file}.manifest.json`, JSON.stringify({ format: 'rds-cutover/masked-dump/v1', database: 'app', engine: 'mysql', object: file, compression: 'gzip', bytes: whole.length, sha256: createHash('sha256').update(whole).digest('hex'), rows: {}, finishedAt: '2026-12-01T06:00:00.000Z', verification }));
    lines.length = 0;
    const code = await main(['--env', 'local', '--no-dump', '--restore-staging', '--out', file, '--customers', '20'], log);
    expect(code).toBe(1);
    expect(lines.join('\n')).toContain(`${file} is not the dump its manifest describes: ${whole.length >> 1} bytes`);
    expect(lines.join('\n')).toMatch(/cut short or changed since it was written.*run a new dump/);
    expect(lines.join('\n')).not.toMatch(/restore: dropping/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
