import { closePg, connectPg, pgRow, quoteIdent, type PgClient } from '../engines/postgres/connection';
import { sequenceStates, tableChecksums } from '../engines/postgres/checksum';
import { currentLsn, hasApplicationSession, userTables, waitUntilApplied, walsenderPosition } from '../engines/postgres/server';
import type { PostgresPlatform, PostgresWayBack } from '../platforms/postgres-platform';
import { z } from 'zod';
import type { FactsSchema } from '../runbook/facts-schema';
import { AbortRun, PreconditionFailed, type Facts, type Runbook, type Step, type StepContext } from '../runbook/step';
import { ResourceKey } from '../runbook/resources';
import { nowMs, wallClockMs } from '../util/time';
import { checksumOutcome } from '../verify/checksums';
import { closeToApplicationAndWait, openConnection, openToApplication, PhaseClock, POSTGRES_SWITCH_FACTS, type PostgresFlowSettings } from './postgres-common';
import { APP_RECONNECT_GRACE_MS, untilApplicationIsBack } from './app-reconnect';
import { pinnedAt, SNAPSHOT_SQL } from './postgres-logical';
import type { WayBackCommand } from '../runbook/way-back-command';
import { SWITCH_BACK, SWITCH_FORTH, switchAgainFacts, type PostgresSwitchDirection, type Side } from '../runbook/postgres-switch-direction';
import { backWay, copySequencesForward, forwardWay, prepareWay, removeWay, startWay, wayHealth, type ReplicationWay } from './postgres-replication-way';

/** The way named by a direction (forward: source -> target; back: target -> source). */
const wayOf = (which: 'forward' | 'back', settings: PostgresFlowSettings): ReplicationWay => (which === 'forward' ? forwardWay(settings) : backWay(settings));

/** The switch-time snapshots of a switch again (the side frozen, the side that opens). */
const snapshotKey = (direction: PostgresSwitchDirection, side: Side) => new ResourceKey<PgClient>(`postgres.snapshot.${direction.name}.${side}`);

/**
 * The platform's operations on each side: the forward ones for the source's freeze and the
 * target's endpoint, the way back's for the other side.
 */
function sidesOf(platform: PostgresPlatform, wayBack: PostgresWayBack, settings: PostgresFlowSettings) {
  return {
    setReadOnly: (context: StepContext, side: Side, readOnly: boolean, options?: { staged?: boolean }) =>
      side === 'source' ? platform.setSourceReadOnly(context, readOnly, options) : wayBack.setTargetReadOnly(context, readOnly, options),
    /** The freeze's slow half, not yet in effect (undefined: the platform freezes in one act). */
    stageReadOnly: (context: StepContext, side: Side): Promise<void> | undefined => (side === 'source' ? platform.stageSourceReadOnly?.(context) : wayBack.stageTargetReadOnly?.(context)),
    /** The application roles may log in there again (the server may still be frozen). */
    unfence: (context: StepContext, side: Side, client: PgClient) => (side === 'source' ? wayBack.unfenceSource(context) : openToApplication(client, settings.appUsers)),
    fence: (context: StepContext, side: Side) => (side === 'source' ? platform.fenceSource(context) : wayBack.fenceTarget(context)),
    switchEndpoint: (context: StepContext, side: Side) => (side === 'source' ? wayBack.switchEndpointBack(context, settings.database) : platform.switchEndpoint(context, settings.database)),
    /** How the other side's subscription dials `side` (as the sender of a way). */
    address: (side: Side) => (side === 'source' ? platform.sourceForSubscription(settings.database) : wayBack.targetForSubscription(settings.database)),
    describe: {
      freeze: (side: Side) => (side === 'source' ? platform.describe.freeze() : wayBack.describe.freezeTarget()),
      switchEndpoint: (side: Side) => (side === 'source' ? wayBack.describe.switchEndpointBack() : platform.describe.switchEndpoint()),
      fence: (side: Side) => (side === 'source' ? platform.describe.fence() : wayBack.describe.fenceTarget()),
    },
  };
}

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
  return postgresSwitchAgainRunbook(platform, settings, SWITCH_BACK);
}

/**
 * `switch-forth RUN_ID`: after a switch-back, traffic to the target again by the same switch —
 * freeze the source, wait until the target applied its final WAL position, sequences source ->
 * target, the way back made again and pinned at the target's position, open the target, move
 * the pooler, resume — then verify and remove the forward replication. Afterwards
 * `switch-back RUN_ID` works again. Its own run; refused unless traffic is on the source.
 */
export function postgresSwitchForthRunbook(platform: PostgresPlatform, settings: PostgresFlowSettings): Runbook {
  return postgresSwitchAgainRunbook(platform, settings, SWITCH_FORTH);
}

/** A WAL position as PostgreSQL prints it (`0/16B3748`). */
const LSN = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, 'not a WAL position (like 0/16B3748)');

/**
 * The facts a resumed switch back (or forth) decides on: whether it froze the side traffic
 * leaves and left it frozen, whether the endpoint began to move, where the way for the opposite
 * switch was pinned (wall-clock ms, WAL positions). The positions are journaled in the line
 * that says the endpoint began to move: a journal with that line and without them was edited.
 */
export function postgresSwitchAgainFacts(direction: PostgresSwitchDirection): FactsSchema {
  const fact = switchAgainFacts(direction);
  return {
    shape: {
      [fact.startedAt]: z.number(),
      [fact.frozenAt]: z.number(),
      [fact.reopenedAt]: z.number().nullable(),
      [fact.endpointMoveStartedAt]: z.number(),
      [fact.caughtUpLsn]: LSN,
      [fact.nextStartLsn]: LSN,
      [fact.nextRunningAt]: z.number(),
      [fact.nextState]: z.enum(['running', 'not built']),
      endpointMovedAt: z.number(),
      switchStartedAt: z.number(),
      switchEndedAt: z.number(),
    },
    requiredWith: [{ fact: fact.endpointMoveStartedAt, required: [fact.caughtUpLsn, fact.nextStartLsn] }],
  };
}

/**
 * The forward (logical) run's facts that `switch-back`, `switch-forth` and `complete RUN_ID`
 * read from its journal before anything runs: the forward switch's own, the way back it built
 * (its replication origin) and the old source's groups before the fence (AWS).
 */
export const POSTGRES_FORWARD_FACTS_READ_BY_WAY_BACK: FactsSchema = {
  shape: {
    ...POSTGRES_SWITCH_FACTS.shape,
    wayBackOrigin: z.string().min(1),
    sourcePreviousSecurityGroupIds: z.array(z.string().min(1)),
  },
};

/**
 * The facts a resumed complete decides on: the way back removed, the old source deleted (a
 * `"false"` where a boolean belongs reads as true).
 */
export const POSTGRES_COMPLETE_FACTS: FactsSchema = {
  shape: {
    wayBackRemoved: z.boolean(),
    sourceDeleted: z.boolean(),
  },
};

function postgresSwitchAgainRunbook(platform: PostgresPlatform, settings: PostgresFlowSettings, direction: PostgresSwitchDirection): Runbook {
  const source = (context: StepContext) => openConnection(context, 'source', () => platform.source(settings.database));
  const target = (context: StepContext) => openConnection(context, 'target', () => platform.target(context.facts, settings.database));
  const sideClient = (side: Side) => (side === 'source' ? source : target);
  const { from, to } = direction;
  const along = wayOf(direction.along, settings);
  const next = wayOf(direction.next, settings);
  const fact = switchAgainFacts(direction);
  const back = direction.name === 'back';
  const verb = back ? 'switch-back' : 'switch-forth';
  const Verb = back ? 'Switch-back' : 'Switch-forth';
  const wayName = back ? 'the way back (replication target -> source)' : 'the way forth (replication source -> target)';
  const wayBack = platform.wayBack;
  const sides = wayBack ? sidesOf(platform, wayBack, settings) : undefined;
  const builtBy = back ? 'the way back is built by postgres.switch; complete removes it' : 'forward replication is made again by switch-back and removed by switch-forth';

  const preflight: Step = {
    id: `postgres.${verb}.preflight`,
    kind: 'check',
    describe: () => [
      `Check: traffic is on the ${from} (${platform.kind}); ${wayName} (subscription ${along.subscription} on the ${to}, slot ${along.slot} on the ${from},`,
      `built by ${back ? 'postgres.switch' : 'switch-back'}) is enabled and streaming; otherwise refuse, saying why, with nothing changed.`,
    ],
    async apply(context) {
      const refuse = (message: string) => (context.dryRun ? new PreconditionFailed(message) : new AbortRun(message));
      if (!wayBack) throw refuse(`The ${platform.kind} platform cannot switch PostgreSQL back yet (it builds no way back): traffic stays on the ${from}.`);
      if (context.facts[fact.frozenAt] != null) return {}; // a resumed switch decides from the actual state
      const state = platform.switchPointState ? await platform.switchPointState(context, settings.database) : undefined;
      if (state && state.pointsAt !== from) {
        throw refuse(`${Verb} refused: traffic is not on the ${from} (the switch point sends it to the ${state.pointsAt}); nothing to ${back ? 'switch back' : 'switch forth'}. Nothing was changed.`);
      }
      const health = await wayHealth(await sideClient(to)(context), await sideClient(from)(context), along, builtBy);
      if (health.problem) {
        throw refuse(
          `${Verb} refused: ${wayName} is broken: ${health.problem}. The ${to} would miss writes made on the ${from}. ` +
            `Nothing was changed; traffic stays on the ${from}. Fix it (pg_stat_subscription on the ${to}, the log of both servers), then run ${verb} again.`,
        );
      }
      return {};
    },
  };

  const catchUp: Step = {
    id: `postgres.${verb}.catch-up`,
    kind: 'action',
    describe: () => [`Wait until the ${to} has applied the ${from}'s current WAL position within ${settings.lagThresholdMs} ms (gate before the ${back ? 'switch back' : 'switch forth'}).`],
    async apply(context) {
      const fromClient = await sideClient(from)(context);
      const toClient = await sideClient(to)(context);
      const deadline = nowMs() + settings.catchUpTimeoutMs;
      for (;;) {
        const lsn = await currentLsn(fromClient);
        const started = nowMs();
        const remaining = deadline - started;
        if (remaining <= 0) throw new AbortRun(`The ${to} did not get within ${settings.lagThresholdMs} ms of the ${from} in ${settings.catchUpTimeoutMs} ms; traffic stays on the ${from}. Resume later with --resume`);
        const reached = await waitUntilApplied(fromClient, toClient, along.subscription, lsn, Math.min(remaining, Math.max(settings.lagThresholdMs * 5, 10000)), 5);
        const lag = nowMs() - started;
        if (reached && lag <= settings.lagThresholdMs) return { lagBeforeSwitchMs: Math.round(lag) };
        context.log.info(`${to} ${reached ? `${Math.round(lag)} ms` : 'more than 10 s'} behind the ${from}; waiting`);
      }
    },
  };

  const switchAgain: Step = {
    id: `postgres.${verb}`,
    kind: 'action',
    irreversible: true,
    hookBefore: 'before-switch',
    hookAfter: 'after-switch',
    describe: () => [
      `Before the window: ${back ? 'forward replication' : 'the way back'} made again, disabled (publication ${next.publication} and slot ${next.slot} on the ${to}, subscription ${next.subscription} on the ${from}, copy_data = false).`,
      ...(to === 'source' ? (platform.wayBack?.describe.prepareSwitchBack?.() ?? []) : []),
      `Within ${settings.switchTimeoutMs} ms (--switch-timeout), else abort, reopen the ${from} and keep traffic there:`,
      ...platform.describe.pause(),
      ...(sides ? sides.describe.freeze(from) : []),
      `close the ${from} to the application: ${settings.appUsers.join(', ')} NOLOGIN there, their sessions ended and gone (READ WRITE overrides the read-only default; LOGIN comes back if the switch aborts); reopen the ${to}'s server default (its roles stay NOLOGIN until the repoint);`,
      `read the ${from}'s pg_current_wal_lsn(); wait until the walsender of ${along.subscription} reports it written (applied on the ${to});`,
      `copy every sequence value ${from} -> ${to}, forward only; REPEATABLE READ snapshots of both sides (verified later);`,
      `pin ${next.subscription} on the ${from} to the ${to}'s current WAL position; the app roles may log in to the ${to} again;`,
      ...(sides ? sides.describe.switchEndpoint(to) : []),
      ...platform.describe.resume(to),
      `wait (at most ${APP_RECONNECT_GRACE_MS} ms) until an application session is on the ${to}, so that what follows does not compete with the application's reconnect;`,
      ...(sides ? sides.describe.fence(from) : []),
      `disable ${along.subscription}; enable ${next.subscription} and wait until it streams (so one can ${fact.oppositeCommand} again); the ${from} stays frozen and fenced.`,
    ],
    precondition: async (context) => {
      if (context.facts[fact.frozenAt] != null) return;
      const health = await wayHealth(await sideClient(to)(context), await sideClient(from)(context), along, builtBy);
      if (health.problem) throw new AbortRun(`${Verb} not started: ${health.problem}; the ${from} was never frozen and keeps the traffic. Fix it, then --resume`);
    },
    apply: (context) => switchAgainWrites(context, direction, platform, sides!, settings, sideClient),
  };

  const verify: Step = {
    id: `postgres.${verb}.verify.checksums`,
    kind: 'action',
    // Its snapshots were taken inside the switch, in this process: an interrupt must not drop that proof.
    runThroughInterrupt: true,
    describe: () => [`Compare per-table checksums of the frozen ${from} and of the ${to}, both from snapshots taken inside the ${back ? 'switch back' : 'switch forth'} (the ${to} must not be behind the ${from}).`],
    async apply(context) {
      const frozenSnapshot = context.resources.get(snapshotKey(direction, from));
      const openedSnapshot = context.resources.get(snapshotKey(direction, to));
      if (!frozenSnapshot || !openedSnapshot) {
        return { checksumsVerified: false, checksumsNotVerifiedReason: `rows not compared: the switch-time snapshots lived in the process that switched ${direction.name}, which ended before verification (this run was resumed)` };
      }
      try {
        const [frozenSums, openedSums] = await Promise.all([tableChecksums(frozenSnapshot), tableChecksums(openedSnapshot)]);
        const [frozenSequences, openedSequences] = await Promise.all([sequenceStates(frozenSnapshot), sequenceStates(openedSnapshot)]);
        // Compared as the move's "source" (the side frozen) and "target" (the side that opened).
        return checksumOutcome(frozenSums, openedSums, context.facts, { source: frozenSequences, target: openedSequences });
      } finally {
        for (const [side, client] of [[from, frozenSnapshot], [to, openedSnapshot]] as const) {
          await client.query('ROLLBACK').catch(() => undefined);
          await context.resources.release(snapshotKey(direction, side));
        }
      }
    },
  };

  // The way the switch came along is retired: the way for the opposite switch replaces it.
  const removeAlong = removeWayStep(source, target, settings, back ? 'postgres.switch-back.way-back.remove' : 'postgres.switch-forth.forward.remove', direction.along);

  return {
    flow: `postgres.${verb}`,
    summary: [back ? `back to: ${platform.describe.source()}` : `forth to: ${platform.describe.target()} (from ${platform.describe.source()})`, `platform: ${platform.kind}`, `database: ${settings.database}`],
    facts: postgresSwitchAgainFacts(direction),
    steps: [preflight, catchUp, switchAgain, verify, removeAlong],
  };
}

/**
 * `complete RUN_ID`: the move is final. The way back (subscription on the source, slot and
 * publication on the target, the replication role there) is dropped: after it, switch-back
 * is no longer possible. Only with `--delete-old` is the old source deleted. Refused while
 * traffic is on the source (after a switch back). Resumable from its journal: a step done is
 * not run again, so a resume after the delete never connects to the deleted source.
 */
export function postgresCompleteRunbook(platform: PostgresPlatform, settings: PostgresFlowSettings, options: { deleteOld: boolean } = { deleteOld: false }): Runbook {
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
  const deleteSource: Step = {
    id: 'postgres.source.delete',
    kind: 'action',
    describe: () =>
      options.deleteOld
        ? (platform.wayBack?.describe.deleteSource() ?? ['(this platform cannot delete the old source)'])
        : ['Keep the old source (pass --delete-old to delete it); it stays frozen and fenced for the application roles.'],
    async apply(context) {
      if (!options.deleteOld) {
        context.log.info('old source kept (frozen, fenced); to delete it: complete RUN_ID --execute --delete-old');
        return { sourceDeleted: false };
      }
      if (!platform.wayBack) throw new Error(`The ${platform.kind} platform cannot delete the old source`);
      // This run's own sessions end first (the last step: nothing needs them after it).
      for (const failure of await context.resources.disposeAll()) context.log.warn(failure.message);
      return platform.wayBack.deleteSource(context);
    },
  };
  return {
    flow: 'postgres.complete',
    summary: [`retire the way back to: ${platform.describe.source()}`, `platform: ${platform.kind}`, `database: ${settings.database}`, `delete the old source: ${options.deleteOld ? 'yes (--delete-old)' : 'no'}`],
    facts: POSTGRES_COMPLETE_FACTS,
    steps: [preflight, removeWayStep(source, target, settings, 'postgres.way-back.remove'), deleteSource],
  };
}

/**
 * Drop one way of the run: its subscription on the receiving side (detached from its slot), the
 * slot and publication on the sending side, and the replication role there (each side's role
 * is made by the way it sends on).
 */
function removeWayStep(source: (c: StepContext) => Promise<PgClient>, target: (c: StepContext) => Promise<PgClient>, settings: PostgresFlowSettings, id: string, which: 'forward' | 'back' = 'back'): Step {
  const way = wayOf(which, settings);
  const name = which === 'back' ? 'the way back' : 'forward replication';
  // The way back sends from the target to the source; forward replication the other way.
  const sender: Side = which === 'back' ? 'target' : 'source';
  const receiver: Side = sender === 'target' ? 'source' : 'target';
  const client = (side: Side) => (side === 'source' ? source : target);
  return {
    id,
    kind: 'action',
    describe: () => [`Drop ${name}: subscription ${way.subscription} on the ${receiver} (detached from its slot), slot ${way.slot} and publication ${way.publication} on the ${sender}, role ${settings.replicationUser} on the ${sender}.`],
    async apply(context) {
      const senderClient = await client(sender)(context);
      const removed = await removeWay(await client(receiver)(context), senderClient, way);
      await senderClient.query(`DROP ROLE IF EXISTS ${quoteIdent(settings.replicationUser)}`);
      return { [which === 'back' ? 'wayBackRemoved' : 'forwardReplicationRemoved']: true, ...removed };
    },
    async verify(context) {
      const slot = await pgRow(await client(sender)(context), 'SELECT 1 AS x FROM pg_replication_slots WHERE slot_name = $1', [way.slot]);
      if (slot) throw new Error(`slot ${way.slot} still exists on the ${sender}: drop it (SELECT pg_drop_replication_slot('${way.slot}')) or it keeps WAL forever`);
      const subscription = await pgRow(await client(receiver)(context), 'SELECT 1 AS x FROM pg_subscription WHERE subname = $1', [way.subscription]);
      if (subscription) throw new Error(`subscription ${way.subscription} still exists on the ${receiver}: DROP SUBSCRIPTION ${way.subscription}`);
    },
  };
}

/**
 * The switch back (or forth), `from` -> `to`. Ordering (why), mirroring postgres.switch:
 * 1. The way for the opposite switch (`next`, `to` -> `from`) is made again before the window
 *    (a slot waits for running transactions: too slow inside it), disabled, so it carries
 *    nothing until pinned.
 * 2. PAUSE, freeze the `from` side, close it to the app (NOLOGIN, sessions ended and gone); the `to` side's server
 *    default is reopened now (its reload is asynchronous; the app roles stay NOLOGIN there, so
 *    nobody writes to it until the repoint).
 * 3. The `from` side's final LSN is read after its freeze; `to` has applied it when the walsender
 *    of the way the switch goes along reports it written.
 * 4. Sequences `from` -> `to` forward only, snapshots of both sides, `next` pinned to the `to`
 *    side's position: both sides are frozen and equal. The way along is disabled after the
 *    window (it has nothing left to apply).
 * 5. LOGIN on `to`, repoint, RESUME: past the repoint only forward is safe.
 */
async function switchAgainWrites(
  context: StepContext,
  direction: PostgresSwitchDirection,
  platform: PostgresPlatform,
  sides: ReturnType<typeof sidesOf>,
  settings: PostgresFlowSettings,
  sideClient: (side: Side) => (c: StepContext) => Promise<PgClient>,
): Promise<Facts> {
  const { from, to } = direction;
  const along = wayOf(direction.along, settings);
  const next = wayOf(direction.next, settings);
  const fact = switchAgainFacts(direction);
  const fromClient = await sideClient(from)(context);
  const toClient = await sideClient(to)(context);
  if (context.facts[fact.frozenAt] != null && context.facts[fact.reopenedAt] == null) {
    const state = platform.switchPointState ? await platform.switchPointState(context, settings.database) : undefined;
    if (to === 'source') await platform.wayBack?.prepareSwitchBack?.(context);
    if (state?.pointsAt === to || (!state && context.facts[fact.endpointMoveStartedAt] != null)) return finishSwitchAgainForward(context, direction, platform, sides, settings, fromClient, toClient);
    // Traffic never moved: the `to` side frozen and fenced again as the switch before left it
    // (the dead process may have reopened its server default and let the app roles log in),
    // only then the `from` side reopened — never both writable — and the switch starts again.
    await sides.setReadOnly(context, to, true);
    await sides.fence(context, to);
    await sides.unfence(context, from, fromClient);
    await sides.setReadOnly(context, from, false);
    await toClient.query(`ALTER SUBSCRIPTION ${quoteIdent(along.subscription)} ENABLE`).catch(() => undefined);
    await context.record({ [fact.reopenedAt]: wallClockMs() });
    context.log.warn(`resuming a switch ${direction.name} that froze the ${from} but never moved traffic: switching ${direction.name} again`);
  }
  // Back to the old source: what takes minutes (AWS: the fence lifted) before the window.
  if (to === 'source') await platform.wayBack?.prepareSwitchBack?.(context);
  const nextOrigin = await prepareWay({
    way: next,
    sender: toClient,
    receiver: fromClient,
    // Every table of the `to` side (this run has no preflight of its own; the way along carried the same).
    tables: (await userTables(toClient)).map(({ schema, name }) => ({ schema, name })),
    senderAddress: await sides.address(to),
    settings,
    replicationRoleSql: platform.replicationRoleSql.bind(platform),
  });
  const endpointOf = (side: Side) => (side === 'source' ? platform.source(settings.database) : platform.target(context.facts, settings.database));
  for (const side of [from, to]) await context.resources.release(snapshotKey(direction, side));
  const fromSnapshot = context.resources.register(snapshotKey(direction, from), await connectPg(await endpointOf(from)), closePg);
  const toSnapshot = context.resources.register(snapshotKey(direction, to), await connectPg(await endpointOf(to)), closePg);
  await walsenderPosition(fromClient, along.subscription);
  await currentLsn(toClient);
  await platform.prepareSwitch(context, settings.database);

  const clock = new PhaseClock(settings.switchTimeoutMs);
  let paused = false;
  let frozen = false;
  /** The `from` side's read-only default was written (not yet in effect): an abort resets it. */
  let staged = false;
  let toReopened = false;
  let repointed = false;
  let lagAtSwitchMs: number | undefined;
  const Verb = direction.name === 'back' ? 'Switch-back' : 'Switch-forth';
  const overBudget = (what: string) => new AbortRun(`${Verb} aborted: ${what} within --switch-timeout ${settings.switchTimeoutMs} ms. The ${from} was reopened for writes and traffic stays on it.`);
  try {
    // The freeze's slow half beside the pause, in effect only at the reload after it (as the forward switch).
    const staging = sides.stageReadOnly(context, from);
    if (staging) {
      staged = true;
      staging.catch(() => undefined);
    }
    paused = await platform.pauseClients(context, clock.remaining());
    clock.mark('pause');
    if (!paused) throw overBudget('the pooler could not pause (a transaction stayed open)');
    if (staging) {
      await staging;
      clock.mark('stageFreeze');
    }
    await sides.setReadOnly(context, from, true, { staged: staging !== undefined });
    frozen = true;
    await context.record({ [fact.startedAt]: clock.startedAt, [fact.frozenAt]: wallClockMs(), [fact.reopenedAt]: null });
    clock.mark('freeze');
    // The `to` side's server default reopens on its own admin session meanwhile (its reload is
    // asynchronous: started early, in effect well before the repoint).
    // The `from` side closed to the application, not only read-only by default (a session that asks
    // for READ WRITE, or bypasses the pooler, would still commit): gone before its final position is read.
    const [{ ended, gone }] = await Promise.all([closeToApplicationAndWait(fromClient, settings.appUsers, clock.remaining()), sides.setReadOnly(context, to, false)]);
    toReopened = true;
    clock.mark('endSessions');
    if (!gone) throw overBudget(`the sessions of ${settings.appUsers.join(', ')} on the ${from} did not end`);
    const finalLsn = await currentLsn(fromClient);
    const waitStarted = nowMs();
    const reached = await waitUntilApplied(fromClient, toClient, along.subscription, finalLsn, clock.remaining());
    lagAtSwitchMs = nowMs() - waitStarted;
    clock.mark(`${to}CatchUp`);
    if (!reached) throw overBudget(`the ${to} did not apply the ${from}'s final WAL position ${finalLsn}`);
    // Three sessions at once: sequences `from` -> `to` (forward only), the two switch-time
    // snapshots, and the next way pinned to the `to` side's position. The way along has nothing
    // left to apply (the `from` side is frozen, its app sessions ended): it is disabled after
    // the window, so nothing it could still apply would be sent back again.
    const [sequences, , nextStartLsn] = await Promise.all([
      copySequencesForward(fromClient, toClient),
      fromSnapshot.query(SNAPSHOT_SQL),
      toSnapshot.query(SNAPSHOT_SQL).then(() => pinnedAt(toSnapshot, fromClient, nextOrigin)),
    ]);
    clock.mark('sequencesAndPin');
    if (clock.remaining() <= 0) throw overBudget(`the switch ${direction.name} did not reach the repoint`);
    await sides.unfence(context, to, toClient);
    repointed = true;
    await context.record({ [fact.caughtUpLsn]: finalLsn, [fact.nextStartLsn]: nextStartLsn, sequencesCopied: sequences, [fact.endpointMoveStartedAt]: wallClockMs() });
    await sides.switchEndpoint(context, to);
    clock.mark('switchEndpoint');
    const endpointMovedAt = wallClockMs();
    await platform.resumeClients(context);
    paused = false;
    clock.mark('resume');
    const switchDurationMs = clock.elapsed();
    const switchEndedAt = wallClockMs();
    await context.record({ endpointMovedAt, switchEndedAt });
    context.log.info(`switched ${direction.name} in ${switchDurationMs} ms (ended ${ended} session(s), the ${to} applied the ${from}'s final LSN in ${lagAtSwitchMs.toFixed(1)} ms)`);
    // As after the forward switch: what follows waits for the application's reconnect, not beside it.
    const appReconnectedAfterMs = await untilApplicationIsBack(() => hasApplicationSession(toClient, settings.appUsers));
    await toClient.query(`ALTER SUBSCRIPTION ${quoteIdent(along.subscription)} DISABLE`);
    const fenceFacts = await sides.fence(context, from);
    await startWay(fromClient, toClient, next, settings.catchUpTimeoutMs);
    await context.record({ [fact.nextRunningAt]: wallClockMs() });
    return {
      ...fenceFacts,
      appReconnectedAfterMs,
      finalLsn,
      [fact.nextStartLsn]: nextStartLsn,
      [fact.nextState]: 'running',
      lagAtSwitchMs: Math.round(lagAtSwitchMs * 10) / 10,
      switchDurationMs,
      switchStartedAt: clock.startedAt,
      switchEndedAt,
      switchPhasesMs: clock.phases,
      sessionsEnded: ended,
      sequencesCopied: sequences,
    };
  } catch (failure) {
    if (repointed) {
      if (paused) await platform.resumeClients(context).catch(() => undefined);
      throw failure;
    }
    await fromSnapshot.query('ROLLBACK').catch(() => undefined);
    await toSnapshot.query('ROLLBACK').catch(() => undefined);
    if (toReopened) await sides.setReadOnly(context, to, true);
    // Written beside the pause but never put into effect: reset, or the next reload would freeze the `from` side under its traffic.
    if (staged && !frozen) await sides.setReadOnly(context, from, false);
    if (frozen) {
      // The app roles log in to the `from` side again (closed right after its freeze), then it takes writes.
      await sides.unfence(context, from, fromClient);
      await sides.setReadOnly(context, from, false);
      await context.record({ [fact.reopenedAt]: wallClockMs() });
    }
    await toClient.query(`ALTER SUBSCRIPTION ${quoteIdent(along.subscription)} ENABLE`).catch(() => undefined);
    if (paused) await platform.resumeClients(context);
    context.log.warn(`switch ${direction.name} aborted: the ${from} reopened for writes, traffic stays on the ${from}, the ${to} still subscribed`);
    if (failure instanceof AbortRun) {
      throw new AbortRun(failure.message, { abortedAt: wallClockMs(), switchStartedAt: clock.startedAt, switchPhasesMs: clock.phases, lagAtSwitchMs: lagAtSwitchMs === undefined ? null : Math.round(lagAtSwitchMs) });
    }
    throw failure;
  }
}

/**
 * A resumed switch back (or forth) whose traffic already moved to the `to` side: only forward.
 * The `from` side is frozen (again), what it still had drained into `to`, the way along
 * disabled, sequences moved forward, `to` opened, clients released, `from` fenced and the
 * way for the opposite switch started if the dead process pinned it.
 */
async function finishSwitchAgainForward(
  context: StepContext,
  direction: PostgresSwitchDirection,
  platform: PostgresPlatform,
  sides: ReturnType<typeof sidesOf>,
  settings: PostgresFlowSettings,
  fromClient: PgClient,
  toClient: PgClient,
): Promise<Facts> {
  const { from, to } = direction;
  const along = wayOf(direction.along, settings);
  const fact = switchAgainFacts(direction);
  context.log.warn(`resuming a switch ${direction.name} after traffic moved to the ${to}: finishing it (the ${from} is never reopened now)`);
  await sides.setReadOnly(context, from, true);
  await closeToApplicationAndWait(fromClient, settings.appUsers, settings.switchTimeoutMs);
  const sub = await pgRow<{ subenabled: boolean }>(toClient, 'SELECT subenabled FROM pg_subscription WHERE subname = $1', [along.subscription]);
  if (sub?.subenabled) {
    const lsn = await currentLsn(fromClient);
    if (!(await waitUntilApplied(fromClient, toClient, along.subscription, lsn, settings.catchUpTimeoutMs))) context.log.warn(`the ${to} did not confirm the ${from}'s last WAL position ${lsn}; verification will tell`);
    await toClient.query(`ALTER SUBSCRIPTION ${quoteIdent(along.subscription)} DISABLE`);
  }
  const sequences = await copySequencesForward(fromClient, toClient);
  await sides.setReadOnly(context, to, false);
  await sides.unfence(context, to, toClient);
  await sides.switchEndpoint(context, to);
  await platform.resumeClients(context);
  const fenceFacts = await sides.fence(context, from);
  const pinned = context.facts[fact.nextStartLsn] != null;
  if (pinned) await startWay(fromClient, toClient, wayOf(direction.next, settings), settings.catchUpTimeoutMs);
  else context.log.warn(`the way for the opposite switch was not pinned before traffic moved: to ${fact.oppositeCommand} again needs a new run`);
  return { ...fenceFacts, switchResumed: true, sequencesCopied: sequences, [fact.nextState]: pinned ? 'running' : 'not built', lagAtSwitchMs: null };
}

/** The runbook of a way-back command on a platform (the sandbox's, AWS's, a recording stand-in). */
export function postgresWayBackRunbook(command: WayBackCommand, platform: PostgresPlatform, settings: PostgresFlowSettings, options: { deleteOld: boolean }): Runbook {
  if (command === 'complete') return postgresCompleteRunbook(platform, settings, options);
  return command === 'switch-forth' ? postgresSwitchForthRunbook(platform, settings) : postgresSwitchBackRunbook(platform, settings);
}
