/**
 * The switch point dies inside the MySQL-family switch (issue 9: "the pooler/proxy down at the
 * switch"), on real servers (MariaDB + HAProxy) under a write load through HAProxy, like
 * postgres-pooler-dies does for pgbouncer. HAProxy is stopped (a) right after the source was
 * frozen, before the endpoint move, (b) right after the target was promoted, before the endpoint
 * move, and (c) right after the endpoint moved. The rules: never
 * both sides writable, no acknowledged write lost, a clear stop naming the endpoint and "start
 * it again, then --resume" (or an undo while traffic is still on the source); once HAProxy is
 * started again from its config file on its port, `--resume` finishes with checksums matching.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { RunResources } from '../../lib/runbook/resources';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MysqlSandbox, SANDBOX_DATABASE } from '../../lib/platforms/local/mysql-sandbox';
import { LocalMysqlPlatform } from '../../lib/platforms/local/local-mysql-platform';
import { mysqlEncryptRunbook, type MysqlFlowSettings } from '../../lib/flows/mysql-encrypt';
import { runRunbook, type RunResult } from '../../lib/runbook/engine';
import { connect, rows } from '../../lib/engines/mysql/connection';
import { WriteLoad, summariseWrites } from '../../lib/load/write-load';
import { mysqlWriteClient } from '../../lib/load/mysql-write-client';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger } from '../../lib/util/log';
import { sleep } from '../../lib/util/time';

jest.setTimeout(600_000);

const settings: MysqlFlowSettings = { ...loadEnvironment('local').mysql!, catchUpTimeoutMs: 120000, switchTimeoutMs: 20000 };

async function readOnly(sandbox: MysqlSandbox, server: string): Promise<boolean> {
  const connection = await connect(sandbox.instance(server).endpoint());
  try {
    return Number((await rows<{ ro: number | string }>(connection, 'SELECT @@GLOBAL.read_only AS ro'))[0].ro) === 1;
  } finally {
    await connection.end();
  }
}

/** Never both writable: at most one side has read_only OFF. */
async function writableSides(sandbox: MysqlSandbox): Promise<string[]> {
  const sides: string[] = [];
  for (const side of ['source', 'target']) if (!(await readOnly(sandbox, side))) sides.push(side);
  return sides;
}

describe('HAProxy (the MySQL switch point) dies inside the switch, real servers under load', () => {
  test.each([
    [
      'right after the freeze, before the endpoint move',
      'frozen',
      // traffic is still on the source: the switch undoes the freeze
      { result: 'aborted', error: /^Switch aborted: the application endpoint stopped answering before the target was promoted \(.*\)\. The source was reopened for writes and traffic never moved.*Fix: start the endpoint again \(.*HAProxy.*\), then --resume/, writable: ['source'] },
    ],
    [
      "between the target's promotion and the endpoint move",
      'promoted',
      // the target is promoted, the endpoint cannot be moved nor read: the source stays frozen
      // (reopening it could leave both sides writable), the target is the one writable side
      { result: 'failed', error: /The endpoint change failed after the target was promoted .*HAProxy.*The source stays frozen \(reopening it could leave both sides writable\)\. Fix: start the endpoint again \(.*HAProxy.*\), then --resume/, writable: ['target'] },
    ],
    [
      'right after the endpoint moved',
      'endpoint-moved',
      // traffic moved: only forward; the run stops where it needs the endpoint
      { result: 'failed', error: /application endpoint .*not answering.*HAProxy.*The switch finished: traffic is on the target.*Fix: start the endpoint again \(.*\), then --resume/, writable: ['target'] },
    ],
  ])('HAProxy stopped %s: the run stops (never both writable) naming the endpoint and the fix; started again, --resume finishes with SUCCESS, checksums match, 0 lost', async (_when, killAfter, expected) => {
    // GIVEN a sandbox under write load through HAProxy
    const sandbox = await MysqlSandbox.start({ log: silentLogger, seedRows: 300 });
    const stateDir = mkdtempSync(join(tmpdir(), 'rc-mysql-proxy-dies-'));
    const load = new WriteLoad({ connections: 4, ratePerSecond: 200, connect: () => mysqlWriteClient(sandbox.appEndpoint(), SANDBOX_DATABASE) });
    const firstResources = new RunResources();
    const secondResources = new RunResources();
    try {
      load.start();
      // WHEN HAProxy is stopped as soon as the switch journals `killAfter`
      let stopped = false;
      const first: RunResult = await runRunbook({
        runbook: mysqlEncryptRunbook(new LocalMysqlPlatform(sandbox), settings),
        environment: 'local',
        stateDir,
        dryRun: false,
        log: silentLogger,
        resources: firstResources,
        onRecord: async (_step, facts) => {
          if (facts.switchPhase !== killAfter || stopped) return;
          stopped = true;
          await sandbox.haproxy.stop();
        },
      });
      // THEN the run stopped by itself, saying what happened and what to do
      expect(stopped).toBe(true);
      expect(first.result).toBe(expected.result);
      expect(first.error).toMatch(expected.error);
      // and exactly one side takes writes
      expect(await writableSides(sandbox)).toEqual(expected.writable);

      // WHEN HAProxy is started again (its config file, its port) and the run resumed in a new process
      await firstResources.disposeAll();
      await sandbox.haproxy.restart();
      const resumed = await runRunbook({ runbook: mysqlEncryptRunbook(new LocalMysqlPlatform(sandbox), settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, resources: secondResources, resumeRunId: first.runId });
      // THEN the cutover finished on the target, proven
      expect(resumed.error).toBeUndefined();
      expect(resumed.result).toBe('success');
      for (const id of ['mysql.switch', 'mysql.verify.checksums', 'mysql.source.fence', 'mysql.replica.remove']) expect(resumed.steps.find((s) => s.id === id)!.status).toMatch(/^done/);
      expect(resumed.facts.checksumsVerified).toBe(true);
      expect((resumed.facts.checksums as { match: boolean }).match).toBe(true);
      expect(await writableSides(sandbox)).toEqual(['target']);
      expect((await new LocalMysqlPlatform(sandbox).endpointTarget()).pointsTo).toBe('target');
      // and writes go on through the endpoint, every acknowledged one present
      const acknowledgedBefore = load.attempts.filter((a) => a.acknowledged).length;
      await sleep(700);
      await load.stop();
      expect(load.attempts.filter((a) => a.acknowledged).length).toBeGreaterThan(acknowledgedBefore);
      const admin = await connect(sandbox.instance('target').endpoint(), { database: SANDBOX_DATABASE });
      const present = new Set((await rows<{ id: string }>(admin, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
      await admin.end();
      const writes = summariseWrites(load.attempts, present);
      expect(writes.acknowledged).toBeGreaterThan(100);
      expect(writes.lost).toBe(0);
    } finally {
      await load.stop().catch(() => undefined);
      await firstResources.disposeAll().catch(() => undefined);
      await secondResources.disposeAll().catch(() => undefined);
      await sandbox.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
