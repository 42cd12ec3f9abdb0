/**
 * A table the workload creates between preflight and the switch, PostgreSQL logical (issue 9,
 * trial finding: one created between preflight and the publication set-up was caught only at
 * the switch, 54 s in). The rule: the run notices it at the earliest point it can — the
 * publication set-up (the table is not in preflight's list, so it would not be published), or,
 * for one created after the publication, the catch-up gate (the source's tables against the
 * publication's and the target's) — and stops there, before the freeze: aborted (exit 3), the
 * table named with the fix, the source never frozen, writes going on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { RunResources } from '../../lib/runbook/resources';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresSandbox, PG_SANDBOX_DATABASE } from '../../lib/platforms/local/postgres-sandbox';
import { LocalPostgresPlatform } from '../../lib/platforms/local/local-postgres-platform';
import { postgresLogicalRunbook } from '../../lib/flows/postgres-logical';
import { type PostgresFlowSettings } from '../../lib/flows/postgres-common';
import { runRunbook } from '../../lib/runbook/engine';
import { closePg, connectPg } from '../../lib/engines/postgres/connection';
import { serverReadOnly } from '../../lib/engines/postgres/server';
import { postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger } from '../../lib/util/log';

jest.setTimeout(600_000);

function flowSettings(workDir: string): PostgresFlowSettings {
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--switch-timeout', '20000']);
  return { ...postgresSettings(loadEnvironment('local'), args), catchUpTimeoutMs: 60000, workDir };
}

describe('PostgreSQL logical: a table created after preflight is noticed before the switch', () => {
  test.each([
    ['postgres.preflight', 'postgres.publication.create', /^Publication not created: table\(s\) public\.made_mid_run appeared on the source after preflight .*The source was never frozen.*Fix: start a new run \(its preflight checks the new table\)/],
    ['postgres.publication.create', 'postgres.replication.catch-up', /^Switch not started: the tables changed after the copy .*not in the publication cutover_pub .*public\.made_mid_run.*The source was never frozen\..*ALTER PUBLICATION cutover_pub ADD TABLE/],
  ])('GIVEN a table created on the source right after %s WHEN the run goes on THEN %s stops it (aborted, exit 3), naming the table and the fix, the source never frozen', async (after, stoppedAt, message) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-table-after-preflight-'));
    const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 200 });
    const settings = flowSettings(sandbox.baseDir);
    const platform = new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers });
    const resources = new RunResources();
    try {
      // GIVEN the application creates a table (with rows) right after `after`
      const run = await runRunbook({
        runbook: postgresLogicalRunbook(platform, settings),
        environment: 'local',
        stateDir,
        dryRun: false,
        log: silentLogger,
        resources,
        onStepDone: async (step) => {
          if (step.id !== after) return;
          const app = await connectPg(sandbox.appEndpoint());
          await app.query('CREATE TABLE made_mid_run (id int PRIMARY KEY, note text)');
          await app.query("INSERT INTO made_mid_run SELECT i, 'row ' || i FROM generate_series(1, 1000) i");
          await closePg(app);
        },
      });
      // THEN the run stopped on purpose at the earliest step that can see it, naming the table and the fix
      expect(run.result).toBe('aborted');
      expect(run.error).toMatch(message);
      expect(run.steps.find((s) => s.id === stoppedAt)!.status).toBe('aborted');
      expect(run.steps.find((s) => s.id === 'postgres.switch')!.status).toBe('not-run');
      // and the source was never frozen: it takes writes
      expect(run.facts.sourceFrozenAt).toBeUndefined();
      const source = await connectPg(sandbox.instance('source').endpoint(PG_SANDBOX_DATABASE));
      expect(await serverReadOnly(source)).toBe(false);
      await closePg(source);
      const app = await connectPg(sandbox.appEndpoint());
      await app.query("INSERT INTO made_mid_run VALUES (1001, 'still writable')");
      await closePg(app);
    } finally {
      await resources.disposeAll();
      await sandbox.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
