import { existsSync, rmSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { runRunbook } from '../../lib/runbook/engine';
import { LocalRunLock, RunLockHeld } from '../../lib/runbook/lock';
import type { Runbook } from '../../lib/runbook/step';
import { silentLogger } from '../../lib/util/log';
import { statusLines } from '../../lib/cli/cutover';
import { tempDirsRemovedAfterAll } from '../support/temp-dirs';

/** A runbook whose only action waits until `release` is called. */
function heldRunbook(): { runbook: Runbook; release: () => void; started: Promise<void> } {
  let release!: () => void;
  let started!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const startedPromise = new Promise<void>((resolve) => (started = resolve));
  return {
    release,
    started: startedPromise,
    runbook: {
      flow: 'test.flow',
      summary: [],
      steps: [
        {
          id: 'test.work',
          kind: 'action',
          describe: () => ['work'],
          async apply(context) {
            await context.record({ switchPhase: 'frozen' });
            started();
            await gate;
            return {};
          },
        },
      ],
    },
  };
}

const stateDir = tempDirsRemovedAfterAll('rc-lock-');

describe('one executed run per environment (run lock)', () => {
  test('GIVEN a run holding the local lock WHEN a second run starts on the same environment THEN it refuses, naming the holder and how to release it, and changes nothing', async () => {
    const dir = stateDir();
    const first = heldRunbook();
    const running = runRunbook({ runbook: first.runbook, environment: 'staging', stateDir: dir, dryRun: false, log: silentLogger, lock: new LocalRunLock(dir, 'staging') });
    await first.started;
    const holder = JSON.parse(readFileSync(join(dir, 'locks', 'staging.lock'), 'utf8'));

    const second = heldRunbook();
    const refusal = await runRunbook({ runbook: second.runbook, environment: 'staging', stateDir: dir, dryRun: false, log: silentLogger, lock: new LocalRunLock(dir, 'staging') }).catch((e: Error) => e);
    expect(refusal).toBeInstanceOf(RunLockHeld);
    const message = (refusal as Error).message;
    expect(message).toContain(`locked by run ${holder.runId}`);
    expect(message).toContain(`host ${hostname()}`);
    expect(message).toContain(`pid ${process.pid}`);
    expect(message).toContain(`started ${holder.startedAt}`);
    expect(message).toContain(`--break-lock ${holder.runId}`);
    // the refused run wrote no journal
    expect(readdir(dir)).toEqual([holder.runId]);

    first.release();
    const result = await running;
    expect(result.result).toBe('success');
    // released at run end
    expect(existsSync(join(dir, 'locks', 'staging.lock'))).toBe(false);
  });

  test('GIVEN two runs starting at the same moment THEN exactly one takes the lock (O_EXCL)', async () => {
    const dir = stateDir();
    const lockA = new LocalRunLock(dir, 'staging');
    const lockB = new LocalRunLock(dir, 'staging');
    const outcomes = await Promise.allSettled([
      lockA.acquire({ runId: 'run-a', environment: 'staging', host: hostname(), pid: process.pid, startedAt: 'now' }),
      lockB.acquire({ runId: 'run-b', environment: 'staging', host: hostname(), pid: process.pid, startedAt: 'now' }),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(1);
  });

  test('GIVEN a killed run (no run-end) THEN its lock stays, status says so, the same run resumes with it, and --break-lock releases it only for the named holder', async () => {
    const dir = stateDir();
    // a run "killed" inside its step: the step never returns
    const killed = heldRunbook();
    void runRunbook({ runbook: killed.runbook, environment: 'staging', stateDir: dir, dryRun: false, log: silentLogger, lock: new LocalRunLock(dir, 'staging') });
    await killed.started;
    const runId = readdir(dir)[0];
    const lock = new LocalRunLock(dir, 'staging');
    expect((await lock.holder())!.runId).toBe(runId);
    const { lines, exitCode } = statusLines(dir, runId);
    expect(lines[0]).toContain('IN PROGRESS OR KILLED');
    expect(lines).toContain('step in flight when it stopped (or now): test.work');
    // RULE: status tells a running holder from a dead one by the lock's pid (here this process: alive, started before the lock)
    expect(lines.find((l) => l.startsWith('lock: still held'))).toContain(`running (pid ${process.pid}`);
    expect(lines.find((l) => l.startsWith('next:'))).toMatch(/^next: wait for it to end/);
    expect(lines.find((l) => l.startsWith('switch:'))).toContain('source frozen');
    expect(exitCode).toBe(1);
    // ... and a pid reused by a process that started after the lock was taken is not the holder
    const recorded = readFileSync(lock.where, 'utf8');
    writeFileSync(lock.where, JSON.stringify({ ...JSON.parse(recorded), startedAt: '2001-01-01T00:00:00.000Z' }));
    const reused = statusLines(dir, runId).lines;
    expect(reused.find((l) => l.startsWith('lock: still held'))).toContain(`not running: the process is gone (pid ${process.pid} now belongs to another process`);
    expect(reused.find((l) => l.startsWith('next:'))).toMatch(/^next: resume it with: /);
    // ... and a lock file that is gone (a double Ctrl-C drops it without a journal line) is not "still held" (trial5 F4)
    rmSync(lock.where);
    const dropped = statusLines(dir, runId).lines;
    expect(dropped.filter((l) => l.startsWith('lock:'))).toEqual([`lock: released (the lock file ${lock.where} is gone; the journal recorded no release: the run was stopped hard)`]);
    expect(dropped.join('\n')).not.toContain('--break-lock');
    writeFileSync(lock.where, recorded);
    // another run id is refused; the holder's own resume takes the lock back
    await expect(lock.acquire({ runId: 'someone-else', environment: 'staging', host: hostname(), pid: 1, startedAt: 'now' })).rejects.toThrow(RunLockHeld);
    await expect(lock.acquire({ runId, environment: 'staging', host: hostname(), pid: process.pid, startedAt: 'later' })).resolves.toBeUndefined();
    // --break-lock names the holder; the wrong id is refused
    await expect(lock.breakLock('someone-else')).rejects.toThrow(`held by run ${runId}`);
    expect((await lock.breakLock(runId)).runId).toBe(runId);
    expect(await lock.holder()).toBeUndefined();
    killed.release();
  });

  test('GIVEN a lock left by a pid that is gone on this host THEN the refusal says the holder looks killed, and the lock is not taken over silently', async () => {
    const dir = stateDir();
    mkdirSync(join(dir, 'locks'), { recursive: true });
    writeFileSync(join(dir, 'locks', 'staging.lock'), JSON.stringify({ runId: 'old-run', environment: 'staging', host: hostname(), pid: 2 ** 22 + 12345, startedAt: '2026-11-30T10:00:00.000Z' }));
    const refusal = await new LocalRunLock(dir, 'staging').acquire({ runId: 'new-run', environment: 'staging', host: hostname(), pid: process.pid, startedAt: 'now' }).catch((e: Error) => e);
    expect((refusal as Error).message).toMatch(/locked by run old-run .*its pid is not running on this host \(the run was killed\?\).*--break-lock old-run/);
    expect(JSON.parse(readFileSync(join(dir, 'locks', 'staging.lock'), 'utf8')).runId).toBe('old-run');
  });

  test('GIVEN the run is still running in another process on this host WHEN someone resumes the same run id THEN it refuses (never two processes on one run)', async () => {
    const dir = stateDir();
    mkdirSync(join(dir, 'locks'), { recursive: true });
    writeFileSync(join(dir, 'locks', 'staging.lock'), JSON.stringify({ runId: 'busy-run', environment: 'staging', host: hostname(), pid: process.ppid, startedAt: '2026-11-30T10:00:00.000Z' }));
    await expect(new LocalRunLock(dir, 'staging').acquire({ runId: 'busy-run', environment: 'staging', host: hostname(), pid: process.pid, startedAt: 'now' })).rejects.toThrow(/still running here/);
  });
});

function readdir(dir: string): string[] {
  return require('node:fs').readdirSync(join(dir, 'runs')) as string[];
}
