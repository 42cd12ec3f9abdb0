import { mockClient } from 'aws-sdk-client-mock';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { main, originalsReadLater, parseOptions, UsageError } from '../../lib/masking/cli';
import type { MaskedDumpManifest } from '../../lib/masking/manifest';
import { parseMaskingEnvironment } from '../../lib/masking/environment';
import { readSecret } from '../../lib/masking/secrets-source';
import { maskingEnvironments } from '../../config/masking/environments';
import { redact } from '../../lib/util/secrets';

describe('mask-refresh arguments', () => {
  test('defaults: dump and leak check (nothing is published unchecked), nothing destructive', () => {
    expect(parseOptions(['--env', 'prod'])).toMatchObject({ env: 'prod', dump: true, verify: true, restoreStaging: false, plantLeaks: false });
    expect(parseOptions(['--env', 'prod', '--verify'])).toMatchObject({ verify: true });
    expect(parseOptions(['--env', 'prod', '--no-dump'])).toMatchObject({ dump: false, verify: true });
    expect(parseOptions(['--env', 'prod', '--no-verify', '--out', '/tmp/x.sql.zst'])).toMatchObject({ verify: false, out: '/tmp/x.sql.zst' });
  });
  test.each([
    [[], /--env is required/],
    [['--env', 'prod', '--restore'], /Unknown option '--restore'/],
    [['--env', 'local', '--customers', '0'], /--customers 0: expected a whole number of at least 1/],
    [['--env', 'prod', '--no-verify'], /--no-verify: nothing is published or restored without the leak check.*--no-verify --out FILE/],
    [['--env', 'prod', '--no-verify', '--out', 'x', '--restore-staging'], /--no-verify: nothing is published or restored without the leak check/],
    [['--env', 'prod', '--verify', '--no-verify'], /choose one/],
    [['--env', 'local', '--plant-leaks', '--no-dump'], /--plant-leaks runs its own dump/],
  ])('%j is refused with a message naming the fix', (argv, message) => {
    expect(() => parseOptions(argv as string[])).toThrow(UsageError);
    expect(() => parseOptions(argv as string[])).toThrow(message);
  });
});

describe('masking environments', () => {
  test('the shipped environments are valid', () => {
    for (const name of Object.keys(maskingEnvironments)) expect(() => parseMaskingEnvironment(maskingEnvironments, name)).not.toThrow();
  });
  test('an invalid environment lists each field with what was expected', () => {
    const broken = { bad: { rulesFile: 'x.json', s3: { prefix: 'a/' }, hmacKey: { env: 'lower-case' }, source: { name: 's', host: 'h', user: 'u', database: 'app', password: {} } } };
    expect(() => parseMaskingEnvironment(broken, 'bad')).toThrow(
      /masking environment "bad" is invalid:\n {2}- hmacKey.env: expected an environment variable name[^\n]*\n {2}- source.password: expected "env" or "secretArn"[^\n]*\n {2}- s3.bucket: expected "bucket" or "bucketEnv"/,
    );
    expect(() => parseMaskingEnvironment({ pg: { engine: 'postgres', rulesFile: 'x', sandbox: {} } }, 'pg')).toThrow(/engine: the local sandbox runs MariaDB only/);
    expect(() => parseMaskingEnvironment(broken, 'nope')).toThrow(/--env nope: no such masking environment; choose one of bad/);
  });
});

describe('secrets', () => {
  const secrets = mockClient(SecretsManagerClient);
  afterEach(() => {
    secrets.reset();
    delete process.env.TEST_MASKING_SECRET;
  });

  test('an env var wins over Secrets Manager; either way the value is registered for redaction', async () => {
    process.env.TEST_MASKING_SECRET = 'from-the-environment-1';
    await expect(readSecret({ env: 'TEST_MASKING_SECRET', secretArn: 'arn:x' }, 'key', new SecretsManagerClient({}))).resolves.toBe('from-the-environment-1');
    expect(secrets.calls()).toHaveLength(0);
    expect(redact('key=from-the-environment-1')).toBe('key=***');
  });

  test('a JSON field of a Secrets Manager secret (RDS style)', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:rds' }).resolves({ SecretString: JSON.stringify({ username: 'u', password: 'p4ssw0rd-from-secrets-manager' }) });
    await expect(readSecret({ secretArn: 'arn:rds', jsonKey: 'password' }, 'source password', new SecretsManagerClient({}))).resolves.toBe('p4ssw0rd-from-secrets-manager');
    expect(redact('p4ssw0rd-from-secrets-manager')).toBe('***');
    await expect(readSecret({ secretArn: 'arn:rds', jsonKey: 'pass' }, 'source password', new SecretsManagerClient({}))).rejects.toThrow(/source password: secret arn:rds has no string field "pass"/);
  });

  test('a missing secret names the variable to export', async () => {
    await expect(readSecret({ env: 'TEST_MASKING_SECRET' }, 'masking HMAC key')).rejects.toThrow(/masking HMAC key: not available; export TEST_MASKING_SECRET/);
  });
});

test('--no-dump --verify says in the report that the originals were read now, how long after the dump, not in its snapshot', () => {
  const manifest = { engine: 'postgres', finishedAt: '2026-11-28T06:00:00.000Z', verification: { ok: true, originals: 1, patterns: 1, scannedValues: 1, hits: 0, seconds: 1, checkedAt: '2026-11-28T06:05:00.000Z' } } as unknown as MaskedDumpManifest;
  const reader = originalsReadLater({ name: 's', host: 'h', port: 5432, user: 'u', password: 'p', database: 'app' }, manifest, new Date('2026-12-01T06:00:00.000Z'));
  expect(reader.describe).toBe('now, 3 days after the dump finished (2026-11-28T06:00:00.000Z), not in its snapshot: a value changed since is checked in its new form only; the dump passed its own check in its snapshot at 2026-11-28T06:05:00.000Z');
  expect(originalsReadLater({ name: 's', host: 'h', port: 5432, user: 'u', password: 'p', database: 'app' }, manifest, new Date('2026-11-28T07:30:00.000Z')).describe).toMatch(/^now, 1\.5 h after the dump finished/);
});

describe('thread settings are configuration: checked before anything runs', () => {
  // A nonsense MASKING_SCAN_THREADS used to stop the run only after the whole dump had been
  // taken and staged (exit 1), and a nonsense MASKING_THREADS after mariadb-dump had started:
  // that dump was never stopped, so the run hung with a transaction open on the source.
  const saved = { ...process.env };
  afterEach(() => {
    for (const name of ['MASKING_THREADS', 'MASKING_SCAN_THREADS', 'MASKING_HMAC_KEY', 'MASKING_SOURCE_PASSWORD', 'MASKING_STAGING_PASSWORD', 'MASKED_DUMP_BUCKET']) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  test.each([
    ['MASKING_THREADS', 'abc', /MASKING_THREADS=abc: expected a whole number from 0 \(the calling thread\) to 16; unset it for the default/],
    // Each thread is a V8 isolate (~50 MB): 99 of them asked ~5 GB of a 3 GB CodeBuild machine.
    ['MASKING_THREADS', '99', /MASKING_THREADS=99: expected a whole number from 0 \(the calling thread\) to 16/],
    ['MASKING_THREADS', '17', /MASKING_THREADS=17: expected a whole number/],
    ['MASKING_THREADS', '-1', /MASKING_THREADS=-1: expected a whole number/],
    ['MASKING_THREADS', '1000', /MASKING_THREADS=1000: expected a whole number/],
    ['MASKING_SCAN_THREADS', 'abc', /MASKING_SCAN_THREADS=abc: expected a whole number from 1 to 16; unset it for the default/],
    ['MASKING_SCAN_THREADS', '99', /MASKING_SCAN_THREADS=99: expected a whole number from 1 to 16/],
    ['MASKING_SCAN_THREADS', '-1', /MASKING_SCAN_THREADS=-1: expected a whole number/],
    ['MASKING_SCAN_THREADS', '0', /MASKING_SCAN_THREADS=0: expected a whole number/],
    ['MASKING_SCAN_THREADS', '1000', /MASKING_SCAN_THREADS=1000: expected a whole number/],
  ])('GIVEN %s=%s WHEN the run starts THEN it exits 2 naming the variable and its range, before any secret, server or dump', async (name, value, message) => {
    process.env[name] = value;
    // Everything else a prod run needs is there, but the bucket: without the check the run would get as far as that.
    Object.assign(process.env, { MASKING_HMAC_KEY: 'a'.repeat(64), MASKING_SOURCE_PASSWORD: 'source-password', MASKING_STAGING_PASSWORD: 'staging-password' });
    delete process.env.MASKED_DUMP_BUCKET;
    const lines: string[] = [];
    const log = { debug: () => undefined, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    await expect(main(['--env', 'prod'], log)).resolves.toBe(2);
    expect(lines.join('\n')).toMatch(message);
    expect(lines.join('\n')).not.toMatch(/bucket/);
  });

  test.each([
    ['an empty setting is the default', ''],
    ['the largest accepted setting (16 threads each) gets past the check', '16'],
  ])('%s', async (_case, value) => {
    process.env.MASKING_THREADS = value;
    process.env.MASKING_SCAN_THREADS = value;
    Object.assign(process.env, { MASKING_HMAC_KEY: 'a'.repeat(64), MASKING_SOURCE_PASSWORD: 'source-password', MASKING_STAGING_PASSWORD: 'staging-password' });
    delete process.env.MASKED_DUMP_BUCKET;
    const lines: string[] = [];
    const log = { debug: () => undefined, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    await expect(main(['--env', 'prod'], log)).resolves.toBe(1);
    expect(lines.join('\n')).toMatch(/no S3 bucket: set MASKED_DUMP_BUCKET/);
  });
});

describe('a source that cannot be reached', () => {
  afterEach(() => {
    for (const name of ['MASKING_TEST_HMAC', 'MASKING_TEST_SOURCE_PASSWORD']) delete process.env[name];
  });
  const environments = (host: string, port: number) => ({
    unreachable: {
      rulesFile: 'config/masking/app.rules.json',
      hmacKey: { env: 'MASKING_TEST_HMAC' },
      source: { name: 'prod replica', host, port, user: 'masking_reader', password: { env: 'MASKING_TEST_SOURCE_PASSWORD' }, database: 'app' },
      s3: { bucket: 'masked-dumps', prefix: 'dumps/' },
    },
  });
  test.each([
    ['a host name that does not resolve', 'nohost.invalid', 3306, /could not connect to the source "prod replica" \(nohost\.invalid:3306, user masking_reader, database app\): getaddrinfo [A-Z_]+ nohost\.invalid\. The host name does not resolve from this machine: check source\.host of environment "unreachable" in config\/masking\/environments\.ts and this machine's DNS\. Nothing was dumped\./],
    ['a port where nothing listens', '127.0.0.1', 1, /could not connect to the source "prod replica" \(127\.0\.0\.1:1, user masking_reader, database app\): connect ECONNREFUSED 127\.0\.0\.1:1\. Nothing listens there: check source\.host and source\.port of environment "unreachable" in config\/masking\/environments\.ts, and that the server runs\. Nothing was dumped\./],
  ])('%s: the run says which server it could not reach, with what, and where to fix it (not a bare error); exit 1, no secret in it', async (_case, host, port, message) => {
    Object.assign(process.env, { MASKING_TEST_HMAC: 'b'.repeat(64), MASKING_TEST_SOURCE_PASSWORD: 'the-source-password-9' });
    const lines: string[] = [];
    const log = { debug: () => undefined, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    await expect(main(['--env', 'unreachable'], log, environments(host, port))).resolves.toBe(1);
    expect(lines.join('\n')).toMatch(message);
    expect(lines.join('\n')).not.toMatch(/the-source-password-9|b{64}/);
  });
});
