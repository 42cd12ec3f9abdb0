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
  expect(stdout).toMatch(/mask-refresh local: OK\nmasked dump: s3:\/\/masked-dumps-local\/local\/app\/.*dump\.sql\.(zst|gz) \(\d+ bytes, 1524 rows/);
  expect(stdout).toMatch(/leak check: 0 hits in \d+ sampled originals; row counts match/);
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
