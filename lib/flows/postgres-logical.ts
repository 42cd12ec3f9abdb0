import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { closePg, conninfo, connectPg, pgRow, qualified, quoteIdent, quoteLiteral, type PgClient } from '../engines/postgres/connection';
import { createSlotExportingSnapshot, dropSlotIfExists, slotInfo } from '../engines/postgres/replication';
import { currentLsn, sequenceValues, setSequencesSql, terminateSessions, waitForWalsender, walsenderPosition } from '../engines/postgres/server';
import { dumpDirectory, restoreDirectory } from '../engines/postgres/copy';
import type { PostgresPlatform } from '../platforms/postgres-platform';
import { AbortRun, PreconditionFailed, type Facts, type Runbook, type Step, type StepContext } from '../runbook/step';
import { generatePassword } from '../util/secrets';
import { nowMs, sleep, wallClockMs } from '../util/time';
import {
  assertTargetEmpty,
  createTargetStep,
  names,
  openConnection,
  PhaseClock,
  preflightStep,
  tablesFromFacts,
  verifyChecksumsStep,
  type PostgresFlowSettings,
} from './postgres-common';

/** Runtime key of the target session whose snapshot is the switch moment (verified later). */
export const TARGET_SNAPSHOT = 'postgres.snapshot.target';

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
    ],
    async apply(context) {
      const client = await source(context);
      for (const table of (context.facts.replicaIdentityFull as string[] | undefined) ?? []) {
        const [schema, ...rest] = table.split('.');
        await client.query(`ALTER TABLE ${qualified({ schema, name: rest.join('.') })} REPLICA IDENTITY FULL`);
      }
      const list = tablesFromFacts(context.facts).map(qualified).join(', ');
      if (!list) throw new PreconditionFailed(`Database ${settings.database} has no tables to move`);
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
      const dir = join(mkdtempSync(join(settings.workDir, 'pg-dump-')), 'dump');
      const started = nowMs();
      try {
        const dump = await dumpDirectory(sourceEndpoint, { dir, jobs: settings.copyJobs, snapshot: exported.snapshotName, timeoutMs: settings.copyTimeoutMs });
        // Every dump worker has imported the snapshot: the exporting session can go.
        await closePg(exported.connection);
        const restore = await restoreDirectory(await platform.target(context.facts, settings.database), { dir, jobs: settings.copyJobs, timeoutMs: settings.copyTimeoutMs });
        return { slot, slotConsistentPoint: exported.consistentPoint, dumpMs: dump.durationMs, restoreMs: restore.durationMs, copyDurationMs: Math.round(nowMs() - started) };
      } finally {
        await closePg(exported.connection);
        rmSync(join(dir, '..'), { recursive: true, force: true });
      }
    },
  };

  const createSubscription: Step = {
    id: 'postgres.subscription.create',
    kind: 'action',
    describe: () => [
      `On the source: role ${settings.replicationUser} LOGIN REPLICATION with a fresh password (AWS: GRANT rds_replication).`,
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
      if (platform.kind === 'aws') {
        // RDS gives nobody the REPLICATION attribute; its rds_replication role carries the right.
        // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.FeatureSupport.LogicalReplication.html
        await sourceClient.query(`${role ? 'ALTER' : 'CREATE'} ROLE ${quoteIdent(settings.replicationUser)} LOGIN PASSWORD ${quoteLiteral(password)}`);
        await sourceClient.query(`GRANT rds_replication TO ${quoteIdent(settings.replicationUser)}`);
      } else {
        await sourceClient.query(`${role ? 'ALTER' : 'CREATE'} ROLE ${quoteIdent(settings.replicationUser)} LOGIN REPLICATION PASSWORD ${quoteLiteral(password)}`);
      }
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

  const catchUp: Step = {
    id: 'postgres.replication.catch-up',
    kind: 'action',
    describe: () => [`Wait until the target has applied the source's current WAL position within ${settings.lagThresholdMs} ms (gate before the switch; walsender's reported write position).`],
    async apply(context) {
      const sourceClient = await source(context);
      const deadline = nowMs() + settings.catchUpTimeoutMs;
      for (;;) {
        const lsn = await currentLsn(sourceClient);
        const started = nowMs();
        const remaining = deadline - started;
        if (remaining <= 0) throw new AbortRun(`The target did not get within ${settings.lagThresholdMs} ms of the source in ${settings.catchUpTimeoutMs} ms; resume later with --resume`);
        const reached = await waitForWalsender(sourceClient, subscription, lsn, Math.min(remaining, Math.max(settings.lagThresholdMs * 5, 10000)), 5);
        const lag = nowMs() - started;
        if (reached && lag <= settings.lagThresholdMs) return { lagBeforeSwitchMs: Math.round(lag) };
        context.log.info(`target ${reached ? `${Math.round(lag)} ms` : 'more than 10 s'} behind; waiting`);
      }
    },
  };

  const switchOver: Step = {
    id: 'postgres.switch',
    kind: 'action',
    irreversible: true,
    hookBefore: 'before-switch',
    hookAfter: 'after-switch',
    describe: () => [
      `Within ${settings.switchTimeoutMs} ms (--switch-timeout), else resume on the source and abort:`,
      ...platform.describe.pause(),
      ...platform.describe.freeze(),
      `end the remaining sessions of ${settings.appUsers.join(', ')} on the source;`,
      `read pg_current_wal_lsn(); wait until the walsender of ${subscription} reports it written (applied on the target);`,
      'copy every sequence value to the target (logical replication does not carry them);',
      `ALTER SUBSCRIPTION ${subscription} DISABLE; open a REPEATABLE READ snapshot on the target (verified later);`,
      ...platform.describe.switchEndpoint(),
      ...platform.describe.resume(),
      ...platform.describe.fence(),
    ],
    precondition: async (context) => {
      // Refused before anything is paused or frozen: an abort on purpose, the source keeps taking writes.
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
    summary: [`source: ${platform.describe.source()}`, `target: ${platform.describe.target()}${settings.targetVersion ? `, PostgreSQL ${settings.targetVersion}` : ''}`, `database: ${settings.database}`, `platform: ${platform.kind}`],
    steps: [preflightStep(platform, settings, 'logical'), createTargetStep(platform, settings), createPublication, copySnapshot, createSubscription, catchUp, switchOver, verify, removeReplication],
  };
}

/**
 * The switch. Ordering (why):
 * 1. PAUSE first: pgbouncer lets running transactions finish, closes its server connections
 *    and queues new ones, so no client sees an error and nothing is mid-flight at the freeze.
 * 2. Freeze (read-only default + reload), then end what is left of the app's sessions: a
 *    transaction begun before the reload would still be writable.
 * 3. The final LSN is read after the freeze, so it covers every acknowledged write. The
 *    walsender's write position is what the subscriber applied; confirmed_flush_lsn lags ~600 ms.
 * 4. Sequences are copied from the frozen source (final values), before the target opens.
 * 5. The target's snapshot is taken before RESUME: the state verification compares.
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
  // Warm everything the critical section touches.
  const snapshot = await connectPg(await platform.target(context.facts, settings.database));
  context.runtime.set(TARGET_SNAPSHOT, snapshot);
  await walsenderPosition(sourceClient, subscription);
  await currentLsn(sourceClient);
  await sequenceValues(sourceClient);
  await platform.prepareSwitch(context, settings.database);

  const clock = new PhaseClock(settings.switchTimeoutMs);
  let paused = false;
  let frozen = false;
  let repointed = false;
  let lagAtSwitchMs: number | undefined;
  const overBudget = (what: string) => new AbortRun(`Switch aborted: ${what} within --switch-timeout ${settings.switchTimeoutMs} ms. The source was reopened for writes and traffic never moved.`);
  try {
    paused = await platform.pauseClients(context, clock.remaining());
    clock.mark('pause');
    if (!paused) throw overBudget('the pooler could not pause (a transaction stayed open)');
    await platform.setSourceReadOnly(context, true);
    frozen = true;
    clock.mark('freeze');
    const ended = await terminateSessions(sourceClient, settings.appUsers);
    clock.mark('endSessions');
    const finalLsn = await currentLsn(sourceClient);
    clock.mark('finalLsn');
    const waitStarted = nowMs();
    const reached = await waitForWalsender(sourceClient, subscription, finalLsn, clock.remaining());
    lagAtSwitchMs = nowMs() - waitStarted;
    clock.mark('targetCatchUp');
    if (!reached) throw overBudget(`the target did not apply the source's final WAL position ${finalLsn}`);
    const sequences = await sequenceValues(sourceClient);
    const setSequences = setSequencesSql(sequences);
    if (setSequences) await targetClient.query(setSequences);
    clock.mark('sequences');
    await targetClient.query(`ALTER SUBSCRIPTION ${quoteIdent(subscription)} DISABLE`);
    await snapshot.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await snapshot.query('SELECT 1');
    clock.mark('disableSubscription');
    if (clock.remaining() <= 0) throw overBudget('the switch did not reach the repoint');
    repointed = true;
    await platform.switchEndpoint(context, settings.database);
    clock.mark('switchEndpoint');
    await platform.resumeClients(context);
    paused = false;
    clock.mark('resume');
    const switchDurationMs = clock.elapsed();
    const switchEndedAt = wallClockMs();
    context.log.info(`switched in ${switchDurationMs} ms (ended ${ended} session(s), target applied the final LSN in ${lagAtSwitchMs.toFixed(1)} ms)`);
    const fenceFacts = await platform.fenceSource(context);
    return {
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
    if (repointed) {
      // Traffic points at the target already: going back would lose what it took. Let clients go on.
      if (paused) await platform.resumeClients(context).catch(() => undefined);
      throw failure;
    }
    await snapshot.query('ROLLBACK').catch(() => undefined);
    if (frozen) await platform.setSourceReadOnly(context, false);
    // The subscription may have been disabled just before the budget ran out.
    await targetClient.query(`ALTER SUBSCRIPTION ${quoteIdent(subscription)} ENABLE`).catch(() => undefined);
    if (paused) await platform.resumeClients(context);
    context.log.warn('switch aborted: source reopened for writes, traffic stays on the source, target still subscribed');
    if (failure instanceof AbortRun) {
      throw new AbortRun(failure.message, { abortedAt: wallClockMs(), switchStartedAt: clock.startedAt, switchPhasesMs: clock.phases, lagAtSwitchMs: lagAtSwitchMs === undefined ? null : Math.round(lagAtSwitchMs) });
    }
    throw failure;
  }
}
