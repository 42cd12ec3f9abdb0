/**
 * Rule: the PostgreSQL target takes no application write from the moment it exists until the
 * switch opens it (the MySQL clones start read_only for the same reason): the application
 * role cannot log in there (NOLOGIN, in the catalog: it holds across a killed run, a resume
 * and a restart of the target). Before this rule the target's app role could log in and
 * write from postgres.target.create on: a write there is not on the source, is overwritten or
 * collides with replicated rows, and the proof's "never both sides writable" was only true
 * because nothing routed the application there.
 * After the switch the target takes the application's writes, also after a restart.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { RunResources } from '../../../lib/runbook/resources';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresSandbox, PG_SANDBOX_DATABASE } from '../../../lib/platforms/local/postgres-sandbox';
import { LocalPostgresPlatform } from '../../../lib/platforms/local/local-postgres-platform';
import { postgresRunbook } from '../../../lib/rehearsal/postgres-rehearsal';
import { type PostgresFlowSettings, type PostgresMethod } from '../../../lib/flows/postgres-common';
import { runRunbook } from '../../../lib/runbook/engine';
import { closePg, connectPg } from '../../../lib/engines/postgres/connection';
import { postgresSettings } from '../../../lib/cli/postgres';
import { parseCutoverArgs } from '../../../lib/cli/cutover';
import { loadEnvironment } from '../../../config/cutover';
import { silentLogger } from '../../../lib/util/log';

jest.setTimeout(600_000);

function flowSettings(method: PostgresMethod, workDir: string): PostgresFlowSettings {
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--method', method, '--switch-timeout', '20000']);
  return { ...postgresSettings(loadEnvironment('local'), args), catchUpTimeoutMs: 120000, workDir };
}

/** An application write straight to the target (no pooler in between): 'written', or the SQLSTATE. */
async function appWriteOnTarget(sandbox: PostgresSandbox, id: number): Promise<string> {
  let client: Awaited<ReturnType<typeof connectPg>> | undefined;
  try {
    client = await connectPg({ ...sandbox.instance('target').endpoint(PG_SANDBOX_DATABASE), user: sandbox.app.name, password: sandbox.app.password });
    await client.query("INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES ($1, 0, 0, 'probe', now())", [id]);
    return 'written';
  } catch (error) {
    return String((error as { code?: string }).code ?? (error as Error).message);
  } finally {
    await closePg(client);
  }
}

/** 28000 invalid_authorization_specification: "role … is not permitted to log in". */
const REFUSED = '28000';

describe('the PostgreSQL target is closed to the application until the switch', () => {
  test('logical: the app role cannot write to the target from its creation, across a killed run, a target restart and --resume, until the switch opens it (open after a restart too)', async () => {
    // GIVEN a sandbox and the logical flow on it
    const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 200 });
    const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-closed-'));
    const settings = flowSettings('logical', sandbox.baseDir);
    const platform = new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers });
    const firstResources = new RunResources();
    const secondResources = new RunResources();
    const probes: Record<string, string> = {};
    try {
      // WHEN the application writes to the target after each step, and the first process dies
      // right after the subscription exists (nothing of it runs after that)
      let died!: () => void;
      const dead = new Promise<void>((resolve) => (died = resolve));
      const first = runRunbook({
        runbook: postgresRunbook('logical', platform, settings),
        environment: 'local',
        stateDir,
        dryRun: false,
        log: silentLogger,
        resources: firstResources,
        onStepDone: async (step) => {
          if (step.id === 'postgres.target.create') probes.afterCreate = await appWriteOnTarget(sandbox, 9_000_000_001);
          if (step.id === 'postgres.copy.snapshot') probes.afterCopy = await appWriteOnTarget(sandbox, 9_000_000_002);
          if (step.id === 'postgres.subscription.create') {
            died();
            await new Promise<never>(() => undefined);
          }
        },
      });
      await Promise.race([dead, first.then((r) => Promise.reject(new Error(`the first run ended (${r.result}: ${r.error}) before it was killed`)))]);
      await firstResources.disposeAll();
      // and the target restarts before the run is resumed
      await sandbox.instance('target').stop();
      await sandbox.instance('target').start();
      probes.afterKillAndRestart = await appWriteOnTarget(sandbox, 9_000_000_003);
      const runId = readdirSync(join(stateDir, 'runs'))[0];
      const resumed = await runRunbook({
        runbook: postgresRunbook('logical', platform, settings),
        environment: 'local',
        stateDir,
        dryRun: false,
        log: silentLogger,
        resources: secondResources,
        resumeRunId: runId,
        onStepDone: async (step) => {
          if (step.id === 'postgres.replication.catch-up') probes.resumedBeforeSwitch = await appWriteOnTarget(sandbox, 9_000_000_004);
          if (step.id === 'postgres.replication.remove') {
            probes.afterSwitch = await appWriteOnTarget(sandbox, 9_000_000_005);
            await sandbox.instance('target').stop();
            await sandbox.instance('target').start();
            probes.afterSwitchAndRestart = await appWriteOnTarget(sandbox, 9_000_000_006);
          }
        },
      });
      // THEN the target refused the app role until the switch, and took its writes after it
      expect(probes).toEqual({
        afterCreate: REFUSED,
        afterCopy: REFUSED,
        afterKillAndRestart: REFUSED,
        resumedBeforeSwitch: REFUSED,
        afterSwitch: 'written',
        afterSwitchAndRestart: 'written',
      });
      expect(resumed.error).toBeUndefined();
      expect(resumed.result).toBe('success');
    } finally {
      await firstResources.disposeAll();
      await secondResources.disposeAll();
      await sandbox.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('dump: the restored target refuses the app role until the switch opens it', async () => {
    // GIVEN a sandbox and the dump flow on it
    const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 200 });
    const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-closed-dump-'));
    const settings = flowSettings('dump', sandbox.baseDir);
    const resources = new RunResources();
    const probes: Record<string, string> = {};
    try {
      // WHEN the application writes to the target after the copy, the verification and the switch
      const run = await runRunbook({
        runbook: postgresRunbook('dump', new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers }), settings),
        environment: 'local',
        stateDir,
        dryRun: false,
        log: silentLogger,
        resources,
        onStepDone: async (step) => {
          if (step.id === 'postgres.copy.dump') probes.afterCopy = await appWriteOnTarget(sandbox, 9_000_000_011);
          if (step.id === 'postgres.verify.checksums') probes.afterVerify = await appWriteOnTarget(sandbox, 9_000_000_012);
          if (step.id === 'postgres.switch') probes.afterSwitch = await appWriteOnTarget(sandbox, 9_000_000_013);
        },
      });
      // THEN closed until the switch, open after it
      expect(probes).toEqual({ afterCopy: REFUSED, afterVerify: REFUSED, afterSwitch: 'written' });
      expect(run.error).toBeUndefined();
      expect(run.result).toBe('success');
    } finally {
      await resources.disposeAll();
      await sandbox.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
