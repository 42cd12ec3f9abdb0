/**
 * The journal on a full disk (issue 9, item 7): a line the disk takes only in part is cut off
 * again and the append fails with an error that names the file, the cause and the fix — never
 * a torn line that the next append (after room is freed) would bury in the middle of the file,
 * where read() calls the journal corrupt. Real kernel behaviour: the fixture runs under
 * `prlimit --fsize` (no root needed), so the write is partial and then EFBIG.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../lib/runbook/journal';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

test('a journal line cut short by a full disk is removed again, and append throws naming the journal, the cause and the fix', () => {
  // GIVEN a process that may grow no file beyond 1000 bytes
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-journal-full-'));
  dirs.push(stateDir);
  const child = spawnSync('prlimit', ['--fsize=1000:', process.execPath, '--require', require.resolve('tsx/cjs'), join(__dirname, 'fixtures', 'journal-full-append.ts'), stateDir], { encoding: 'utf8' });
  expect(child.stderr).toBe('');
  // WHEN it appends a line that crosses the limit
  const outcome = JSON.parse(child.stdout);
  // THEN append failed with the journal's own error
  expect(outcome).toMatchObject({ threw: true, isJournalWriteError: true, code: 'EFBIG' });
  const path = join(stateDir, 'runs', 'run-1', 'journal.jsonl');
  expect(outcome.message).toBe(`The run's journal ${path} could not be written (EFBIG: file too large, write)`);
  expect(outcome.fix).toBe(`Fix: free space in ${stateDir} (or raise the file size limit), then --resume (a local rehearsal: run it again)`);
  // and the file holds the first line only, whole: an append with room goes on after it
  expect(readFileSync(path, 'utf8').split('\n')).toEqual([expect.stringContaining('"step":"a"'), '']);
  const journal = new Journal(stateDir, 'run-1');
  journal.append({ type: 'step-done', at: 'later', step: 'a', durationMs: 1, facts: {} });
  journal.close();
  expect(journal.read().map((e) => e.type)).toEqual(['step-start', 'step-done']);
  expect(statSync(path).size).toBeLessThan(1000);
});
