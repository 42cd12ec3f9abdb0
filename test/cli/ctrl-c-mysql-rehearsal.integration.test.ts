/**
 * Ctrl-C (SIGINT to the CLI's whole process group, as a terminal sends it) at every moment of a
 * MySQL rehearsal (`npm run rehearse`), issue 9. The rule: wherever the first Ctrl-C lands, from
 * the CLI's start to its report, the rehearsal ends with a report whose verdict is INTERRUPTED,
 * the process exits 130, and nothing it started is left running or in the temp dir:
 * - during mariadb-backup (the replica's copy of the source): the copy is not killed, the step
 *   finishes, the run stops at its boundary;
 * - before the run's own handling starts (the sandbox starting, the load starting): the run stops
 *   before its first step, nothing changed;
 * - after the run (the count of the writes, the sandbox's stop), between the forward run and the
 *   switch back of a --switch-back rehearsal, and right before the report is written.
 * Each moment is reached deterministically: the process is held there (RDS_CUTOVER_PAUSE_AT, or a
 * stand-in mariadb-backup that waits for the test) while the signal is sent, then released.
 * The sandbox's files go to the test's own folder (TMPDIR), so that what is left is seen there.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, statusFromJournal } from '../../lib/runbook/journal';
import { PAUSE_AT_ENV, PAUSE_FILE_ENV } from '../../lib/runbook/kill-point';
import { processesUsing } from '../support/processes';
import { runCli } from '../support/process-group-cli';

jest.setTimeout(1_200_000);

/** A folder for one rehearsal: its state folder, its report and (TMPDIR) its sandbox. */
function workFolder(): { work: string; env: NodeJS.ProcessEnv; reportPath: string } {
  const work = mkdtempSync(join(tmpdir(), 'rc-ccm-')); // short: HAProxy's socket path must fit in 108 bytes
  return { work, env: { TMPDIR: work }, reportPath: join(work, 'report.json') };
}

/** The rehearsal's own run ids (the journal folders in its state folder). */
function runIds(work: string): string[] {
  const runs = join(work, '.rds-cutover', 'runs');
  return existsSync(runs) ? readdirSync(runs) : [];
}

/** Nothing of the rehearsal is left: no process mentions its folder, no sandbox folder remains. */
function expectNothingLeft(work: string): void {
  expect(processesUsing(work)).toEqual([]);
  expect(readdirSync(work).filter((name) => name.startsWith('rds-cutover-mysql-'))).toEqual([]);
}

const LOAD = ['--load-rate', '100', '--load-connections', '2'];

test('Ctrl-C while mariadb-backup copies the source (mysql.replica.create): the copy is not killed, the step finishes, the run stops at its boundary; exit 130, INTERRUPTED in the summary and the report, no mariadb-backup or sandbox process left', async () => {
  const { work, env, reportPath } = workFolder();
  try {
    // GIVEN a mariadb-backup that, for its --backup call, says so and waits for the test before
    // it copies (a stand-in first on the PATH, then the real program): the Ctrl-C lands while it runs
    const bin = join(work, 'bin');
    mkdirSync(bin);
    const running = join(work, 'backup-running');
    writeFileSync(
      join(bin, 'mariadb-backup'),
      `#!/bin/sh\ncase " $* " in *" --backup "*) touch '${running}'; while [ -e '${running}' ]; do sleep 0.05; done;; esac\nexec /usr/bin/mariadb-backup "$@"\n`,
    );
    chmodSync(join(bin, 'mariadb-backup'), 0o755);
    // WHEN Ctrl-C reaches the CLI's process group while it waits (then it is let go)
    const cli = await runCli(['--env', 'local', '--execute', ...LOAD, '--report', reportPath], work, {
      env: { ...env, PATH: `${bin}:${process.env.PATH}` },
      signalWhen: () => existsSync(running),
      releaseFile: running,
    });
    expect(cli.signalled).toBe(true);
    // THEN the copy finished (mariadb-backup was not killed by the Ctrl-C) and the run stopped right after that step
    const [runId] = runIds(work);
    const entries = new Journal(join(work, '.rds-cutover'), runId).read();
    expect(entries.filter((e) => e.type === 'step-failed')).toEqual([]);
    expect(entries.filter((e) => e.type === 'step-done').map((e) => (e as { step: string }).step)).toEqual(['mysql.preflight', 'mysql.replica.create']);
    expect(statusFromJournal(entries).result).toBe('interrupted');
    // and summary, report.json and exit code agree: INTERRUPTED, 130
    expect(cli.output).toMatch(/mysql\.encrypt on local: INTERRUPTED \(Interrupted by SIGINT before mysql\.replica\.catch-up/);
    expect(JSON.parse(readFileSync(reportPath, 'utf8'))).toMatchObject({ verdict: 'interrupted', exitCode: 130 });
    expect(cli.code).toBe(130);
    // and nothing is orphaned: no mariadb-backup (its command line names the sandbox's folder), no server
    expectNothingLeft(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

/**
 * A rehearsal (`args` plus the load and the report) held at `point` (RDS_CUTOVER_PAUSE_AT) and
 * sent Ctrl-C there; `check` reads what it left. Then the rule every case shares: the summary
 * says INTERRUPTED (`why`), report.json and the exit code agree (interrupted, 130), and
 * nothing is left.
 */
async function ctrlCAt(point: string, args: string[], why: RegExp, check: (run: { work: string; report: Record<string, any> }) => void): Promise<void> {
  const { work, env, reportPath } = workFolder();
  const pause = join(work, 'paused');
  try {
    const cli = await runCli(['--env', 'local', '--execute', ...args, ...LOAD, '--report', reportPath], work, {
      env: { ...env, [PAUSE_AT_ENV]: point, [PAUSE_FILE_ENV]: pause },
      signalWhen: () => existsSync(pause),
    });
    expect(cli.signalled).toBe(true);
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    check({ work, report });
    expect(cli.output).toMatch(why);
    expect(report).toMatchObject({ verdict: 'interrupted', exitCode: 130 });
    expect(cli.code).toBe(130);
    expectNothingLeft(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

test('Ctrl-C after the run, while the rehearsal winds down (the count of the writes, the sandbox stop): the report is written with the writes measured, verdict INTERRUPTED, exit 130, nothing left', async () => {
  // GIVEN a rehearsal (no switch back) under the built-in load, held right after its run's last journal line
  // WHEN Ctrl-C reaches the CLI's process group there
  await ctrlCAt('run-end', [], /mysql\.encrypt on local: INTERRUPTED \(Interrupted by SIGINT after the run/, ({ work, report }) => {
    // THEN every step had finished, and the report is there with the switch's window and the writes
    const [runId] = runIds(work);
    expect(statusFromJournal(new Journal(join(work, '.rds-cutover'), runId).read()).result).toBe('success');
    expect(report.load?.failure).toBeUndefined();
    expect(report.writes.acknowledged).toBeGreaterThan(0);
    expect(report.writes.lost).toBe(0);
    expect(report.writeUnavailableMs).toEqual(expect.any(Number));
    expect(report.checksums?.match).toBe(true);
  });
});

test.each(['rehearsal:sandbox-start', 'rehearsal:load-start'])('Ctrl-C before the run handles signals itself (at %s): the run stops before its first step, nothing changed; report INTERRUPTED, exit 130, nothing left', async (point) => {
  // GIVEN a rehearsal held at that moment; WHEN Ctrl-C reaches the CLI's process group there
  await ctrlCAt(point, [], /mysql\.encrypt on local: INTERRUPTED \(Interrupted by SIGINT before mysql\.preflight/, ({ work }) => {
    // THEN the run started and stopped before its first step: nothing was copied, frozen or switched
    const [runId] = runIds(work);
    const entries = new Journal(join(work, '.rds-cutover'), runId).read();
    expect(entries.filter((e) => e.type === 'step-start')).toEqual([]);
    expect(statusFromJournal(entries).result).toBe('interrupted');
  });
});

test('Ctrl-C between the forward run and the switch back of a --switch-back rehearsal: the switch back does not start, traffic stays on the target, the report counts the writes, verdict INTERRUPTED, exit 130', async () => {
  // GIVEN a --switch-back rehearsal held right after its forward run's last journal line
  // WHEN Ctrl-C reaches the CLI's process group there
  await ctrlCAt('run-end', ['--switch-back'], /mysql\.encrypt on local: INTERRUPTED \(Interrupted by SIGINT before the switch back/, ({ work, report }) => {
    // THEN only the forward run ran (finished), the switch back never started
    expect(runIds(work)).toHaveLength(1);
    expect(report.switchBack).toBeUndefined();
    expect(report.writes.acknowledged).toBeGreaterThan(0);
    expect(report.writes.lost).toBe(0);
  });
});

test('Ctrl-C right before the report is written (the sandbox already stopped): the report says INTERRUPTED, never SUCCESS with exit 130', async () => {
  // GIVEN a rehearsal held after its sandbox stopped, before its report is written
  // WHEN Ctrl-C reaches the CLI's process group there: THEN summary, report.json and exit code agree
  await ctrlCAt('rehearsal:report', [], /mysql\.encrypt on local: INTERRUPTED \(Interrupted by SIGINT after the run/, ({ report }) => {
    expect(report.writes.lost).toBe(0);
  });
});
