/**
 * The user's workload (`--load-command`) with real forking programs: stopping it reaches every
 * program it started, one that ignores SIGTERM is killed after the grace period, a background
 * program holding its output does not keep the rehearsal waiting, a crash is reported as one,
 * and a SIGKILLed orchestrator takes the whole workload with it.
 */
import { spawn } from 'node:child_process';
import { LoadCommand } from '../../lib/load/load-command';
import { livingGroupMembers } from '../../lib/util/process-group';
import { eventually, runningProgram } from '../support/programs';

jest.setTimeout(120000);

const endpoint = { host: '127.0.0.1', port: 3306, user: 'app', password: 'not-a-real-password', database: 'app' };

const running = runningProgram;
const until = eventually;

describe('the user workload (--load-command)', () => {
  test('stopping it signals the whole process group: a shell waiting on a 600 s child ends at once, "stopped"', async () => {
    // GIVEN a workload whose real program is a child of the shell
    const command = new LoadCommand('sleep 6001 & wait', endpoint);
    command.start();
    await until(() => running('sleep 6001').length === 1, 'the workload to start');
    // WHEN the rehearsal stops it
    const outcome = await command.stop();
    // THEN it ended on SIGTERM and nothing of it is left
    expect(outcome.ending).toBe('stopped');
    expect(outcome.crashed).toBe(false);
    expect(running('sleep 6001')).toEqual([]);
    expect(livingGroupMembers(command.pid!)).toEqual([]);
  });

  test('a workload that ignores SIGTERM is SIGKILLed as a group after the grace period: "killed-after-grace"', async () => {
    // GIVEN a workload that ignores SIGTERM (its children inherit that)
    const command = new LoadCommand("trap '' TERM; sleep 6002 & wait", endpoint, 500);
    command.start();
    await until(() => running('sleep 6002').length === 1, 'the workload to start');
    // WHEN it is stopped with a 0.5 s grace period
    const outcome = await command.stop();
    // THEN its group was killed and the report says so
    expect(outcome.ending).toBe('killed-after-grace');
    expect(outcome.signal).toBe('SIGKILL');
    expect(running('sleep 6002')).toEqual([]);
  });

  test('a program of the workload that ignores SIGTERM is "killed-after-grace" even when its shell ends on SIGTERM at once', async () => {
    // GIVEN a workload whose program (not its shell) ignores SIGTERM: the usual shape of a
    // third-party script run as `sh -c "script args"`, whose shell itself dies on SIGTERM
    const command = new LoadCommand(`bash -c 'trap "" TERM; sleep 6004 & wait'; true`, endpoint, 1500);
    command.start();
    await until(() => running('sleep 6004').length === 1, 'the workload to start');
    // WHEN it is stopped with a 1.5 s grace period
    const outcome = await command.stop();
    // THEN it was given the grace period, then killed, and the report says so (not "stopped")
    expect(outcome.ending).toBe('killed-after-grace');
    // and names the signal that ended it: SIGKILL, not the SIGTERM its shell died of (trial3 F7)
    expect(outcome.signal).toBe('SIGKILL');
    expect(running('sleep 6004')).toEqual([]);
  });

  test('a program of the workload that handles SIGTERM gets the grace period to finish (its summary is in the output tail)', async () => {
    // GIVEN a workload program that prints its summary a moment after SIGTERM, under a shell
    const command = new LoadCommand(`bash -c 'trap "sleep 0.3; echo summary-after-term; exit 0" TERM; sleep 6005 & wait'; true`, endpoint, 5000);
    command.start();
    await until(() => running('sleep 6005').length === 1, 'the workload to start');
    // WHEN it is stopped
    const outcome = await command.stop();
    // THEN it finished by itself within the grace period: "stopped", its summary kept
    expect(outcome.ending).toBe('stopped');
    expect(outcome.outputTail).toContain('summary-after-term');
  });

  test('a background program holding stdout does not keep the stop waiting, and is killed', async () => {
    // GIVEN a workload that leaves a program holding its output and exits 0 by itself
    const command = new LoadCommand('sleep 6003 & echo "generator started"; exit 0', endpoint);
    command.start();
    await until(() => command.hasEnded, 'the shell to exit');
    expect(running('sleep 6003').length).toBe(1);
    // WHEN the rehearsal stops it
    const outcome = await command.stop();
    // THEN it is reported as having exited on its own (not a crash), with its output
    expect(outcome).toMatchObject({ ending: 'exited', exitCode: 0, signal: null, crashed: false, outputTail: 'generator started' });
    // and the background program is gone
    expect(running('sleep 6003')).toEqual([]);
  });

  test('a program that left the group (setsid, a daemonising load tool) is stopped too', async () => {
    // GIVEN a workload that starts a program in its own session and process group
    const command = new LoadCommand('setsid sleep 6005 </dev/null >/dev/null 2>&1 & sleep 6006', endpoint);
    command.start();
    await until(() => running('sleep 6005').length === 1 && running('sleep 6006').length === 1, 'the workload to start');
    try {
      // WHEN the rehearsal stops it
      const outcome = await command.stop();
      // THEN the escaped program is gone too, not only the group
      expect(outcome.ending).toBe('stopped');
      expect(running('sleep 6005')).toEqual([]);
    } finally {
      for (const pid of running('sleep 6005')) process.kill(Number(pid), 'SIGKILL');
    }
  });

  test('a workload that exits 3 before it is asked to stop is a crash, with its output tail', async () => {
    // GIVEN a workload that fails on its own
    const command = new LoadCommand('echo "cannot connect to $CUTOVER_DB_HOST" >&2; exit 3', endpoint);
    command.start();
    await until(() => command.hasEnded, 'the workload to fail');
    // WHEN the rehearsal stops it
    const outcome = await command.stop();
    // THEN the outcome says it crashed, how, and what it printed (with the endpoint it was given)
    expect(outcome).toMatchObject({ ending: 'exited', exitCode: 3, crashed: true, outputTail: 'cannot connect to 127.0.0.1' });
  });

  test('a SIGKILL of the orchestrator kills the whole workload, not only its shell', async () => {
    // GIVEN an orchestrator process running a workload whose program is a grandchild
    const script = `const { LoadCommand } = require(${JSON.stringify(require.resolve('../../lib/load/load-command'))});
      const command = new LoadCommand('sleep 6004 & wait', { host: 'h', port: 1, user: 'u', password: 'p', database: 'd' });
      command.start(); console.log('started'); setInterval(() => undefined, 1000);`;
    const orchestrator = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await until(() => running('sleep 6004').length === 1, 'the workload to start');
      // WHEN the orchestrator is killed outright (no handler runs)
      orchestrator.kill('SIGKILL');
      // THEN the workload goes with it
      await until(() => running('sleep 6004').length === 0, 'the workload to die with the orchestrator');
    } finally {
      orchestrator.kill('SIGKILL');
      for (const pid of running('sleep 6004')) process.kill(Number(pid), 'SIGKILL');
    }
  });

  test('a SIGKILL of the orchestrator also kills a program that left the group (setsid)', async () => {
    // GIVEN an orchestrator process running a workload that daemonised one of its programs
    const script = `const { LoadCommand } = require(${JSON.stringify(require.resolve('../../lib/load/load-command'))});
      const command = new LoadCommand('setsid sleep 6007 </dev/null >/dev/null 2>&1 & wait', { host: 'h', port: 1, user: 'u', password: 'p', database: 'd' });
      command.start(); console.log('started'); setInterval(() => undefined, 1000);`;
    const orchestrator = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await until(() => running('sleep 6007').length === 1, 'the workload to start');
      // WHEN the orchestrator is killed outright (no handler runs)
      orchestrator.kill('SIGKILL');
      // THEN the daemonised program goes with it
      await until(() => running('sleep 6007').length === 0, 'the escaped program to die with the orchestrator');
    } finally {
      orchestrator.kill('SIGKILL');
      for (const pid of running('sleep 6007')) process.kill(Number(pid), 'SIGKILL');
    }
  });
});
