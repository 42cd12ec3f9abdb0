/**
 * Faults beyond kill -9 for the PostgreSQL logical rehearsal (issue 9, item 7), each a full
 * rehearsal on real servers under write load; the report never says SUCCESS with a loss.
 * - The target restarts during catch-up: its subscription's apply worker comes back by itself
 *   and the run must carry on over fresh connections, finish, 0 lost, checksums equal.
 * - pgbouncer (the switch point) down at the switch: the switch aborts before anything is
 *   paused or frozen, naming the endpoint and the fix; the source keeps its writes.
 * - A duplicate key on the target's apply worker (a row written on the target outside
 *   replication): the run stops before the freeze naming the table, the key (read from the
 *   target's server log) and the fix, not "lag" or a timeout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rehearsePostgres, type PostgresRehearsalOptions } from '../../lib/rehearsal/postgres-rehearsal';
import { closePg, connectPg, pgRow } from '../../lib/engines/postgres/connection';
import { PG_SANDBOX_DATABASE } from '../../lib/platforms/local/postgres-sandbox';
import { silentLogger } from '../../lib/util/log';
import { postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';
import { exitCodeOf } from '../../lib/report';

jest.setTimeout(900_000);

const stateDirs: string[] = [];
afterAll(() => stateDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function options(overrides: Partial<PostgresRehearsalOptions>): PostgresRehearsalOptions {
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--method', 'logical']);
  const { workDir: _ignored, ...settings } = postgresSettings(loadEnvironment('local'), args);
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-faults-'));
  stateDirs.push(stateDir);
  return { environment: 'local', method: 'logical', settings: { ...settings, catchUpTimeoutMs: 120000, switchTimeoutMs: 20000 }, stateDir, log: silentLogger, seedRows: 500, load: { connections: 2, ratePerSecond: 100, tailMs: 1000 }, ...overrides };
}

describe('PostgreSQL logical rehearsal: faults it survives honestly', () => {
  test('the target restarted during catch-up: the run carries on over fresh connections and succeeds, 0 lost, checksums match', async () => {
    let restarted = false;
    // GIVEN a target stopped and started again right after its subscription was created
    const report = await rehearsePostgres(
      options({
        afterStep: async (step, sandbox) => {
          if (step !== 'postgres.subscription.create') return;
          await sandbox.instance('target').stop();
          await sandbox.instance('target').start();
          restarted = true;
        },
      }),
    );
    // THEN the run finished with nothing lost and equal data
    expect(restarted).toBe(true);
    expect(report.error).toBeUndefined();
    expect(report.result).toBe('success');
    expect(report.writes!.lost).toBe(0);
    expect(report.checksums!.match).toBe(true);
  });

  test('pgbouncer down at the switch: the switch aborts before anything is paused or frozen, exit 3, naming the endpoint and the fix; the source keeps taking writes, 0 lost', async () => {
    let after: { sourceReadOnly: string; targetLogin: boolean } | undefined;
    const report = await rehearsePostgres(
      options({
        afterStep: async (step, sandbox) => {
          if (step === 'postgres.replication.catch-up') await sandbox.pgbouncer.stop();
        },
        beforeStop: async (sandbox) => {
          const source = await connectPg(sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE));
          const ro = await pgRow<{ ro: string }>(source, "SELECT current_setting('default_transaction_read_only') AS ro");
          await closePg(source);
          const target = await connectPg(sandbox.instance('target').endpoint(PG_SANDBOX_DATABASE));
          const login = await pgRow<{ login: boolean }>(target, "SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = 'app'");
          await closePg(target);
          after = { sourceReadOnly: ro!.ro, targetLogin: login!.login };
        },
      }),
    );
    expect(report.result).toBe('aborted');
    expect(exitCodeOf(report)).toBe(3);
    expect(report.error).toMatch(/^Switch not started: the application endpoint could not be prepared for the switch \(.+\)\. The source was never frozen and keeps taking writes; traffic never moved\. Fix: bring the endpoint back \(.*pgbouncer.*\), then --resume/);
    expect(report.steps.find((s) => s.id === 'postgres.switch')!.status).toBe('aborted');
    expect(report.facts.sourceFrozenAt).toBeUndefined();
    // the source open, the target still closed to the application, nothing acknowledged lost
    expect(after).toEqual({ sourceReadOnly: 'off', targetLogin: false });
    expect(report.writes!.lost).toBe(0);
  });

  test('a duplicate key on the target\'s apply worker: the run stops before the freeze naming the table, the key and the fix, not lag; the source keeps taking writes', async () => {
    let after: { sourceReadOnly: string; targetLogin: boolean } | undefined;
    // GIVEN a row written on the target outside replication (a superuser), then the same key on the source
    const report = await rehearsePostgres(
      options({
        settings: { ...options({}).settings, catchUpTimeoutMs: 60000 },
        afterStep: async (step, sandbox) => {
          if (step !== 'postgres.subscription.create') return;
          // (serial_no is unique too: a different one on each side, so that only the primary key collides)
          for (const [side, serialNo] of [['target', 987654321], ['source', 987654322]] as const) {
            const client = await connectPg(sandbox.instance(side).endpoint(PG_SANDBOX_DATABASE));
            await client.query("INSERT INTO cutover_load (id, serial_no, client, seq, payload, written_at) VALUES (987654321, $1, 0, 0, $2, clock_timestamp())", [serialNo, `written on the ${side}`]);
            await closePg(client);
          }
        },
        beforeStop: async (sandbox) => {
          const source = await connectPg(sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE));
          const ro = await pgRow<{ ro: string }>(source, "SELECT current_setting('default_transaction_read_only') AS ro");
          await closePg(source);
          const target = await connectPg(sandbox.instance('target').endpoint(PG_SANDBOX_DATABASE));
          const login = await pgRow<{ login: boolean }>(target, "SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = 'app'");
          await closePg(target);
          after = { sourceReadOnly: ro!.ro, targetLogin: login!.login };
        },
      }),
    );
    // THEN it stopped in the catch-up, saying what broke, where, and how to fix it
    expect(report.error).toMatch(/^Replication on the target stopped on a duplicate key in table public\.cutover_load \(Key \(id\)=\(987654321\) already exists/);
    expect(report.error).not.toMatch(/did not get within|timed out|switch-timeout/);
    expect(report.result).toBe('aborted');
    expect(report.error).toContain('The source was never frozen and keeps taking writes');
    expect(report.error).toMatch(/Fix: .*DELETE FROM public\.cutover_load WHERE id = 987654321.*--resume/);
    expect(report.steps.find((s) => s.id === 'postgres.replication.catch-up')!.status).toBe('aborted');
    expect(report.steps.find((s) => s.id === 'postgres.switch')!.status).toBe('not-run');
    expect(report.facts.sourceFrozenAt).toBeUndefined();
    // the source open, the target still closed to the application, nothing acknowledged lost
    expect(after).toEqual({ sourceReadOnly: 'off', targetLogin: false });
    expect(report.writes!.lost).toBe(0);
  });
});
