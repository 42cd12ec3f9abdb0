/**
 * The dump method's freeze is `default_transaction_read_only`, a default a client may override:
 * a transaction opened `BEGIN READ WRITE` through the pooler after the freeze (what an ORM sends
 * for an explicitly writable transaction) still writes on the frozen source. Found by a new
 * user's trial: it committed while the switch paused the pooler — after the checksums were
 * compared — and the run said SUCCESS, checksums match, 0 lost, with the row only on the fenced
 * old source. Rule: a green report never hides an acknowledged write; the source is closed to
 * the application (not just defaulted read-only) before the last comparison, so such a write is
 * either refused or caught (the run aborts, the source reopened, the row where the app writes).
 * Real PostgreSQL 15 servers and pgbouncer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { PostgresSandbox } from '../../lib/platforms/local/postgres-sandbox';
import { LocalPostgresPlatform } from '../../lib/platforms/local/local-postgres-platform';
import { postgresDumpRunbook } from '../../lib/flows/postgres-dump';
import { runRunbook } from '../../lib/runbook/engine';
import type { Step } from '../../lib/runbook/step';
import { closePg, connectPg, pgRows } from '../../lib/engines/postgres/connection';
import { postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger } from '../../lib/util/log';
import { sleep } from '../../lib/util/time';

jest.setTimeout(240000);

/** A fresh PostgreSQL sandbox and the dump runbook on it (`run` runs it once, calling `onStepDone`); stopped and removed after `body`. */
async function onDumpSandbox(body: (world: { sandbox: PostgresSandbox; run: (onStepDone: (step: Step) => Promise<void>) => ReturnType<typeof runRunbook> }) => Promise<void>): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-dump-rw-'));
  const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 2000 });
  try {
    const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--method', 'dump']);
    const settings = { ...postgresSettings(loadEnvironment('local'), args), workDir: sandbox.baseDir };
    const platform = new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers });
    await body({ sandbox, run: (onStepDone) => runRunbook({ runbook: postgresDumpRunbook(platform, settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, onStepDone }) });
  } finally {
    await sandbox.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

test('GIVEN a transaction opened READ WRITE through the pooler after the dump freeze WHEN it commits while the switch pauses the pooler THEN the run is not SUCCESS with that row missing: the commit is refused, or the run aborts with the source reopened and the row where the application writes', () =>
  onDumpSandbox(async ({ sandbox, run: runDump }) => {
  let rogue: Client | undefined;
  let watcher: Client | undefined;
  let runEnded = false;
  let committing: Promise<'acknowledged' | string> | undefined;
  try {
    const run = await runDump(async (step) => {
        if (step.id !== 'postgres.copy.dump') return;
        // an application client, through the pooler, after the freeze: an explicitly writable transaction
        const client = await connectPg(sandbox.appEndpoint());
        client.on('error', () => undefined); // its session may be ended under it
        rogue = client;
        await client.query('BEGIN READ WRITE');
        await client.query("INSERT INTO audit_log (seq, at, message) VALUES (4000001, now(), 'written after the freeze')");
        // it commits as soon as the switch has asked the pooler to pause (PAUSE waits for it),
        // seen on the pooler's admin console from a connection of the test's own
        const console = await connectPg({ ...sandbox.pgbouncer.endpoint(sandbox.poolerAdmin), database: 'pgbouncer' });
        watcher = console;
        committing = (async () => {
          while (!runEnded) {
            const rows = (await console.query('SHOW DATABASES')).rows as Array<{ name: string; paused: number | string }>;
            if (rows.some((r) => r.name === sandbox.pgbouncer.database && Number(r.paused) === 1)) break;
            await sleep(20);
          }
          return client.query('COMMIT').then(() => 'acknowledged' as const, (error: Error) => error.message);
        })();
    });
    runEnded = true;
    const committed = await committing!;
    const app = await connectPg(sandbox.appEndpoint());
    const onEndpoint = (await pgRows<{ seq: number }>(app, 'SELECT seq FROM audit_log WHERE seq = 4000001')).length;
    await closePg(app);
    // THEN an acknowledged commit is where the application reads now; a success never hides it
    if (committed === 'acknowledged') {
      expect({ result: run.result, onEndpoint }).toEqual({ result: 'aborted', onEndpoint: 1 });
      expect(run.error).toMatch(/source took writes after the freeze/);
      expect((await sandbox.pgbouncer.showDatabase())!.port).toBe(sandbox.instance('source').port);
    } else {
      expect(committed).toMatch(/terminat|read-only|connection/i);
      expect(run.result).toBe('success');
      expect(onEndpoint).toBe(0);
    }
  } finally {
    for (const client of [rogue, watcher]) if (client) await closePg(client).catch(() => undefined);
  }
  }));

test('GIVEN a transaction opened READ WRITE through the pooler while the source is frozen WHEN it commits after the copy THEN the run aborts saying the frozen source took writes after the freeze, the source reopened and the row where the application writes', () =>
  onDumpSandbox(async ({ sandbox, run: runDump }) => {
    const run = await runDump(async (step) => {
        if (step.id !== 'postgres.copy.dump') return;
        // frozen and copied: a plain write is refused, an explicitly writable transaction is not
        const client = await connectPg(sandbox.appEndpoint());
        try {
          await expect(client.query("INSERT INTO audit_log (seq, at, message) VALUES (4000002, now(), 'refused')")).rejects.toThrow(/read-only/);
          await client.query('BEGIN READ WRITE');
          await client.query("INSERT INTO audit_log (seq, at, message) VALUES (4000003, now(), 'written after the freeze')");
          await client.query('COMMIT');
        } finally {
          await closePg(client);
        }
    });
    expect(run.result).toBe('aborted');
    expect(run.error).toMatch(/Checksums differ for public\.audit_log.*the frozen source took writes after the freeze: a client transaction that asked for READ WRITE/s);
    const app = await connectPg(sandbox.appEndpoint());
    const seqs = (await pgRows<{ seq: number }>(app, 'SELECT seq FROM audit_log WHERE seq > 4000000 ORDER BY seq')).map((r) => Number(r.seq));
    await app.query("INSERT INTO audit_log (seq, at, message) VALUES (4000004, now(), 'the source takes writes again')");
    await closePg(app);
    expect(seqs).toEqual([4000003]);
    expect((await sandbox.pgbouncer.showDatabase())!.port).toBe(sandbox.instance('source').port);
  }));
