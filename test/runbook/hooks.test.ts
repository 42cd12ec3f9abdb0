/**
 * Hook commands are the operator's programs: they run as their own process group, die with the
 * orchestrator even when it is SIGKILLed, are killed as a group at the timeout, and a program
 * they leave in the background does not hold the run.
 */
import { spawn } from 'node:child_process';
import { runHook, type HookFacts } from '../../lib/runbook/hooks';
import { eventually, runningProgram } from '../support/programs';

jest.setTimeout(120000);

const facts: HookFacts = { runId: 'r1', flow: 'mysql-encrypt', environment: 'test', phase: 'before-switch', dryRun: false, facts: {} };

describe('hook commands', () => {
  test('a SIGKILL of the orchestrator while a hook runs `sleep 600` leaves no process behind', async () => {
    // GIVEN an orchestrator process running a hook whose program is a child of the hook's shell
    const script = `const { runHook } = require(${JSON.stringify(require.resolve('../../lib/runbook/hooks'))});
      runHook('sleep 6011 & wait', ${JSON.stringify(facts)}); setInterval(() => undefined, 1000);`;
    const orchestrator = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], { stdio: 'ignore' });
    try {
      await eventually(() => runningProgram('sleep 6011').length === 1, 'the hook to start');
      // WHEN the orchestrator is killed outright
      orchestrator.kill('SIGKILL');
      // THEN the hook's programs go with it
      await eventually(() => runningProgram('sleep 6011').length === 0, 'the hook to die with the orchestrator');
    } finally {
      orchestrator.kill('SIGKILL');
      for (const pid of runningProgram('sleep 6011')) process.kill(Number(pid), 'SIGKILL');
    }
  });

  test('past its timeout a hook is killed as a group, with a non-zero exit that says so', async () => {
    // GIVEN a hook whose real program outlives its shell's signal
    // WHEN it runs past a 0.5 s timeout
    const outcome = await runHook('echo waiting; sleep 6012 & wait', facts, { timeoutMs: 500 });
    // THEN it failed, said why, and nothing of it is left
    expect(outcome.exitCode).not.toBe(0);
    expect(outcome.outputTail).toMatch(/^waiting\n\(killed after the hook timeout of 500 ms\)$/);
    expect(runningProgram('sleep 6012')).toEqual([]);
  });

  test('a hook that exits leaving a background program holding its output returns at once; the program is killed', async () => {
    // GIVEN a hook that starts a background program and exits 0
    const outcome = await runHook('sleep 6013 & echo "notified"', facts, { timeoutMs: 60000 });
    // THEN its exit and output are reported, and the leftover is gone
    expect(outcome).toMatchObject({ exitCode: 0, outputTail: 'notified' });
    expect(outcome.durationMs).toBeLessThan(60000);
    expect(runningProgram('sleep 6013')).toEqual([]);
  });
});
