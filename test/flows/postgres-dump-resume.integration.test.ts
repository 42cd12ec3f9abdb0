/**
 * The dump method resumed after a failed copy: the failed attempt reopened the source (traffic
 * never moved), so the resumed copy must freeze it again before copying; a copy of a writable
 * source would miss the writes made during it. Real PostgreSQL 15 servers, pgbouncer, write load.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { RunResources } from '../../lib/runbook/resources';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresSandbox, PG_SANDBOX_DATABASE } from '../../lib/platforms/local/postgres-sandbox';
import { LocalPostgresPlatform } from '../../lib/platforms/local/local-postgres-platform';
import { postgresDumpRunbook } from '../../lib/flows/postgres-dump';
import { runRunbook } from '../../lib/runbook/engine';
import { RehearsalLoad } from '../../lib/rehearsal/rehearsal-load';
import { closePg, connectPg } from '../../lib/engines/postgres/connection';
import { postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger } from '../../lib/util/log';
import { sleep } from '../../lib/util/time';
import { pgWritesThroughEndpoint } from '../support/fault-cases';

jest.setTimeout(240000);

test('GIVEN a dump run whose copy failed and reopened the source WHEN it is resumed THEN the copy runs on a frozen source again: no write lost, checksums match', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-dump-resume-'));
  const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 3000 });
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--method', 'dump']);
  const settings = { ...postgresSettings(loadEnvironment('local'), args), workDir: sandbox.baseDir };
  const platform = new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers });
  const load = new RehearsalLoad({ engine: 'postgres', endpoint: sandbox.appEndpoint(), database: PG_SANDBOX_DATABASE, connections: 2, ratePerSecond: 100, tailMs: 300, log: silentLogger });
  const resourceSets = [new RunResources(), new RunResources()];
  const targetAdmin = () => connectPg(sandbox.instance('target').endpoint(PG_SANDBOX_DATABASE));
  try {
    await load.start();
    // a leftover table on the target makes the first copy refuse (and reopen the source)
    const first = await runRunbook({
      runbook: postgresDumpRunbook(platform, settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, resources: resourceSets[0],
      onStepDone: async (step) => {
        if (step.id !== 'postgres.target.create') return;
        const client = await targetAdmin();
        await client.query('CREATE TABLE leftover (id int)');
        await closePg(client);
      },
    });
    expect(first.result).toBe('aborted');
    expect(first.error).toMatch(/Copy aborted, source reopened: The target database app already has 1 table/);
    // and the aborted window keeps its start (the report's write gap is measured from it)
    expect(first.facts.switchStartedAt).toEqual(expect.any(Number));
    expect(first.facts.abortedAt).toEqual(expect.any(Number));
    await resourceSets[0].disposeAll();
    // the application writes on the reopened source; the operator clears the target
    await sleep(500);
    const client = await targetAdmin();
    await client.query('DROP TABLE leftover');
    await closePg(client);

    // WHEN the run is resumed
    const resumed = await runRunbook({ runbook: postgresDumpRunbook(platform, settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, resources: resourceSets[1], resumeRunId: first.runId });
    await sleep(300);
    await load.stop();

    // THEN it finished, verified, and every acknowledged write is where the application writes now
    expect(resumed.error).toBeUndefined();
    expect(resumed.result).toBe('success');
    expect(resumed.facts.checksumsVerified).toBe(true);
    const writes = await pgWritesThroughEndpoint(sandbox.appEndpoint(), load, resumed.facts);
    expect(writes.acknowledged).toBeGreaterThan(0);
    expect(writes.lost).toBe(0);
    expect((await sandbox.pgbouncer.showDatabase())!.port).toBe(sandbox.instance('target').port);
  } finally {
    await load.abandon();
    for (const resources of resourceSets) await resources.disposeAll();
    await sandbox.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
