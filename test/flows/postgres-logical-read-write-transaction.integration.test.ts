/**
 * The logical method's freeze is `default_transaction_read_only`, a default a client may override:
 * a session that connects straight to the source (bypassing pgbouncer, as another service or an
 * operator's psql would; on AWS, with no pooler, every session) and opens `BEGIN READ WRITE`
 * (what an ORM sends for an explicitly writable transaction) still writes on the frozen source.
 * Before the fix such a write, committed after the final WAL position was read and the switch-time
 * snapshots taken, was acknowledged on the old source, never reached the target, and the run said
 * SUCCESS, checksums match: the write was lost behind a green report.
 *
 * Rule: an acknowledged write is never lost; the report never says success with a write missing.
 * The switch closes the source to the application at the freeze (app roles NOLOGIN, their sessions
 * ended and gone before the final position is read): such a write is refused, never acknowledged.
 * Real PostgreSQL 15 servers and pgbouncer, a light write load through pgbouncer the whole time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { RunResources } from '../../lib/runbook/resources';
import { PostgresSandbox, PG_SANDBOX_DATABASE } from '../../lib/platforms/local/postgres-sandbox';
import { LocalPostgresPlatform } from '../../lib/platforms/local/local-postgres-platform';
import { postgresLogicalRunbook, SWITCH_PHASE_PROBE, type SwitchPhase } from '../../lib/flows/postgres-logical';
import { type PostgresFlowSettings } from '../../lib/flows/postgres-common';
import { runRunbook, type RunResult } from '../../lib/runbook/engine';
import { RehearsalLoad } from '../../lib/rehearsal/rehearsal-load';
import { closePg, connectPg, pgRow, pgRows } from '../../lib/engines/postgres/connection';
import { serverReadOnly } from '../../lib/engines/postgres/server';
import { postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger } from '../../lib/util/log';
import { sleep } from '../../lib/util/time';

jest.setTimeout(240000);

function flowSettings(workDir: string): PostgresFlowSettings {
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--switch-timeout', '20000']);
  return { ...postgresSettings(loadEnvironment('local'), args), catchUpTimeoutMs: 60000, workDir };
}

/** What a session straight to the source, as the application's role, got for its commit. */
type Outcome = 'acknowledged' | string;

/**
 * A fresh sandbox under a light load through pgbouncer, the logical runbook run once with
 * `probe` called at each switch sub-phase; then what the application sees now (through pgbouncer).
 */
async function onLogicalSandbox(
  probe: (world: { sandbox: PostgresSandbox; direct: () => Promise<Client> }, phase: SwitchPhase) => Promise<void>,
  then: (world: { sandbox: PostgresSandbox; run: RunResult; seqsOnEndpoint: number[]; lost: number; failed: number }) => Promise<void>,
): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-logical-rw-'));
  const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 300 });
  const settings = flowSettings(sandbox.baseDir);
  const platform = new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers });
  const load = new RehearsalLoad({ engine: 'postgres', endpoint: sandbox.appEndpoint(), database: PG_SANDBOX_DATABASE, connections: 2, ratePerSecond: 100, tailMs: 300, log: silentLogger });
  const resources = new RunResources();
  const clients: Client[] = [];
  // the application's role, straight to the source's port: not through pgbouncer
  const direct = async () => {
    const client = await connectPg({ ...sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE), user: sandbox.app.name, password: sandbox.app.password });
    client.on('error', () => undefined); // its session may be ended under it
    clients.push(client);
    return client;
  };
  try {
    await load.start();
    resources.set(SWITCH_PHASE_PROBE, (phase: SwitchPhase) => probe({ sandbox, direct }, phase));
    const run = await runRunbook({ runbook: postgresLogicalRunbook(platform, settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, resources });
    await sleep(300);
    await load.stop();
    const app = await connectPg(sandbox.appEndpoint());
    const seqsOnEndpoint = (await pgRows<{ seq: number }>(app, 'SELECT seq FROM audit_log WHERE seq > 4000000 ORDER BY seq')).map((r) => Number(r.seq));
    const present = new Set((await pgRows<{ id: string }>(app, 'SELECT id::text AS id FROM cutover_load')).map((r) => r.id));
    await closePg(app);
    const writes = load.reportFields(present, run.facts).writes!;
    await then({ sandbox, run, seqsOnEndpoint, lost: writes.lost, failed: writes.failed });
  } finally {
    for (const client of clients) await closePg(client).catch(() => undefined);
    await load.abandon();
    await resources.disposeAll();
    await sandbox.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** THEN: an acknowledged commit is where the application reads now, or the run is not a success; a refused one is nowhere. */
function expectNoHiddenLoss(outcome: Outcome, seq: number, run: RunResult, seqsOnEndpoint: number[]): void {
  if (outcome === 'acknowledged') {
    expect({ acknowledged: true, onEndpoint: seqsOnEndpoint.includes(seq), runSucceeded: run.result === 'success' }).not.toEqual({ acknowledged: true, onEndpoint: false, runSucceeded: true });
  } else {
    expect(outcome).toMatch(/not permitted to log in|terminat|read-only|connection/i);
    expect(seqsOnEndpoint).not.toContain(seq);
  }
}

const commit = (client: Client): Promise<Outcome> => client.query('COMMIT').then(() => 'acknowledged' as const, (error: Error) => error.message);

describe('PostgreSQL logical switch: a session straight to the frozen source asks for READ WRITE', () => {
  // after the final WAL position was read and the switch-time snapshots taken; after traffic moved, before the fence
  test.each<SwitchPhase>(['subscriptionDisabled', 'resumed'])(
    'GIVEN a session of the app role connecting straight to the source after the freeze WHEN it runs BEGIN READ WRITE; INSERT; COMMIT at "%s" THEN that write is refused (the source is closed to the application), never acknowledged and missing',
    async (writeAt) => {
      let outcome: Outcome | undefined;
      const seq = 4000001;
      await onLogicalSandbox(
        async ({ direct }, phase) => {
          if (phase !== writeAt) return;
          outcome = await (async () => {
            const client = await direct();
            await client.query('BEGIN READ WRITE');
            await client.query(`INSERT INTO audit_log (seq, at, message) VALUES (${seq}, now(), 'written straight to the source after the freeze')`);
            return commit(client);
          })().catch((error: Error) => error.message);
        },
        async ({ sandbox, run, seqsOnEndpoint, lost, failed }) => {
          expect(outcome).toBeDefined();
          expectNoHiddenLoss(outcome!, seq, run, seqsOnEndpoint);
          // the fix refuses it (rather than catching it at verification): the run goes through
          expect(outcome).not.toBe('acknowledged');
          expect(run.result).toBe('success');
          // clients queued in pgbouncer across the switch did not fail and nothing they wrote is lost
          expect({ lost, failed }).toEqual({ lost: 0, failed: 0 });
          expect((await sandbox.pgbouncer.showDatabase())!.port).toBe(sandbox.instance('target').port);
        },
      );
    },
  );

  test('GIVEN a session of the app role straight to the source with a transaction opened READ WRITE before the freeze WHEN it writes and commits after the freeze THEN the commit is refused (its session was ended), never acknowledged, and the row is nowhere', async () => {
    let open: Client | undefined;
    let outcome: Outcome | undefined;
    const seq = 4000002;
    await onLogicalSandbox(
      async ({ direct }, phase) => {
        if (phase === 'paused') {
          // before the freeze: the pooler is paused, this session is not behind it
          open = await direct();
          await open.query('BEGIN READ WRITE');
          await open.query("INSERT INTO audit_log (seq, at, message) VALUES (4000003, now(), 'before the freeze')");
        }
        if (phase === 'subscriptionDisabled') {
          outcome = await open!
            .query(`INSERT INTO audit_log (seq, at, message) VALUES (${seq}, now(), 'after the freeze')`)
            .then(() => commit(open!), (error: Error) => error.message);
        }
      },
      async ({ sandbox, run, seqsOnEndpoint, lost, failed }) => {
        expectNoHiddenLoss(outcome!, seq, run, seqsOnEndpoint);
        expect(outcome).not.toBe('acknowledged');
        expect(seqsOnEndpoint).toEqual([]);
        expect(run.result).toBe('success');
        expect({ lost, failed }).toEqual({ lost: 0, failed: 0 });
        // nor did it land on the old source
        const admin = await connectPg(sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE));
        expect((await pgRows(admin, 'SELECT seq FROM audit_log WHERE seq > 4000000')).length).toBe(0);
        await closePg(admin);
      },
    );
  });

  test('GIVEN a session of the app role straight to the source WHEN the switch aborts after the freeze THEN the source is reopened to the application too: the role logs in again and writes', async () => {
    await onLogicalSandbox(
      async ({ sandbox }, phase) => {
        // a table made straight on the source while frozen aborts the switch after the freeze
        if (phase !== 'frozen') return;
        const admin = await connectPg(sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE), { writable: true });
        await admin.query('CREATE TABLE made_while_frozen (id int PRIMARY KEY)');
        await closePg(admin);
      },
      async ({ sandbox, run, lost }) => {
        expect(run.result).toBe('aborted');
        expect(run.error).toContain('The source was reopened for writes and traffic never moved.');
        expect(lost).toBe(0);
        const admin = await connectPg(sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE));
        expect(await serverReadOnly(admin)).toBe(false);
        expect((await pgRow<{ login: boolean }>(admin, "SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = 'app'"))!.login).toBe(true);
        await closePg(admin);
        const client = await connectPg({ ...sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE), user: sandbox.app.name, password: sandbox.app.password });
        await client.query("INSERT INTO audit_log (seq, at, message) VALUES (4000004, now(), 'after the abort')");
        await closePg(client);
      },
    );
  });
});
