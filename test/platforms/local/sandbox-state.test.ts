/**
 * Rehearsal folders a killed run left in the temp dir are found by their owner's pid: removed
 * when the owner is gone, never while it runs, never without the marker.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abandonedRehearsalFolders, removeAbandonedRehearsals, REHEARSAL_OWNER_FILE } from '../../../lib/platforms/local/sandbox-state';

const root = mkdtempSync(join(tmpdir(), 'rc-abandoned-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function folder(name: string, owner?: number): string {
  const dir = join(root, name);
  mkdirSync(dir);
  if (owner !== undefined) writeFileSync(join(dir, REHEARSAL_OWNER_FILE), `${owner}\n`);
  return dir;
}

test('a rehearsal folder whose owner process is gone is removed; one whose owner runs, or without an owner file, is kept', async () => {
  // GIVEN a finished process's pid, this process's pid, and a folder with no marker
  const deadPid = spawnSync('true').pid!;
  const abandoned = folder('rds-cutover-mysql-dead', deadPid);
  const running = folder('rds-cutover-pg-live', process.pid);
  const unmarked = folder('rds-cutover-mysql-nomark');
  const unrelated = folder('something-else', deadPid);
  // WHEN the next rehearsal looks for leftovers
  expect(abandonedRehearsalFolders(root)).toEqual([abandoned]);
  const removed = await removeAbandonedRehearsals(root);
  // THEN only the dead owner's folder is gone
  expect(removed).toEqual([abandoned]);
  expect(existsSync(abandoned)).toBe(false);
  for (const kept of [running, unmarked, unrelated]) expect(existsSync(kept)).toBe(true);
});
