/**
 * The fault-injection hook (lib/runbook/kill-point.ts) the fault matrix relies on: with
 * RDS_CUTOVER_KILL_AT naming a journal entry, the process dies by SIGKILL right after that
 * entry is on disk, and not a line later; without it, nothing happens.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, type JournalEntry } from '../../lib/runbook/journal';
import { killPointOf } from '../../lib/runbook/kill-point';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function runFixture(killAt?: string): { signal: NodeJS.Signals | null; stdout: string; entries: JournalEntry[] } {
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-kill-point-'));
  dirs.push(stateDir);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.RDS_CUTOVER_KILL_AT;
  if (killAt) env.RDS_CUTOVER_KILL_AT = killAt;
  const child = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), join(__dirname, 'fixtures', 'kill-point-run.ts'), stateDir], { env, encoding: 'utf8' });
  const [runId] = readdirSync(join(stateDir, 'runs'));
  return { signal: child.signal, stdout: child.stdout, entries: new Journal(stateDir, runId).read() };
}

describe('RDS_CUTOVER_KILL_AT (fault-injection hook)', () => {
  test('kills the process right after the named sub-phase entry is journaled (the nth step-progress of a step)', () => {
    // GIVEN a run whose step test.b records two sub-phases
    // WHEN the hook names the second one
    const { signal, stdout, entries } = runFixture('step-progress:test.b:2');
    // THEN the process died by SIGKILL, and that entry is the journal's last
    expect(signal).toBe('SIGKILL');
    expect(stdout).toBe('');
    expect(entries.at(-1)).toMatchObject({ type: 'step-progress', step: 'test.b', facts: { phase: 'two' } });
  });

  test('kills right after the sub-phase that journals a named switch phase (step-progress:<step>=<phase>), whatever its number', () => {
    const { signal, entries } = runFixture('step-progress:test.b=promoted');
    expect(signal).toBe('SIGKILL');
    expect(entries.at(-1)).toMatchObject({ type: 'step-progress', step: 'test.b', facts: { phase: 'two', switchPhase: 'promoted' } });
    // a phase no entry journals kills nothing
    expect(runFixture('step-progress:test.b=recycled').signal).toBeNull();
  });

  test('kills at a step boundary: nothing of the next step is journaled', () => {
    const { signal, entries } = runFixture('step-done:test.a');
    expect(signal).toBe('SIGKILL');
    expect(entries.at(-1)).toMatchObject({ type: 'step-done', step: 'test.a' });
    expect(entries.some((e) => e.type === 'step-start' && e.step === 'test.b')).toBe(false);
  });

  test('is off unless the variable is set: the run finishes', () => {
    const { signal, stdout, entries } = runFixture();
    expect(signal).toBeNull();
    expect(stdout.trim()).toBe('success');
    expect(entries.at(-1)).toMatchObject({ type: 'run-end', result: 'success' });
  });

  test('names entries the way the fault matrix enumerates them', () => {
    expect(killPointOf({ type: 'step-start', at: '', step: 'mysql.switch' }, 0)).toBe('step-start:mysql.switch');
    expect(killPointOf({ type: 'step-progress', at: '', step: 'mysql.switch', facts: {} }, 3)).toBe('step-progress:mysql.switch:3');
    expect(killPointOf({ type: 'run-end', at: '', result: 'success' }, 0)).toBeUndefined();
  });
});
