import { join } from 'node:path';
import { closePg, conninfo, connectPg, pgRow, qualified, quoteIdent, quoteLiteral, type PgClient } from '../engines/postgres/connection';
import { createSlotExportingSnapshot, dropSlotIfExists, slotInfo } from '../engines/postgres/replication';
import {
  currentInsertLsn,
  currentLsn,
  hasApplicationSession,
  hasDrift,
  missingColumns,
  publicationTables,
  schemaDrift,
  sequenceValues,
  serverReadOnly,
  setSequencesSql,
  subscriptionApplyErrors,
  tableShapes,
  tablesStillSyncing,
  userTables,
  waitUntilApplied,
  walsenderPosition,
} from '../engines/postgres/server';
import { dumpDirectory, restoreDirectory, temporaryFolder } from '../engines/postgres/copy';
import { keyPredicate, lastApplyError } from '../engines/postgres/apply-errors';
import type { PostgresPlatform } from '../platforms/postgres-platform';
import { AbortRun, PreconditionFailed, type Facts, type Runbook, type Step, type StepContext } from '../runbook/step';
import { JournalWriteError, recordingPastJournalFailures } from '../runbook/journal';
import { ResourceKey } from '../runbook/resources';
import { generatePassword } from '../util/secrets';
import { nowMs, sleep, wallClockMs } from '../util/time';
import { backWay, copySequencesForward, pinWay, prepareWay, startWay } from './postgres-replication-way';
import {
  assertTargetEmpty,
  closeToApplication,
  closeToApplicationAndWait,
  createTargetStep,
  names,
  openConnection,
  openToApplication,
  PhaseClock,
  POSTGRES_SWITCH_FACTS,
  preflightStep,
  tablesFromFacts,
  verifyChecksumsStep,
  type PostgresFlowSettings,
  POSTGRES_SWITCH_STEP,
} from './postgres-common';
import { APP_RECONNECT_GRACE_MS, untilApplicationIsBack } from './app-reconnect';

/** The target session whose snapshot is the switch moment (verified later). */
export const TARGET_SNAPSHOT = new ResourceKey<PgClient>('postgres.snapshot.target');
/** The frozen source's session whose snapshot is the switch moment (with a way back the source changes after it). */
export const SOURCE_SNAPSHOT = new ResourceKey<PgClient>('postgres.snapshot.source');

/** One round trip: a read-only REPEATABLE READ transaction whose snapshot is taken now. */
export const SNAPSHOT_SQL = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1';

/**
 * Pin a way to the sender's current WAL position, read on `senderSession` (any session of the
 * sending server: the snapshot's own, so the kept admin connection stays free), and return it.
 */
export async function pinnedAt(senderSession: PgClient, receiver: PgClient, origin: string): Promise<string> {
  // The insert position, not the write position: the other way's apply worker commits with
  // synchronous_commit off, and a commit it made before the freeze must be behind the pin.
  const lsn = await currentInsertLsn(senderSession);
  await pinWay(receiver, origin, lsn);
  return lsn;
}

/**
 * Seed operation 2 by logical replication (minutes of copy, seconds of nothing, a switch
 * of tens of milliseconds): publication → slot exporting a snapshot → pg_dump of exactly
 * that snapshot into the target → subscription on the existing slot without copying →
 * catch up → switch behind a paused pooler → verify → remove the replication.
 */
export function postgresLogicalRunbook(platform: PostgresPlatform, settings: PostgresFlowSettings): Runbook {
  const { publication, slot, subscription } = names(settings);
  const source = (context: StepContext) => openConnection(context, 'source', () => platform.source(settings.database));
  const target = (context: StepContext) => openConnection(context, 'target', () => platform.target(context.facts, settings.database));

  const createPublication: Step = {
    id: 'postgres.publication.create',
    kind: 'action',
    describe: () => [
      `On the source: REPLICA IDENTITY FULL on the tables preflight listed (only with --allow-replica-identity-full);`,
      `CREATE PUBLICATION ${publication} FOR TABLE <every table of ${settings.database}> (or ALTER … SET TABLE if it exists).`,
      'The publication comes first so that the slot created next decodes with it from its first change.',
      'A table on the source that preflight did not list (made since): abort, nothing copied or frozen.',
    ],
    async apply(context) {
      const client = await source(context);
      for (const table of (context.facts.replicaIdentityFull as string[] | undefined) ?? []) {
        const [schema, ...rest] = table.split('.');
        await client.query(`ALTER TABLE ${qualified({ schema, name: rest.join('.') })} REPLICA IDENTITY FULL`);
      }
      const checked = tablesFromFacts(context.facts);
      const list = checked.map(qualified).join(', ');
      if (!list) throw new PreconditionFailed(`Database ${settings.database} has no tables to move`);
      // The earliest point a table made after preflight shows: it would not be published (its rows
      // would never reach the target), and preflight never checked it (key, replica identity).
      const known = new Set(checked.map((t) => `${t.schema}.${t.name}`));
      const appeared = (await userTables(client)).map((t) => `${t.schema}.${t.name}`).filter((name) => !known.has(name));
      if (appeared.length > 0) {
        throw new AbortRun(
          `Publication not created: table(s) ${appeared.join(', ')} appeared on the source after preflight (not checked by it, so not published: their rows would never reach the target). ` +
            `The source was never frozen and nothing was copied. Fix: start a new run (its preflight checks the new table), or, if the table should not be there, drop it and --resume`,
        );
      }
      const exists = await pgRow(client, 'SELECT 1 AS x FROM pg_publication WHERE pubname = $1', [publication]);
      await client.query(exists ? `ALTER PUBLICATION ${quoteIdent(publication)} SET TABLE ${list}` : `CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${list}`);
      return { publication };
    },
  };

  const copySnapshot: Step = {
    id: 'postgres.copy.snapshot',
    kind: 'action',
    describe: () => [
      `Over a replication connection: CREATE_REPLICATION_SLOT ${slot} LOGICAL pgoutput (SNAPSHOT 'export'), kept open;`,
      `pg_dump -Fd -j ${settings.copyJobs} --snapshot=<that snapshot> of the source (no publications/subscriptions),`,
      `pg_restore -j ${settings.copyJobs} into the empty target database: the copy is exactly the state at the slot's start.`,
    ],
    async apply(context) {
      const sourceClient = await source(context);
      await assertTargetEmpty(await target(context), settings.database);
      // A slot left by an interrupted attempt has no snapshot any more: start over.
      if (await dropSlotIfExists(sourceClient, slot)) context.log.warn(`dropped slot ${slot} left by an earlier attempt`);
      const sourceEndpoint = await platform.source(settings.database);
      const exported = await createSlotExportingSnapshot(sourceEndpoint, slot);
      // A plan's recording endpoint makes no folder (temporaryFolder): a plan does not touch the disk.
      const folder = temporaryFolder(sourceEndpoint, settings.workDir, 'pg-dump-');
      const dir = join(folder.path, 'dump');
      const started = nowMs();
      try {
        const dump = await dumpDirectory(sourceEndpoint, { dir, jobs: settings.copyJobs, snapshot: exported.snapshotName, timeoutMs: settings.copyTimeoutMs });
        // Every dump worker has imported the snapshot: the exporting session can go.
        await closePg(exported.connection);
        const restore = await restoreDirectory(await platform.target(context.facts, settings.database), { dir, jobs: settings.copyJobs, timeoutMs: settings.copyTimeoutMs });
        return { slot, slotConsistentPoint: exported.consistentPoint, dumpMs: dump.durationMs, restoreMs: restore.durationMs, copyDurationMs: Math.round(nowMs() - started) };
      } finally {
        await closePg(exported.connection);
        folder.remove();
      }
    },
  };

  const createSubscription: Step = {
    id: 'postgres.subscription.create',
    kind: 'action',
    describe: () => [
      `On the source: ${platform.describe.replicationRole(settings.replicationUser)}.`,
      `On the target: CREATE SUBSCRIPTION ${subscription} … PUBLICATION ${publication}`,
      `WITH (create_slot = false, slot_name = '${slot}', copy_data = false): it streams from the slot's start, after the copy.`,
    ],
    precondition: async (context) => {
      if (!context.facts.slotConsistentPoint) throw new PreconditionFailed('No copied snapshot: postgres.copy.snapshot must run first');
    },
    async apply(context) {
      const sourceClient = await source(context);
      const targetClient = await target(context);
      const existing = await pgRow<{ subenabled: boolean }>(targetClient, 'SELECT subenabled FROM pg_subscription WHERE subname = $1', [subscription]);
      if (existing) {
        if (!existing.subenabled) await targetClient.query(`ALTER SUBSCRIPTION ${quoteIdent(subscription)} ENABLE`);
        return {};
      }
      const password = generatePassword();
      const role = await pgRow(sourceClient, 'SELECT 1 AS x FROM pg_roles WHERE rolname = $1', [settings.replicationUser]);
      for (const sql of platform.replicationRoleSql(settings.replicationUser, password, Boolean(role))) await sourceClient.query(sql);
      const address = await platform.sourceForSubscription(settings.database);
      const connection = conninfo({ name: 'source', host: address.host, port: address.port, user: settings.replicationUser, password, database: settings.database }, { sslmode: address.sslmode, application_name: subscription });
      await targetClient.query(
        `CREATE SUBSCRIPTION ${quoteIdent(subscription)} CONNECTION ${quoteLiteral(connection)} PUBLICATION ${quoteIdent(publication)}
           WITH (create_slot = false, slot_name = ${quoteLiteral(slot)}, copy_data = false, enabled = true)`,
      );
      return { subscription, subscriptionCreatedAt: new Date().toISOString() };
    },
    async verify(context) {
      const sourceClient = await source(context);
      for (let attempt = 0; attempt < 100; attempt += 1) {
        const position = await walsenderPosition(sourceClient, subscription);
        if (position?.state === 'streaming') return;
        await sleep(100);
      }
      throw new Error(`The subscription ${subscription} did not start streaming within 10 s: look at the target's log (authentication, pg_hba, slot in use)`);
    },
  };

  // The way back, all but its start point, long before the switch: creating its slot on the
  // target waits until every transaction running there has ended (bounded, see prepareWay).
  const prepareWayBack: Step = {
    id: 'postgres.way-back.prepare',
    kind: 'action',
    describe: () => [
      `On the target: publication ${backWay(settings).publication} for the same tables and logical slot ${backWay(settings).slot} (waits for the target's running transactions, at most ${settings.catchUpTimeoutMs} ms).`,
      `On the source: subscription ${backWay(settings).subscription} to it, disabled, copy_data = false (the switch pins where it starts; nothing flows back before the switch).`,
    ],
    async apply(context) {
      const origin = await prepareWay({
        way: backWay(settings),
        sender: await target(context),
        receiver: await source(context),
        tables: tablesFromFacts(context.facts),
        senderAddress: await platform.wayBack!.targetForSubscription(settings.database),
        settings,
        replicationRoleSql: platform.replicationRoleSql.bind(platform),
      });
      return { wayBackOrigin: origin };
    },
  };

  const catchUp: Step = {
    id: 'postgres.replication.catch-up',
    kind: 'action',
    describe: () => [
      `Wait until the target has applied the source's current WAL position within ${settings.lagThresholdMs} ms (gate before the switch; the walsender's reported write position, or how far the target's apply worker has processed the stream);`,
      'then compare the tables of both sides and the publication (a table created, dropped or altered since the copy: abort, nothing frozen).',
    ],
    async apply(context) {
      const sourceClient = await source(context);
      const deadline = nowMs() + settings.catchUpTimeoutMs;
      // A failing apply worker retries every wal_retrieve_retry_interval (5 s): its error count grows while it is stuck.
      const errorsAtStart = await subscriptionApplyErrors(await target(context), subscription);
      for (;;) {
        const lsn = await currentLsn(sourceClient);
        const started = nowMs();
        const remaining = deadline - started;
        if (remaining <= 0) {
          const drift = await schemaDriftMessage(sourceClient, await target(context), settings, 'catch-up');
          if (drift) throw new AbortRun(drift);
          const failing = await applyFailureMessage(context, platform, await target(context), subscription, errorsAtStart, 'never-frozen');
          if (failing) throw new AbortRun(failing);
        }
        if (remaining <= 0) throw new AbortRun(`The target did not get within ${settings.lagThresholdMs} ms of the source in ${settings.catchUpTimeoutMs} ms; resume later with --resume`);
        const reached = await waitUntilApplied(sourceClient, await target(context), subscription, lsn, Math.min(remaining, Math.max(settings.lagThresholdMs * 5, 10000)), 5);
        const lag = nowMs() - started;
        if (reached && lag <= settings.lagThresholdMs) {
          // Caught up on what is published: a table made after the publication (not in it, or not on
          // the target) is not lag and never shows as lag. Seen here, not at the switch: no freeze.
          const drift = await schemaDriftMessage(sourceClient, await target(context), settings, 'before-freeze');
          if (drift) throw new AbortRun(drift);
          return { lagBeforeSwitchMs: Math.round(lag), applyErrorsAtCatchUp: await subscriptionApplyErrors(await target(context), subscription) };
        }
        // Not lag if the apply worker is stuck on a schema difference: it will never catch up.
        const drift = await schemaDriftMessage(sourceClient, await target(context), settings, 'catch-up');
        if (drift) throw new AbortRun(drift);
        // Nor if it fails on a row (a duplicate key: a row written on the target outside replication).
        const failing = await applyFailureMessage(context, platform, await target(context), subscription, errorsAtStart, 'never-frozen');
        if (failing) throw new AbortRun(failing);
        context.log.info(`target ${reached ? `${Math.round(lag)} ms` : 'more than 10 s'} behind; waiting`);
      }
    },
  };

  const switchOver: Step = {
    id: POSTGRES_SWITCH_STEP,
    kind: 'action',
    irreversible: true,
    hookBefore: 'before-switch',
    hookAfter: 'after-switch',
    describe: () => [
      `Within ${settings.switchTimeoutMs} ms (--switch-timeout), else resume on the source and abort:`,
      ...platform.describe.pause(),
      ...platform.describe.freeze(),
      `close the source to the application: ${settings.appUsers.join(', ')} NOLOGIN there, their sessions ended and gone (a session that asks for READ WRITE overrides the read-only default, and one that bypasses the pooler is not held by it; reads stop too; LOGIN comes back if the switch aborts);`,
      'compare the tables and their columns on both sides once more (a table created since the check: abort and reopen);',
      `read pg_current_wal_lsn(); wait until the walsender of ${subscription} reports it written (applied on the target);`,
      'copy every sequence value to the target, forward only (logical replication does not carry them);',
      `ALTER SUBSCRIPTION ${subscription} DISABLE; open a REPEATABLE READ snapshot on the target (verified later);`,
      ...(platform.wayBack
        ? [`the way back: pin the source's subscription ${backWay(settings).subscription} (made disabled by postgres.way-back.prepare, with its publication and slot on the target) to the target's current WAL position: it carries every later write on the target back to the old source;`]
        : []),
      `open the target to the application: ${settings.appUsers.join(', ')} LOGIN there (closed since postgres.target.create; closed again if the switch aborts);`,
      ...platform.describe.switchEndpoint(),
      ...platform.describe.resume(),
      `wait (at most ${APP_RECONNECT_GRACE_MS} ms) until an application session is on the target, so that what follows does not compete with the application's reconnect;`,
      ...platform.describe.fence(),
      ...(platform.wayBack
        ? [`enable ${backWay(settings).subscription} on the source and wait until it streams (the switch is done only then; switch-back RUN_ID needs it); copy sequences target -> source, forward only (the old source stays frozen and fenced).`]
        : []),
      'Each sub-phase is journaled as it is reached; --resume reads where the application endpoint points and finishes forward once traffic moved, else switches again (or reopens the source).',
    ],
    precondition: async (context) => {
      // A switch this run began (source frozen, maybe traffic moved) is finished or undone by
      // apply, which reads the actual state: refusing here would leave the source frozen.
      if (await switchUnderWay(context, await source(context))) return;
      // Refused before anything is paused or frozen: an abort on purpose, the source keeps taking writes.
      // Tables first: a table created, dropped or altered since the copy would be lost or wrong on the target.
      const drift = await schemaDriftMessage(await source(context), await target(context), settings, 'before-freeze');
      if (drift) throw new AbortRun(drift);
      // An apply worker that began failing after the catch-up gate would time the freeze out: refuse now, naming the row.
      if (typeof context.facts.applyErrorsAtCatchUp === 'number') {
        const failing = await applyFailureMessage(context, platform, await target(context), subscription, context.facts.applyErrorsAtCatchUp, 'never-frozen');
        if (failing) throw new AbortRun(`Switch not started: ${failing}`);
      }
      // The subscription's own flag first: a disabled subscription's walsender lingers a while as "streaming".
      const enabled = await pgRow<{ subenabled: boolean }>(await target(context), 'SELECT subenabled FROM pg_subscription WHERE subname = $1', [subscription]);
      if (!enabled?.subenabled) throw new AbortRun(`Switch not started: the subscription ${subscription} is ${enabled ? 'disabled' : 'missing'} on the target; the source was never frozen. Fix replication (ALTER SUBSCRIPTION ${subscription} ENABLE), then --resume`);
      const position = await walsenderPosition(await source(context), subscription);
      if (position?.state !== 'streaming') throw new AbortRun(`Switch not started: the subscription ${subscription} is not streaming (walsender state ${position?.state ?? 'absent'}); the source was never frozen. Fix replication, then --resume`);
    },
    apply: (context) => switchWrites(context, platform, settings, source, target),
  };

  const verify = verifyChecksumsStep(platform, settings, {
    targetSnapshotKey: TARGET_SNAPSHOT,
    sourceSnapshotKey: SOURCE_SNAPSHOT,
    describe: ['Compare per-table checksums (ordered row hash) of the frozen source and of the target snapshot taken at the switch.'],
  });

  const removeReplication: Step = {
    id: 'postgres.replication.remove',
    kind: 'action',
    describe: () => [`Drop the subscription ${subscription} on the target (detached from its slot), the slot ${slot} and role ${settings.replicationUser} on the source.`],
    async apply(context) {
      const targetClient = await target(context);
      const existing = await pgRow(targetClient, 'SELECT 1 AS x FROM pg_subscription WHERE subname = $1', [subscription]);
      if (existing) {
        await targetClient.query(`ALTER SUBSCRIPTION ${quoteIdent(subscription)} DISABLE`);
        await targetClient.query(`ALTER SUBSCRIPTION ${quoteIdent(subscription)} SET (slot_name = NONE)`);
        await targetClient.query(`DROP SUBSCRIPTION ${quoteIdent(subscription)}`);
      }
      const sourceClient = await source(context);
      await dropSlotIfExists(sourceClient, slot);
      await sourceClient.query(`DROP ROLE IF EXISTS ${quoteIdent(settings.replicationUser)}`);
      return { replicationRemoved: true };
    },
    async verify(context) {
      if (await slotInfo(await source(context), slot)) throw new Error(`slot ${slot} still exists on the source: drop it (SELECT pg_drop_replication_slot('${slot}')) or it keeps WAL forever`);
    },
  };

  return {
    flow: 'postgres.logical',
    facts: POSTGRES_SWITCH_FACTS,
    summary: [`source: ${platform.describe.source()}`, `target: ${platform.describe.target()}${settings.targetVersion ? `, PostgreSQL ${settings.targetVersion}` : ''}`, `database: ${settings.database}`, `platform: ${platform.kind}`],
    steps: [preflightStep(platform, settings, 'logical'), createTargetStep(platform, settings), createPublication, copySnapshot, createSubscription, ...(platform.wayBack ? [prepareWayBack] : []), catchUp, switchOver, verify, removeReplication],
  };
}

export type SwitchPhase = 'paused' | 'frozen' | 'caughtUp' | 'sequencesCopied' | 'subscriptionDisabled' | 'endpointMoved' | 'resumed' | 'fenced' | 'wayBackRunning';

/**
 * A test probe called at each sub-phase of the switch, set in the run's resources by the test.
 * Tests simulate a crash there by never settling, then abandon the run and resume.
 */
export const SWITCH_PHASE_PROBE = new ResourceKey<(phase: SwitchPhase) => Promise<void>>('test.postgres.switch.phase');

async function reachedPhase(context: StepContext, phase: SwitchPhase): Promise<void> {
  const probe = context.resources.get(SWITCH_PHASE_PROBE);
  if (probe) await probe(phase);
}

/**
 * Whether this run began a switch it did not undo: the journal says the source was frozen
 * and not reopened, or the source is read-only now (a platform that can tell).
 */
async function switchUnderWay(context: StepContext, sourceClient: PgClient): Promise<boolean> {
  if (context.facts.sourceFrozenAt != null && context.facts.sourceReopenedAt == null) return true;
  return serverReadOnly(sourceClient).catch(() => false);
}

/**
 * Where the application's traffic goes now. The platform's own answer first (pgbouncer's
 * SHOW DATABASES); a platform that cannot tell is answered by the journal: once the endpoint
 * move began, only forward is safe (going back could lose writes the target took).
 */
async function whereTrafficGoes(context: StepContext, platform: PostgresPlatform, database: string): Promise<{ pointsAt: 'source' | 'target'; known: boolean }> {
  const state = platform.switchPointState ? await platform.switchPointState(context, database) : undefined;
  if (state && state.pointsAt !== 'unknown') return { pointsAt: state.pointsAt, known: true };
  return { pointsAt: context.facts.endpointMoveStartedAt != null ? 'target' : 'source', known: false };
}

/**
 * What changed in the tables since the copy, as a message naming each table and the way
 * forward, or undefined when both sides have the same tables with the same columns, every
 * table is published and (outside the freeze) none is still in its initial sync.
 */
async function schemaDriftMessage(sourceClient: PgClient, targetClient: PgClient, settings: PostgresFlowSettings, when: 'before-freeze' | 'after-freeze' | 'catch-up'): Promise<string | undefined> {
  const { publication, subscription } = names(settings);
  const [[sourceShapes, published], targetShapes] = await Promise.all([
    Promise.all([tableShapes(sourceClient), publicationTables(sourceClient, publication)]),
    tableShapes(targetClient),
  ]);
  const drift = schemaDrift(sourceShapes, targetShapes, published);
  const syncing = when === 'after-freeze' ? [] : await tablesStillSyncing(targetClient, subscription);
  if (!hasDrift(drift) && syncing.length === 0) return undefined;
  const parts: string[] = [];
  if (drift.created.length > 0) parts.push(`created on the source after the copy, missing on the target: ${drift.created.join(', ')} (their rows would never reach the target)`);
  if (drift.dropped.length > 0) parts.push(`dropped on the source after the copy, still on the target: ${drift.dropped.join(', ')}`);
  for (const altered of drift.altered) {
    const lackingOnTarget = missingColumns(altered.source, altered.target);
    const lackingOnSource = missingColumns(altered.target, altered.source);
    const what = [
      lackingOnTarget.length > 0 ? `column(s) ${lackingOnTarget.join(', ')} missing on the target` : '',
      lackingOnSource.length > 0 ? `column(s) ${lackingOnSource.join(', ')} no longer on the source` : '',
    ].filter(Boolean).join(', ');
    parts.push(`altered on the source after the copy: ${altered.table} (${what ? `${what}; ` : ''}source: ${altered.source}; target: ${altered.target})`);
  }
  if (drift.unpublished.length > 0) parts.push(`not in the publication ${publication} (their changes are not sent): ${drift.unpublished.join(', ')}`);
  if (syncing.length > 0) parts.push(`still in their initial copy by the subscription: ${syncing.map((t) => `${t.table} (state ${t.state})`).join(', ')}`);
  const applyErrors = when === 'catch-up' ? await subscriptionApplyErrors(targetClient, subscription) : 0;
  const lead = {
    'before-freeze': 'Switch not started: the tables changed after the copy (logical replication does not carry DDL): ',
    'after-freeze': 'Switch aborted: the tables changed after the copy, between the last check and the freeze (logical replication does not carry DDL): ',
    'catch-up': `The target is not lagging, it is stuck: the tables changed after the copy (logical replication does not carry DDL; the subscription's apply worker stops at the first change to such a table with "logical replication target relation … is missing replicated column(s)"${applyErrors > 0 ? `, ${applyErrors} apply error(s) so far` : ''}): `,
  }[when];
  const state = when === 'after-freeze' ? 'The source was reopened for writes and traffic never moved.' : 'The source was never frozen.';
  const fix =
    `Way forward: rerun the move from the start (a new run copies the current schema), or bring the target level: apply the same DDL on the target (CREATE / ALTER / DROP TABLE), ` +
    `add a new table to the publication on the source (ALTER PUBLICATION ${publication} ADD TABLE <table>) and refresh the subscription on the target ` +
    `(ALTER SUBSCRIPTION ${subscription} REFRESH PUBLICATION: it copies the table's rows), wait until pg_subscription_rel shows every table ready ('r'), then --resume this run.`;
  return `${lead}${parts.join('; ')}. ${state} ${fix}`;
}

/**
 * The subscription's apply worker failing rather than lagging: its error count grew past
 * `errorsBefore`. The message names the table and the key (PostgreSQL writes them only to the
 * server log, read through the platform), the state left and the fix; undefined while the
 * count has not grown. `state`: the source was never frozen, or was frozen and is reopened.
 */
async function applyFailureMessage(context: StepContext, platform: PostgresPlatform, targetClient: PgClient, subscription: string, errorsBefore: number, state: 'never-frozen' | 'reopened'): Promise<string | undefined> {
  const errors = await subscriptionApplyErrors(targetClient, subscription);
  if (errors <= errorsBefore) return undefined;
  const log = platform.targetServerLog ? await platform.targetServerLog(context).catch(() => undefined) : undefined;
  const failure = log ? lastApplyError(log) : undefined;
  const left = state === 'never-frozen' ? 'The source was never frozen and keeps taking writes.' : 'The source was reopened for writes and traffic never moved.';
  const retry = `the apply worker retries by itself every few seconds (wal_retrieve_retry_interval); once pg_stat_subscription_stats stops counting apply errors for ${subscription}, --resume`;
  if (failure?.key && failure.table) {
    return (
      `Replication on the target stopped on a duplicate key in table ${failure.table} (${failure.detail} ${failure.error}): a row with that key was written on the target outside replication (a superuser or another role; the application's role is closed there). ` +
      `The subscription ${subscription}'s apply worker fails on it again and again (${errors - errorsBefore} apply error(s) while waiting): the target is not lagging, it is stuck. ${left} ` +
      `Fix: on the target, compare that row with the source's, remove the target's copy (DELETE FROM ${failure.table} WHERE ${keyPredicate(failure.key)}); ${retry}. ` +
      `If other rows may have been written there too, rerun the move from the start on a new target.`
    );
  }
  const what = failure
    ? `on ${failure.table ?? 'a table'}: ${failure.error}${failure.detail ? ` (${failure.detail})` : ''}`
    : `(${errors - errorsBefore} apply error(s) counted in pg_stat_subscription_stats; PostgreSQL writes the table and the row only to the target's server log: read it there: a local server's stderr, on RDS the console's Logs & events or DownloadDBLogFilePortion)`;
  return `Replication on the target is broken: the subscription ${subscription}'s apply worker fails ${what}; the target is not lagging, it is stuck. ${left} Fix the cause on the target; ${retry} (or rerun the move from the start).`;
}

/**
 * The switch. Ordering (why):
 * 1. PAUSE first: pgbouncer lets running transactions finish, closes its server connections
 *    and queues new ones, so no client sees an error and nothing is mid-flight at the freeze.
 * 2. Freeze (read-only default + reload; where the platform can, the default is written beside
 *    the pause and only the reload is inside the window), then close the source to the
 *    application: the app roles NOLOGIN and their sessions ended, waited for until gone. The
 *    default alone is not a lock: a transaction begun before the reload, one that asks for READ
 *    WRITE, or a session that bypasses the pooler (on AWS every session) would still commit.
 *    Then the tables are compared
 *    once more: a table created between the precondition's check and the freeze aborts here.
 * 3. The final LSN is read after the freeze, so it covers every acknowledged write. The
 *    walsender's write position is what the subscriber applied; confirmed_flush_lsn lags ~600 ms.
 * 4. Sequences are copied from the frozen source (final values, forward only), before the target opens.
 * 5. The target's snapshot is taken before RESUME: the state verification compares.
 * 6. The target opens to the application (LOGIN) last, right before the endpoint moves: until
 *    then the frozen source and the target are never both open; an abort closes it again
 *    before the source reopens.
 *
 * Sub-phases are journaled (context.record) as they are reached: `sourceFrozenAt` right after
 * the freeze; `targetCaughtUpLsn`, `sequencesCopied`, `subscriptionDisabledAt`, `targetOpenedAt` and
 * `endpointMoveStartedAt` in one entry just before the endpoint moves (one fsync inside the
 * window, not four); `endpointMovedAt` once clients resumed. A resumed run reads the actual
 * state (where the pooler points, the subscription) and goes on from there: see `resumeSwitch`.
 */
async function switchWrites(
  context: StepContext,
  platform: PostgresPlatform,
  settings: PostgresFlowSettings,
  source: (c: StepContext) => Promise<PgClient>,
  target: (c: StepContext) => Promise<PgClient>,
): Promise<Facts> {
  const { subscription } = names(settings);
  const sourceClient = await source(context);
  const targetClient = await target(context);
  const resumedFrozen = await switchUnderWay(context, sourceClient);
  if (resumedFrozen) {
    const traffic = await whereTrafficGoes(context, platform, settings.database);
    // Past the endpoint move the target has taken writes: reopening the source would split them.
    if (traffic.pointsAt === 'target') return finishSwitchForward(context, platform, settings, sourceClient, targetClient, traffic.known);
    // Traffic never moved: switch again from the start. The source stays frozen until then and
    // is reopened if this attempt fails too. The dead process may have disabled the subscription
    // just before the endpoint move: the slot kept its place, enabling it loses nothing.
    const sub = await pgRow<{ subenabled: boolean }>(targetClient, 'SELECT subenabled FROM pg_subscription WHERE subname = $1', [subscription]);
    if (sub && !sub.subenabled) await targetClient.query(`ALTER SUBSCRIPTION ${quoteIdent(subscription)} ENABLE`);
    // It may also have opened the target just before the endpoint move: closed until this attempt opens it.
    await closeToApplication(targetClient, settings.appUsers);
    context.log.warn('resuming a switch that froze the source but never moved traffic: switching again (the source reopens if this attempt fails)');
  }
  // Warm everything the critical section touches.
  await context.resources.release(TARGET_SNAPSHOT);
  const snapshot = context.resources.register(TARGET_SNAPSHOT, await connectPg(await platform.target(context.facts, settings.database)), closePg);
  await context.resources.release(SOURCE_SNAPSHOT);
  const sourceSnapshot = platform.wayBack ? context.resources.register(SOURCE_SNAPSHOT, await connectPg(await platform.source(settings.database)), closePg) : undefined;
  await walsenderPosition(sourceClient, subscription);
  const applyErrorsBefore = await subscriptionApplyErrors(targetClient, subscription);
  await currentLsn(sourceClient);
  await sequenceValues(sourceClient);
  await tableShapes(sourceClient);
  try {
    await platform.prepareSwitch(context, settings.database);
  } catch (failure) {
    // Before the pause and the freeze: a switch point that cannot even be prepared would not move traffic either.
    throw new AbortRun(
      `Switch not started: the application endpoint could not be prepared for the switch (${failure instanceof Error ? failure.message : String(failure)}). ` +
        `The source was never frozen and keeps taking writes; traffic never moved. Fix: bring the endpoint back (${platform.describe.switchEndpoint().join(' ')}), then --resume`,
    );
  }
  // The way back, all but its start point, was made by postgres.way-back.prepare (its origin is a journaled fact).
  const backOrigin = platform.wayBack ? (context.facts.wayBackOrigin as string | undefined) : undefined;
  if (platform.wayBack && !backOrigin) throw new Error('No way back prepared (fact wayBackOrigin): postgres.way-back.prepare must run before the switch; nothing was paused or frozen');

  const clock = new PhaseClock(settings.switchTimeoutMs);
  // Journaled before anything is paused (outside the window): a journal that cannot take a
  // line (a full disk) refuses the switch here. Later lines that fail: frozen, undo the freeze;
  // once the endpoint moved, finish forward and say so (the same rules as the MySQL switch).
  try {
    await context.record({ switchBeganAt: wallClockMs() });
  } catch (failure) {
    if (!(failure instanceof JournalWriteError)) throw failure;
    await snapshot.query('ROLLBACK').catch(() => undefined);
    throw new AbortRun(`Switch not started: ${failure.clause}. The source was never frozen and keeps taking writes; traffic never moved.`);
  }
  const { context: afterMove, journalFailure } = recordingPastJournalFailures(context);
  let paused = false;
  // A resumed switch finds the source frozen (and closed) by the dead process: reopened if this attempt aborts.
  let frozen = resumedFrozen;
  /** The read-only default was written (not yet in effect): an abort resets it. */
  let staged = false;
  let repointed = false;
  let targetOpened = false;
  let lagAtSwitchMs: number | undefined;
  const overBudget = (what: string) => new AbortRun(`Switch aborted: ${what} within --switch-timeout ${settings.switchTimeoutMs} ms. The source was reopened for writes and traffic never moved.`);
  try {
    // The freeze's slow half (local: ALTER SYSTEM writes and fsyncs postgresql.auto.conf) runs
    // beside the pause: it is not in effect until the reload below, after the pause held every
    // client, so no transaction the pooler still lets finish can see it (it would fail).
    const staging = platform.stageSourceReadOnly?.(context);
    if (staging) {
      staged = true;
      staging.catch(() => undefined);
    }
    paused = await platform.pauseClients(context, clock.remaining());
    clock.mark('pause');
    if (!paused) throw overBudget('the pooler could not pause (a transaction stayed open)');
    await reachedPhase(context, 'paused');
    if (staging) {
      await staging;
      clock.mark('stageFreeze');
    }
    await platform.setSourceReadOnly(context, true, { staged: staging !== undefined });
    frozen = true;
    await context.record({ switchStartedAt: clock.startedAt, sourceFrozenAt: wallClockMs(), sourceReopenedAt: null });
    clock.mark('freeze');
    await reachedPhase(context, 'frozen');
    // Closed, not only read-only by default: a session that asks for it (BEGIN READ WRITE) overrides
    // the default, and one that bypasses the pooler (on AWS: every session) could commit after the
    // final position below. Gone before that position is read: a commit in flight finishes first.
    const { ended, gone } = await closeToApplicationAndWait(sourceClient, settings.appUsers, clock.remaining());
    clock.mark('endSessions');
    if (!gone) throw overBudget(`the sessions of ${settings.appUsers.join(', ')} on the source did not end`);
    const drift = await schemaDriftMessage(sourceClient, targetClient, settings, 'after-freeze');
    if (drift) throw new AbortRun(drift);
    clock.mark('tablesCompared');
    const finalLsn = await currentLsn(sourceClient);
    clock.mark('finalLsn');
    const waitStarted = nowMs();
    const reached = await waitUntilApplied(sourceClient, targetClient, subscription, finalLsn, clock.remaining());
    lagAtSwitchMs = nowMs() - waitStarted;
    clock.mark('targetCatchUp');
    if (!reached) {
      // Not slow but stuck: an apply worker failing on a row names it (the source reopens below).
      const failing = await applyFailureMessage(context, platform, targetClient, subscription, applyErrorsBefore, 'reopened');
      if (failing) throw new AbortRun(`Switch aborted: ${failing}`);
      throw overBudget(`the target did not apply the source's final WAL position ${finalLsn}`);
    }
    await reachedPhase(context, 'caughtUp');
    const sequences = await sequenceValues(sourceClient);
    const setSequences = setSequencesSql(sequences);
    if (setSequences) await targetClient.query(setSequences);
    clock.mark('sequences');
    await reachedPhase(context, 'sequencesCopied');
    // The subscription disabled first; then, on three sessions at once, the two switch-time
    // snapshots and the way back pinned to the target's position. Both sides are frozen and
    // equal here: every change the target makes after that position is the application's.
    await targetClient.query(`ALTER SUBSCRIPTION ${quoteIdent(subscription)} DISABLE`);
    const [, backStartLsn] = await Promise.all([
      snapshot.query(SNAPSHOT_SQL),
      backOrigin ? pinnedAt(targetClient, sourceClient, backOrigin) : Promise.resolve(null),
      sourceSnapshot?.query(SNAPSHOT_SQL),
    ]);
    clock.mark('disableSubscription');
    await reachedPhase(context, 'subscriptionDisabled');
    if (clock.remaining() <= 0) throw overBudget('the switch did not reach the repoint');
    // The target opens only now: the source is frozen, the target has everything, clients are held.
    targetOpened = true;
    await openToApplication(targetClient, settings.appUsers);
    clock.mark('openTarget');
    // On disk before the endpoint moves (a resume that cannot ask the pooler goes forward from here);
    // a journal that refuses it leaves traffic where it was: the abort below reopens the source.
    await context.record({ targetCaughtUpLsn: finalLsn, sequencesCopied: sequences.length, subscriptionDisabledAt: wallClockMs(), targetOpenedAt: wallClockMs(), backStartLsn, endpointMoveStartedAt: wallClockMs() });
    repointed = true;
    await platform.switchEndpoint(context, settings.database);
    clock.mark('switchEndpoint');
    const endpointMovedAt = wallClockMs();
    await reachedPhase(context, 'endpointMoved');
    await platform.resumeClients(context);
    paused = false;
    clock.mark('resume');
    const switchDurationMs = clock.elapsed();
    const switchEndedAt = wallClockMs();
    await afterMove.record({ endpointMovedAt, switchEndedAt });
    await reachedPhase(context, 'resumed');
    context.log.info(`switched in ${switchDurationMs} ms (ended ${ended} session(s), target applied the final LSN in ${lagAtSwitchMs.toFixed(1)} ms)`);
    // Traffic moved: the fence and the way back wait (at most APP_RECONNECT_GRACE_MS) until the
    // application has a session on the target, so that they do not compete with its reconnect
    // for the same cores. Measured on 2 cores (`npm run bench:downtime -- --engine postgres
    // --switch-back --runs 3`, two interleaved blocks each, load 2-4, 2026-12-02): forward write
    // gap median 184 / 182 ms with the wait, 224 / 218 ms without (every run with it under 199 ms,
    // every run without over 200). Both are done before the switch step ends either way.
    const appReconnectedAfterMs = await untilApplicationIsBack(() => hasApplicationSession(targetClient, settings.appUsers));
    const fenceFacts = await platform.fenceSource(afterMove);
    await reachedPhase(context, 'fenced');
    const wayBackFacts = await startWayBack(afterMove, platform, settings, sourceClient, targetClient);
    const journalFailedAfterMove = journalFailure();
    if (journalFailedAfterMove) {
      throw new Error(
        `${journalFailedAfterMove.message}. The switch finished: traffic is on the target, the source stays frozen and fenced (as after every switch); ` +
          `what followed in the journal, verification and clean-up did not run: --resume finishes them`,
      );
    }
    return {
      ...wayBackFacts,
      appReconnectedAfterMs,
      finalLsn,
      lagAtSwitchMs: Math.round(lagAtSwitchMs * 10) / 10,
      switchDurationMs,
      switchStartedAt: clock.startedAt,
      switchEndedAt,
      switchPhasesMs: clock.phases,
      sessionsEnded: ended,
      sequencesCopied: sequences.length,
      ...fenceFacts,
    };
  } catch (failure) {
    // A repoint that failed while the switch point demonstrably still sends clients to the source
    // (held by the pause) moved nothing: undone below like any abort before the move.
    const stillOnSource = repointed && !(failure instanceof JournalWriteError) && (await platform.switchPointState?.(context, settings.database).catch(() => undefined))?.pointsAt === 'source';
    const repointFailure = stillOnSource ? (failure instanceof Error ? failure.message : String(failure)) : undefined;
    if (repointed && !stillOnSource) {
      // Traffic points at the target already: going back would lose what it took. Let clients go on.
      if (paused) await platform.resumeClients(context).catch(() => undefined);
      if (failure instanceof JournalWriteError) throw new Error(`${failure.message}. The endpoint move to the target had begun: the source stays frozen (never both sides writable); --resume finishes the switch forward`);
      // The switch point itself gone (the pooler or proxy died): where it will send clients when it is back is unknown,
      // so the source stays frozen and the target, which has every write, stays open; a resume reads the real state.
      const endpointDown = await platform.switchPointState?.(context, settings.database).then(() => undefined, (error: Error) => error.message);
      if (endpointDown !== undefined) {
        throw new Error(
          `The application endpoint stopped answering while the switch moved it to the target (${failure instanceof Error ? failure.message : String(failure)}; now: ${endpointDown}). ` +
            `The source stays frozen and the target, which has every write, is open to the application (never both sides writable); no client reaches either until the endpoint is back. ` +
            `Fix: start the endpoint again (${platform.describe.switchEndpoint().join(' ')}), then --resume: it reads where the endpoint points and finishes the switch`,
        );
      }
      throw failure;
    }
    await snapshot.query('ROLLBACK').catch(() => undefined);
    // Closed again before the source reopens: never both open to the application.
    if (targetOpened) await closeToApplication(targetClient, settings.appUsers);
    await sourceSnapshot?.query('ROLLBACK').catch(() => undefined);
    if (staged && !frozen) {
      // Written beside the pause but never put into effect: reset, or the next reload would freeze the source under its traffic.
      await platform.setSourceReadOnly(context, false);
    }
    if (frozen) {
      // The application's roles log in again (closed right after the freeze), then the source takes writes.
      await openToApplication(sourceClient, settings.appUsers);
      await platform.setSourceReadOnly(context, false);
      // A journal that cannot take this line (a full disk) must not keep the clients paused: a resume reads the server.
      try {
        await context.record({ sourceReopenedAt: wallClockMs() });
      } catch (recordFailure) {
        if (!(recordFailure instanceof JournalWriteError)) throw recordFailure;
        context.log.warn(`not journaled (${recordFailure.code}): the source's reopening; a --resume reads the server's actual state`);
      }
    }
    // The subscription may have been disabled just before the budget ran out.
    await targetClient.query(`ALTER SUBSCRIPTION ${quoteIdent(subscription)} ENABLE`).catch(() => undefined);
    if (paused) await platform.resumeClients(context);
    context.log.warn('switch aborted: source reopened for writes, traffic stays on the source, target still subscribed');
    if (failure instanceof AbortRun || failure instanceof JournalWriteError || repointFailure !== undefined) {
      const message =
        failure instanceof JournalWriteError
          ? `Switch aborted: ${failure.clause}. The source was reopened for writes and traffic never moved.`
          : repointFailure !== undefined
            ? `Switch aborted: the endpoint change failed (${repointFailure}) and the endpoint still points at the source. The target was closed again; the source was reopened for writes and traffic never moved. Fix the cause, then --resume`
            : (failure as AbortRun).message;
      throw new AbortRun(message, { abortedAt: wallClockMs(), switchStartedAt: clock.startedAt, switchPhasesMs: clock.phases, lagAtSwitchMs: lagAtSwitchMs === undefined ? null : Math.round(lagAtSwitchMs) });
    }
    throw failure;
  }
}

/**
 * A resumed switch whose traffic already moved to the target: only forward. The source stays
 * frozen (frozen again if need be: never both sides writable), whatever the frozen source
 * still had is drained into the target, the subscription is disabled, sequences move forward
 * only (the live target may be past the source: never rewound), clients are released and
 * the source fenced. Verification then has no switch-time snapshot and says so.
 */
async function finishSwitchForward(context: StepContext, platform: PostgresPlatform, settings: PostgresFlowSettings, sourceClient: PgClient, targetClient: PgClient, endpointKnown: boolean): Promise<Facts> {
  const { subscription } = names(settings);
  context.log.warn('resuming a switch after traffic moved to the target: finishing forward (the old source is never reopened now)');
  await platform.setSourceReadOnly(context, true);
  // Closed as the switch closes it (the dead process may have died before): nothing commits there after the drain below.
  const { ended } = await closeToApplicationAndWait(sourceClient, settings.appUsers, settings.switchTimeoutMs);
  const sub = await pgRow<{ subenabled: boolean }>(targetClient, 'SELECT subenabled FROM pg_subscription WHERE subname = $1', [subscription]);
  let finalLsn = (context.facts.targetCaughtUpLsn as string | undefined) ?? null;
  if (sub?.subenabled) {
    finalLsn = await currentLsn(sourceClient);
    const reached = await waitUntilApplied(sourceClient, targetClient, subscription, finalLsn, settings.catchUpTimeoutMs);
    if (!reached) context.log.warn(`the target did not confirm the frozen source's last WAL position ${finalLsn} within ${settings.catchUpTimeoutMs} ms; verification will tell whether anything is missing`);
    await targetClient.query(`ALTER SUBSCRIPTION ${quoteIdent(subscription)} DISABLE`);
  }
  const sequences = await sequenceValues(sourceClient);
  const setSequences = setSequencesSql(sequences);
  if (setSequences) await targetClient.query(setSequences);
  // The dead process may have moved the endpoint before it opened the target (or not journaled it).
  await openToApplication(targetClient, settings.appUsers);
  // A platform that cannot tell where its endpoint points gets the (idempotent) move once more.
  if (!endpointKnown) await platform.switchEndpoint(context, settings.database);
  await platform.resumeClients(context);
  const now = wallClockMs();
  const endpointMovedAt = (context.facts.endpointMovedAt as number | undefined) ?? now;
  const switchEndedAt = (context.facts.switchEndedAt as number | undefined) ?? now;
  context.record({ endpointMovedAt, switchEndedAt, sequencesCopied: sequences.length });
  const fenceFacts = await platform.fenceSource(context);
  const wayBackFacts = await startWayBack(context, platform, settings, sourceClient, targetClient);
  return {
    ...wayBackFacts,
    switchResumed: true,
    finalLsn,
    lagAtSwitchMs: null,
    switchStartedAt: context.facts.switchStartedAt ?? null,
    switchEndedAt,
    sessionsEnded: ended,
    sequencesCopied: sequences.length,
    ...fenceFacts,
  };
}

/**
 * After the window: start the way back pinned inside it, wait until it streams, and copy the
 * sequences target -> source too (forward only: the old source gets the values the target
 * hands out from, so a switch back never reuses a key). A run whose journal has no pinned
 * start (the way back was not prepared: a platform without one) builds none, and says so.
 */
async function startWayBack(context: StepContext, platform: PostgresPlatform, settings: PostgresFlowSettings, sourceClient: PgClient, targetClient: PgClient): Promise<Facts> {
  if (!platform.wayBack) return { wayBack: 'none (platform cannot switch back)' };
  const backStartLsn = context.facts.backStartLsn as string | null | undefined;
  if (!backStartLsn) {
    context.log.warn('the way back was not pinned before traffic moved (a switch begun by an older version): switch-back is not possible for this run');
    return { wayBack: 'not built' };
  }
  await startWay(sourceClient, targetClient, backWay(settings), settings.catchUpTimeoutMs);
  const sequencesCopiedBack = await copySequencesForward(targetClient, sourceClient);
  context.record({ wayBackRunningAt: wallClockMs() });
  await reachedPhase(context, 'wayBackRunning');
  return { wayBack: 'running', backStartLsn, sequencesCopiedBack };
}

