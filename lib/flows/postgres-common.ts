import { z } from 'zod';
import { closePg, connectPg, type PgClient } from '../engines/postgres/connection';
import type { PostgresEndpoint } from '../engines/postgres/endpoint';
import {
  availableExtensions,
  installedExtensions,
  largeObjectCount,
  rolesExist,
  serverFacts,
  sessionCount,
  setRolesLogin,
  terminateSessions,
  hasDrift,
  schemaDrift,
  tableName,
  tableShapes,
  tablesWithoutReplicaIdentity,
  userTables,
  type TableInfo,
} from '../engines/postgres/server';
import { sequenceStates, tableChecksums } from '../engines/postgres/checksum';
import { checksumOutcome, compareSequences, describeDifferences, type ChecksumComparison } from '../verify/checksums';
import type { PostgresFlowSettings, PostgresMethod, PostgresPlatform } from '../platforms/postgres-platform';
import { PreconditionFailed, type Facts, type Step, type StepContext } from '../runbook/step';
import { keptConnection, keptConnectionKey } from '../runbook/kept-connections';
import type { ResourceKey } from '../runbook/resources';
import type { FactsSchema } from '../runbook/facts-schema';
import { nowMs, sleep, wallClockMs } from '../util/time';

// What the flow is configured with lives beside the platform interface (platforms never import flows).
export type { PostgresFlowSettings, PostgresMethod } from '../platforms/postgres-platform';

export const names = (settings: PostgresFlowSettings) => ({
  publication: `${settings.workflow}_pub`,
  slot: `${settings.workflow}_slot`,
  subscription: `${settings.workflow}_sub`,
});

/**
 * The facts a resumed PostgreSQL switch (logical or dump) decides on: whether this run froze the
 * source and left it frozen, and whether the endpoint began to move (wall-clock ms). Checked when
 * --resume reads them back from the journal.
 */
/** The switch's step id, both methods (the rehearsal keys its load and its probes on it). */
export const POSTGRES_SWITCH_STEP = 'postgres.switch';

export const POSTGRES_SWITCH_FACTS: FactsSchema = {
  shape: {
    switchStartedAt: z.number(),
    sourceFrozenAt: z.number(),
    sourceReopenedAt: z.number().nullable(),
    copyStartedAt: z.number(),
    endpointMoveStartedAt: z.number(),
    endpointMovedAt: z.number(),
    switchEndedAt: z.number(),
  },
};

const CONNECTIONS = 'postgres.connection';

/**
 * A kept-open administrator connection per role in the run (`source`, `target`, …),
 * reopened if it broke. Administrator sessions are writable even on a frozen server.
 */
export function openConnection(context: StepContext, key: string, endpoint: () => Promise<PostgresEndpoint>): Promise<PgClient> {
  return keptConnection(context, keptConnectionKey<PgClient>(CONNECTIONS, key), { open: async () => connectPg(await endpoint(), { writable: true }), probe: (client) => client.query('SELECT 1'), close: closePg });
}

/** Times the phases of a critical section (ms, one decimal) against a deadline. */
export class PhaseClock {
  readonly started = nowMs();
  readonly startedAt = wallClockMs();
  readonly phases: Record<string, number> = {};
  private last = this.started;

  constructor(private readonly budgetMs: number) {}

  mark(phase: string): void {
    const now = nowMs();
    this.phases[phase] = Math.round((now - this.last) * 10) / 10;
    this.last = now;
  }

  remaining(): number {
    return Math.max(0, this.started + this.budgetMs - nowMs());
  }

  elapsed(): number {
    return Math.round((nowMs() - this.started) * 10) / 10;
  }
}

export const tablesFromFacts = (facts: Facts): Array<Pick<TableInfo, 'schema' | 'name'>> => (facts.tables as Array<{ schema: string; name: string }> | undefined) ?? [];

/** Preflight of the source: read-only; every problem listed with its fix. */
export function preflightStep(platform: PostgresPlatform, settings: PostgresFlowSettings, method: PostgresMethod): Step {
  const source = (context: StepContext) => openConnection(context, 'source', () => platform.source(settings.database));
  return {
    id: 'postgres.preflight',
    kind: 'check',
    describe: () => [
      `Connect to the source ${platform.describe.source()} database ${settings.database} and check:`,
      ...(method === 'logical'
        ? ['wal_level = logical (AWS: rds.logical_replication = 1, a parameter-group change that needs a REBOOT: plan it ahead), a free replication slot and walsender;',
           `every table has a primary key or replica identity index (else refuse, unless --allow-replica-identity-full sets REPLICA IDENTITY FULL);`]
        : []),
      `application roles ${settings.appUsers.join(', ')} exist; warn about large objects and unlogged tables${method === 'logical' ? ' (logical replication carries neither)' : ''};`,
      `record extensions and encoding (the target must offer the same); ${settings.targetVersion ? `target version ${settings.targetVersion} must not be older than the source's` : 'the target gets the source\'s major version'}.`,
    ],
    async apply(context) {
      const client = await source(context);
      const problems: string[] = [];
      const server = await serverFacts(client);
      const sourceMajor = Math.floor(server.versionNum / 10000);
      if (settings.targetVersion !== undefined && settings.targetVersion < sourceMajor) {
        problems.push(`--target-version ${settings.targetVersion} is older than the source (${sourceMajor}): PostgreSQL cannot move data to an older major version; pick ${sourceMajor} or newer`);
      }
      if (method === 'logical') {
        if (server.walLevel !== 'logical') {
          problems.push(`wal_level is ${server.walLevel}: set wal_level = logical (AWS: rds.logical_replication = 1 in the source's parameter group, then reboot) or use --method dump`);
        }
        if (server.usedReplicationSlots >= server.maxReplicationSlots) problems.push(`all ${server.maxReplicationSlots} replication slots are in use: raise max_replication_slots or drop an unused slot`);
      }
      const roles = await rolesExist(client, settings.appUsers);
      const missingRoles = settings.appUsers.filter((r) => !roles.includes(r));
      if (missingRoles.length > 0) problems.push(`application role(s) ${missingRoles.join(', ')} not found on the source: fix postgres.appUsers in the environment config`);
      const tables = await userTables(client);
      const withoutIdentity = tablesWithoutReplicaIdentity(tables).map(tableName);
      if (method === 'logical' && withoutIdentity.length > 0 && !settings.allowReplicaIdentityFull) {
        problems.push(`table(s) without a primary key or replica identity: ${withoutIdentity.join(', ')}. Logical replication cannot apply their UPDATE/DELETE. Add a primary key, or pass --allow-replica-identity-full to set REPLICA IDENTITY FULL on them (every change then carries the whole old row).`);
      }
      const unlogged = tables.filter((t) => t.unlogged).map(tableName);
      if (unlogged.length > 0) context.log.warn(`unlogged tables ${method === 'logical' ? 'are not replicated (only the initial copy reaches the target, later changes do not)' : 'are copied by the dump'}: ${unlogged.join(', ')}`);
      const largeObjects = await largeObjectCount(client);
      if (largeObjects > 0) context.log.warn(`${largeObjects} large object(s): ${method === 'logical' ? 'logical replication does not carry changes to them after the initial copy' : 'copied by the dump'}`);
      const extensions = await installedExtensions(client);
      if (problems.length > 0) throw new PreconditionFailed(problems.join('\n'));
      return {
        sourceVersionNum: server.versionNum,
        sourceEncoding: server.encoding,
        extensions: extensions.map((e) => e.name),
        tables: tables.map((t) => ({ schema: t.schema, name: t.name })),
        replicaIdentityFull: method === 'logical' ? withoutIdentity : [],
        unloggedTables: unlogged,
        largeObjects,
      };
    },
  };
}

/** Create (or find) the target and check it can take the data: encoding, extensions, empty. */
export function createTargetStep(platform: PostgresPlatform, settings: PostgresFlowSettings): Step {
  return {
    id: 'postgres.target.create',
    kind: 'action',
    describe: () => [
      ...platform.describe.createTarget(),
      `Close the target to the application until the switch: ${settings.appUsers.join(', ')} NOLOGIN there and their sessions ended (the switch gives LOGIN back right before the endpoint moves).`,
      `Check the target: same encoding as the source, extensions available, database ${settings.database} without tables.`,
    ],
    async apply(context) {
      const learned = await platform.createTarget(context, { database: settings.database, version: settings.targetVersion });
      const client = await openConnection(context, 'target', () => platform.target({ ...context.facts, ...learned }, settings.database));
      // A write the application made here before the switch would be on the target only (lost
      // from the source's point of view, or colliding with a replicated row later). NOLOGIN is
      // in the catalog: it holds across restarts and a resumed run until the switch opens it.
      await closeToApplication(client, settings.appUsers);
      const server = await serverFacts(client);
      const problems: string[] = [];
      if (context.facts.sourceEncoding && server.encoding !== context.facts.sourceEncoding) {
        problems.push(`the target database is ${server.encoding}, the source ${context.facts.sourceEncoding}: create it with ENCODING '${context.facts.sourceEncoding}'`);
      }
      const available = await availableExtensions(client);
      const missing = ((context.facts.extensions as string[] | undefined) ?? []).filter((e) => !available.has(e));
      if (missing.length > 0) problems.push(`extension(s) ${missing.join(', ')} are installed on the source but not available on the target: install them there (AWS: check the engine version's supported extensions)`);
      if (problems.length > 0) throw new PreconditionFailed(problems.join('\n'));
      return { ...learned, targetVersionNum: server.versionNum };
    },
  };
}

/**
 * A side refuses the application's roles (NOLOGIN, sessions ended): the target until the switch
 * opens it, the dump method's source before its last comparison. Returns how many sessions were ended.
 */
export async function closeToApplication(side: PgClient, appUsers: string[]): Promise<number> {
  await setRolesLogin(side, appUsers, false);
  return terminateSessions(side, appUsers);
}

/**
 * Close a side to the application and wait until its sessions are gone: `pg_terminate_backend`
 * only signals, and a backend inside its commit finishes it (and acknowledges it) before it
 * exits, so a position read before they are gone may miss a write. True once none is left,
 * false if some were still there after `timeoutMs`. Returns how many were signalled too.
 */
export async function closeToApplicationAndWait(side: PgClient, appUsers: string[], timeoutMs: number): Promise<{ ended: number; gone: boolean }> {
  const ended = await closeToApplication(side, appUsers);
  const deadline = nowMs() + timeoutMs;
  for (;;) {
    if ((await sessionCount(side, appUsers)) === 0) return { ended, gone: true };
    if (nowMs() >= deadline) return { ended, gone: false };
    await sleep(5);
  }
}

/** A side takes the application's roles again (LOGIN): the target when the switch opens it, a source that reopens. */
export async function openToApplication(side: PgClient, appUsers: string[]): Promise<void> {
  await setRolesLogin(side, appUsers, true);
}

/** Refuse to restore into a database that already has tables (a half-finished earlier copy, or the wrong server). */
export async function assertTargetEmpty(target: PgClient, database: string): Promise<void> {
  const tables = await userTables(target);
  if (tables.length > 0) {
    throw new PreconditionFailed(`The target database ${database} already has ${tables.length} table(s) (${tables.slice(0, 5).map(tableName).join(', ')}…): the copy needs an empty database. Drop and recreate it on the target, then resume.`);
  }
}

/** Fact names the report reads: was the data compared, and if not, why and how to do it by hand. */
export const NOT_VERIFIED = (reason: string): Facts => ({ checksumsVerified: false, checksumsNotVerifiedReason: reason });

/**
 * Compare per-table checksums of the frozen source and of the target. `targetSnapshot`
 * is a REPEATABLE READ session opened on the target before it took writes (logical flow),
 * or undefined when the target has not opened yet (dump flow: a fresh session is enough).
 *
 * The tables and sequences compared are read from each side (its own snapshot), not from
 * preflight: a table on one side only, or with other columns, fails the step naming it.
 *
 * A resumed run past the switch has no snapshot (it lived in the process that switched,
 * and the target has taken writes since): the step then still compares what it can
 * (every table on both sides with the same columns, sequences not behind), and records
 * honestly that the rows were not compared and how to compare them, instead of failing
 * and leaving the clean-up steps unreachable.
 */
export function verifyChecksumsStep(platform: PostgresPlatform, settings: PostgresFlowSettings, options: { targetSnapshotKey?: ResourceKey<PgClient>; sourceSnapshotKey?: ResourceKey<PgClient>; describe: string[] }): Step {
  return {
    id: 'postgres.verify.checksums',
    kind: 'action',
    // Snapshots taken inside the switch live only in this process: an interrupt must not drop that proof.
    ...(options.targetSnapshotKey ? { runThroughInterrupt: true } : {}),
    describe: () => options.describe,
    async apply(context) {
      let target = options.targetSnapshotKey ? context.resources.get(options.targetSnapshotKey) : undefined;
      if (options.targetSnapshotKey && !target) return verifyWithoutSnapshot(context, platform, settings);
      const ownTarget = !target;
      if (!target) {
        target = await connectPg(await platform.target(context.facts, settings.database));
        await target.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      }
      // The frozen source's own switch-time snapshot when the switch took one: with a way back
      // running, the old source takes the target's new writes after the switch.
      const sourceSnapshot = options.sourceSnapshotKey ? context.resources.get(options.sourceSnapshotKey) : undefined;
      const source = sourceSnapshot ?? (await connectPg(await platform.source(settings.database)));
      try {
        if (!sourceSnapshot) await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const [sourceSums, targetSums] = await Promise.all([tableChecksums(source), tableChecksums(target)]);
        const [sourceSequences, targetSequences] = await Promise.all([sequenceStates(source), sequenceStates(target)]);
        return checksumOutcome(sourceSums, targetSums, context.facts, { source: sourceSequences, target: targetSequences });
      } finally {
        // The switch-time snapshots are released (closed) here: nothing reads them after this step.
        await source.query('ROLLBACK').catch(() => undefined);
        if (sourceSnapshot && options.sourceSnapshotKey) await context.resources.release(options.sourceSnapshotKey);
        else await closePg(source);
        await target.query('ROLLBACK').catch(() => undefined);
        if (!ownTarget && options.targetSnapshotKey) await context.resources.release(options.targetSnapshotKey);
        else await closePg(target);
      }
    },
  };
}

async function verifyWithoutSnapshot(context: StepContext, platform: PostgresPlatform, settings: PostgresFlowSettings): Promise<Facts> {
  const [source, target] = [await connectPg(await platform.source(settings.database)), await connectPg(await platform.target(context.facts, settings.database))];
  try {
    const [sourceShapes, targetShapes] = await Promise.all([tableShapes(source), tableShapes(target)]);
    const drift = schemaDrift(sourceShapes, targetShapes);
    const sequences = compareSequences(await sequenceStates(source), await sequenceStates(target));
    const comparison = {
      match: !hasDrift(drift) && sequences.every((s) => s.match),
      tables: [...new Set([...sourceShapes.keys(), ...targetShapes.keys()])].sort().map((table) => ({
        table,
        sourceRows: -1,
        targetRows: -1,
        sourceHash: sourceShapes.has(table) ? 'not compared' : 'missing',
        targetHash: targetShapes.has(table) ? 'not compared' : 'missing',
        match: sourceShapes.get(table) === targetShapes.get(table),
        ...(sourceShapes.get(table) === targetShapes.get(table) ? {} : { difference: !targetShapes.has(table) ? 'only on the source' : !sourceShapes.has(table) ? 'only on the target' : 'columns differ', sourceColumns: sourceShapes.get(table), targetColumns: targetShapes.get(table) }),
      })) as ChecksumComparison['tables'],
      sequences,
    };
    if (!comparison.match) {
      context.facts.checksums = comparison;
      throw new Error(`The tables differ between the frozen source and the target: ${describeDifferences(comparison).join(', ')}. Do not remove the old source; investigate before anything else`);
    }
    const switchedAt = typeof context.facts.switchEndedAt === 'number' ? new Date(context.facts.switchEndedAt).toISOString() : 'the switch (see switchPhasesMs / endpointMovedAt in the journal)';
    const reason =
      `rows not compared: the target's switch-time snapshot lived in the process that switched, which ended before verification (this run was resumed), ` +
      `and the target has taken writes since. Tables (${sourceShapes.size}), their columns and sequences were compared and match. ` +
      `To compare the rows: restore the target to a point in time just before ${switchedAt} (AWS: point-in-time restore of the new cluster to a scratch instance) ` +
      `and compare it with the old source, which has stayed frozen since then (e.g. the per-table checksum query of lib/engines/postgres/checksum.ts on both), before removing the old source.`;
    context.log.warn(`verification not possible: ${reason}`);
    // No `checksums` fact: a report must not read "checksums: match" when rows were not compared.
    return { ...NOT_VERIFIED(reason), structureCompared: { tables: sourceShapes.size, sequences: sequences.length, match: true } };
  } finally {
    await closePg(source);
    await closePg(target);
  }
}
