import { mysqlEncryptRunbook, type MysqlFlowSettings } from '../../lib/flows/mysql-encrypt';
import { RunResources } from '../../lib/runbook/resources';
import type { MysqlPlatform } from '../../lib/platforms/mysql-platform';
import { detachedContext, type StepContext } from '../../lib/runbook/step';
import { silentLogger } from '../../lib/util/log';

const settings: MysqlFlowSettings = { databases: ['app'], appUsers: ['app'], replicationUser: 'cutover_repl', lagThresholdMs: 1000, switchTimeoutMs: 10000, catchUpTimeoutMs: 60000, minBinlogRetentionHours: 24 };

/** A platform that takes its start coordinates from the cloned target (as Aurora does). No database is touched by these steps. */
function targetCoordinatesPlatform(calls: string[]): MysqlPlatform {
  const unused = async () => {
    throw new Error('not used by these steps');
  };
  return {
    kind: 'aws',
    rdsProcedures: true,
    startCoordinatesFrom: 'target',
    source: unused,
    replica: unused,
    target: unused,
    sourceAddressForReplication: () => ({ host: 'source', port: 3306 }),
    replicationAccountHost: () => '10.0.0.0/255.255.0.0',
    replicationTls: () => true,
    describe: { source: () => 'source', createReplica: () => ['snapshot'], cloneTarget: () => ['restore'], switchEndpoint: () => ['dns'], fence: () => ['sg'], removeReplica: () => ['nothing'], readOnly: () => '', killSessions: () => ' (mysql.rds_kill)', targetKeptOff: () => 'kept off by its unpublished endpoint', startCoordinates: () => ['Nothing to do: coordinates come from the restored cluster.'] },
    createReplica: async () => ({}),
    cloneTarget: async () => {
      calls.push('clone');
      return { targetId: 'encrypted' };
    },
    startCoordinates: async (context) => {
      calls.push(`coordinates for ${context.facts.targetId}`);
      return { file: 'mysql-bin-changelog.000003', position: 4278 };
    },
    prepareSwitch: unused,
    switchEndpoint: unused,
    endpointTarget: unused,
    fenceSource: unused,
    recycleClients: unused,
    removeReplica: unused,
  };
}

const context = (facts: Record<string, unknown> = {}): StepContext => detachedContext({ runId: 'r', dryRun: false, log: silentLogger, facts, resources: new RunResources() });

describe('start coordinates taken from the cloned target (Aurora)', () => {
  test('the replica catch-up and stop steps do nothing, and say why in the plan', async () => {
    const runbook = mysqlEncryptRunbook(targetCoordinatesPlatform([]), settings);
    for (const id of ['mysql.replica.catch-up', 'mysql.replica.stop']) {
      const step = runbook.steps.find((s) => s.id === id)!;
      expect(step.describe({})).toEqual(['Nothing to do: coordinates come from the restored cluster.']);
      await expect(step.apply(context())).resolves.toEqual({});
    }
  });

  test('the clone step records the coordinates the platform reads from the new target', async () => {
    const calls: string[] = [];
    const clone = mysqlEncryptRunbook(targetCoordinatesPlatform(calls), settings).steps.find((s) => s.id === 'mysql.target.clone')!;
    await expect(clone.precondition!(context())).resolves.toBeUndefined();
    await expect(clone.apply(context())).resolves.toEqual({ targetId: 'encrypted', startBinlogFile: 'mysql-bin-changelog.000003', startBinlogPosition: 4278 });
    expect(calls).toEqual(['clone', 'coordinates for encrypted']);
  });

  test('a replica-based platform still refuses to clone without recorded coordinates', async () => {
    const platform = { ...targetCoordinatesPlatform([]), startCoordinatesFrom: 'replica' as const };
    const clone = mysqlEncryptRunbook(platform, settings).steps.find((s) => s.id === 'mysql.target.clone')!;
    await expect(clone.precondition!(context())).rejects.toThrow(/mysql.replica.stop must run first/);
  });
});
