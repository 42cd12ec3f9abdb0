/**
 * The PostgreSQL logical switch is resumable from every sub-phase, on real servers (PostgreSQL
 * 15 source and target, pgbouncer) under a write load through pgbouncer.
 *
 * A crash is simulated faithfully: at a sub-phase the switch stops dead (its probe never
 * returns, so no catch block or clean-up of that attempt runs), the "process" loses every
 * session it held (its connections and the switch-time snapshot are closed), the application
 * keeps writing wherever pgbouncer points, and a new process resumes the run from its journal.
 *
 * The rules: the resumed run finishes (switch, verification, clean-up); no acknowledged write
 * is lost; the old source is never writable once traffic moved (frozen and fenced); sequences
 * on the live target are never rewound; the replication slot is dropped on the source; and
 * verification is done, or (snapshot gone with the dead process) honestly recorded as not done.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { RunResources } from '../../lib/runbook/resources';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresSandbox, PG_SANDBOX_DATABASE } from '../../lib/platforms/local/postgres-sandbox';
import { LocalPostgresPlatform } from '../../lib/platforms/local/local-postgres-platform';
import { postgresLogicalRunbook, SWITCH_PHASE_PROBE, type SwitchPhase } from '../../lib/flows/postgres-logical';
import { type PostgresFlowSettings } from '../../lib/flows/postgres-common';
import { runRunbook } from '../../lib/runbook/engine';
import { statusFromJournal, Journal } from '../../lib/runbook/journal';
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

const SEQUENCE = 'cutover_load_serial_no_seq';

async function onTarget<T>(sandbox: PostgresSandbox, use: (client: Awaited<ReturnType<typeof connectPg>>) => Promise<T>): Promise<T> {
  const client = await connectPg(sandbox.instance('target').endpoint(PG_SANDBOX_DATABASE));
  try {
    return await use(client);
  } finally {
    await closePg(client);
  }
}

const PHASES: SwitchPhase[] = ['paused', 'frozen', 'caughtUp', 'sequencesCopied', 'subscriptionDisabled', 'endpointMoved', 'resumed', 'fenced'];
const TRAFFIC_MOVED: SwitchPhase[] = ['endpointMoved', 'resumed', 'fenced'];

describe('PostgreSQL logical switch: killed at a sub-phase, then --resume', () => {
  test.each(PHASES)('killed after "%s": the resumed run finishes, loses no write, never rewinds a sequence, drops the slot, leaves the old source unwritable', async (phase) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-resume-'));
    const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 300 });
    const settings = flowSettings(sandbox.baseDir);
    const platform = new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers });
    // A light load: enough writes around the switch, and the worker's final message stays small
    // (issue 9: a large one sent right before the worker disconnects can be lost; fixed separately).
    const load = new RehearsalLoad({ engine: 'postgres', endpoint: sandbox.appEndpoint(), database: PG_SANDBOX_DATABASE, connections: 2, ratePerSecond: 100, tailMs: 300, log: silentLogger });
    const firstResources = new RunResources();
    const secondResources = new RunResources();
    try {
      await load.start();
      // GIVEN a run whose switch dies right after `phase`
      let died!: () => void;
      const dead = new Promise<void>((resolve) => (died = resolve));
      firstResources.set(SWITCH_PHASE_PROBE, async (reached: SwitchPhase) => {
        if (reached !== phase) return;
        died();
        await new Promise<never>(() => undefined); // the process is gone: nothing after this runs
      });
      const first = runRunbook({ runbook: postgresLogicalRunbook(platform, settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, resources: firstResources });
      await Promise.race([dead, first.then((r) => Promise.reject(new Error(`the first run ended (${r.result}: ${r.error}) before reaching ${phase}`)))]);
      // its sessions end with it (the switch-time snapshot too); the pooler keeps its state
      await firstResources.disposeAll();
      const runId = readdirSync(join(stateDir, 'runs'))[0];
      expect(statusFromJournal(new Journal(stateDir, runId).read()).result).toBe('in-progress');
      // the application goes on wherever pgbouncer points (on the target: sequences move past the copied value)
      await sleep(500);
      const movedBeforeResume = (await sandbox.pgbouncer.showDatabase())!.port === sandbox.instance('target').port;
      expect(movedBeforeResume).toBe(TRAFFIC_MOVED.includes(phase));
      const targetSequenceBeforeResume = await onTarget(sandbox, async (c) => BigInt((await pgRow<{ v: string | null }>(c, `SELECT coalesce(last_value, 0)::text AS v FROM pg_sequences WHERE sequencename = '${SEQUENCE}'`))!.v!));

      // WHEN a new process resumes the run
      const resumed = await runRunbook({ runbook: postgresLogicalRunbook(platform, settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, resources: secondResources, resumeRunId: runId });
      await sleep(300);
      await load.stop();

      // THEN it finished: switch, verification and clean-up all reached
      expect(resumed.error).toBeUndefined();
      expect(resumed.result).toBe('success');
      for (const id of ['postgres.switch', 'postgres.verify.checksums', 'postgres.replication.remove']) expect(resumed.steps.find((s) => s.id === id)!.status).toBe('done');
      // and verification was done, or recorded as not possible (snapshot gone, target took writes) with how to do it
      if (TRAFFIC_MOVED.includes(phase)) {
        expect(resumed.facts.checksumsVerified).toBe(false);
        expect(String(resumed.facts.checksumsNotVerifiedReason)).toMatch(/rows not compared: .*To compare the rows: restore the target to a point in time/);
        expect(resumed.facts.switchResumed).toBe(true);
      } else {
        expect(resumed.facts.checksumsVerified).toBe(true);
        expect((resumed.facts.checksums as { match: boolean }).match).toBe(true);
      }
      // and every acknowledged write is where the application writes now
      const app = await connectPg(sandbox.appEndpoint());
      const present = new Set((await pgRows<{ id: string }>(app, 'SELECT id::text AS id FROM cutover_load')).map((r) => r.id));
      const maxSerial = BigInt((await pgRow<{ m: string }>(app, 'SELECT max(serial_no)::text AS m FROM cutover_load'))!.m);
      // and the sequence hands out values above everything written, never below what the target had reached
      const fresh = BigInt((await pgRow<{ s: string }>(app, "INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES (-1, 0, 0, 'after resume', now()) RETURNING serial_no::text AS s"))!.s);
      await closePg(app);
      const writes = load.reportFields(present, resumed.facts).writes!;
      expect(writes.acknowledged).toBeGreaterThan(0);
      expect(writes.lost).toBe(0);
      expect(fresh).toBeGreaterThan(maxSerial);
      expect(fresh).toBeGreaterThan(targetSequenceBeforeResume);
      // and traffic is on the target, released; the old source is frozen and fenced, its slot dropped
      const pooler = (await sandbox.pgbouncer.showDatabase())!;
      expect(pooler.port).toBe(sandbox.instance('target').port);
      expect(pooler.paused).toBe(false);
      const admin = await connectPg(sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE));
      expect(await serverReadOnly(admin)).toBe(true);
      expect((await pgRow<{ login: boolean }>(admin, "SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = 'app'"))!.login).toBe(false);
      expect((await pgRow<{ n: string }>(admin, 'SELECT count(*)::text AS n FROM pg_replication_slots'))!.n).toBe('0');
      await closePg(admin);
      expect(await onTarget(sandbox, async (c) => (await pgRow<{ n: string }>(c, 'SELECT count(*)::text AS n FROM pg_subscription'))!.n)).toBe('0');
    } finally {
      await load.abandon();
      await firstResources.disposeAll();
      await secondResources.disposeAll();
      await sandbox.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('PostgreSQL logical switch: a table created between the last check and the freeze', () => {
  test('GIVEN a transaction held open through the pooler WHEN the switch cannot pause THEN it aborts and the read-only default it wrote beside the pause is reset (a later reload does not freeze the source under its traffic); nothing lost', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-no-pause-'));
    const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 300 });
    const settings = { ...flowSettings(sandbox.baseDir), switchTimeoutMs: 3000 };
    const platform = new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers });
    const load = new RehearsalLoad({ engine: 'postgres', endpoint: sandbox.appEndpoint(), database: PG_SANDBOX_DATABASE, connections: 2, ratePerSecond: 100, tailMs: 300, log: silentLogger });
    const resources = new RunResources();
    // An application transaction left open: pgbouncer's PAUSE waits for it, past the switch's budget.
    const holder = await connectPg(sandbox.appEndpoint());
    try {
      await load.start();
      resources.set(SWITCH_PHASE_PROBE, async (reached: SwitchPhase) => {
        if (reached === 'frozen') throw new Error('the switch froze the source although the pooler never paused');
      });
      let began = false;
      const run = runRunbook({
        runbook: postgresLogicalRunbook(platform, settings),
        environment: 'local',
        stateDir,
        dryRun: false,
        log: silentLogger,
        resources,
        onRecord: async (_step, facts) => {
          if (facts.switchBeganAt !== undefined && !began) {
            began = true;
            await holder.query('BEGIN');
            await holder.query('SELECT 1');
          }
        },
      });
      const result = await run;
      await holder.query('ROLLBACK');
      // a reload after the abort (anyone's) must not put a leftover read-only default into effect
      const admin = await connectPg(sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE));
      await admin.query('SELECT pg_reload_conf()');
      await sleep(500);
      await load.stop();
      expect(began).toBe(true);
      expect(result.result).toBe('aborted');
      expect(result.error).toMatch(/the pooler could not pause/);
      expect(await serverReadOnly(admin)).toBe(false);
      await closePg(admin);
      const pooler = (await sandbox.pgbouncer.showDatabase())!;
      expect(pooler.port).toBe(sandbox.instance('source').port);
      expect(pooler.paused).toBe(false);
      const app = await connectPg(sandbox.appEndpoint());
      await app.query('BEGIN');
      expect((await pgRow<{ ro: string }>(app, "SELECT current_setting('transaction_read_only') AS ro"))!.ro).toBe('off');
      await app.query('ROLLBACK');
      const present = new Set((await pgRows<{ id: string }>(app, 'SELECT id::text AS id FROM cutover_load')).map((r) => r.id));
      await closePg(app);
      const writes = load.reportFields(present, result.facts).writes!;
      expect(writes.lost).toBe(0);
      expect(result.facts.writesAfterAbort).toBeGreaterThan(0);
    } finally {
      await closePg(holder);
      await load.abandon();
      await resources.disposeAll();
      await sandbox.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('GIVEN a table created on the source after the precondition passed WHEN the switch freezes THEN it aborts naming the table and reopens the source; traffic never moved, nothing lost', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-late-table-'));
    const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 300 });
    const settings = flowSettings(sandbox.baseDir);
    const platform = new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers });
    const load = new RehearsalLoad({ engine: 'postgres', endpoint: sandbox.appEndpoint(), database: PG_SANDBOX_DATABASE, connections: 2, ratePerSecond: 100, tailMs: 300, log: silentLogger });
    const resources = new RunResources();
    try {
      await load.start();
      // the pooler is paused: the table comes from a session straight to the source, as another application's would
      resources.set(SWITCH_PHASE_PROBE, async (reached: SwitchPhase) => {
        if (reached !== 'paused') return;
        const direct = await connectPg({ ...sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE), user: sandbox.app.name, password: sandbox.app.password });
        await direct.query('CREATE TABLE sneaked_in (id int PRIMARY KEY)');
        await closePg(direct);
      });
      const run = await runRunbook({ runbook: postgresLogicalRunbook(platform, settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, resources });
      await sleep(500);
      await load.stop();
      expect(run.result).toBe('aborted');
      expect(run.error).toMatch(/^Switch aborted: the tables changed after the copy, between the last check and the freeze/);
      expect(run.error).toContain('created on the source after the copy, missing on the target: public.sneaked_in');
      expect(run.error).toContain('The source was reopened for writes and traffic never moved.');
      expect(typeof run.facts.sourceReopenedAt).toBe('number');
      const pooler = (await sandbox.pgbouncer.showDatabase())!;
      expect(pooler.port).toBe(sandbox.instance('source').port);
      expect(pooler.paused).toBe(false);
      const admin = await connectPg(sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE));
      expect(await serverReadOnly(admin)).toBe(false);
      await closePg(admin);
      const app = await connectPg(sandbox.appEndpoint());
      const present = new Set((await pgRows<{ id: string }>(app, 'SELECT id::text AS id FROM cutover_load')).map((r) => r.id));
      await closePg(app);
      const writes = load.reportFields(present, run.facts).writes!;
      expect(writes.lost).toBe(0);
      expect(run.facts.writesAfterAbort).toBeGreaterThan(0);
    } finally {
      await load.abandon();
      await resources.disposeAll();
      await sandbox.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
