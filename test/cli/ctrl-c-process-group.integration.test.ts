/**
 * Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group (the CLI, and
 * every child that did not start a group of its own), not to the CLI process alone. The CLI is
 * spawned detached so that it leads its own group, and the test signals that group
 * (`process.kill(-pid, 'SIGINT')`). Rules (issue 9 / 12, trial3 findings 1, 2 and 9):
 * - a Ctrl-C before a destructive step starts stops the run at that step's boundary: exit 130,
 *   nothing destroyed (`complete --delete-old` deleted the old source one step too late);
 * - summary, report.json and report page say INTERRUPTED whenever the process exits 130;
 * - a rehearsal's built-in load and `--load-command` workload are not killed by it: the report
 *   still counts the writes it measured and shows every window that happened;
 * - nor are the copy tools a step runs (pg_dump, pg_restore, psql, mariadb-backup): the step in
 *   progress finishes, the run stops at the next boundary, resumable.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, statusFromJournal } from '../../lib/runbook/journal';
import { PAUSE_AT_ENV, PAUSE_FILE_ENV } from '../../lib/runbook/kill-point';
import { readSandboxState, sandboxFolder, sandboxLiveness } from '../../lib/platforms/local/sandbox-state';
import { sandboxDown, sandboxUp } from '../../lib/cli/sandbox';
import { silentLogger } from '../../lib/util/log';
import { closePg, connectPg, pgRow, type PgClient } from '../../lib/engines/postgres/connection';
import { sleep } from '../../lib/util/time';
import { reportOf, runCli } from '../support/process-group-cli';

test('Ctrl-C (SIGINT to the process group) that lands as mysql.reverse-replication.stop ends: complete --delete-old stops before mysql.source.delete, the old source is kept, exit 130 and INTERRUPTED everywhere', async () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-cc-')); // short: HAProxy's socket path must fit in 108 bytes
  const stateDir = join(work, '.rds-cutover');
  try {
    // GIVEN a persistent sandbox cut over to the target by the CLI
    await sandboxUp(stateDir, 'mysql', silentLogger, 500);
    const forward = await runCli(['--env', 'sandbox', '--execute'], work);
    expect(forward.code).toBe(0);
    const [runId] = readdirSync(join(stateDir, 'runs'));

    // WHEN Ctrl-C reaches the whole group just as mysql.reverse-replication.stop is done, before
    // mysql.source.delete starts (the process is held there, as a busy machine holds it, and
    // released once the signal was sent)
    const pause = join(work, 'paused');
    const complete = await runCli(['complete', runId, '--execute', '--delete-old'], work, {
      env: { [PAUSE_AT_ENV]: 'step-done:mysql.reverse-replication.stop', [PAUSE_FILE_ENV]: pause },
      signalWhen: () => existsSync(pause),
      afterSignal: () => rmSync(pause, { force: true }),
    });
    expect(complete.signalled).toBe(true);

    // THEN the run stops at that boundary: exit 130, the delete never started, the old source lives
    const completeRunId = readdirSync(join(stateDir, 'runs')).find((id) => id !== runId)!;
    const entries = new Journal(stateDir, completeRunId).read();
    expect(entries.filter((e) => e.type === 'step-start').map((e) => (e as { step: string }).step)).toEqual(['mysql.complete.preflight', 'mysql.reverse-replication.stop']);
    expect(statusFromJournal(entries).result).toBe('interrupted');
    const sandbox = readSandboxState(sandboxFolder(stateDir, 'mysql'))!;
    expect(sandbox.state.servers.map((s) => s.name)).toContain('source');
    expect(sandboxLiveness(sandbox.state).alive).toContain('source');
    expect(complete.code).toBe(130);
    // and summary, report.json and the report page agree with the exit code
    expect(complete.output).toMatch(/mysql\.complete on sandbox: INTERRUPTED \(Interrupted by SIGINT before mysql\.source\.delete\)/);
    expect(reportOf(stateDir, completeRunId)).toMatchObject({ verdict: 'interrupted', exitCode: 130 });
    expect(readFileSync(join(stateDir, 'runs', completeRunId, 'report.html'), 'utf8')).toContain('id="result">INTERRUPTED');
  } finally {
    await sandboxDown(stateDir, 'mysql').catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}, 1_200_000);

test('Ctrl-C (SIGINT to the process group) during a PostgreSQL --switch-back rehearsal: the load and the workload survive it, the report counts the writes of both windows, verdict INTERRUPTED, exit 130', async () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-cc-pg-'));
  const reportPath = join(work, 'report.json');
  try {
    // GIVEN a rehearsal switching forward and back under the built-in load and a user workload
    // that ignores nothing (a terminal's SIGINT would end it at once if it reached it)
    const rehearsal = await runCli(['--env', 'local', '--execute', '--engine', 'postgres', '--switch-back', '--load-rate', '100', '--load-command', 'while true; do sleep 0.1; done', '--report', reportPath], work, {
      // WHEN Ctrl-C reaches the CLI's process group once the switch back started
      signalWhen: (output) => /postgres\.switch-back: /.test(output),
    });
    expect(rehearsal.signalled).toBe(true);
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    // THEN the switch back is in the report (it ran: traffic moved back), with its window
    expect(report.switchBack).toBeDefined();
    expect(report.windows?.back).toBeDefined();
    // and its checksums were still compared: the snapshots taken inside the switch live only in
    // this process, so stopping before the comparison would throw the proof away (trial4 F3:
    // "INTERRUPTED before postgres.switch-back.verify.checksums", then resume "NOT VERIFIED")
    expect({ verified: report.switchBack.checksumsVerified, match: report.switchBack.checksums?.match }).toEqual({ verified: true, match: true });
    // and the load's proof is kept: writes counted, none lost, no dead load worker
    expect(report.load?.failure).toBeUndefined();
    expect(report.load?.command?.crashed).toBe(false);
    expect(report.writes.acknowledged).toBeGreaterThan(0);
    expect(report.writes.lost).toBe(0);
    expect(rehearsal.output).not.toContain('NO PROOF');
    // and summary, report.json and exit code agree: INTERRUPTED, 130
    expect(rehearsal.output).toMatch(/postgres\.logical on local: INTERRUPTED/);
    expect(report).toMatchObject({ verdict: 'interrupted', exitCode: 130 });
    expect(rehearsal.code).toBe(130);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 1_200_000);

test('Ctrl-C (SIGINT to the process group) after the run of a PostgreSQL rehearsal without --switch-back, while it winds down (the writes counted, the sandbox stopped): the report is written with the writes measured, verdict INTERRUPTED, exit 130', async () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-cc-tail-'));
  const reportPath = join(work, 'report.json');
  const runs = join(work, '.rds-cutover', 'runs');
  // The run's journal has its last line: the engine no longer handles signals from here on.
  const runEnded = () => existsSync(runs) && readdirSync(runs).some((id) => existsSync(join(runs, id, 'journal.jsonl')) && readFileSync(join(runs, id, 'journal.jsonl'), 'utf8').includes('"type":"run-end"'));
  try {
    // GIVEN a rehearsal (no switch back) under the built-in load
    const rehearsal = await runCli(['--env', 'local', '--execute', '--engine', 'postgres', '--load-rate', '100', '--report', reportPath], work, {
      // WHEN Ctrl-C reaches the CLI's process group once its run ended, before the report
      signalWhen: runEnded,
    });
    expect(rehearsal.signalled).toBe(true);
    // THEN the report is there, with the switch's window and the writes measured up to the stop
    expect(existsSync(reportPath)).toBe(true);
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    expect(report.load?.failure).toBeUndefined();
    expect(report.writes.acknowledged).toBeGreaterThan(0);
    expect(report.writes.lost).toBe(0);
    expect(report.writeUnavailableMs).toEqual(expect.any(Number));
    // and summary, report.json and exit code agree: INTERRUPTED, 130
    expect(rehearsal.output).toMatch(/postgres\.logical on local: INTERRUPTED/);
    expect(report).toMatchObject({ verdict: 'interrupted', exitCode: 130 });
    expect(rehearsal.code).toBe(130);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 1_200_000);

test('Ctrl-C (SIGINT to the process group) while pg_dump runs in the PostgreSQL dump method: pg_dump is not killed by it, postgres.copy.dump finishes, the run stops at that boundary (exit 130, INTERRUPTED) with the source reopened, and --resume finishes it', async () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-cc-dump-'));
  const stateDir = join(work, '.rds-cutover');
  let admin: PgClient | undefined;
  try {
    // GIVEN a persistent PostgreSQL sandbox, and a table of its source that the test can lock
    await sandboxUp(stateDir, 'postgres', silentLogger, 300);
    const { state, secrets } = readSandboxState(sandboxFolder(stateDir, 'postgres'))!;
    const sourcePort = state.servers.find((s) => s.name === 'source')!.port;
    const endpoint = { name: 'source', host: '127.0.0.1', port: sourcePort, user: 'postgres', password: secrets.postgresSuperuserPassword, database: 'app' };
    admin = await connectPg(endpoint);
    const table = (await pgRow<{ t: string }>(admin, "SELECT quote_ident(tablename) AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename LIMIT 1"))!.t;

    // WHEN the dump run is held right before postgres.copy.dump, the test locks that table (so
    // that pg_dump, once started, waits for it: it is running when the Ctrl-C comes), releases the
    // run, and sends SIGINT to the CLI's process group while pg_dump waits; then unlocks
    const pause = join(work, 'paused');
    let dumpWaiting = false;
    const client = admin;
    const holdTheDump = (async () => {
      while (!existsSync(pause)) await sleep(50);
      await client.query('BEGIN');
      await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      rmSync(pause, { force: true });
      // (from another session: pg_stat_activity is read once per transaction)
      const watcher = await connectPg(endpoint);
      try {
        const waits = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'";
        while ((await pgRow<{ n: number }>(watcher, waits))!.n === 0) await sleep(50);
      } finally {
        await closePg(watcher);
      }
      dumpWaiting = true;
    })();
    let unlocked: Promise<unknown> = Promise.resolve();
    const run = await runCli(['--env', 'sandbox', '--engine', 'postgres', '--method', 'dump', '--execute'], work, {
      env: { [PAUSE_AT_ENV]: 'step-start:postgres.copy.dump', [PAUSE_FILE_ENV]: pause },
      signalWhen: () => dumpWaiting,
      afterSignal: () => (unlocked = client.query('COMMIT')),
    });
    await holdTheDump;
    await unlocked;
    expect(run.signalled).toBe(true);

    // THEN the copy finished (pg_dump was not killed) and the run stopped at the next boundary
    const [runId] = readdirSync(join(stateDir, 'runs'));
    const entries = new Journal(stateDir, runId).read();
    expect(entries.filter((e) => e.type === 'step-failed')).toEqual([]);
    expect(entries.some((e) => e.type === 'step-done' && e.step === 'postgres.copy.dump')).toBe(true);
    expect(statusFromJournal(entries).result).toBe('interrupted');
    expect(run.output).toMatch(/postgres\.dump on sandbox: INTERRUPTED \(Interrupted by SIGINT before postgres\.verify\.checksums/);
    expect(run.code).toBe(130);
    // and nobody is left holding the source frozen: the freeze this process made is undone
    expect(run.output).toMatch(/source was reopened for writes/);
    // AND --resume finishes the run (freezes and copies again)
    const resumed = await runCli(['--env', 'sandbox', '--engine', 'postgres', '--method', 'dump', '--execute', '--resume', runId], work);
    expect(resumed.output).toMatch(/postgres\.dump on sandbox: SUCCESS/);
    expect(resumed.code).toBe(0);
  } finally {
    await closePg(admin).catch(() => undefined);
    await sandboxDown(stateDir, 'postgres').catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}, 1_200_000);
