/**
 * Rule: a server the local platform clones from the source (the temporary replica, the target)
 * takes no application write from the moment it starts until the switch opens the target.
 * Before this rule the clone came up with read_only OFF and the app account unlocked until
 * mysql.replication.start: a write there would be lost (and break replication later).
 * After the switch the promoted target takes writes, also after a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { RunResources } from '../../../lib/runbook/resources';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MysqlSandbox, SANDBOX_APP_USER, SANDBOX_DATABASE } from '../../../lib/platforms/local/mysql-sandbox';
import { LocalMysqlPlatform } from '../../../lib/platforms/local/local-mysql-platform';
import { mysqlEncryptRunbook } from '../../../lib/flows/mysql-encrypt';
import { runRunbook } from '../../../lib/runbook/engine';
import { connect } from '../../../lib/engines/mysql/connection';
import { loadEnvironment } from '../../../config/cutover';
import { silentLogger } from '../../../lib/util/log';

jest.setTimeout(600_000);

/** An application write straight to a server (no endpoint in between): the error code, or 'written'. */
async function appWrite(sandbox: MysqlSandbox, server: string, id: number): Promise<string> {
  const connection = await connect({ name: server, host: '127.0.0.1', port: sandbox.instance(server).port, user: SANDBOX_APP_USER, password: sandbox.appPassword }, { database: SANDBOX_DATABASE });
  try {
    await connection.query('INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES (?, 0, 0, ?, NOW(6))', [id, 'probe']);
    return 'written';
  } catch (error) {
    return String((error as { code?: string }).code ?? (error as Error).message);
  } finally {
    await connection.end();
  }
}

test('the replica and the target refuse application writes from creation until the switch opens the target', async () => {
  // GIVEN a sandbox and the MySQL flow on it
  const sandbox = await MysqlSandbox.start({ log: silentLogger, seedRows: 200 });
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-clone-ro-'));
  const resources = new RunResources();
  const probes: Record<string, string> = {};
  try {
    // WHEN the application writes to each clone right after the step that created it
    const run = await runRunbook({
      runbook: mysqlEncryptRunbook(new LocalMysqlPlatform(sandbox), { ...loadEnvironment('local').mysql!, catchUpTimeoutMs: 120000, switchTimeoutMs: 20000 }),
      environment: 'local',
      stateDir,
      dryRun: false,
      log: silentLogger,
      resources,
      onStepDone: async (step) => {
        if (step.id === 'mysql.replica.create') probes.replica = await appWrite(sandbox, 'replica', 9_000_000_001);
        if (step.id === 'mysql.target.clone') probes.targetBeforeReplication = await appWrite(sandbox, 'target', 9_000_000_002);
        if (step.id === 'mysql.source.fence') {
          probes.targetAfterSwitch = await appWrite(sandbox, 'target', 9_000_000_003);
          await sandbox.instance('target').stop();
          await sandbox.instance('target').start();
          probes.targetAfterRestart = await appWrite(sandbox, 'target', 9_000_000_004);
        }
      },
    });
    // THEN the clones refused (read_only), the promoted target did not
    expect(probes).toEqual({
      replica: 'ER_OPTION_PREVENTS_STATEMENT',
      targetBeforeReplication: 'ER_OPTION_PREVENTS_STATEMENT',
      targetAfterSwitch: 'written',
      targetAfterRestart: 'written',
    });
    expect(run.result).toBe('success');
  } finally {
    await resources.disposeAll();
    await sandbox.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
