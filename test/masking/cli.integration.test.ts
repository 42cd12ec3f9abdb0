/** `npm run mask -- --env local` end to end, in process: sandbox servers, local S3, Slack webhook on loopback. */
import { createServer, type Server } from 'node:http';
import { main } from '../../lib/masking/cli';
import type { Logger } from '../../lib/util/log';

jest.setTimeout(180000);

let server: Server;
const messages: string[] = [];
const lines: string[] = [];
const log: Logger = { debug: () => undefined, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
let stdout = '';
const write = process.stdout.write.bind(process.stdout);

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      messages.push((JSON.parse(body) as { text: string }).text);
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.env.MASK_REFRESH_SLACK_WEBHOOK = `http://127.0.0.1:${(server.address() as { port: number }).port}/services/T1/B1/secret-token-123`;
  process.stdout.write = ((chunk: string) => {
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
});

afterAll(async () => {
  process.stdout.write = write;
  delete process.env.MASK_REFRESH_SLACK_WEBHOOK;
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('--env local --verify: dump, mask, upload, leak check (0 hits), restore staging, notify', async () => {
  const code = await main(['--env', 'local', '--verify', '--customers', '500'], log);
  expect(lines.filter((l) => /error|failed|HIT:/i.test(l))).toEqual([]);
  expect(code).toBe(0);
  expect(stdout).toMatch(/mask-refresh local: OK\nmasked dump: s3:\/\/masked-dumps-local\/local\/app\/.*dump\.sql\.(zst|gz) \(\d+ bytes, 1524 rows/);
  expect(stdout).toMatch(/leak check: 0 hits in \d+ sampled originals; row counts match/);
  expect(stdout).toMatch(/staging: mask-staging restored/);
  expect(messages).toEqual([expect.stringMatching(/^mask-refresh local: OK\n/)]);
  expect(lines.join('\n') + stdout).not.toContain('secret-token-123');
});

test('a failing run notifies too, and exits non-zero', async () => {
  messages.length = 0;
  // The sandbox is new each run: there is no earlier dump to verify.
  const code = await main(['--env', 'local', '--no-dump', '--verify', '--customers', '50'], log);
  expect(code).toBe(1);
  expect(messages).toEqual([expect.stringMatching(/^mask-refresh local: FAILED\ns3:\/\/masked-dumps-local\/local\/app\/latest\.json does not exist: run the masked dump first/)]);
});
