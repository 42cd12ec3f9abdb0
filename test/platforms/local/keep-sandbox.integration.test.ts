/**
 * `--keep-sandbox` keeps a rehearsal's folder for the user to read (logs, data): the next
 * rehearsal must not take it for one a killed run left behind. Before, the folder kept its owner
 * file, whose process (the finished rehearsal) was gone, so the next rehearsal's clean-up
 * (removeAbandonedRehearsals) deleted it. Real servers, small seed.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MysqlSandbox } from '../../../lib/platforms/local/mysql-sandbox';
import { PostgresSandbox } from '../../../lib/platforms/local/postgres-sandbox';
import { REHEARSAL_OWNER_FILE } from '../../../lib/platforms/local/sandbox-state';
import { silentLogger } from '../../../lib/util/log';

jest.setTimeout(180000);

const kept: string[] = [];
afterAll(() => {
  for (const folder of kept) rmSync(folder, { recursive: true, force: true });
});

test.each([
  ['MariaDB', () => MysqlSandbox.start({ log: silentLogger, seedRows: 10, keepFiles: true })],
  ['PostgreSQL', () => PostgresSandbox.start({ log: silentLogger, seedRows: 10, keepFiles: true })],
])('GIVEN a %s rehearsal sandbox kept with --keep-sandbox WHEN it has stopped THEN the next rehearsal does not take its folder for an abandoned one', async (_engine, start) => {
  const sandbox = await start();
  kept.push(sandbox.baseDir);
  await sandbox.stop();
  expect(existsSync(sandbox.baseDir)).toBe(true);
  // The clean-up removes a folder whose owner file names a process that is gone, and keeps one
  // without an owner file (test/platforms/local/sandbox-state.test.ts). This process (the owner)
  // still runs here, so what tells the kept folder apart after it exits is the owner file's absence.
  expect(existsSync(join(sandbox.baseDir, REHEARSAL_OWNER_FILE))).toBe(false);
});
