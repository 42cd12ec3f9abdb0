/**
 * The switch point dies inside the PostgreSQL logical switch (issue 9, item 7: "the pooler/proxy
 * down at the switch"), on real servers under a write load through pgbouncer: pgbouncer is
 * stopped right after the source was frozen, before the switch repoints it. The rule: the run
 * stops, never with both sides writable and never with the source frozen and no way forward;
 * the message names the endpoint and the fix; once the pooler is back (same port, its own
 * config), `--resume` finishes the switch with nothing lost.
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
import { RehearsalLoad } from '../../lib/rehearsal/rehearsal-load';
import { closePg, connectPg, pgRow } from '../../lib/engines/postgres/connection';
import { serverReadOnly } from '../../lib/engines/postgres/server';
import { postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger } from '../../lib/util/log';
import { sleep } from '../../lib/util/time';
import { pgWritesThroughEndpoint } from '../support/fault-cases';

jest.setTimeout(600_000);

function flowSettings(workDir: string): PostgresFlowSettings {
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--switch-timeout', '20000']);
  return { ...postgresSettings(loadEnvironment('local'), args), catchUpTimeoutMs: 60000, workDir };
}

test('GIVEN pgbouncer dead right after the freeze WHEN the switch repoints it THEN the run stops naming the endpoint and the fix, the source frozen, never both writable; AND with pgbouncer back --resume finishes the switch, 0 lost', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-pooler-dies-'));
  const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 300 });
  const settings = flowSettings(sandbox.baseDir);
  const platform = new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers });
  const load = new RehearsalLoad({ engine: 'postgres', endpoint: sandbox.appEndpoint(), database: PG_SANDBOX_DATABASE, connections: 2, ratePerSecond: 100, tailMs: 300, log: silentLogger });
  const firstResources = new RunResources();
  const secondResources = new RunResources();
  const port = sandbox.pgbouncer.port;
  try {
    await load.start();
    // GIVEN pgbouncer stopped as soon as the source is frozen (its clients held by the pause lose their connections)
    let stopped = false;
    firstResources.set(SWITCH_PHASE_PROBE, async (reached: SwitchPhase) => {
      if (reached !== 'frozen' || stopped) return;
      stopped = true;
      await sandbox.pgbouncer.stop();
    });
    const first = await runRunbook({ runbook: postgresLogicalRunbook(platform, settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, resources: firstResources });
    // THEN the run stopped, saying what happened, where it stands and what to do
    expect(stopped).toBe(true);
    expect(first.error).toMatch(/^The application endpoint stopped answering while the switch moved it to the target \(.+\)\. The source stays frozen and the target, which has every write, is open to the application \(never both sides writable\)/);
    expect(first.error).toMatch(/Fix: start the endpoint again \(repoint pgbouncer.*\), then --resume: it reads where the endpoint points and finishes the switch/);
    expect(first.result).toBe('failed');
    // and the source is frozen: only the target can take writes
    const source = await connectPg(sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE));
    expect(await serverReadOnly(source)).toBe(true);
    await closePg(source);

    // WHEN pgbouncer is started again on its port (from the config the switch left) and the run resumed
    await firstResources.disposeAll();
    await sandbox.pgbouncer.start(sandbox.pgbouncer.currentBackend!, port);
    const runId = readdirSync(join(stateDir, 'runs'))[0];
    const resumed = await runRunbook({ runbook: postgresLogicalRunbook(platform, settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, resources: secondResources, resumeRunId: runId });
    await sleep(500);
    await load.stop();
    // THEN the switch and the rest of the run finished
    expect(resumed.error).toBeUndefined();
    expect(resumed.result).toBe('success');
    for (const id of ['postgres.switch', 'postgres.verify.checksums', 'postgres.replication.remove']) expect(resumed.steps.find((s) => s.id === id)!.status).toBe('done');
    // and traffic is on the target, released; the old source frozen and fenced
    const pooler = (await sandbox.pgbouncer.showDatabase())!;
    expect(pooler.port).toBe(sandbox.instance('target').port);
    expect(pooler.paused).toBe(false);
    const admin = await connectPg(sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE));
    expect(await serverReadOnly(admin)).toBe(true);
    expect((await pgRow<{ login: boolean }>(admin, "SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = 'app'"))!.login).toBe(false);
    await closePg(admin);
    // and every acknowledged write is where the application writes now
    const writes = await pgWritesThroughEndpoint(sandbox.appEndpoint(), load, resumed.facts);
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);
  } finally {
    await load.abandon();
    await firstResources.disposeAll();
    await secondResources.disposeAll();
    await sandbox.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
