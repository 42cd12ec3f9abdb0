import { closePg, connectPg, pgRow, quoteIdent, type PgClient } from '../engines/postgres/connection';
import { sequenceStates, tableChecksums } from '../engines/postgres/checksum';
import { currentLsn, terminateSessions, userTables, waitForWalsender, walsenderPosition } from '../engines/postgres/server';
import type { PostgresPlatform, PostgresWayBack } from '../platforms/postgres-platform';
import { AbortRun, PreconditionFailed, type Facts, type Runbook, type Step, type StepContext } from '../runbook/step';
import { nowMs, wallClockMs } from '../util/time';
import { checksumOutcome } from '../verify/checksums';
import { openConnection, PhaseClock, type PostgresFlowSettings } from './postgres-common';
import { abortSwitchWindow, pinnedAt, SNAPSHOT_SQL } from './postgres-logical';
import { backWay, copySequencesForward, forwardWay, prepareWay, removeWay, startWay, wayHealth } from './postgres-replication-way';

/** Runtime keys of the switch-back's two switch-time snapshots (the frozen target, the source as it opens). */
const BACK_TARGET_SNAPSHOT = 'postgres.snapshot.back.target';
const BACK_SOURCE_SNAPSHOT = 'postgres.snapshot.back.source';

/**
 * The way back for PostgreSQL (issue 12): after the forward switch the old source subscribes
 * to the target (`<workflow>_back_sub`, pinned by postgres.switch to the frozen, equal state).
 * `switch-back RUN_ID` is the same bounded switch in the other direction — pause, freeze the
 * target, wait until the source applied the target's final WAL position, sequences target ->
 * source (forward only), pin forward replication source -> target again at the source's
 * position (so one can switch forth), reopen the source, move the pooler back, resume — then
 * verifies both switch-time snapshots and removes the way back. It is its own run.
 */
export function postgresSwitchBackRunbook(platform: PostgresPlatform, settings: PostgresFlowSettings): Runbook {
  const source = (context: StepContext) => openConnection(context, 'source', () => platform.source(settings.database));
  const target = (context: StepContext) => openConnection(context, 'target', () => platform.target(context.facts, settings.database));
  const back = backWay(settings);
  const wayBack = platform.wayBack;

  const preflight: Step = {
    id: 'postgres.switch-back.preflight',
    kind: 'check',
    describe: () => [
      `Check: traffic is on the target (${platform.kind}); the way back (subscription ${back.subscription} on the source, slot ${back.slot} on the target,`,
      'built by postgres.switch) is enabled and streaming; otherwise refuse, saying why, with nothing changed.',
    ],
    async apply(context) {
      const refuse = (message: string) => (context.dryRun ? new PreconditionFailed(message) : new AbortRun(message));
      if (!wayBack) throw refuse(`The ${platform.kind} platform cannot switch PostgreSQL back yet (it builds no way back): traffic stays on the target.`);
      if (context.facts.switchBackFrozenAt != null) return {}; // a resumed switch-back decides from the actual state
      const state = platform.switchPointState ? await platform.switchPointState(context, settings.database) : undefined;
      if (state && state.pointsAt !== 'target') throw refuse(`Switch-back refused: traffic is not on the target (the switch point sends it to the ${state.pointsAt}); nothing to switch back. Nothing was changed.`);
      const health = await wayHealth(await source(context), await target(context), back);
      if (health.problem) {
        throw refuse(
          `Switch-back refused: the way back (replication target -> source) is broken: ${health.problem}. The source would miss writes made on the target. ` +
            `Nothing was changed; traffic stays on the target. Fix it (pg_stat_subscription on the source, the log of both servers), then run switch-back again.`,
        );
      }
      return {};
    },
  };

  const catchUp: Step = {
    id: 'postgres.switch-back.catch-up',
    kind: 'action',
    describe: () => [`Wait until the source has applied the target's current WAL position within ${settings.lagThresholdMs} ms (gate before the switch back).`],
    async apply(context) {
      const targetClient = await target(context);
      const deadline = nowMs() + settings.catchUpTimeoutMs;
      for (;;) {
        const lsn = await currentLsn(targetClient);
        const started = nowMs();
        const remaining = deadline - started;
        if (remaining <= 0) throw new AbortRun(`The source did not get within ${settings.lagThresholdMs} ms of the target in ${settings.catchUpTimeoutMs} ms; traffic stays on the target. Resume later with --resume`);
        const reached = await waitForWalsender(targetClient, back.subscription, lsn, Math.min(remaining, Math.max(settings.lagThresholdMs * 5, 10000)), 5);
        const lag = nowMs() - started;
        if (reached && lag <= settings.lagThresholdMs) return { lagBeforeSwitchMs: Math.round(lag) };
        context.log.info(`source ${reached ? `${Math.round(lag)} ms` : 'more than 10 s'} behind the target; waiting`);
      }
    },
  };

  const switchBack: Step = {
    id: 'postgres.switch-back',
    kind: 'action',
    irreversible: true,
    hookBefore: 'before-switch',
    hookAfter: 'after-switch',
    describe: () => [
      `Before the window: forward replication made again, disabled (publication and slot on the source, subscription on the target, copy_data = false).`,
      `Within ${settings.switchTimeoutMs} ms (--switch-timeout), else abort, reopen the target and keep traffic there:`,
      ...platform.describe.pause(),
      ...(wayBack ? wayBack.describe.freezeTarget() : []),
      `end the remaining sessions of ${settings.appUsers.join(', ')} on the target; reopen the source's server default (its roles stay NOLOGIN until the repoint);`,
      `read the target's pg_current_wal_lsn(); wait until the walsender of ${back.subscription} reports it written (applied on the source);`,
      'copy every sequence value target -> source, forward only; REPEATABLE READ snapshots of both sides (verified later);',
      `pin forward replication (${forwardWay(settings).subscription} on the target) to the source's current WAL position; the app roles may log in to the source again;`,
      ...(wayBack ? wayBack.describe.switchEndpointBack() : []),
      ...platform.describe.resume(),
      ...(wayBack ? wayBack.describe.fenceTarget() : []),
      `disable the way back; enable ${forwardWay(settings).subscription} and wait until it streams (so one can switch forth again); the target stays frozen and fenced.`,
    ],
    precondition: async (context) => {
      if (context.facts.switchBackFrozenAt != null) return;
      const health = await wayHealth(await source(context), await target(context), back);
      if (health.problem) throw new AbortRun(`Switch-back not started: ${health.problem}; the target was never frozen and keeps the traffic. Fix it, then --resume`);
    },
    apply: (context) => switchBackWrites(context, platform, wayBack!, settings, source, target),
  };

  const verify: Step = {
    id: 'postgres.switch-back.verify.checksums',
    kind: 'action',
    describe: () => ['Compare per-table checksums of the frozen target and of the source, both from snapshots taken inside the switch back (the source must not be behind the target).'],
    async apply(context) {
      const targetSnapshot = context.runtime.get(BACK_TARGET_SNAPSHOT) as PgClient | undefined;
      const sourceSnapshot = context.runtime.get(BACK_SOURCE_SNAPSHOT) as PgClient | undefined;
      if (!targetSnapshot || !sourceSnapshot) {
        return { checksumsVerified: false, checksumsNotVerifiedReason: 'rows not compared: the switch-time snapshots lived in the process that switched back, which ended before verification (this run was resumed)' };
      }
      try {
        const [frozenSums, openedSums] = await Promise.all([tableChecksums(targetSnapshot), tableChecksums(sourceSnapshot)]);
        const [frozenSequences, openedSequences] = await Promise.all([sequenceStates(targetSnapshot), sequenceStates(sourceSnapshot)]);
        // The move's "source" is now the frozen target, its "target" the reopened source.
        return checksumOutcome(frozenSums, openedSums, context.facts, { source: frozenSequences, target: openedSequences });
      } finally {
        for (const [key, client] of [[BACK_TARGET_SNAPSHOT, targetSnapshot], [BACK_SOURCE_SNAPSHOT, sourceSnapshot]] as const) {
          await client.query('ROLLBACK').catch(() => undefined);
          await closePg(client);
          context.runtime.delete(key);
        }
      }
    },
  };

  const removeBack = removeWayBackStep(source, target, settings, 'postgres.switch-back.way-back.remove');

  return {
    flow: 'postgres.switch-back',
    summary: [`back to: ${platform.describe.source()}`, `platform: ${platform.kind}`, `database: ${settings.database}`],
    steps: [preflight, catchUp, switchBack, verify, removeBack],
  };
}

/**
 * `complete RUN_ID`: the move is final. The way back (subscription on the source, slot and
 * publication on the target, the replication role there) is dropped: after it, switch-back
 * is no longer possible. Refused while traffic is on the source (after a switch back).
 */
export function postgresCompleteRunbook(platform: PostgresPlatform, settings: PostgresFlowSettings): Runbook {
  const source = (context: StepContext) => openConnection(context, 'source', () => platform.source(settings.database));
  const target = (context: StepContext) => openConnection(context, 'target', () => platform.target(context.facts, settings.database));
  const preflight: Step = {
    id: 'postgres.complete.preflight',
    kind: 'check',
    describe: () => ['Check: traffic is on the target (complete retires the way back; it is refused while traffic is on the source).'],
    async apply(context) {
      const refuse = (message: string) => (context.dryRun ? new PreconditionFailed(message) : new AbortRun(message));
      const state = platform.switchPointState ? await platform.switchPointState(context, settings.database) : undefined;
      if (state && state.pointsAt !== 'target') throw refuse(`Complete refused: traffic is not on the target (the switch point sends it to the ${state.pointsAt}). Nothing was changed.`);
      return {};
    },
  };
  return {
    flow: 'postgres.complete',
    summary: [`retire the way back to: ${platform.describe.source()}`, `platform: ${platform.kind}`, `database: ${settings.database}`],
    steps: [preflight, removeWayBackStep(source, target, settings, 'postgres.way-back.remove')],
  };
}

function removeWayBackStep(source: (c: StepContext) => Promise<PgClient>, target: (c: StepContext) => Promise<PgClient>, settings: PostgresFlowSettings, id: string): Step {
  const back = backWay(settings);
  return {
    id,
    kind: 'action',
    describe: () => [`Drop the way back: subscription ${back.subscription} on the source (detached from its slot), slot ${back.slot} and publication ${back.publication} on the target, role ${settings.replicationUser} on the target.`],
    async apply(context) {
      const targetClient = await target(context);
      const removed = await removeWay(await source(context), targetClient, back);
      await targetClient.query(`DROP ROLE IF EXISTS ${quoteIdent(settings.replicationUser)}`);
      return { wayBackRemoved: true, ...removed };
    },
    async verify(context) {
      const slot = await pgRow(await target(context), 'SELECT 1 AS x FROM pg_replication_slots WHERE slot_name = $1', [back.slot]);
      if (slot) throw new Error(`slot ${back.slot} still exists on the target: drop it (SELECT pg_drop_replication_slot('${back.slot}')) or it keeps WAL forever`);
      const subscription = await pgRow(await source(context), 'SELECT 1 AS x FROM pg_subscription WHERE subname = $1', [back.subscription]);
      if (subscription) throw new Error(`subscription ${back.subscription} still exists on the source: DROP SUBSCRIPTION ${back.subscription}`);
    },
  };
}

/**
 * The switch back. Ordering (why), mirroring postgres.switch:
 * 1. Forward replication is made again before the window (a slot waits for running
 *    transactions: too slow inside it), disabled, so it carries nothing until pinned.
 * 2. PAUSE, freeze the target, end the app's sessions there; the source's server default is
 *    reopened now (its reload is asynchronous; the app roles stay NOLOGIN there, so nobody
 *    writes to it until the repoint).
 * 3. The target's final LSN is read after its freeze; the source has applied it when the back
 *    subscription's walsender reports it written.
 * 4. Sequences target -> source forward only, snapshots of both sides, forward replication
 *    pinned to the source's position: both sides are frozen and equal. The way back is
 *    disabled after the window (it has nothing left to apply).
 * 5. LOGIN on the source, repoint, RESUME: past the repoint only forward is safe.
 */
async function switchBackWrites(
  context: StepContext,
  platform: PostgresPlatform,
  wayBack: PostgresWayBack,
  settings: PostgresFlowSettings,
  source: (c: StepContext) => Promise<PgClient>,
  target: (c: StepContext) => Promise<PgClient>,
): Promise<Facts> {
  const back = backWay(settings);
  const forward = forwardWay(settings);
  const sourceClient = await source(context);
  const targetClient = await target(context);
  if (context.facts.switchBackFrozenAt != null && context.facts.switchBackTargetReopenedAt == null) {
    const state = platform.switchPointState ? await platform.switchPointState(context, settings.database) : undefined;
    if (state?.pointsAt === 'source' || (!state && context.facts.switchBackEndpointMoveStartedAt != null)) return finishSwitchBackForward(context, platform, wayBack, settings, sourceClient, targetClient);
    // Traffic never moved back: the target is reopened and the switch back starts again.
    await wayBack.setTargetReadOnly(context, false);
    await platform.setSourceReadOnly(context, true);
    await sourceClient.query(`ALTER SUBSCRIPTION ${quoteIdent(back.subscription)} ENABLE`).catch(() => undefined);
    context.record({ switchBackTargetReopenedAt: wallClockMs() });
    context.log.warn('resuming a switch back that froze the target but never moved traffic: switching back again');
  }
  const forwardOrigin = await prepareWay({
    way: forward,
    sender: sourceClient,
    receiver: targetClient,
    // Every table of the source (this run has no preflight of its own; the way back carried the same).
    tables: (await userTables(sourceClient)).map(({ schema, name }) => ({ schema, name })),
    senderAddress: await platform.sourceForSubscription(settings.database),
    settings,
    replicationRoleSql: platform.replicationRoleSql.bind(platform),
  });
  const targetSnapshot = await connectPg(await platform.target(context.facts, settings.database));
  const sourceSnapshot = await connectPg(await platform.source(settings.database));
  context.runtime.set(BACK_TARGET_SNAPSHOT, targetSnapshot);
  context.runtime.set(BACK_SOURCE_SNAPSHOT, sourceSnapshot);
  await walsenderPosition(targetClient, back.subscription);
  await currentLsn(sourceClient);
  await platform.prepareSwitch(context, settings.database);

  const clock = new PhaseClock(settings.switchTimeoutMs);
  let paused = false;
  let frozen = false;
  let sourceReopened = false;
  let repointed = false;
  let lagAtSwitchMs: number | undefined;
  const overBudget = (what: string) => new AbortRun(`Switch-back aborted: ${what} within --switch-timeout ${settings.switchTimeoutMs} ms. The target was reopened for writes and traffic stays on it.`);
  try {
    paused = await platform.pauseClients(context, clock.remaining());
    clock.mark('pause');
    if (!paused) throw overBudget('the pooler could not pause (a transaction stayed open)');
    await wayBack.setTargetReadOnly(context, true);
    frozen = true;
    context.record({ switchBackStartedAt: clock.startedAt, switchBackFrozenAt: wallClockMs(), switchBackTargetReopenedAt: null });
    clock.mark('freeze');
    // The source's server default reopens on its own admin session meanwhile (its reload is
    // asynchronous: started early, in effect well before the repoint).
    const [ended] = await Promise.all([terminateSessions(targetClient, settings.appUsers), platform.setSourceReadOnly(context, false)]);
    sourceReopened = true;
    clock.mark('endSessions');
    const finalLsn = await currentLsn(targetClient);
    const waitStarted = nowMs();
    const reached = await waitForWalsender(targetClient, back.subscription, finalLsn, clock.remaining());
    lagAtSwitchMs = nowMs() - waitStarted;
    clock.mark('sourceCatchUp');
    if (!reached) throw overBudget(`the source did not apply the target's final WAL position ${finalLsn}`);
    // Three sessions at once: sequences target -> source (forward only), the two switch-time
    // snapshots, and forward replication pinned to the source's position. The way back has
    // nothing left to apply (the target is frozen, its app sessions ended): it is disabled after
    // the window, so nothing it could still apply would be sent forward again.
    const [sequences, , forwardStartLsn] = await Promise.all([
      copySequencesForward(targetClient, sourceClient),
      targetSnapshot.query(SNAPSHOT_SQL),
      sourceSnapshot.query(SNAPSHOT_SQL).then(() => pinnedAt(sourceSnapshot, targetClient, forwardOrigin)),
    ]);
    clock.mark('sequencesAndPin');
    if (clock.remaining() <= 0) throw overBudget('the switch back did not reach the repoint');
    await wayBack.unfenceSource(context);
    repointed = true;
    context.record({ sourceCaughtUpLsn: finalLsn, forwardStartLsn, sequencesCopied: sequences, switchBackEndpointMoveStartedAt: wallClockMs() });
    await wayBack.switchEndpointBack(context, settings.database);
    clock.mark('switchEndpoint');
    const endpointMovedAt = wallClockMs();
    await platform.resumeClients(context);
    paused = false;
    clock.mark('resume');
    const switchDurationMs = clock.elapsed();
    const switchEndedAt = wallClockMs();
    context.record({ endpointMovedAt, switchEndedAt });
    context.log.info(`switched back in ${switchDurationMs} ms (ended ${ended} session(s), source applied the target's final LSN in ${lagAtSwitchMs.toFixed(1)} ms)`);
    await sourceClient.query(`ALTER SUBSCRIPTION ${quoteIdent(back.subscription)} DISABLE`);
    const fenceFacts = await wayBack.fenceTarget(context);
    await startWay(targetClient, sourceClient, forward, settings.catchUpTimeoutMs);
    context.record({ forwardRunningAt: wallClockMs() });
    return {
      ...fenceFacts,
      finalLsn,
      forwardStartLsn,
      forwardReplication: 'running',
      lagAtSwitchMs: Math.round(lagAtSwitchMs * 10) / 10,
      switchDurationMs,
      switchStartedAt: clock.startedAt,
      switchEndedAt,
      switchPhasesMs: clock.phases,
      sessionsEnded: ended,
      sequencesCopied: sequences,
    };
  } catch (failure) {
    return abortSwitchWindow(context, platform, failure, {
      paused,
      frozen,
      repointed,
      opened: sourceReopened,
      snapshots: [targetSnapshot, sourceSnapshot],
      closeOpened: () => platform.setSourceReadOnly(context, true),
      reopenFrozen: () => wayBack.setTargetReadOnly(context, false),
      reopenedFact: 'switchBackTargetReopenedAt',
      resubscribe: () => sourceClient.query(`ALTER SUBSCRIPTION ${quoteIdent(back.subscription)} ENABLE`),
      warning: 'switch-back aborted: target reopened for writes, traffic stays on the target, the way back still subscribed',
      clock,
      lagAtSwitchMs,
    });
  }
}

/**
 * A resumed switch-back whose traffic already moved to the source: only forward. The target
 * is frozen (again), what it still had drained into the source, the way back disabled,
 * sequences moved forward, the source opened, clients released, the target fenced and
 * forward replication started if the dead process pinned it.
 */
async function finishSwitchBackForward(context: StepContext, platform: PostgresPlatform, wayBack: PostgresWayBack, settings: PostgresFlowSettings, sourceClient: PgClient, targetClient: PgClient): Promise<Facts> {
  const back = backWay(settings);
  context.log.warn('resuming a switch-back after traffic moved to the source: finishing it (the target is never reopened now)');
  await wayBack.setTargetReadOnly(context, true);
  await terminateSessions(targetClient, settings.appUsers);
  const sub = await pgRow<{ subenabled: boolean }>(sourceClient, 'SELECT subenabled FROM pg_subscription WHERE subname = $1', [back.subscription]);
  if (sub?.subenabled) {
    const lsn = await currentLsn(targetClient);
    if (!(await waitForWalsender(targetClient, back.subscription, lsn, settings.catchUpTimeoutMs))) context.log.warn(`the source did not confirm the target's last WAL position ${lsn}; verification will tell`);
    await sourceClient.query(`ALTER SUBSCRIPTION ${quoteIdent(back.subscription)} DISABLE`);
  }
  const sequences = await copySequencesForward(targetClient, sourceClient);
  await platform.setSourceReadOnly(context, false);
  await wayBack.unfenceSource(context);
  await wayBack.switchEndpointBack(context, settings.database);
  await platform.resumeClients(context);
  const fenceFacts = await wayBack.fenceTarget(context);
  if (context.facts.forwardStartLsn) await startWay(targetClient, sourceClient, forwardWay(settings), settings.catchUpTimeoutMs);
  else context.log.warn('forward replication was not pinned before traffic moved back: switching forth again needs a new run');
  return { ...fenceFacts, switchResumed: true, sequencesCopied: sequences, forwardReplication: context.facts.forwardStartLsn ? 'running' : 'not built', lagAtSwitchMs: null };
}
