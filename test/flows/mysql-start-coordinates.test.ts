import { mysqlEncryptRunbook, type MysqlFlowSettings } from '../../lib/flows/mysql-encrypt';
import { RunResources } from '../../lib/runbook/resources';
import type { MysqlPlatform } from '../../lib/platforms/mysql-platform';
import { detachedContext, type StepContext } from '../../lib/runbook/step';
import { silentLogger } from '../../lib/util/log';

const settings: MysqlFlowSettings = { databases: ['app'], appUsers: ['app'], replicationUser: 'cutover_repl', lagThresholdMs: 1000, switchTimeoutMs: 10000, catchUpTimeoutMs: 60000, minBinlogRetentionHours: 24 };

/** A platform seeded from a snapshot of the source, whose clone says where it ends (as Aurora's). No database is touched by these steps. */
function snapshotSeededPlatform(calls: string[]): MysqlPlatform {
  const unused = async () => {
    throw new Error('not used by these steps');
  };
  return {
    kind: 'aws',
    rdsProcedures: true,
    seeding: {
      strategy: 'source-snapshot',
      describe: { createSnapshot: () => ['snapshot of the source'], removeSnapshot: () => ['delete the snapshot'] },
      createSnapshot: async () => (calls.push('snapshot'), { snapshotId: 's' }),
      startCoordinates: async (context) => {
        calls.push(`coordinates for ${context.facts.targetId}`);
        return { file: 'mysql-bin-changelog.000003', position: 4278 };
      },
      removeSnapshot: async () => (calls.push('remove snapshot'), {}),
    },
    source: unused,
    target: unused,
    sourceAddressForReplication: () => ({ host: 'source', port: 3306 }),
    replicationAccountHost: () => '10.0.0.0/255.255.0.0',
    replicationTls: () => true,
    describe: { source: () => 'source', cloneTarget: () => ['restore'], switchEndpoint: () => ['dns'], fence: () => ['sg'], readOnly: () => '', killSessions: () => ' (mysql.rds_kill)', targetKeptOff: () => 'kept off by its unpublished endpoint' },
    cloneTarget: async () => {
      calls.push('clone');
      return { targetId: 'encrypted' };
    },
    prepareSwitch: unused,
    switchEndpoint: unused,
    endpointTarget: unused,
    fenceSource: unused,
    recycleClients: unused,
  };
}

/** The same platform seeded by a temporary replica instead (as an RDS instance or the sandbox). */
function replicaSeededPlatform(calls: string[]): MysqlPlatform {
  const unused = async () => {
    throw new Error('not used by these steps');
  };
  return {
    ...snapshotSeededPlatform(calls),
    seeding: {
      strategy: 'temporary-replica',
      describe: { createReplica: () => ['read replica'], removeReplica: () => ['delete the replica'] },
      createReplica: async () => (calls.push('replica'), { replicaId: 'r' }),
      replica: unused,
      removeReplica: async () => (calls.push('remove replica'), {}),
    },
  };
}

const context = (facts: Record<string, unknown> = {}): StepContext => detachedContext({ runId: 'r', dryRun: false, log: silentLogger, facts, resources: new RunResources() });
const ids = (platform: MysqlPlatform) => mysqlEncryptRunbook(platform, settings).steps.map((s) => s.id);

describe('the seeding strategy contributes its own steps', () => {
  test('a snapshot of the source: mysql.snapshot.create before the clone and mysql.snapshot.remove last, no replica step (none that does nothing)', async () => {
    const calls: string[] = [];
    const runbook = mysqlEncryptRunbook(snapshotSeededPlatform(calls), settings);
    expect(runbook.steps.map((s) => s.id)).toEqual(['mysql.preflight', 'mysql.snapshot.create', 'mysql.target.clone', 'mysql.replication.start', 'mysql.replication.catch-up', 'mysql.switch', 'mysql.verify.checksums', 'mysql.source.fence', 'mysql.snapshot.remove']);
    const step = (id: string) => runbook.steps.find((s) => s.id === id)!;
    expect(step('mysql.snapshot.create').describe({})).toEqual(['snapshot of the source']);
    expect(step('mysql.snapshot.remove').describe({})).toEqual(['delete the snapshot']);
    await step('mysql.snapshot.create').apply(context());
    await step('mysql.snapshot.remove').apply(context());
    expect(calls).toEqual(['snapshot', 'remove snapshot']);
  });

  test('a temporary replica: mysql.replica.create, catch-up and stop before the clone, mysql.replica.remove last', () => {
    expect(ids(replicaSeededPlatform([]))).toEqual([
      'mysql.preflight', 'mysql.replica.create', 'mysql.replica.catch-up', 'mysql.replica.stop', 'mysql.target.clone',
      'mysql.replication.start', 'mysql.replication.catch-up', 'mysql.switch', 'mysql.verify.checksums', 'mysql.source.fence', 'mysql.replica.remove',
    ]);
  });

  test('journals of versions that named the snapshot steps mysql.replica.create / .remove resume them under their new ids', () => {
    const runbook = mysqlEncryptRunbook(snapshotSeededPlatform([]), settings);
    expect(runbook.steps.filter((s) => s.formerIds).map((s) => [s.id, s.formerIds])).toEqual([
      ['mysql.snapshot.create', ['mysql.replica.create']],
      ['mysql.snapshot.remove', ['mysql.replica.remove']],
    ]);
    expect(mysqlEncryptRunbook(replicaSeededPlatform([]), settings).steps.some((s) => s.formerIds)).toBe(false);
  });
});

describe('start coordinates taken from the cloned target (a snapshot of the source)', () => {
  test('the clone step records the coordinates the seeding reads from the new target', async () => {
    const calls: string[] = [];
    const clone = mysqlEncryptRunbook(snapshotSeededPlatform(calls), settings).steps.find((s) => s.id === 'mysql.target.clone')!;
    await expect(clone.precondition!(context())).resolves.toBeUndefined();
    await expect(clone.apply(context())).resolves.toEqual({ targetId: 'encrypted', startBinlogFile: 'mysql-bin-changelog.000003', startBinlogPosition: 4278 });
    expect(calls).toEqual(['clone', 'coordinates for encrypted']);
  });

  test('a replica-seeded platform still refuses to clone without recorded coordinates, and records how they were found', async () => {
    const clone = mysqlEncryptRunbook(replicaSeededPlatform([]), settings).steps.find((s) => s.id === 'mysql.target.clone')!;
    await expect(clone.precondition!(context())).rejects.toThrow(/mysql.replica.stop must run first/);
    await expect(clone.apply(context({ startBinlogFile: 'mysql-bin.000001', startBinlogPosition: 4 }))).resolves.toEqual({ targetId: 'encrypted', startCoordinatesMethod: 'replica-stop' });
  });
});
