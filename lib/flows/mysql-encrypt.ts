import { z } from 'zod';
import type { Connection } from '../engines/mysql/connection';
import { connect, rows } from '../engines/mysql/connection';
import { replicationStopped, type MysqlDialect } from '../engines/mysql/dialect';
import { setReplicationAccount } from '../engines/mysql/replication-account';
import {
  accountName,
  accountsOf,
  binlogRetention,
  detectDialect,
  killSessionsOf,
  sessionsOf,
  measureLagMs,
  primaryPosition,
  replicaStatus,
  setAccountsLocked,
  startReplicationFrom,
  tablesToWarnAbout,
  userDatabases,
  waitForPosition,
  type Account,
  type BinlogPosition,
} from '../engines/mysql/server';
import { databasesOnEitherSide, tableChecksums } from '../engines/mysql/checksum';
import { checksumOutcome } from '../verify/checksums';
import { untilApplicationIsBack } from './app-reconnect';
import type { MysqlPlatform, SourceSnapshotSeeding, TemporaryReplicaSeeding } from '../platforms/mysql-platform';
import type { MysqlEndpoint } from '../engines/mysql/endpoint';
import { keptConnection, keptConnectionKey } from '../runbook/kept-connections';
import { ResourceKey } from '../runbook/resources';
import type { FactsSchema } from '../runbook/facts-schema';
import { AbortRun, PreconditionFailed, RunInterrupted, type Facts, type Runbook, type Step, type StepContext } from '../runbook/step';
import { JournalWriteError, recordingPastJournalFailures } from '../runbook/journal';
import { generatePassword } from '../util/secrets';
import { binlogScanPlanLines, reRevokeAppWritesOnTarget, restoreAppWritesOnTarget, restoreAppWritesStatements, revokeAppWritesOnTarget, scanStartCoordinates, type StartCoordinatesMethod } from './mysql-start-and-grants';
import { nowMs, sleep, wallClockMs } from '../util/time';

export interface MysqlFlowSettings {
  /** Databases to move and verify; empty = every non-system database. */
  databases: string[];
  /** Application accounts frozen at the switch (locked, sessions killed). */
  appUsers: string[];
  /** Least-privilege account the target replicates with. */
  replicationUser: string;
  /** Replication must be at most this far behind before the switch starts. */
  lagThresholdMs: number;
  /** The whole switch (freeze → endpoint moved) must fit in this, else abort and reopen the source. */
  switchTimeoutMs: number;
  /** How long to wait for a replica or the target to catch up before giving up. */
  catchUpTimeoutMs: number;
  /** Binlogs must be kept at least this long (the copy must finish within it). */
  minBinlogRetentionHours: number;
  /**
   * Where the target's start coordinates come from. 'replica-stop' (default): the stopped
   * replica's executed coordinates. 'binlog-scan': the cloned target's own binlogs (restored
   * from a snapshot of the source), scanned for the source's last transaction and confirmed on
   * the source (lib/flows/mysql-start-and-grants.ts).
   */
  startCoordinatesMethod?: StartCoordinatesMethod;
  /** While it replicates, the target is read-only for the app accounts by REVOKE (RDS: read_only is a parameter-group setting); restored at the promotion. */
  readOnlyByGrants?: boolean;
}

/**
 * The facts a resumed switch decides on, in every direction (mysql.switch, switch-back,
 * switch-forth): how far it got, where the frozen side stopped, where replication back starts.
 * The final position is journaled in the line that says the side froze (and again with a
 * resumed promotion), so a journal past the freeze without it was edited.
 */
const MYSQL_SWITCH_FACTS: FactsSchema = {
  shape: {
    switchPhase: z.enum(['freezing', 'frozen', 'caught-up', 'promoted', 'reverse-started', 'reverse-running', 'endpoint-moved', 'recycled', 'reopened']),
    switchDirection: z.enum(['forward', 'back']),
    switchStartedAt: z.number(),
    switchEndedAt: z.number(),
    finalBinlogFile: z.string().min(1),
    finalBinlogPosition: z.number().int().nonnegative(),
    reverseStartBinlogFile: z.string().min(1),
    reverseStartBinlogPosition: z.number().int().nonnegative(),
  },
  requiredWith: [{ fact: 'switchPhase', values: ['frozen', 'caught-up', 'promoted', 'reverse-started', 'reverse-running', 'endpoint-moved', 'recycled'], required: ['finalBinlogFile', 'finalBinlogPosition'] }],
};

/**
 * The facts a resumed mysql.encrypt run decides on (where replication starts, how far the switch
 * got), checked when --resume reads them back from the journal.
 */
export const MYSQL_ENCRYPT_FACTS: FactsSchema = {
  shape: {
    startBinlogFile: z.string().min(1),
    startBinlogPosition: z.number().int().nonnegative(),
    replicationConfiguredFrom: z.string(),
    ...MYSQL_SWITCH_FACTS.shape,
    targetAppGrantsRevoked: z.array(z.unknown()),
  },
  // The start coordinates come from the replica's stop, the clone or the binlog scan: all before the clone is done.
  requiredAfter: { 'mysql.target.clone': ['startBinlogFile', 'startBinlogPosition'] },
  requiredWith: MYSQL_SWITCH_FACTS.requiredWith,
};

/**
 * The facts a resumed switch-back or switch-forth decides on: the switch's own (its sub-phase,
 * the frozen side's final position, where replication back starts).
 */
export const MYSQL_SWITCH_AGAIN_FACTS: FactsSchema = MYSQL_SWITCH_FACTS;

/** Open connections are kept per run in its resources, one per role, closed when the run ends. */
const CONNECTIONS = 'mysql.connection';
const closeMysql = (connection: Connection): Promise<void> => connection.end().catch(() => connection.destroy());
/** The switch-time consistent snapshot of one side, read by the checksum step. */
const snapshotKey = (side: 'source' | 'target') => new ResourceKey<Connection>(`mysql.snapshot.${side}`);
const DIALECT = new ResourceKey<MysqlDialect>('mysql.dialect');

export function open(context: StepContext, key: string, endpoint: () => Promise<MysqlEndpoint>): Promise<Connection> {
  return keptConnection(context, keptConnectionKey<Connection>(CONNECTIONS, key), { open: async () => connect(await endpoint()), probe: (connection) => connection.query('SELECT 1'), close: closeMysql });
}

export async function dialectOf(context: StepContext, platform: MysqlPlatform, connection: Connection): Promise<MysqlDialect> {
  const cached = context.resources.get(DIALECT);
  if (cached) return cached;
  const detected = await detectDialect(connection, { rdsProcedures: platform.rdsProcedures });
  return context.resources.set(DIALECT, platform.dialect?.(detected) ?? detected);
}

/**
 * Seed operation 1: move a MySQL/MariaDB database to a new server (on AWS: encrypted storage)
 * by the platform's seeding (a temporary replica stopped at recorded coordinates, or a snapshot
 * of the source whose restore says where it ends) → clone → replicate from the source → catch
 * up → freeze → switch → fence → verify → the seeding's clean-up.
 */
export function mysqlEncryptRunbook(platform: MysqlPlatform, settings: MysqlFlowSettings): Runbook {
  const source = (context: StepContext) => open(context, 'source', () => platform.source());
  const target = (context: StepContext) => open(context, 'target', () => platform.target(context.facts));
  const databasesLabel = settings.databases.length > 0 ? settings.databases.join(', ') : 'every non-system database';
  const binlogScan = settings.startCoordinatesMethod === 'binlog-scan';
  const seeding = seedingSteps(platform, settings, source);

  const preflight: Step = {
    id: 'mysql.preflight',
    kind: 'check',
    describe: () => [
      `Connect to the source ${platform.describe.source()} and check: log_bin ON, binlog_format ROW, server_id set,`,
      `binlog retention >= ${settings.minBinlogRetentionHours} h, replication privileges, app accounts ${settings.appUsers.join(', ')} exist;`,
      `list tables without a primary key and MEMORY tables (their rows are in no snapshot or copy) in ${databasesLabel}.`,
    ],
    async apply(context) {
      const connection = await source(context);
      const dialect = await dialectOf(context, platform, connection);
      const problems: string[] = [];
      const variables = await rows<{ Variable_name: string; Value: string }>(
        connection,
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'server_id', 'binlog_expire_logs_seconds', 'expire_logs_days', 'version')",
      );
      const v = Object.fromEntries(variables.map((r) => [r.Variable_name, r.Value]));
      if (v.log_bin !== 'ON') problems.push('log_bin is OFF: enable binary logging (RDS: set a backup retention period > 0)');
      if (v.binlog_format !== 'ROW') problems.push(`binlog_format is ${v.binlog_format}: set binlog_format=ROW in the source's parameter group / my.cnf`);
      if (!v.server_id || v.server_id === '0') problems.push('server_id is 0: give the source a non-zero server_id');
      const retention = await binlogRetention(connection, dialect, v, settings.minBinlogRetentionHours);
      if (retention.problem) problems.push(retention.problem);
      const retentionHours = retention.hours;
      const grants = (await rows<Record<string, string>>(connection, 'SHOW GRANTS')).map((r) => Object.values(r)[0]).join('\n');
      if (!/ALL PRIVILEGES ON \*\.\*|REPLICATION SLAVE|REPLICATION REPLICA/i.test(grants) || !/ALL PRIVILEGES ON \*\.\*|CREATE USER/i.test(grants)) {
        problems.push('the administrator account lacks REPLICATION SLAVE and CREATE USER on *.* (needed to create the replication account): use the master user');
      }
      const accounts = await accountsOf(connection, settings.appUsers);
      const missingUsers = settings.appUsers.filter((u) => !accounts.some((a) => a.user === u));
      if (missingUsers.length > 0) problems.push(`application account(s) ${missingUsers.join(', ')} not found on the source: fix mysql.appUsers in the environment config`);
      const databases = await userDatabases(connection, settings.databases);
      const existing = await userDatabases(connection);
      const missingDatabases = databases.filter((d) => !existing.includes(d));
      if (missingDatabases.length > 0) problems.push(`database(s) ${missingDatabases.join(', ')} not found on the source: fix mysql.databases in the environment config`);
      const { withoutPrimaryKey, memory } = await tablesToWarnAbout(connection, databases.filter((d) => existing.includes(d)));
      if (withoutPrimaryKey.length > 0) {
        context.log.warn(`tables without a primary key (replicate slowly under row-based logging; checksums still compare them): ${withoutPrimaryKey.join(', ')}`);
      }
      if (memory.length > 0) {
        context.log.warn(
          `MEMORY tables: ${memory.join(', ')}. Their rows are in no snapshot or copy, so the new database starts with them empty; ` +
            'an UPDATE or DELETE of such a row stops replication (error 1032), and verification will report them as different. ' +
            'Convert them before the move (ALTER TABLE … ENGINE=InnoDB), or empty them if the application rebuilds them.',
        );
      }
      if (problems.length > 0) throw new PreconditionFailed(problems.join('\n'));
      return { dialect: dialect.name, sourceServerId: Number(v.server_id), sourceVersion: v.version, databases, tablesWithoutPrimaryKey: withoutPrimaryKey, memoryTables: memory, binlogRetentionHours: Number.isFinite(retentionHours) ? retentionHours : null };
    },
  };

  const cloneTarget: Step = {
    id: 'mysql.target.clone',
    kind: 'action',
    describe: () => [...platform.describe.cloneTarget(), ...(binlogScan ? binlogScanPlanLines() : [])],
    precondition: async (context) => {
      if (!binlogScan) seeding.coordinatesBeforeClone?.(context);
    },
    async apply(context) {
      const facts = await platform.cloneTarget(context);
      const cloned = { ...context, facts: { ...context.facts, ...facts } };
      if (binlogScan) return { ...facts, ...(await scanStartCoordinates(cloned, await source(context), await target(cloned))) };
      return { ...facts, ...(await seeding.coordinatesAfterClone(cloned)) };
    },
  };

  const startReplication: Step = {
    id: 'mysql.replication.start',
    kind: 'action',
    describe: (facts) => [
      `Create (or reset) account ${settings.replicationUser}@${platform.replicationAccountHost()} on the source with REPLICATION SLAVE only;`,
      `point the target at the source from the recorded coordinates${facts.startBinlogFile ? ` (${facts.startBinlogFile}:${facts.startBinlogPosition})` : ''}, TLS ${platform.replicationTls() ? 'required' : 'off (loopback)'}, and start it.`,
      settings.readOnlyByGrants
        ? `Before that, on the target: REVOKE the write privileges of ${settings.appUsers.join(', ')} (SELECT kept; the revoked grants journaled), kill their sessions; granted back exactly at the promotion.`
        : platform.describe.targetKeptOff(),
    ],
    precondition: async (context) => {
      // Resumed after replication was configured: the target replicates from its own position now.
      // The plan runs the same check: its recording source lists the binlog files the plan named.
      if (context.facts.replicationConfiguredFrom || !context.facts.startBinlogFile) return;
      // Refused before anything is configured: the IO thread would only fail later with error 1236.
      await assertStartBinlogOnSource(await source(context), String(context.facts.startBinlogFile), Number(context.facts.startBinlogPosition));
    },
    async apply(context) {
      const sourceConnection = await source(context);
      const targetConnection = await target(context);
      const dialect = await dialectOf(context, platform, sourceConnection);
      const status = await replicaStatus(targetConnection, dialect);
      const sourceAddress = platform.sourceAddressForReplication();
      // A resumed run: once this run configured replication, the target may already have applied
      // events past the start coordinates, so configuring it again from them would replay those
      // events (duplicate keys, or silently doubled updates). Keep the configuration; restart it.
      if (context.facts.replicationConfiguredFrom && isOurReplication(status, settings.replicationUser)) {
        if (status!.ioRunning && status!.sqlRunning) {
          context.log.info('target already replicating from the source (configured earlier in this run); nothing to do');
        } else {
          context.log.info(`target keeps this run's replication configuration (executed up to ${status!.executedFile}:${status!.executedPosition}); restarting it, not reconfiguring`);
          await targetConnection.query(dialect.startReplication());
        }
        return { replicationStartedAt: new Date().toISOString(), replicationResumed: true };
      }
      const password = generatePassword();
      await setReplicationAccount(sourceConnection, dialect, `'${settings.replicationUser}'@'${platform.replicationAccountHost()}'`, password);
      const readOnly = dialect.setReadOnly(true);
      if (readOnly) await targetConnection.query(readOnly);
      if (settings.readOnlyByGrants) await revokeAppWritesOnTarget(context, targetConnection, dialect, settings.appUsers);
      await context.record({ replicationConfiguredFrom: `${context.facts.startBinlogFile}:${context.facts.startBinlogPosition}` });
      await startReplicationFrom(targetConnection, dialect, {
        host: sourceAddress.host,
        port: sourceAddress.port,
        user: settings.replicationUser,
        password,
        logFile: String(context.facts.startBinlogFile),
        logPosition: Number(context.facts.startBinlogPosition),
        ssl: platform.replicationTls(),
      });
      await context.record({ replicationStartedAt: new Date().toISOString() });
      return {};
    },
    async verify(context) {
      const dialect = await dialectOf(context, platform, await source(context));
      // The IO thread needs a moment to connect; an authentication or position error shows up here.
      for (let attempt = 0; attempt < 50; attempt += 1) {
        const status = await replicaStatus(await target(context), dialect);
        if (status?.lastError) throw new Error(`Replication on the target failed: ${status.lastError}`);
        if (status?.ioRunning && status.sqlRunning) return;
        await sleep(100);
      }
      throw new Error('Replication on the target did not start (IO/SQL thread not running after 5 s)');
    },
  };

  const targetCatchUp: Step = {
    id: 'mysql.replication.catch-up',
    kind: 'action',
    describe: () => [`Wait until the target is healthy and less than ${settings.lagThresholdMs} ms behind the source (gate before the switch).`],
    async apply(context) {
      const lag = await waitUntilCaughtUp(context, await source(context), await target(context), await dialectOf(context, platform, await source(context)), settings, 'target');
      return { lagBeforeSwitchMs: Math.round(lag) };
    },
  };

  const switchOver: Step = {
    id: MYSQL_SWITCH_STEP,
    kind: 'action',
    irreversible: true,
    hookBefore: 'before-switch',
    hookAfter: 'after-switch',
    describe: () => [
      `Last lag gate, nothing frozen yet: measure again until the target is within ${FREEZE_SETTLED_MS} ms of the source or stops getting closer; over ${settings.lagThresholdMs} ms for ${settings.switchTimeoutMs} ms, refuse (the source never frozen).`,
      `Within ${settings.switchTimeoutMs} ms (--switch-timeout), else abort and reopen the source:`,
      `freeze the source: lock ${settings.appUsers.join(', ')}${platform.describe.readOnly(true)}, kill their sessions until the processlist shows none${platform.describe.killSessions()};`,
      'read the final binlog position; wait until the target executed it (MASTER_POS_WAIT);',
      `stop replication on the target, unlock the app accounts there${platform.describe.readOnly(false)}${platform.reverseReplication ? ' and read its binlog position (same round trip)' : ''};`,
      ...(platform.reverseReplication
        ? ['start replication target -> source from that position (the way back; the source stays frozen for the app accounts);']
        : []),
      ...platform.describe.switchEndpoint(),
      ...(platform.reverseReplication ? ['done once replication target -> source runs (IO and SQL threads), else --resume after fixing it.'] : []),
    ],
    precondition: async (context) => {
      // A switch an earlier process began is resumed from the actual state of both servers and
      // of the endpoint (in apply); only a fresh switch is refused here.
      if (context.facts.switchPhase) return;
      const dialect = await dialectOf(context, platform, await source(context));
      const status = await replicaStatus(await target(context), dialect);
      // Refused before anything is frozen: an abort on purpose, the source never stopped taking writes.
      // A replication error since the catch-up gate (a duplicate key: a row written on the target) is named with its fix, as there.
      if (status?.lastError) throw new AbortRun(`Switch not started: ${brokenReplication('target', status.lastError).message}`);
      if (!status?.ioRunning || !status.sqlRunning) throw new AbortRun(`Switch not started: the target is not replicating (threads stopped); the source was never frozen. Fix replication (mysql.replication.start), then --resume`);
    },
    async apply(context) {
      const sides = switchSides(platform, FORWARD, source, target);
      if (context.facts.switchPhase) {
        const finished = await resumeSwitch(context, platform, settings, sides);
        if (finished) return finished;
      }
      return switchWrites(context, platform, settings, sides);
    },
  };

  const verifyChecksums = verifyChecksumsStep('mysql.verify.checksums', settings, 'Compare per-table checksums of the frozen source and of the target at the switch position (consistent snapshots taken during the switch).');

  // After the checksums on purpose: they read the frozen source, which a network fence (deny-all
  // security group) would cut off; and if they differ, the old source must stay reachable.
  // Until then the source is frozen (app accounts locked, their sessions killed).
  const fenceSource: Step = {
    id: 'mysql.source.fence',
    kind: 'action',
    describe: () => platform.describe.fence(),
    async apply(context) {
      try {
        return await platform.fenceSource(context);
      } catch (failure) {
        // The switch point gone after the switch (a local proxy that died): say so, and what brings the run on.
        const down = await platform.endpointTarget(context).then(
          () => undefined,
          (error: Error) => error.message,
        );
        if (down === undefined) throw failure;
        throw new Error(
          `The application endpoint is not answering (${down}): the source could not be fenced. ` +
            `The switch finished: traffic is on the target, the source stays frozen (as after every switch) and its checksums were compared; the fence and clean-up did not run. ` +
            `No client reaches either side until the endpoint is back. Fix: start the endpoint again (${platform.describe.switchEndpoint().join(' ')}), then --resume`,
        );
      }
    },
  };

  return {
    flow: 'mysql.encrypt',
    facts: MYSQL_ENCRYPT_FACTS,
    summary: [`source: ${platform.describe.source()}`, `databases: ${databasesLabel}`, `platform: ${platform.kind}`],
    steps: [preflight, ...seeding.before, cloneTarget, startReplication, targetCatchUp, switchOver, verifyChecksums, fenceSource, ...seeding.after],
  };
}

/**
 * The steps a seeding strategy (MysqlPlatform.seeding) contributes around the common clone, under
 * its own names: the flow asks the strategy, never which platform runs it.
 */
interface SeedingSteps {
  /** Before mysql.target.clone. */
  before: Step[];
  /** The clone's precondition: throws when the start coordinates should be journaled already and are not. */
  coordinatesBeforeClone?(context: StepContext): void;
  /** The start coordinates once the target is cloned (facts merged into the clone's). */
  coordinatesAfterClone(context: StepContext): Promise<Facts>;
  /** After the fence: the clean-up of what the seeding made. */
  after: Step[];
}

function seedingSteps(platform: MysqlPlatform, settings: MysqlFlowSettings, source: (context: StepContext) => Promise<Connection>): SeedingSteps {
  const seeding = platform.seeding;
  switch (seeding.strategy) {
    case 'temporary-replica':
      return temporaryReplicaSteps(seeding, platform, settings, source);
    case 'source-snapshot':
      return sourceSnapshotSteps(seeding);
  }
}

/**
 * A temporary replica: created, caught up with the source, stopped (its executed coordinates are
 * where the target starts), cloned, and removed after the fence.
 */
function temporaryReplicaSteps(seeding: TemporaryReplicaSeeding, platform: MysqlPlatform, settings: MysqlFlowSettings, source: (context: StepContext) => Promise<Connection>): SeedingSteps {
  const replica = (context: StepContext) => open(context, 'replica', () => seeding.replica(context.facts));
  const create: Step = {
    id: 'mysql.replica.create',
    kind: 'action',
    describe: () => seeding.describe.createReplica(),
    apply: (context) => seeding.createReplica(context),
  };
  const catchUp: Step = {
    id: 'mysql.replica.catch-up',
    kind: 'action',
    describe: () => [`Wait (up to ${Math.round(settings.catchUpTimeoutMs / 1000)} s) until the replica has executed everything the source has written.`],
    async apply(context) {
      const lag = await waitUntilCaughtUp(context, await source(context), await replica(context), await dialectOf(context, platform, await source(context)), settings, 'replica');
      return { replicaLagMs: Math.round(lag) };
    },
  };
  const stop: Step = {
    id: 'mysql.replica.stop',
    kind: 'action',
    describe: () => ['Stop replication on the replica and record the source coordinates it executed', '(Relay_Master_Log_File / Exec_Master_Log_Pos; MySQL 8: Relay_Source_Log_File / Exec_Source_Log_Pos).'],
    async apply(context) {
      const connection = await replica(context);
      const dialect = await dialectOf(context, platform, await source(context));
      const before = await replicaStatus(connection, dialect);
      if (!before) throw new Error('The replica is not configured to replicate: recreate it (mysql.replica.create)');
      // A connecting IO thread counts as running: left alone it would fetch events after the coordinates are read.
      if (before.sqlRunning || !before.ioStopped) await connection.query(dialect.stopReplication());
      const after = await replicaStatus(connection, dialect);
      if (!after || after.sqlRunning || !after.ioStopped) throw new Error('Replication did not stop on the replica');
      return { startBinlogFile: after.executedFile, startBinlogPosition: after.executedPosition };
    },
  };
  const remove: Step = {
    id: 'mysql.replica.remove',
    kind: 'action',
    describe: () => seeding.describe.removeReplica(),
    apply: (context) => seeding.removeReplica(context),
  };
  return {
    before: [create, catchUp, stop],
    coordinatesBeforeClone: (context) => {
      if (!context.facts.startBinlogFile) throw new PreconditionFailed('No recorded start coordinates: mysql.replica.stop must run first');
    },
    coordinatesAfterClone: async () => ({ startCoordinatesMethod: 'replica-stop' }),
    after: [remove],
  };
}

/**
 * A snapshot of the source itself (Aurora: a cluster snapshot, consistent without a replica):
 * taken, restored by the clone, which then reads the coordinates the restored target ends at;
 * removed after the fence. No replica step: there is none.
 *
 * Versions before these steps journaled them as mysql.replica.create and mysql.replica.remove
 * (with a catch-up and a stop that did nothing): a resume of such a journal takes those as
 * these (same operations, same facts), and ignores the two that did nothing.
 */
function sourceSnapshotSteps(seeding: SourceSnapshotSeeding): SeedingSteps {
  const create: Step = {
    id: 'mysql.snapshot.create',
    formerIds: ['mysql.replica.create'],
    kind: 'action',
    describe: () => seeding.describe.createSnapshot(),
    apply: (context) => seeding.createSnapshot(context),
  };
  const remove: Step = {
    id: 'mysql.snapshot.remove',
    formerIds: ['mysql.replica.remove'],
    kind: 'action',
    describe: () => seeding.describe.removeSnapshot(),
    apply: (context) => seeding.removeSnapshot(context),
  };
  return {
    before: [create],
    coordinatesAfterClone: async (context) => {
      const start = await seeding.startCoordinates(context);
      return { startBinlogFile: start.file, startBinlogPosition: start.position };
    },
    after: [remove],
  };
}

/**
 * Why a catch-up gave up, and what to do: the last lag measured says whether the replica was
 * close or falling behind (the source writing faster than it applies, or a machine short of CPU).
 */
export function catchUpTimedOut(what: string, settings: Pick<MysqlFlowSettings, 'lagThresholdMs' | 'catchUpTimeoutMs'>, lastLagMs: number | undefined): string {
  const last = lastLagMs === undefined ? 'over 10 s (not measurable within one wait)' : `${(lastLagMs / 1000).toFixed(1)} s`;
  return (
    `The ${what} did not get within ${settings.lagThresholdMs} ms of the source in ${settings.catchUpTimeoutMs} ms (last lag measured: ${last}); the source was never frozen. ` +
    `If the lag does not shrink, the source writes faster than the ${what} applies: lower the write load or give the ${what} more capacity, or raise catchUpTimeoutMs in the environment's config; then resume later with --resume`
  );
}

export async function waitUntilCaughtUp(context: StepContext, sourceConnection: Connection, replicaConnection: Connection, dialect: MysqlDialect, settings: MysqlFlowSettings, what: string): Promise<number> {
  const deadline = nowMs() + settings.catchUpTimeoutMs;
  let lastLag: number | undefined;
  let restarts = 0;
  for (;;) {
    // Nothing is frozen while waiting here: an interrupt may stop the run right away.
    if (context.stopRequested?.()) throw new RunInterrupted(`Interrupted while waiting for the ${what} to catch up (nothing frozen; the source takes writes)`);
    const status = await replicaStatus(replicaConnection, dialect);
    if (!status) throw new Error(`The ${what} is not configured to replicate`);
    if (status.lastError) throw brokenReplication(what, status.lastError);
    if (replicationStopped(status)) {
      // Stopped without an error: the server restarted (replication does not start by itself
      // there: skip-slave-start locally, an RDS reboot with replication stopped). This run
      // configured it, and a plain START keeps its executed position: nothing replays.
      if (restarts >= 3) throw new AbortRun(`Replication on the ${what} keeps stopping without an error (restarted ${restarts} times): look at its error log; the source was never frozen. Then --resume`);
      restarts += 1;
      context.log.warn(`replication on the ${what} was stopped without an error (server restarted?); starting it again from where it stopped (${status.executedFile}:${status.executedPosition})`);
      await replicaConnection.query(dialect.startReplication());
      await context.record({ replicationRestartedDuringCatchUp: restarts });
      // The IO thread needs a moment to connect ("Connecting" is not running): wait for it, or for its error.
      for (let attempt = 0; attempt < 100; attempt += 1) {
        const started = await replicaStatus(replicaConnection, dialect);
        if (!started || started.lastError || (started.ioRunning && started.sqlRunning)) break;
        await sleep(100);
      }
      continue;
    }
    const remaining = deadline - nowMs();
    if (remaining <= 0) throw new AbortRun(catchUpTimedOut(what, settings, lastLag));
    const lag = await measureLagMs(sourceConnection, replicaConnection, dialect, Math.min(remaining, 10000));
    if (lag !== undefined && lag <= settings.lagThresholdMs) return lag;
    lastLag = lag;
    context.log.info(`${what} lag ${lag === undefined ? '> 10 s' : `${Math.round(lag)} ms`}; waiting`);
  }
}

/**
 * The recorded start coordinates must still be readable on the source: a binlog purged since
 * (retention too short for the copy, or a manual PURGE) can never be replicated, and the only
 * way forward is a new copy.
 */
export async function assertStartBinlogOnSource(source: Connection, file: string, position: number): Promise<void> {
  const listed = (await rows<{ Log_name: string }>(source, 'SHOW BINARY LOGS')).map((l) => l.Log_name);
  if (listed.includes(file)) return;
  throw new PreconditionFailed(
    `The source no longer has binlog ${file} (purged; its oldest is ${listed[0] ?? 'none'}): the target cannot replicate from the recorded start coordinates ${file}:${position}, and the changes in between are gone. ` +
      `Nothing was configured on the target; the source keeps taking writes. Fix: raise the source's binlog retention so it outlasts the copy (RDS: CALL mysql.rds_set_configuration('binlog retention hours', 48); self-managed: binlog_expire_logs_seconds), then rerun the move from the start (a new replica or snapshot and target).`,
  );
}

/**
 * A replication thread stopped on an error: what broke, where, and the way forward, as an
 * abort (nothing frozen yet). A duplicate key means a row was written on the replica outside
 * replication (an administrator's write bypasses read_only): the run must not go on, and the
 * message names the table, the key and the fix.
 */
export function brokenReplication(what: string, lastError: string): AbortRun {
  const duplicate = /on table ([^\s;]+);\s*(Duplicate entry '.*' for key '[^']*')/.exec(lastError);
  if (duplicate) {
    const [, table, entry] = duplicate;
    return new AbortRun(
      `Replication on the ${what} stopped on a duplicate key in table ${table} (${entry}): a row with that key was written on the ${what} outside replication (an administrator's write bypasses read_only). ` +
        `The source was never frozen and keeps taking writes. Fix: on the ${what}, compare that row with the source's, remove the ${what}'s copy (DELETE FROM ${table} WHERE <its key> = <the value above>), then START SLAVE (MySQL 8: START REPLICA) and --resume; ` +
        `if other rows may have been written there too, rerun the move from the start on a new ${what}. Error: ${lastError}`,
    );
  }
  return new AbortRun(`Replication on the ${what} is broken: ${lastError}. The source was never frozen and keeps taking writes. Fix the cause on the ${what}, start replication again, then --resume (or rerun the move from the start)`);
}

/** One side of the move: the old server (`source`) or the new one (`target`). */
export type Side = 'source' | 'target';

/**
 * Which way a switch moves traffic. The forward switch (mysql.switch) goes source → target; the
 * switch back (mysql.switch-back) target → source, with the same freeze, catch-up, promotion,
 * replication the other way, endpoint move, sub-phases and resume rules.
 */
export interface SwitchDirection {
  name: 'forward' | 'back';
  /** The side that takes writes now and is frozen. */
  from: Side;
  /** The side that replicates from `from` and is promoted. */
  to: Side;
}

/** The forward switch's step id (the rehearsal keys its load and its probes on it). */
export const MYSQL_SWITCH_STEP = 'mysql.switch';

export const FORWARD: SwitchDirection = { name: 'forward', from: 'source', to: 'target' };
export const BACK: SwitchDirection = { name: 'back', from: 'target', to: 'source' };

/** The platform operations of a switch in one direction. */
export interface SwitchSides {
  direction: SwitchDirection;
  /** Kept administrator connection of a side. */
  connection(side: Side, context: StepContext): Promise<Connection>;
  /** Administrator endpoint of a side (fresh connections for the critical section). */
  endpoint(side: Side, facts: Facts): Promise<MysqlEndpoint>;
  prepare(context: StepContext): Promise<void>;
  move(context: StepContext): Promise<void>;
  /**
   * Where the old side (`from`) dials the new one (`to`) to replicate new → old after the
   * switch; undefined when the platform has no reverse replication (one-way switch).
   */
  replicationAddressOfTo?(facts: Facts): { host: string; port: number };
}

export function switchSides(platform: MysqlPlatform, direction: SwitchDirection, source: (c: StepContext) => Promise<Connection>, target: (c: StepContext) => Promise<Connection>): SwitchSides {
  const reverse = platform.reverseReplication;
  const forward = direction.name === 'forward';
  if (!forward && !reverse) throw new Error(`The ${platform.kind} platform cannot switch back (no reverse replication built for it yet)`);
  return {
    direction,
    connection: (side, context) => (side === 'source' ? source(context) : target(context)),
    endpoint: (side, facts) => (side === 'source' ? platform.source() : platform.target(facts)),
    prepare: (context) => (forward ? platform.prepareSwitch(context) : reverse!.prepareSwitchBack(context)),
    move: (context) => (forward ? platform.switchEndpoint(context) : reverse!.switchEndpointBack(context)),
    replicationAddressOfTo: forward ? (reverse ? (facts) => reverse.targetAddressForReplication(facts) : undefined) : () => platform.sourceAddressForReplication(),
  };
}

const capital = (side: Side) => (side === 'source' ? 'The source' : 'The target');

/**
 * The switch, in either direction (`from` → `to`; forward: source → target). Ordering (why):
 * 1. Lock app accounts first so killed clients cannot log back in, then read_only, then kill
 *    sessions until none are left: after that no app write can commit on `from`.
 * 2. The final position is read after the freeze, so it covers every acknowledged write.
 * 3. Consistent snapshots on both sides at that position let verification run after traffic
 *    has moved, without holding writes down while tables are checksummed. The frozen side's is
 *    taken while `to` catches up (nothing can change it then, and replication back into it only
 *    starts below); `to`'s after its replication stopped and before it opens.
 * 4. The account lock replicates to `to` through the binlog (RDS cannot skip binlogging it),
 *    so `to` unlocks the accounts itself after promotion. Its binlog position is read in the
 *    same round trip, after the unlock: replication back into `from` starts exactly there, so
 *    the unlock never reaches the old side (its app accounts stay locked) and nothing written
 *    on `to` after it opens is missed.
 * 5. Replication `to` → `from` is started before the endpoint moves (the way back exists
 *    before traffic does) and the switch is declared done only once both of its threads run.
 */
export async function switchWrites(context: StepContext, platform: MysqlPlatform, settings: MysqlFlowSettings, sides: SwitchSides): Promise<Facts> {
  const { from, to } = sides.direction;
  const fromConnection = await sides.connection(from, context);
  const toConnection = await sides.connection(to, context);
  const dialect = await dialectOf(context, platform, fromConnection);
  // Warm everything the critical section touches: dedicated connections (the freeze and the
  // promotion batch their statements into one round trip each), snapshot sessions, platform.
  const freezeConnection = await connect(await sides.endpoint(from, context.facts), { multipleStatements: true });
  const promoteConnection = await connect(await sides.endpoint(to, context.facts), { multipleStatements: true });
  const fromSnapshot = await connect(await sides.endpoint(from, context.facts));
  const toSnapshot = await connect(await sides.endpoint(to, context.facts));
  // Registered at once: whatever ends the run (an abort, an interrupt) closes them.
  for (const [key, connection] of [
    [keptConnectionKey<Connection>(CONNECTIONS, 'switch.freeze'), freezeConnection],
    [keptConnectionKey<Connection>(CONNECTIONS, 'switch.promote'), promoteConnection],
    [snapshotKey(from), fromSnapshot],
    [snapshotKey(to), toSnapshot],
  ] as const) {
    await context.resources.release(key);
    context.resources.register(key, connection, closeMysql);
  }
  for (const c of [fromSnapshot, toSnapshot]) await c.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  await freezeConnection.query(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(settings.switchTimeoutMs / 1000))}`);
  const accounts: Account[] = await accountsOf(fromConnection, settings.appUsers);
  await replicaStatus(toConnection, dialect);
  await primaryPosition(freezeConnection, dialect);
  // The way back: a fresh password for the replication account, set on `from` now so that it
  // reaches `to` through replication before the freeze's final position.
  const reverseAddress = sides.replicationAddressOfTo?.(context.facts);
  let reverseStatements: ((position: BinlogPosition) => string[]) | undefined;
  if (reverseAddress) {
    const user = wayBackAccount(settings, sides.direction);
    const password = await rotateReplicationPassword(fromConnection, dialect, platform, user);
    // Where account changes do not replicate (Aurora MySQL 3), `to` gets the account itself:
    // before its position for the way back is read, so this never replicates back to `from`.
    if (platform.accountChangesReplicate === false) await setReplicationAccount(toConnection, dialect, `'${user}'@'${platform.replicationAccountHost()}'`, password);
    const fromReplication = await replicaStatus(freezeConnection, dialect);
    reverseStatements = (position: BinlogPosition) => [
      ...(fromReplication ? [dialect.stopReplication(), dialect.resetReplication()] : []),
      ...dialect.configureReplication({ ...reverseAddress, user, password, logFile: position.file, logPosition: position.position, ssl: platform.replicationTls() }),
      dialect.startReplication(),
    ];
  }
  try {
    await sides.prepare(context);
  } catch (failure) {
    // Before the freeze: a switch point that cannot even be prepared would not move traffic either.
    throw new AbortRun(
      `Switch not started: the application endpoint could not be prepared for the switch (${failure instanceof Error ? failure.message : String(failure)}). ` +
        `The ${from} was never frozen and keeps taking writes; traffic never moved. Fix: bring the endpoint back (${platform.describe.switchEndpoint().join(' ')}), then --resume`,
    );
  }
  // The last gate, after every preparation above and right before the freeze (nothing frozen).
  const lagBeforeFreezeMs = await settleBeforeFreeze(context, fromConnection, toConnection, toSnapshot, dialect, settings, sides.direction);

  const started = nowMs();
  const startedAt = wallClockMs();
  const deadline = started + settings.switchTimeoutMs;
  const remaining = () => Math.max(1, deadline - nowMs());
  let frozen = false;
  let promoted = false;
  let switched = false;
  /** STOP SLAVE was sent to `to` (an abort before the promotion starts it again). */
  let replicationStopped = false;
  const phases: Record<string, number> = {};
  let lastMark = started;
  const mark = (phase: string) => {
    const now = nowMs();
    phases[phase] = Math.round((now - lastMark) * 10) / 10;
    lastMark = now;
  };
  let lagAtSwitchMs: number | undefined;
  // Sub-phases are journaled as they are reached (fsynced, a few ms each): a resumed run reads
  // them with the servers' and the endpoint's actual state to finish forward or reopen `from`.
  // A journal that cannot take a line (a full disk) stops the switch where that is safe: before
  // the freeze, refuse; frozen, undo the freeze; once traffic moved, finish forward (below).
  try {
    await context.record({ switchPhase: 'freezing', switchStartedAt: startedAt, switchDirection: sides.direction.name });
  } catch (failure) {
    if (!(failure instanceof JournalWriteError)) throw failure;
    throw new AbortRun(`Switch not started: ${failure.clause}. The ${from} was never frozen and keeps taking writes; traffic never moved.`);
  }
  // Once the endpoint moved, a journal line that fails is remembered and the switch finishes.
  const { context: afterMove, journalFailure } = recordingPastJournalFailures(context);
  mark('journalFreezing');
  try {
    frozen = true; // from the first statement on, a failure must reopen `from`
    const finalPosition = await freezeSource(freezeConnection, dialect, accounts, settings.appUsers, remaining);
    mark('freeze');
    const waitStarted = nowMs();
    // The frozen side's snapshot is taken while `to` catches up: nothing can change it now.
    // The switch point is asked meanwhile: one that died (a local proxy) is seen while undoing the freeze is still possible.
    // These only read, so they are sent before the `frozen` line is journaled: its fsync (a few
    // ms, 100 on a busy disk) overlaps the wait instead of adding to the window. The line is
    // still on disk before the next act (the promotion) and before anything depends on it.
    const caughtUp = Promise.all([
      waitForPosition(toConnection, dialect, finalPosition, remaining(), toSnapshot),
      fromSnapshot.query('START TRANSACTION WITH CONSISTENT SNAPSHOT').then(() => primaryPosition(fromSnapshot, dialect)),
      platform.switchPointAnswers?.(context).then(
        () => undefined,
        (error: Error) => error.message,
      ),
    ]);
    // A journal that refuses the line aborts below while these still run: their outcome is not needed then.
    caughtUp.catch(() => undefined);
    await context.record({ switchPhase: 'frozen', finalBinlogFile: finalPosition.file, finalBinlogPosition: finalPosition.position });
    mark('journalFrozen');
    const [outcome, atSnapshot, switchPointDown] = await caughtUp;
    lagAtSwitchMs = nowMs() - waitStarted;
    mark('targetCatchUp');
    if (outcome !== 'reached') {
      const why = outcome === 'timeout' ? `the ${to} did not reach ${finalPosition.file}:${finalPosition.position} within --switch-timeout ${settings.switchTimeoutMs} ms` : `replication is not running on the ${to}`;
      throw new AbortRun(`Switch aborted: ${why}. ${capital(from)} was reopened for writes and traffic never moved.`);
    }
    if (atSnapshot.file !== finalPosition.file || atSnapshot.position !== finalPosition.position) {
      throw new AbortRun(`Switch aborted: the frozen ${from} was written after the freeze (${finalPosition.file}:${finalPosition.position} -> ${atSnapshot.file}:${atSnapshot.position}): an account with admin rights is writing there; find it in the processlist. ${capital(from)} was reopened for writes and traffic never moved.`);
    }
    if (switchPointDown !== undefined) {
      throw new AbortRun(
        `Switch aborted: the application endpoint stopped answering before the ${to} was promoted (${switchPointDown}). ${capital(from)} was reopened for writes and traffic never moved; no client reaches it until the endpoint is back. ` +
          `Fix: start the endpoint again (${platform.describe.switchEndpoint().join(' ')}), then --resume`,
      );
    }
    // Past this point `to` is promoted: finishing the switch is safer than going back.
    // Its snapshot starts after replication stopped and before anything can write to it.
    // STOP SLAVE is sent before the `caught-up` line is journaled, so that its fsync overlaps
    // the stop instead of adding to the window: a stop alone changes nothing a resume cannot
    // undo (journal at `frozen`, replication stopped without an error: it is started again and
    // the switch runs again). The line is on disk before `to` opens (the batch below).
    const stopped = promoteConnection.query(dialect.stopReplication());
    replicationStopped = true;
    stopped.catch(() => undefined);
    await context.record({ switchPhase: 'caught-up' });
    mark('journalCaughtUp');
    await stopped;
    mark('stopReplication');
    await toSnapshot.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
    mark('targetSnapshot');
    // The AWS grants-based read-only applies to the target (forward only); restored in the same batch, before the way-back position is read.
    const open = [...(sides.direction.name === 'forward' ? restoreAppWritesStatements(context.facts) : []), ...accounts.map((account) => `ALTER USER ${accountName(account)} ACCOUNT UNLOCK`)];
    const writable = dialect.setReadOnly(false);
    if (writable) open.push(writable);
    let reverseStart: BinlogPosition | undefined;
    if (reverseStatements) {
      const [results] = await promoteConnection.query([...open, dialect.showPrimaryStatus()].join('; '));
      const status = (open.length > 0 ? (results as unknown as Array<Array<{ File: string; Position: string | number }>>).at(-1) : (results as unknown as Array<{ File: string; Position: string | number }>))?.[0];
      if (!status) throw new Error(`Binary logging is off on the ${to} (SHOW MASTER STATUS is empty): replication back to the ${from} needs it`);
      reverseStart = { file: status.File, position: Number(status.Position) };
    } else if (open.length > 0) {
      await promoteConnection.query(open.join('; '));
    }
    mark('promoteTarget');
    promoted = true;
    // Before traffic opens on `to`: the old side replicates from exactly the equal state. Its
    // statements are sent before the `promoted` line is journaled, so that its fsync overlaps
    // them: a resume that finds replication back configured without the line keeps it (it
    // started at the promotion's position; ensureReverseReplication) and one that finds none
    // starts it from `to`'s position (nothing but the promotion was written there: the
    // endpoint is still on `from`). The line is on disk before the endpoint moves.
    const reverseStarted = reverseStatements && reverseStart ? freezeConnection.query(reverseStatements(reverseStart).join('; ')) : undefined;
    reverseStarted?.catch(() => undefined);
    await context.record({ switchPhase: 'promoted', ...(reverseStart ? { reverseStartBinlogFile: reverseStart.file, reverseStartBinlogPosition: reverseStart.position } : {}) });
    mark('journalPromoted');
    if (reverseStarted) {
      await reverseStarted;
      mark('startReverseReplication');
      await context.record({ switchPhase: 'reverse-started' });
      mark('journalReverseStarted');
    }
    await sides.move(context);
    switched = true;
    mark('switchEndpoint');
    const switchDurationMs = nowMs() - started;
    const switchedAt = wallClockMs();
    await afterMove.record({ switchPhase: 'endpoint-moved', switchEndedAt: switchedAt, switchDurationMs: Math.round(switchDurationMs * 10) / 10 });
    context.log.info(`switched ${from} -> ${to} in ${switchDurationMs.toFixed(1)} ms (${to} caught up in ${lagAtSwitchMs.toFixed(1)} ms)`);

    // Traffic has moved. Nothing below may reopen `from`: failures are reported instead.
    await promoteConnection.query(dialect.resetReplication());
    const leftOver = await killSessionsOf(freezeConnection, dialect, settings.appUsers, 10000);
    await platform.recycleClients(context);
    await afterMove.record({ switchPhase: 'recycled' });
    const reverse = reverseStart ? await confirmReverseReplication(afterMove, freezeConnection, dialect, sides) : {};
    const journalFailedAfterMove = journalFailure();
    if (journalFailedAfterMove) throw new Error(`${journalFailedAfterMove.message}. ${switchFinishedSentence(sides.direction)}`);
    return {
      finalBinlogFile: finalPosition.file,
      finalBinlogPosition: finalPosition.position,
      lagAtSwitchMs: Math.round(lagAtSwitchMs * 10) / 10,
      lagBeforeFreezeMs: Math.round(lagBeforeFreezeMs * 10) / 10,
      switchDurationMs: Math.round(switchDurationMs * 10) / 10,
      switchStartedAt: startedAt,
      switchEndedAt: switchedAt,
      appSessionsKilledAfterSwitch: leftOver,
      switchPhasesMs: phases,
      ...reverse,
    };
  } catch (failure) {
    if (frozen && !switched && promoted) {
      // The endpoint change failed after the promotion. Reopening `from` is only safe if the
      // endpoint demonstrably still points at it; then `to` steps back first.
      const endpoint = await platform.endpointTarget(context).catch((error: Error) => ({ pointsTo: 'unknown' as const, detail: `could not read it: ${error.message}` }));
      const why = failure instanceof JournalWriteError ? failure.clause : failure instanceof Error ? failure.message : String(failure);
      if (endpoint.pointsTo !== from) {
        const fix = /could not read it/.test(endpoint.detail) ? `Fix: start the endpoint again (${platform.describe.switchEndpoint().join(' ')}), then --resume to finish forward.` : 'Run --resume to finish forward.';
        throw new Error(`The endpoint change failed after the ${to} was promoted (${why}); the endpoint now: ${endpoint.detail}. ${capital(from)} stays frozen (reopening it could leave both sides writable). ${fix}`);
      }
      // Replication back into `from` (if it started) must stop before `from` takes writes again.
      if (reverseStatements) await freezeConnection.query(`${dialect.stopReplication()}; ${dialect.resetReplication()}`).catch(() => undefined);
      await demoteTarget(promoteConnection, dialect, accounts);
      if (sides.direction.name === 'forward') await reRevokeAppWritesOnTarget(context, promoteConnection, dialect, settings.appUsers);
      await reopenSource(context, freezeConnection, dialect, accounts, sides.direction);
      await recordIfPossible(context, { switchPhase: 'reopened' });
      const what = failure instanceof JournalWriteError ? `after the promotion ${why}` : `the endpoint change failed (${why})`;
      throw new AbortRun(`Switch aborted: ${what} and the endpoint still points at the ${from} (${endpoint.detail}). ${capital(to)} was made read-only and replicates again; the ${from} was reopened for writes and traffic never moved.`, { abortedAt: wallClockMs(), switchStartedAt: startedAt });
    }
    if (frozen && !switched) {
      // `to` stopped replicating but was never opened (the `caught-up` line or its snapshot
      // failed): it replicates again, from where it stopped, before `from` takes writes.
      if (replicationStopped) await promoteConnection.query(dialect.startReplication()).catch(() => undefined);
      await reopenSource(context, freezeConnection, dialect, accounts, sides.direction);
      await recordIfPossible(context, { switchPhase: 'reopened' });
      if (failure instanceof JournalWriteError) {
        throw new AbortRun(`Switch aborted: ${failure.clause}. ${capital(from)} was reopened for writes and traffic never moved.`, { abortedAt: wallClockMs(), switchStartedAt: startedAt });
      }
    }
    if (!switched) {
      await fromSnapshot.query('ROLLBACK').catch(() => undefined);
      await toSnapshot.query('ROLLBACK').catch(() => undefined);
    }
    const message = failure instanceof Error ? failure.message : String(failure);
    if (switched && !/stays frozen/.test(message)) {
      // Anything after traffic moved (a full disk, a dropped session): going back is no longer an option; say where it stands.
      throw new Error(`${message}. ${switchFinishedSentence(sides.direction)}`);
    }
    if (failure instanceof AbortRun) {
      throw new AbortRun(failure.message, { abortedAt: wallClockMs(), switchStartedAt: startedAt, lagAtSwitchMs: lagAtSwitchMs === undefined ? null : Math.round(lagAtSwitchMs) });
    }
    throw failure;
  } finally {
    await context.resources.release(keptConnectionKey(CONNECTIONS, 'switch.freeze'));
    await context.resources.release(keptConnectionKey(CONNECTIONS, 'switch.promote'));
  }
}

/** What a failure after the endpoint moved leaves: a finished switch, with the rest of the run still to do. */
function switchFinishedSentence(direction: SwitchDirection): string {
  return `The switch finished: traffic is on the ${direction.to}, the ${direction.from} stays frozen (as after every switch); what followed the endpoint move, verification, fence and clean-up did not run: --resume finishes them.`;
}

/** A sub-phase worth journaling on the way out of an abort; a journal that cannot take it (full disk) must not hide why the switch aborted. */
async function recordIfPossible(context: StepContext, facts: Facts): Promise<void> {
  try {
    await context.record(facts);
  } catch (failure) {
    if (!(failure instanceof JournalWriteError)) throw failure;
    context.log.warn(`not journaled (${failure.code}): ${JSON.stringify(facts)}; a --resume reads the servers' actual state`);
  }
}

/** At or under this, `to` is as close as it gets: freeze now (a quiet machine measures 1–15 ms). */
export const FREEZE_SETTLED_MS = 25;
/** Measurements in a row that do not beat the best one: `to` has reached its floor (a busy machine's). */
const FREEZE_SETTLE_PATIENCE = 3;

/**
 * The last lag gate, inside the switch step right before the freeze (nothing frozen yet).
 * Why: the step gate (mysql.replication.catch-up) passes as soon as `to` reaches `from`'s
 * position within lagThresholdMs, i.e. while it is still draining the backlog of its catch-up
 * (measured: the gate passed at 810–830 ms, `to` was still 90–115 ms behind at the freeze);
 * and the preparation of the switch (connections, the way-back password, which replicates)
 * comes after it. Whatever `to` lags at the freeze is spent with writes stopped.
 * So: measure again (the time `to` takes to reach `from`'s position read now) until `to` is
 * within FREEZE_SETTLED_MS, or stops getting closer (a busy machine has a floor) while within
 * lagThresholdMs. Over lagThresholdMs it waits, for at most --switch-timeout, then refuses to
 * freeze: an abort with nothing frozen, traffic untouched, `--resume` waits again.
 */
async function settleBeforeFreeze(
  context: StepContext,
  fromConnection: Connection,
  toConnection: Connection,
  canceller: Connection,
  dialect: MysqlDialect,
  settings: MysqlFlowSettings,
  direction: SwitchDirection,
): Promise<number> {
  const { from, to } = direction;
  const deadline = nowMs() + settings.switchTimeoutMs;
  let best = Number.POSITIVE_INFINITY;
  let notBetter = 0;
  let last: number | undefined;
  for (;;) {
    const remaining = deadline - nowMs();
    // Still getting closer when the time is up, but within the threshold: the step gate's rule holds.
    if (remaining <= 0 && last !== undefined) break;
    if (remaining <= 0) {
      const status = await replicaStatus(toConnection, dialect);
      const why = status?.lastError ? `its replication failed: ${status.lastError}` : `it did not reach ${from}'s position within ${settings.lagThresholdMs} ms (the lag threshold) for ${settings.switchTimeoutMs} ms (--switch-timeout)`;
      throw new AbortRun(`Switch not started: the ${to} fell behind right before the freeze: ${why}. The ${from} was never frozen and keeps the traffic. --resume waits for the ${to} again.`);
    }
    const position = await primaryPosition(fromConnection, dialect);
    const waitStarted = nowMs();
    const outcome = await waitForPosition(toConnection, dialect, position, Math.min(settings.lagThresholdMs, remaining), canceller);
    if (outcome === 'not-replicating') {
      throw new AbortRun(`Switch not started: replication to the ${to} stopped right before the freeze; the ${from} was never frozen and keeps the traffic. Fix replication, then --resume`);
    }
    if (outcome === 'reached') {
      last = nowMs() - waitStarted;
      // A plan's recorded wait answers at once: its elapsed time is the recorder's, not a lag, and
      // measuring again on it made the committed plans depend on how busy the machine was.
      if (last <= FREEZE_SETTLED_MS || context.dryRun) break;
      if (last < best) {
        best = last;
        notBetter = 0;
      } else if (++notBetter >= FREEZE_SETTLE_PATIENCE) {
        break;
      }
    } else {
      last = undefined;
      best = Number.POSITIVE_INFINITY;
      notBetter = 0;
    }
    context.log.info(`${to} lag before the freeze ${last === undefined ? `> ${settings.lagThresholdMs}` : Math.round(last)} ms; measuring again`);
  }
  return last;
}

/**
 * The account the old side replicates with after a switch in `direction`: never the one the
 * replication running now uses, so that setting its password (below) cannot break a
 * reconnect of that replication (an aborted switch restarts it with its stored password).
 * Forward: `<replicationUser>_back` (at most 32 characters, MySQL's limit); back: `<replicationUser>`.
 */
export function wayBackAccount(settings: MysqlFlowSettings, direction: SwitchDirection): string {
  return direction.name === 'forward' ? `${settings.replicationUser.slice(0, 27)}_back` : settings.replicationUser;
}

/** A fresh password for a replication account, set where writes go now (it replicates to the other side). */
async function rotateReplicationPassword(connection: Connection, dialect: MysqlDialect, platform: MysqlPlatform, user: string): Promise<string> {
  const password = generatePassword();
  await setReplicationAccount(connection, dialect, `'${user}'@'${platform.replicationAccountHost()}'`, password);
  return password;
}

/**
 * The switch is done only when replication back into the old side runs: both threads up, no
 * error. Traffic has moved already, so a failure here cannot reopen anything: it says what
 * is wrong and that --resume checks again.
 */
async function confirmReverseReplication(context: StepContext, connection: Connection, dialect: MysqlDialect, sides: SwitchSides): Promise<Facts> {
  const { from, to } = sides.direction;
  const deadline = nowMs() + 30000;
  for (;;) {
    const status = await replicaStatus(connection, dialect);
    if (status?.ioRunning && status.sqlRunning) {
      const runningAt = wallClockMs();
      await context.record({ switchPhase: 'reverse-running', reverseReplicationRunningAt: runningAt });
      return { reverseReplication: `${to} -> ${from}`, reverseReplicationRunningAt: runningAt };
    }
    if (status?.lastError || nowMs() > deadline) {
      throw new Error(
        `Traffic is on the ${to}, but replication ${to} -> ${from} (the way back) is not running: ${status ? status.lastError || `IO ${status.ioRunning ? 'running' : 'stopped'}, SQL ${status.sqlRunning ? 'running' : 'stopped'} after 30 s` : 'not configured'}. ` +
          `The ${from} stays frozen. Fix it (SHOW SLAVE STATUS on the ${from}), then --resume: the switch is not done until it runs.`,
      );
    }
    await sleep(50);
  }
}

/**
 * Stop application writes on a side and return the binlog position that covers every
 * acknowledged write. Where the server has read_only (not RDS) and can kill by user (MariaDB),
 * this is one round trip: lock accounts, read_only (no non-admin commit can happen after it,
 * so the position is final even while killed sessions are still dying), KILL USER, and the
 * position. Otherwise sessions are killed one by one and must be gone before the position
 * is read.
 */
async function freezeSource(connection: Connection, dialect: MysqlDialect, accounts: Account[], appUsers: string[], remaining: () => number): Promise<BinlogPosition> {
  const lock = accounts.map((account) => `ALTER USER ${accountName(account)} ACCOUNT LOCK`);
  const readOnly = dialect.setReadOnly(true);
  const killByUser = appUsers.map((user) => dialect.killUserSessions(user));
  if (readOnly && killByUser.every((statement) => statement !== undefined)) {
    const [results] = await connection.query([...lock, readOnly, ...(killByUser as string[]), dialect.showPrimaryStatus()].join('; '));
    const status = (results as unknown as Array<Array<{ File: string; Position: string | number }>>).at(-1)?.[0];
    if (!status) throw new Error('Binary logging is off on the source (SHOW MASTER STATUS is empty)');
    return { file: status.File, position: Number(status.Position) };
  }
  if (lock.length > 0) await connection.query(lock.join('; '));
  if (readOnly) await connection.query(readOnly);
  await killSessionsOf(connection, dialect, appUsers, remaining());
  return primaryPosition(connection, dialect);
}

/**
 * Undo a promotion that traffic never reached: app accounts locked and read_only again, and
 * replication restarted where it stopped (the frozen side has not moved since, so nothing is
 * replayed and nothing is missed; never a CHANGE MASTER from the start coordinates).
 */
async function demoteTarget(targetConnection: Connection, dialect: MysqlDialect, accounts: Account[]): Promise<void> {
  await setAccountsLocked(targetConnection, accounts, true);
  const readOnly = dialect.setReadOnly(true);
  if (readOnly) await targetConnection.query(readOnly);
  await targetConnection.query(dialect.startReplication());
}

/** Undo the freeze: `from` takes writes again, traffic never moved. */
async function reopenSource(context: StepContext, sourceConnection: Connection, dialect: MysqlDialect, accounts: Account[], direction: SwitchDirection = FORWARD): Promise<void> {
  const writable = dialect.setReadOnly(false);
  if (writable) await sourceConnection.query(writable);
  // The unlock replicates to `to` like the lock did, so both sides agree again.
  await setAccountsLocked(sourceConnection, accounts, false);
  context.log.warn(`switch aborted: ${direction.from} reopened for writes, traffic stays on the ${direction.from}, ${direction.to} still replicating`);
}

/**
 * The switch's sub-phases in the order they are journaled (`switchPhase`); `reopened` ends an
 * abort. `reverse-started` / `reverse-running` only where the platform replicates back.
 */
export const SWITCH_PHASES = ['freezing', 'frozen', 'caught-up', 'promoted', 'reverse-started', 'endpoint-moved', 'recycled', 'reverse-running'] as const;

function phaseReached(facts: Facts, phase: (typeof SWITCH_PHASES)[number]): boolean {
  return SWITCH_PHASES.indexOf(facts.switchPhase as (typeof SWITCH_PHASES)[number]) >= SWITCH_PHASES.indexOf(phase);
}

/** The target replicates with this run's account (configured by mysql.replication.start), not with a configuration the clone carried. */
function isOurReplication(status: Awaited<ReturnType<typeof replicaStatus>>, replicationUser: string): boolean {
  return status !== undefined && (status.sourceUser === undefined || status.sourceUser === replicationUser);
}

/** Whether a server takes application writes: read_only, and how many of the app accounts are locked. */
interface WriteState {
  readOnly: boolean | undefined;
  lockedAccounts: number;
  accounts: Account[];
  /** The app accounts that are locked now. */
  locked: Account[];
}

async function writeState(connection: Connection, dialect: MysqlDialect, appUsers: string[]): Promise<WriteState> {
  const accounts = await accountsOf(connection, appUsers);
  const locked: Account[] = [];
  for (const account of accounts) {
    // SHOW CREATE USER prints ACCOUNT LOCK on MariaDB 10.4+, MySQL 5.7.6+ and RDS alike.
    const [result] = await connection.query(`SHOW CREATE USER ${accountName(account)}`);
    if (/ACCOUNT LOCK/i.test(String(Object.values((result as Array<Record<string, unknown>>)[0] ?? {})[0] ?? ''))) locked.push(account);
  }
  // On RDS read_only belongs to the parameter group: the account locks are the freeze there.
  const readOnly = dialect.setReadOnly(true) ? Number((await rows<{ ro: number | string }>(connection, 'SELECT @@GLOBAL.read_only AS ro'))[0]?.ro) === 1 : undefined;
  return { readOnly, lockedAccounts: locked.length, accounts, locked };
}

function describeWriteState(state: WriteState): string {
  return `${state.readOnly === undefined ? '' : `read_only ${state.readOnly ? 'ON' : 'OFF'}, `}${state.lockedAccounts}/${state.accounts.length} app account(s) locked`;
}

/** Freeze (idempotent, no position needed): lock the app accounts, read_only, end their sessions. */
async function keepFrozen(connection: Connection, dialect: MysqlDialect, state: WriteState, appUsers: string[]): Promise<void> {
  // Only the unlocked ones: an ALTER USER is binlogged, and nothing needless should replicate.
  await setAccountsLocked(connection, state.accounts.filter((a) => !state.locked.some((l) => l.user === a.user && l.host === a.host)), true);
  const readOnly = dialect.setReadOnly(true);
  if (readOnly) await connection.query(readOnly);
  await killSessionsOf(connection, dialect, appUsers, 10000);
}

/**
 * A switch that an earlier process of this run began (it was killed, or interrupted, or failed
 * after the promotion). Decided from the ACTUAL state of both servers and of the endpoint, with
 * the journaled sub-phase as a hint only (`from` → `to`; forward: source → target):
 * - traffic on `to` (the endpoint moved): finish forward — keep `from` frozen, make sure `to`
 *   is promoted (it never is twice: unlocking and read_only OFF are idempotent), drop its
 *   replication configuration, make sure replication back into `from` runs, recycle clients.
 *   `from` is never reopened.
 * - traffic on `from`, `to` already promoted (replication stopped after it caught up with the
 *   frozen side): finish forward by moving the endpoint; if `from` was reopened meanwhile,
 *   `to` goes read-only again and the run stops (never both writable).
 * - traffic on `from`, `to` still a replica: nothing irreversible happened; replication is
 *   restarted if it was stopped (never reconfigured from the start coordinates) and the switch
 *   runs again (its freeze is idempotent, an abort reopens `from`).
 * Returns facts when it finished the switch, undefined when the regular switch should run.
 */
export async function resumeSwitch(context: StepContext, platform: MysqlPlatform, settings: MysqlFlowSettings, sides: SwitchSides): Promise<Facts | undefined> {
  const { from, to } = sides.direction;
  const fromConnection = await sides.connection(from, context);
  const toConnection = await sides.connection(to, context);
  const dialect = await dialectOf(context, platform, fromConnection);
  const endpoint = await platform.endpointTarget(context);
  const fromState = await writeState(fromConnection, dialect, settings.appUsers);
  const toState = await writeState(toConnection, dialect, settings.appUsers);
  const replication = await replicaStatus(toConnection, dialect);
  const replicating = Boolean(replication?.ioRunning && replication.sqlRunning);
  const fromFrozen = fromState.readOnly === true || fromState.lockedAccounts > 0;
  const seen = `journal says ${String(context.facts.switchPhase)}; endpoint: ${endpoint.detail}; ${from}: ${describeWriteState(fromState)}; ${to}: ${describeWriteState(toState)}, replication ${replication ? (replicating ? 'running' : `stopped${replication.lastError ? ` (${replication.lastError})` : ''}`) : 'not configured'}`;
  context.log.info(`resuming the switch: ${seen}`);
  await context.record({ switchResumedFrom: seen });

  if (endpoint.pointsTo === 'unknown') {
    throw new Error(`Cannot resume the switch: the endpoint points at neither side (${endpoint.detail}). Nothing was changed; the ${from} is ${fromFrozen ? 'still frozen' : 'writable'}. Point the endpoint at the ${phaseReached(context.facts, 'promoted') ? to : from} by hand, then --resume`);
  }
  // `to` stopped replicating after it had caught up with the frozen side: that stop was the
  // promotion (or a break after it, which lost nothing: `from` has been frozen since).
  const promoted = replication === undefined || (!replicating && phaseReached(context.facts, 'caught-up'));
  if (endpoint.pointsTo === to || (promoted && fromFrozen)) {
    return finishSwitchForward(context, platform, settings, sides, { fromConnection, toConnection, dialect, fromState, toState, replicating, moveEndpoint: endpoint.pointsTo !== to });
  }
  if (promoted) {
    // `from` writable with the endpoint on it, `to` promoted: `to` may have missed writes.
    const lock = toState.accounts.map((account) => `ALTER USER ${accountName(account)} ACCOUNT LOCK`);
    for (const statement of lock) await toConnection.query(statement);
    const readOnly = dialect.setReadOnly(true);
    if (readOnly) await toConnection.query(readOnly);
    if (sides.direction.name === 'forward') await reRevokeAppWritesOnTarget(context, toConnection, dialect, settings.appUsers);
    throw new Error(`Cannot finish the switch: the ${to} was promoted but the ${from} takes writes again (${seen}). The ${to} was made read-only (app accounts locked) so that only the ${from} is writable; traffic stays on the ${from}. Start a new run (the ${to} missed the ${from}'s later writes).`);
  }
  if (!replicating) {
    if (!replication || replication.lastError) {
      if (fromFrozen) await reopenSource(context, fromConnection, dialect, fromState.accounts, sides.direction);
      throw new AbortRun(`Switch not resumed: replication on the ${to} is ${replication ? `broken (${replication.lastError})` : 'not configured'}; the endpoint is on the ${from}, which ${fromFrozen ? 'was reopened for writes' : 'takes writes'}. Fix replication, then --resume`);
    }
    // Stopped without an error (between the catch-up and the promotion of a killed run, or by
    // hand): its configuration is this run's, so it continues where it stopped.
    context.log.info(`restarting replication on the ${to} at ${replication.executedFile}:${replication.executedPosition} (never reconfigured from the start coordinates)`);
    await toConnection.query(dialect.startReplication());
  }
  return undefined;
}

/** Consistent snapshots of both sides, kept where the checksum step reads them (disposed when the run ends). */
async function takeSwitchSnapshots(context: StepContext, sides: SwitchSides): Promise<void> {
  for (const side of [sides.direction.from, sides.direction.to]) {
    const key = snapshotKey(side);
    await context.resources.release(key);
    const snapshot = context.resources.register(key, await connect(await sides.endpoint(side, context.facts)), closeMysql);
    await snapshot.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await snapshot.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
  }
}

async function finishSwitchForward(
  context: StepContext,
  platform: MysqlPlatform,
  settings: MysqlFlowSettings,
  sides: SwitchSides,
  state: { fromConnection: Connection; toConnection: Connection; dialect: MysqlDialect; fromState: WriteState; toState: WriteState; replicating: boolean; moveEndpoint: boolean },
): Promise<Facts> {
  const { fromConnection, toConnection, dialect } = state;
  const { from, to } = sides.direction;
  // Whatever happened since, the old side must not take writes again.
  await keepFrozen(fromConnection, dialect, state.fromState, settings.appUsers);
  // Replication back into `from` moves its binlog: the frozen position is the journaled one.
  const finalPosition: BinlogPosition =
    typeof context.facts.finalBinlogFile === 'string' ? { file: context.facts.finalBinlogFile, position: Number(context.facts.finalBinlogPosition) } : await primaryPosition(fromConnection, dialect);
  if (state.replicating) {
    // Killed between the catch-up and the promotion, with the endpoint moved by hand: `to`
    // must have everything the frozen side has before it takes writes alone.
    const outcome = await waitForPosition(toConnection, dialect, finalPosition, settings.switchTimeoutMs);
    if (outcome !== 'reached') throw new Error(`The endpoint points at the ${to} but the ${to} has not reached the frozen ${from}'s ${finalPosition.file}:${finalPosition.position} (${outcome}); the ${from} stays frozen. Fix replication on the ${to}, then --resume`);
    await toConnection.query(dialect.stopReplication());
  }
  if (sides.direction.name === 'forward') await restoreAppWritesOnTarget(context, toConnection);
  // Only the accounts still locked: an unlock is binlogged, and must not replicate back.
  for (const account of state.toState.locked) await toConnection.query(`ALTER USER ${accountName(account)} ACCOUNT UNLOCK`);
  const writable = dialect.setReadOnly(false);
  if (writable) await toConnection.query(writable);
  let reverseStart: BinlogPosition | undefined;
  if (sides.replicationAddressOfTo && typeof context.facts.reverseStartBinlogFile === 'string') {
    reverseStart = { file: context.facts.reverseStartBinlogFile, position: Number(context.facts.reverseStartBinlogPosition) };
  } else if (sides.replicationAddressOfTo && state.moveEndpoint) {
    // The endpoint never reached `to` (it is moved below), so nothing but the promotion has
    // been written there: its position now is the equal state.
    reverseStart = await primaryPosition(toConnection, dialect);
  } else if (sides.replicationAddressOfTo && !(await reverseReplicationConfigured(fromConnection, dialect, wayBackAccount(settings, sides.direction)))) {
    throw new Error(
      `Traffic is on the ${to} but the position to replicate ${to} -> ${from} from was never journaled and replication back is not configured; the ${from} stays frozen. ` +
        `The way back cannot be built from an exact position: treat the ${from} as retired (complete), or rebuild it from a copy of the ${to}.`,
    );
  }
  // The final position again: a journal that never had it (killed while freezing) has it now, for the next resume.
  await context.record({
    switchPhase: 'promoted',
    finalBinlogFile: finalPosition.file,
    finalBinlogPosition: finalPosition.position,
    ...(reverseStart ? { reverseStartBinlogFile: reverseStart.file, reverseStartBinlogPosition: reverseStart.position } : {}),
  });
  if (sides.replicationAddressOfTo) {
    await ensureReverseReplication(context, platform, settings, sides, fromConnection, toConnection, dialect, reverseStart);
    await context.record({ switchPhase: 'reverse-started' });
  }
  if (state.moveEndpoint) {
    // Traffic never reached `to` (the endpoint is moved just below) and `from` is frozen: both
    // sides still hold the switch-time state, so the snapshots the checksums compare are taken
    // now, as the switch takes them (the first process's died with it). Past the move they could not be.
    await takeSwitchSnapshots(context, sides);
    await sides.prepare(context);
    await sides.move(context);
    await context.record({ switchPhase: 'endpoint-moved', switchEndedAt: wallClockMs() });
  }
  await toConnection.query(dialect.resetReplication());
  await killSessionsOf(fromConnection, dialect, settings.appUsers, 10000);
  await platform.recycleClients(context);
  await context.record({ switchPhase: 'recycled' });
  const reverse = sides.replicationAddressOfTo ? await confirmReverseReplication(context, fromConnection, dialect, sides) : {};
  context.log.info(`switch finished forward after a resume: traffic on the ${to}, the ${from} frozen${sides.replicationAddressOfTo ? ` and replicating from the ${to}` : ''}`);
  return { switchResumed: 'forward', finalBinlogFile: finalPosition.file, finalBinlogPosition: finalPosition.position, ...reverse };
}

/** Replication back into the old side is configured with this flow's account (running or not). */
async function reverseReplicationConfigured(connection: Connection, dialect: MysqlDialect, user: string): Promise<boolean> {
  const status = await replicaStatus(connection, dialect);
  return status !== undefined && status.sourceUser === user;
}

/**
 * After a resume: replication `to` → `from` configured from the journaled equal position if it
 * is not yet, restarted if it stopped without an error; a broken one is reported, not redone
 * (a second CHANGE MASTER from the start would replay events the old side already applied).
 */
async function ensureReverseReplication(
  context: StepContext,
  platform: MysqlPlatform,
  settings: MysqlFlowSettings,
  sides: SwitchSides,
  fromConnection: Connection,
  toConnection: Connection,
  dialect: MysqlDialect,
  start: BinlogPosition | undefined,
): Promise<void> {
  const { from, to } = sides.direction;
  const user = wayBackAccount(settings, sides.direction);
  const status = await replicaStatus(fromConnection, dialect);
  if (status && status.sourceUser === user) {
    if (status.lastError) throw new Error(`Replication ${to} -> ${from} (the way back) is broken: ${status.lastError}. The ${from} stays frozen; traffic ${context.facts.switchPhase === 'endpoint-moved' ? 'is' : 'may be'} on the ${to}. Fix it on the ${from}, then --resume`);
    if (!(status.ioRunning && status.sqlRunning)) {
      // The password of a killed process is gone: a new one, set where writes go (it reaches `from` through this replication).
      const password = await rotateReplicationPassword(toConnection, dialect, platform, user);
      await fromConnection.query(dialect.stopReplication());
      for (const statement of dialect.configureReplication({ ...sides.replicationAddressOfTo!(context.facts), user, password, logFile: status.executedFile, logPosition: status.executedPosition, ssl: platform.replicationTls() })) {
        await fromConnection.query(statement);
      }
      await fromConnection.query(dialect.startReplication());
    }
    return;
  }
  if (!start) throw new Error(`No journaled position to replicate ${to} -> ${from} from; the ${from} stays frozen`);
  const password = await rotateReplicationPassword(toConnection, dialect, platform, user);
  await startReplicationFrom(fromConnection, dialect, { ...sides.replicationAddressOfTo!(context.facts), user, password, logFile: start.file, logPosition: start.position, ssl: platform.replicationTls() });
}

/**
 * Per-table checksums of both sides from the consistent snapshots the switch took (in either
 * direction: `mysql.snapshot.source` / `.target` are the sides, whichever was frozen).
 */
export function verifyChecksumsStep(id: string, settings: MysqlFlowSettings, describe: string): Step {
  return {
    id,
    kind: 'action',
    describe: () => [describe],
    runThroughInterrupt: true,
    async apply(context) {
      const sourceSnapshot = context.resources.get(snapshotKey('source'));
      const targetSnapshot = context.resources.get(snapshotKey('target'));
      if (!sourceSnapshot || !targetSnapshot) {
        // Honest instead of stuck: the run goes on to the fence and clean-up, and the report says
        // the proof is incomplete (exit 4), with the way to complete it by hand.
        const reason = checksumsNotVerifiedReason(context.facts);
        context.log.warn(`checksums NOT VERIFIED: ${reason}`);
        return { checksumsVerified: false, checksumsNotVerifiedReason: reason };
      }
      // Why (measured on 2 cores): the checksums read every table on both servers; started right
      // after the switch, the first acknowledged write landed while they ran, 90–420 ms after they
      // started. The snapshots are already taken, so waiting changes nothing they compare.
      const newSide = context.facts.switchDirection === 'back' ? sourceSnapshot : targetSnapshot;
      const appReconnectedAfterMs = await untilApplicationIsBack(async () => (await sessionsOf(newSide, settings.appUsers)).length > 0);
      // Read from both sides at the switch, not from preflight: a database created meanwhile counts too.
      const databases = await databasesOnEitherSide([sourceSnapshot, targetSnapshot], settings.databases);
      const [sourceSums, targetSums] = await Promise.all([tableChecksums(sourceSnapshot, databases), tableChecksums(targetSnapshot, databases)]);
      await sourceSnapshot.query('COMMIT');
      await targetSnapshot.query('COMMIT');
      const outcome = checksumOutcome(sourceSums, targetSums, context.facts);
      // XA transactions the freeze's session kill left prepared: nothing lost, but their locks stay until resolved.
      const xaPrepared = await preparedXaTransactions(context.facts.switchDirection === 'back' ? sourceSnapshot : targetSnapshot).catch((error: Error) => {
        context.log.warn(`could not list prepared XA transactions (XA RECOVER): ${error.message}`);
        return [];
      });
      if (xaPrepared.length > 0) context.log.warn(`${xaPrepared.length} XA transaction(s) prepared before the freeze are still prepared where traffic moved: ${xaPrepared.join(', ')} (XA COMMIT or XA ROLLBACK them there)`);
      return { ...outcome, checksumsWaitedForAppMs: appReconnectedAfterMs, ...(xaPrepared.length > 0 ? { xaPreparedOnNewPrimary: xaPrepared } : {}) };
    },
  };
}

/**
 * The global transaction ids of the XA transactions prepared on a server (`XA RECOVER`): a
 * session that prepared one and was ended by the freeze leaves it prepared, with its locks,
 * until its coordinator sends XA COMMIT or XA ROLLBACK.
 */
async function preparedXaTransactions(connection: Connection): Promise<string[]> {
  const [found] = await connection.query('XA RECOVER');
  return (found as Array<{ gtrid_length: number | string; data: string | Buffer }>).map((row) => String(row.data).slice(0, Number(row.gtrid_length)));
}

/** Why the checksums could not be compared, and how an operator can still do it. */
function checksumsNotVerifiedReason(facts: Facts): string {
  const at = facts.finalBinlogFile ? ` (binlog ${String(facts.finalBinlogFile)}:${String(facts.finalBinlogPosition)}${typeof facts.switchEndedAt === 'number' ? `, ${new Date(facts.switchEndedAt).toISOString()}` : ''})` : '';
  // Named as the switch saw the sides: a switch back froze the target and moved the writes to the source.
  const back = facts.switchDirection === 'back';
  const [frozen, written] = back ? ['target', 'source'] : ['old source', 'target'];
  return (
    `the switch-time consistent snapshots were lost with the process that switched (the run was resumed past the switch), and the ${written} has taken writes since. ` +
    `To verify: compare per-table checksums of the frozen ${frozen} with a point-in-time restore of the ${written} at the switch${back ? ' back' : ''}${at}`
  );
}
