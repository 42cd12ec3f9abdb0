/**
 * A run leaves nothing behind, and a secret does not stay on disk: earlier versions wrote the
 * database password into `<temp dir>/rds-cutover-mask-client-XXXXXX/client.cnf` and removed it
 * only when the run reached its clean-up, so a killed run left it there. A masking run's start
 * removes such leftovers, but not one an earlier version still running may need.
 */
import { spawn } from 'node:child_process';
import { mockClient } from 'aws-sdk-client-mock';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../lib/masking/cli';
import { removeLeftoverClientOptionFiles } from '../../lib/masking/mysql-client';
import { commandLineOf, isAlive, signalProcess } from '../../lib/util/process-group';
import { sleep } from '../../lib/util/time';

let temp: string;

beforeEach(() => {
  temp = mkdtempSync(join(tmpdir(), 'leftover-options-'));
});

afterEach(() => {
  rmSync(temp, { recursive: true, force: true });
});

/** A folder as an earlier version wrote it, last changed `ageMs` ago. */
function leftover(name: string, ageMs: number): string {
  const dir = join(temp, name);
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, 'client.cnf'), '[client]\nhost=127.0.0.1\nport=3306\nuser="root"\npassword="s3cret-left-behind"\nprotocol=TCP\n', { mode: 0o600 });
  const when = new Date(Date.now() - ageMs);
  utimesSync(dir, when, when);
  return dir;
}

test('GIVEN a folder with a password that a killed run of an earlier version left WHEN leftovers are removed THEN it is', () => {
  const dir = leftover('rds-cutover-mask-client-AbC123', 5 * 60_000);

  expect(removeLeftoverClientOptionFiles(temp)).toEqual([dir]);
  expect(existsSync(dir)).toBe(false);
});

test('GIVEN such a folder written less than a minute ago THEN it stays: an earlier version may be about to start its client with it', () => {
  const dir = leftover('rds-cutover-mask-client-fresh1', 1000);

  expect(removeLeftoverClientOptionFiles(temp)).toEqual([]);
  expect(existsSync(join(dir, 'client.cnf'))).toBe(true);
});

test('GIVEN such a folder that a living process names on its command line THEN it stays: an earlier version\'s client is using it', async () => {
  const dir = leftover('rds-cutover-mask-client-inuse1', 5 * 60_000);
  const client = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', '--', `--defaults-extra-file=${join(dir, 'client.cnf')}`], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100 && !commandLineOf(client.pid!).includes(dir); i += 1) await sleep(50);

    expect(removeLeftoverClientOptionFiles(temp)).toEqual([]);
    expect(existsSync(join(dir, 'client.cnf'))).toBe(true);
  } finally {
    signalProcess(client.pid!, 'SIGKILL');
    for (let i = 0; i < 100 && isAlive(client.pid!); i += 1) await sleep(50);
  }
  expect(removeLeftoverClientOptionFiles(temp)).toEqual([dir]);
});

test('other folders and files in the temp dir are left alone (a masking sandbox, a file of that name)', () => {
  const sandbox = join(temp, 'rds-cutover-mask-Xyz789');
  mkdirSync(sandbox);
  writeFileSync(join(temp, 'rds-cutover-mask-client-notadir'), 'x');
  const old = new Date(Date.now() - 5 * 60_000);
  utimesSync(sandbox, old, old);
  utimesSync(join(temp, 'rds-cutover-mask-client-notadir'), old, old);

  expect(removeLeftoverClientOptionFiles(temp)).toEqual([]);
  expect(existsSync(sandbox)).toBe(true);
  expect(existsSync(join(temp, 'rds-cutover-mask-client-notadir'))).toBe(true);
});

test('the masking CLI removes them at its start: a run whose source secret cannot be read still swept the temp dir, and says so', async () => {
  // In the run's own temp dir (this test run's root: Jest's process.env is a copy, so TMPDIR cannot be pointed elsewhere for main).
  const dir = mkdtempSync(join(tmpdir(), 'rds-cutover-mask-client-'));
  writeFileSync(join(dir, 'client.cnf'), '[client]\npassword="s3cret-left-behind"\n', { mode: 0o600 });
  const old = new Date(Date.now() - 5 * 60_000);
  utimesSync(dir, old, old);
  const secrets = mockClient(SecretsManagerClient);
  secrets.on(GetSecretValueCommand).rejects(new Error('AccessDeniedException: not allowed'));
  const saved = process.env.MASKING_SOURCE_PASSWORD;
  delete process.env.MASKING_SOURCE_PASSWORD;
  const warnings: string[] = [];
  try {
    const code = await main(['--env', 'prod', '--out', join(temp, 'dump.sql.zst')], { debug() {}, info() {}, warn: (line) => warnings.push(line), error() {} });

    expect(code).toBe(1);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1); // it got as far as the secret
    expect(existsSync(dir)).toBe(false);
    expect(warnings).toContainEqual(`removed 1 folder(s) holding a database password that killed masking runs of an earlier version left in the temp dir: ${dir}`);
  } finally {
    secrets.restore();
    rmSync(dir, { recursive: true, force: true });
    if (saved !== undefined) process.env.MASKING_SOURCE_PASSWORD = saved;
  }
});
