import { mkdtempSync, rmSync } from 'node:fs';
import { RunResources } from '../../../lib/runbook/resources';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariadbInstance } from '../../../lib/platforms/local/mariadb-instance';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from '../../../lib/platforms/local/debian-packages';
import { ProcessGroup } from '../../../lib/util/process-group';
import { silentLogger } from '../../../lib/util/log';
import { generatePassword } from '../../../lib/util/secrets';
import { callRows, connect, row, rows, type Connection } from '../../../lib/engines/mysql/connection';
import { detectDialect, killSessionsOf, primaryPosition, replicaStatus, sessionsOf, startReplicationFrom, waitForPosition } from '../../../lib/engines/mysql/server';
import { mysqlEncryptRunbook, type MysqlFlowSettings } from '../../../lib/flows/mysql-encrypt';
import type { MysqlPlatform } from '../../../lib/platforms/mysql-platform';
import { detachedContext, PreconditionFailed } from '../../../lib/runbook/step';
import { installRdsProcedures, mapEndpoint } from '../../../lib/rehearsal/aws-emulated/rds-procedures';

/**
 * The RDS dialect on a real server: the stand-in mysql.rds_* procedures (test/support) answer
 * with RDS's result shapes, so what mysql2 returns for each CALL is what it returns on RDS.
 */
const group = new ProcessGroup();
const baseDir = mkdtempSync(join(tmpdir(), 'rc-rds-procedures-'));
let source: MariadbInstance;
let replica: MariadbInstance;
let root: Connection;
const SOURCE_ENDPOINT = 'orders.abcdefghijkl.eu-west-1.rds.amazonaws.com';

const settings: MysqlFlowSettings = {
  databases: ['app'],
  appUsers: ['app'],
  replicationUser: 'repl',
  lagThresholdMs: 1000,
  switchTimeoutMs: 5000,
  catchUpTimeoutMs: 30000,
  minBinlogRetentionHours: 24,
};

/**
 * Only what mysql.preflight asks of a platform: the source's endpoint and the RDS procedures,
 * and the seeding strategy the runbook is built with (an RDS instance's: a temporary replica).
 */
function rdsSourceOnly(server: MariadbInstance): MysqlPlatform {
  return {
    kind: 'aws',
    rdsProcedures: true,
    source: async () => server.endpoint(),
    describe: { source: () => `stand-in RDS instance on ${server.port}` },
    seeding: { strategy: 'temporary-replica' },
  } as unknown as MysqlPlatform;
}

async function runPreflight(server: MariadbInstance) {
  const runbook = mysqlEncryptRunbook(rdsSourceOnly(server), settings);
  const context = detachedContext({ runId: 'test', dryRun: true, log: silentLogger, facts: {}, resources: new RunResources() });
  try {
    return await runbook.steps.find((s) => s.id === 'mysql.preflight')!.apply(context);
  } finally {
    await context.resources.disposeAll();
  }
}

beforeAll(async () => {
  ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
  source = new MariadbInstance({ name: 'source', baseDir, serverId: 1, rootPassword: generatePassword(), group, log: silentLogger });
  replica = new MariadbInstance({ name: 'replica', baseDir, serverId: 2, rootPassword: generatePassword(), group, log: silentLogger });
  await Promise.all([source.initialise(), replica.initialise()]);
  root = await connect(source.endpoint());
  await root.query('CREATE DATABASE app');
  await root.query('CREATE TABLE app.orders (id BIGINT PRIMARY KEY, note VARCHAR(40))');
  await root.query(`CREATE USER app@'127.0.0.1' IDENTIFIED BY 'app-password-1'`);
  await root.query(`GRANT ALL ON app.* TO app@'127.0.0.1'`);
  await installRdsProcedures(root);
});

afterAll(async () => {
  await root?.end();
  await group.stopAll();
  rmSync(baseDir, { recursive: true, force: true });
});

describe('the RDS dialect on a real server with stand-in mysql.rds_* procedures', () => {
  test('GIVEN binlog retention set with rds_set_configuration WHEN the flow preflight runs on RDS THEN it reads the hours from rds_show_configuration and passes', async () => {
    await root.query("CALL mysql.rds_set_configuration('binlog retention hours', 48)");
    const facts = await runPreflight(source);
    expect(facts).toMatchObject({ binlogRetentionHours: 48, dialect: 'mariadb' });
  });

  test('GIVEN retention too short WHEN the preflight runs THEN the problem names the configured value and the CALL that fixes it', async () => {
    await root.query("CALL mysql.rds_set_configuration('binlog retention hours', 2)");
    await expect(runPreflight(source)).rejects.toThrow(PreconditionFailed);
    await expect(runPreflight(source)).rejects.toThrow("binlog retention hours is 2: run CALL mysql.rds_set_configuration('binlog retention hours', 24)");
  });

  test('callRows returns the rows of a CALL\'s first result set, and none for a procedure that selects nothing', async () => {
    await root.query("CALL mysql.rds_set_configuration('binlog retention hours', 24)");
    const configuration = await callRows<{ name: string; value: string | null }>(root, 'CALL mysql.rds_show_configuration');
    expect(configuration.find((c) => c.name === 'binlog retention hours')?.value).toBe('24');
    expect(configuration.map((c) => c.name)).toEqual(['binlog retention hours', 'source delay', 'target delay']);
    expect(await callRows(root, "CALL mysql.rds_set_configuration('target delay', 0)")).toEqual([]);
    await expect(callRows(root, 'SELECT 1')).rejects.toThrow('callRows runs a CALL statement');
  });

  test('GIVEN a replica reaching the source by its RDS endpoint name WHEN replication is driven by the RDS dialect THEN the CALLs configure, start, wait, kill sessions, stop and reset it', async () => {
    const replicaRoot = await connect(replica.endpoint());
    const app = await connect({ name: 'app', host: '127.0.0.1', port: source.port, user: 'app', password: 'app-password-1' });
    try {
      await installRdsProcedures(replicaRoot);
      await mapEndpoint(replicaRoot, SOURCE_ENDPOINT, { host: '127.0.0.1', port: source.port });
      const dialect = await detectDialect(replicaRoot, { rdsProcedures: true });
      await root.query(`CREATE USER IF NOT EXISTS repl@'127.0.0.1' IDENTIFIED BY 'repl-password-1'`);
      await root.query(`GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.1'`);
      // Start at the very first binlog event: the replica then receives the database too.
      const binlogs = await rows<{ Log_name: string }>(root, 'SHOW BINARY LOGS');
      await startReplicationFrom(replicaRoot, dialect, { host: SOURCE_ENDPOINT, port: 3306, user: 'repl', password: 'repl-password-1', logFile: String(binlogs[0].Log_name), logPosition: 4, ssl: false });
      await app.query("INSERT INTO app.orders VALUES (1, 'through the stand-in')");
      expect(await waitForPosition(replicaRoot, dialect, await primaryPosition(root, dialect), 20000)).toBe('reached');
      expect(await row(replicaRoot, 'SELECT note FROM app.orders WHERE id = 1')).toEqual({ note: 'through the stand-in' });

      // rds_kill ends the application's session on the source (no KILL USER on RDS).
      expect(await killSessionsOf(root, dialect, ['app'], 10000)).toBe(1);
      expect(await sessionsOf(root, ['app'])).toEqual([]);

      await replicaRoot.query(dialect.stopReplication());
      expect((await replicaStatus(replicaRoot, dialect))?.sqlRunning).toBe(false);
      await replicaRoot.query(dialect.resetReplication());
      expect(await replicaStatus(replicaRoot, dialect)).toBeUndefined();
    } finally {
      app.destroy();
      await replicaRoot.end();
    }
  });
});
