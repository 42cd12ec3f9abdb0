/**
 * A masked refresh outside the sandbox (a source and a bucket that outlive the run, as prod's)
 * interrupted with Ctrl-C (SIGINT) while it dumps: it says so and exits 130; nothing is
 * published (no latest.json, no manifest); the source takes writes at once; the next run
 * publishes. Real MariaDB source, the local S3-compatible server, the CLI in a child process
 * (test/support/run-mask-cli.ts) with the environment described here.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../lib/engines/mysql/connection';
import { MaskingSandbox, SANDBOX_BUCKET } from '../../lib/masking/local/sandbox';
import { silentLogger } from '../../lib/util/log';
import { signalProcess } from '../../lib/util/process-group';
import { HoldingS3Proxy } from '../support/holding-s3-proxy';
import { until } from '../support/killed-masking-run';

jest.setTimeout(180000);

let sandbox: MaskingSandbox;

beforeAll(async () => {
  sandbox = await MaskingSandbox.start({ log: silentLogger, customers: 2000 });
});

afterAll(async () => {
  await sandbox?.stop();
});

function runCli(extra: string[] = [], s3Endpoint = sandbox.s3.endpoint, stagingLogin?: { user: string; password: string }) {
  const source = sandbox.target(sandbox.source);
  const staging = { ...sandbox.target(sandbox.staging), ...stagingLogin };
  const environments = {
    outlives: {
      rulesFile: 'config/masking/app.rules.json',
      compression: 'zstd',
      hmacKey: { env: 'MASKING_HMAC_KEY' },
      source: { name: 'test source', host: source.host, port: source.port, user: source.user, password: { env: 'MASKING_TEST_SOURCE_PASSWORD' }, database: 'app' },
      staging: { name: 'test staging', host: staging.host, port: staging.port, user: staging.user, password: { env: 'MASKING_TEST_STAGING_PASSWORD' }, database: 'app' },
      s3: { bucket: SANDBOX_BUCKET, prefix: 'interrupted/' },
    },
  };
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(__dirname, '..', 'support', 'run-mask-cli.ts'), '--env', 'outlives', ...extra], {
    env: { ...process.env, MASKING_TEST_ENVIRONMENTS: JSON.stringify(environments), MASKING_TEST_SOURCE_PASSWORD: source.password, MASKING_TEST_STAGING_PASSWORD: staging.password, MASKING_HMAC_KEY: sandbox.key, AWS_ENDPOINT_URL: s3Endpoint },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  return { child, output: () => output, exited };
}

/** Every object under the run's prefix (staged ones included), as paths under the bucket's folder. */
const objects = () => {
  const dir = join(sandbox.s3.rootDir, SANDBOX_BUCKET, 'interrupted', 'app');
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((name) => name.endsWith('.zst') || name.endsWith('.json')) : [];
};

const published = () => {
  const dir = join(sandbox.s3.rootDir, SANDBOX_BUCKET, 'interrupted', 'app');
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((name) => name.endsWith('.json')) : [];
};

test('GIVEN a run against a source and bucket that outlive it WHEN Ctrl-C (SIGINT) lands during the dump THEN it says so, exits 130, publishes nothing, leaves the source writable, and the next run publishes', async () => {
  const run = runCli();
  try {
    await until(() => {
      if (run.child.exitCode !== null) throw new Error(`the run ended before its dump started: ${run.output()}`);
      return run.output().includes('masked dump of');
    }, 'the dump to start', 1200);
    run.child.kill('SIGINT');
    const end = await run.exited;
    expect({ end, said: run.output().includes('SIGINT received: mask-refresh outlives stopped; nothing was published') }).toEqual({ end: { code: 130, signal: null }, said: true });
  } finally {
    signalProcess(run.child.pid!, 'SIGKILL');
  }
  expect(published()).toEqual([]);
  const writer = await connect(sandbox.source.endpoint(), { database: 'app' });
  try {
    await writer.query("INSERT INTO products (id, name) VALUES (999998, 'after the interrupt')");
    await writer.query('DELETE FROM products WHERE id = 999998');
  } finally {
    await writer.end();
  }

  const next = runCli();
  expect({ end: await next.exited, output: next.output() }).toEqual({ end: { code: 0, signal: null }, output: expect.stringContaining('mask-refresh outlives: OK') });
  expect(published().sort()).toEqual([expect.stringMatching(/manifest\.json$/), 'latest.json'].sort());
});

test.each([
  ['to the bucket', [] as string[]],
  ['to a file (--out)', ['--out', 'FILE']],
])('GIVEN a run whose dump is staged (%s) WHEN Ctrl-C (SIGINT) lands during the leak check THEN the staged dump is deleted (not left until the retention expires), it says so, exits 130 and publishes nothing', async (_case, extra) => {
  const folder = mkdtempSync(join(tmpdir(), 'rc-interrupted-'));
  const out = join(folder, 'app.sql.zst');
  const before = objects();
  const run = runCli(extra.map((arg) => (arg === 'FILE' ? out : arg)));
  let signalled = false;
  try {
    // The signal goes as soon as the run says its dump is staged: the check starts right after.
    run.child.stdout!.on('data', (chunk: Buffer) => {
      if (!signalled && chunk.toString().includes('masked dump staged:')) {
        signalled = true;
        run.child.kill('SIGINT');
      }
    });
    run.child.stderr!.on('data', (chunk: Buffer) => {
      if (!signalled && chunk.toString().includes('masked dump staged:')) {
        signalled = true;
        run.child.kill('SIGINT');
      }
    });
    const end = await run.exited;
    expect({ signalled, end, said: run.output().match(/SIGINT received: mask-refresh outlives stopped; nothing was published[^\n]*/)?.[0] }).toEqual({
      signalled: true,
      end: { code: 130, signal: null },
      said: expect.stringMatching(extra.length ? /the staged dump \S+app\.sql\.zst\.staged was deleted/ : /the staged dump s3:\/\/\S+\/staged\/\S+ was deleted/),
    });
  } finally {
    signalProcess(run.child.pid!, 'SIGKILL');
  }
  expect(objects().filter((name) => !before.includes(name))).toEqual([]);
  expect(readdirSync(folder)).toEqual([]);
  rmSync(folder, { recursive: true, force: true });
});

test('GIVEN a run writing its dump to a file (--out) WHEN Ctrl-C (SIGINT) lands during the dump THEN the partial file is removed (it held masked but unchecked rows), it says so without naming a bucket or latest.json, and exits 130', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'rc-interrupted-'));
  const out = join(folder, 'app.sql.zst');
  try {
    const run = runCli(['--out', out]);
    try {
      await until(() => {
        if (run.child.exitCode !== null) throw new Error(`the run ended before its dump started: ${run.output()}`);
        return existsSync(`${out}.partial`);
      }, 'the dump to start writing the file', 1200);
      run.child.kill('SIGINT');
      const end = await run.exited;
      const said = run.output().match(/SIGINT received: [^\n]*/)?.[0];
      expect({ end, said }).toEqual({ end: { code: 130, signal: null }, said: expect.stringContaining(`the partial file ${out}.partial was removed`) });
      expect(said).not.toMatch(/latest\.json|bucket|upload/);
    } finally {
      signalProcess(run.child.pid!, 'SIGKILL');
    }
    expect(readdirSync(folder)).toEqual([]);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('GIVEN a run that published its dump WHEN Ctrl-C (SIGINT) lands while it restores staging THEN it says the dump was published (latest.json names it) and that staging may hold a partial load, not that nothing was published; exits 130', async () => {
  // The restore's DROP DATABASE waits for this transaction's metadata lock: the signal surely
  // lands during the restore, after publishing.
  const holder = await connect(sandbox.staging.endpoint());
  const run = runCli(['--restore-staging']);
  try {
    await holder.query('CREATE DATABASE IF NOT EXISTS app');
    await holder.query('CREATE TABLE IF NOT EXISTS app.held_by_the_test (id INT)');
    await holder.query('START TRANSACTION');
    await holder.query('SELECT * FROM app.held_by_the_test');
    await until(async () => {
      if (run.child.exitCode !== null) throw new Error(`the run ended before its restore waited: ${run.output()}`);
      const [rows] = await holder.query("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'DROP DATABASE%'");
      return Number((rows as { n: number }[])[0].n) > 0;
    }, 'the restore to wait for the lock', 1200);
    run.child.kill('SIGINT');
    const end = await run.exited;
    const dump = run.output().match(/published (s3:\/\/\S+\.zst) and/)?.[1];
    const said = run.output().match(/SIGINT received: [^\n]*/)?.[0];
    expect({ end, dump, said }).toEqual({
      end: { code: 130, signal: null },
      dump: expect.stringMatching(/^s3:\/\//),
      said: expect.stringContaining(`stopped; the dump ${dump} was published (latest.json names it) before the signal.`),
    });
    expect(said).toContain('The restore of staging "test staging" was interrupted: it may hold a partial load until it is restored again (--no-dump --restore-staging');
    expect(said).not.toMatch(/nothing was published/);
    const latest = JSON.parse(readFileSync(join(sandbox.s3.rootDir, SANDBOX_BUCKET, 'interrupted', 'app', 'latest.json'), 'utf8')) as { object: string };
    expect(latest.object).toBe(dump);
  } finally {
    signalProcess(run.child.pid!, 'SIGKILL');
    await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end();
  }
});

/** Signal the run once its output contains `text`. */
function signalWhenSaid(run: ReturnType<typeof runCli>, text: string, signal: NodeJS.Signals) {
  let signalled = false;
  for (const stream of [run.child.stdout!, run.child.stderr!]) {
    stream.on('data', () => {
      if (!signalled && run.output().includes(text)) {
        signalled = true;
        run.child.kill(signal);
      }
    });
  }
  return () => signalled;
}

test('GIVEN the bucket stops answering deletes WHEN a second Ctrl-C lands while the staged dump is being deleted THEN it exits at once saying the staged dump was not deleted and expires with the retention (not silent about it), exit 130', async () => {
  const proxy = new HoldingS3Proxy(sandbox.s3.endpoint, (method, path) => method === 'DELETE' && path.includes('/staged/'));
  try {
    const run = runCli([], await proxy.start());
    try {
      const signalled = signalWhenSaid(run, 'masked dump staged:', 'SIGINT');
      // The check reads the dump (GET, answered) and ends; both deletes (the signal's, the run's) wait.
      await until(() => {
        if (run.child.exitCode !== null) throw new Error(`the run ended before the second signal: ${run.output()}`);
        return signalled() && run.output().includes('row counts:') && proxy.held.length >= 2;
      }, 'the check to end and both deletes to wait', 1200);
      run.child.kill('SIGINT');
      const end = await run.exited;
      const dump = run.output().match(/to (s3:\/\/\S+\/staged\/\S+\.zst) with rules/)?.[1];
      expect({ end, dump, said: run.output().match(/SIGINT received: [^\n]*/)?.[0] }).toEqual({
        end: { code: 130, signal: null },
        dump: expect.stringMatching(/^s3:/),
        said: expect.stringContaining(`nothing was published (latest.json still names the last good dump). The dump client and its sessions on the source ended with it; the staged dump ${dump} was not deleted (a second signal): it expires with the dumps' retention.`),
      });
    } finally {
      signalProcess(run.child.pid!, 'SIGKILL');
    }
  } finally {
    await proxy.stop();
  }
});

test('GIVEN the bucket stops answering while the run publishes WHEN Ctrl-C (SIGTERM) lands THEN it waits at most 10 s for the publishing and says it did not finish and that latest.json names the last good dump or this one (not that nothing was published), exit 143', async () => {
  const proxy = new HoldingS3Proxy(sandbox.s3.endpoint, (method, path) => method === 'PUT' && path.split('?')[0].endsWith('/latest.json'));
  try {
    const run = runCli([], await proxy.start());
    try {
      await until(() => {
        if (run.child.exitCode !== null) throw new Error(`the run ended before it published: ${run.output()}`);
        return proxy.held.length > 0;
      }, 'the run to write latest.json', 1200);
      run.child.kill('SIGTERM');
      const end = await run.exited;
      const said = run.output().match(/SIGTERM received: [^\n]*/)?.[0];
      expect({ end, said }).toEqual({
        end: { code: 143, signal: null },
        said: expect.stringContaining("stopped; publishing this run's dump did not finish (no answer within 10 s): latest.json names the last good dump or this one (both passed their leak check)."),
      });
      expect(said).not.toMatch(/nothing was published/);
    } finally {
      signalProcess(run.child.pid!, 'SIGKILL');
    }
  } finally {
    await proxy.stop();
  }
});

test('GIVEN a staging user that may not drop the database WHEN the restore fails after publishing THEN the failure says the dump was published (latest.json names it) and staging may hold a partial load, not only the restore error; exit 1', async () => {
  const admin = await connect(sandbox.staging.endpoint());
  try {
    for (const host of ['127.0.0.1', 'localhost']) {
      await admin.query(`CREATE USER IF NOT EXISTS 'no_drop'@'${host}' IDENTIFIED BY 'no-drop-password-5'`);
      await admin.query(`GRANT SELECT ON *.* TO 'no_drop'@'${host}'`);
    }
  } finally {
    await admin.end();
  }
  const run = runCli(['--restore-staging'], sandbox.s3.endpoint, { user: 'no_drop', password: 'no-drop-password-5' });
  try {
    const end = await run.exited;
    const dump = run.output().match(/published (s3:\/\/\S+\.zst) and/)?.[1];
    expect({ end, dump }).toEqual({ end: { code: 1, signal: null }, dump: expect.stringMatching(/^s3:\/\//) });
    // The error (mariadb's, several lines), then what the run leaves.
    const failed = run.output().slice(run.output().indexOf('DROP DATABASE IF EXISTS'));
    expect(failed).toContain(`The dump ${dump} was published before this (latest.json names it); the restore of staging "test staging" did not finish: it may hold a partial load until it is restored again (--no-dump --restore-staging restores the latest published dump).`);
    expect(run.output()).not.toContain('no-drop-password-5');
  } finally {
    signalProcess(run.child.pid!, 'SIGKILL');
  }
});
