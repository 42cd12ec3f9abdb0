import { parallelCopy } from '../engines/postgres/parallel-copy';
import { temporaryFolder } from '../engines/postgres/copy';
import { closePg, connectPg, pgRow, quoteIdent } from '../engines/postgres/connection';
import { currentLsn, terminateSessions } from '../engines/postgres/server';
import type { PostgresPlatform } from '../platforms/postgres-platform';
import { JournalWriteError, recordingPastJournalFailures } from '../runbook/journal';
import { ResourceKey } from '../runbook/resources';
import { AbortRun, type Facts, type Runbook, type Step, type StepContext } from '../runbook/step';
import { nowMs, wallClockMs } from '../util/time';
import { ChecksumsDiffer } from '../verify/checksums';
import {
  assertTargetEmpty,
  closeToApplication,
  closeToApplicationAndWait,
  createTargetStep,
  openConnection,
  openToApplication,
  PhaseClock,
  POSTGRES_SWITCH_FACTS,
  preflightStep,
  verifyChecksumsStep,
  type PostgresFlowSettings,
  POSTGRES_SWITCH_STEP,
} from './postgres-common';

/**
 * The clock started at the freeze (the downtime runs until the pooler resumes).
 * Its presence also means "frozen by this process": a resumed process has none.
 */
const DOWNTIME = new ResourceKey<PhaseClock>('postgres.dump.clock');
/** Set once the switch began moving the endpoint: from then on nothing reopens the source. */
const MOVING = new ResourceKey<true>('postgres.dump.moving');

/**
 * Seed operation 2 by dump and restore (what seed 001 did, done right): freeze the source,
 * copy it with the project's streaming copy (lib/engines/postgres/parallel-copy.ts: schema, parallel
 * COPY streams in one snapshot, indexes after the load), verify, switch the pooler, fence.
 * Writes are refused for the whole copy: the downtime is the copy time, and it is reported.
 * (seed 001's `pg_dump | pg_restore` cannot work: a plain-format dump is SQL for psql, and a
 * parallel restore needs a seekable file, not a pipe.)
 */
export function postgresDumpRunbook(platform: PostgresPlatform, settings: PostgresFlowSettings): Runbook {
  const source = (context: StepContext) => openConnection(context, 'source', () => platform.source(settings.database));
  const target = (context: StepContext) => openConnection(context, 'target', () => platform.target(context.facts, settings.database));
  const createTarget = createTargetStep(platform, settings);

  /** Freeze (idempotent): read-only for new transactions, then end the app's transactions begun writable. */
  const freezeSource = async (context: StepContext): Promise<Facts> => {
    const clock = new PhaseClock(settings.copyTimeoutMs);
    context.resources.set(DOWNTIME, clock);
    await platform.setSourceReadOnly(context, true);
    clock.mark('freeze');
    const ended = await terminateSessions(await source(context), settings.appUsers, { onlyInTransaction: true });
    clock.mark('endSessions');
    try {
      await context.record({ sourceFrozenAt: wallClockMs(), sourceReopenedAt: null });
    } catch (failure) {
      // A journal that cannot say the source is frozen (a full disk) must not leave it frozen with nobody running.
      if (!(failure instanceof JournalWriteError)) throw failure;
      await platform.setSourceReadOnly(context, false);
      context.resources.forget(DOWNTIME);
      throw new AbortRun(`Freeze undone: ${failure.clause}. The source was reopened for writes and traffic never moved.`, { abortedAt: wallClockMs() });
    }
    return { switchStartedAt: clock.startedAt, frozenLsn: await currentLsn(await source(context)), sessionsEnded: ended };
  };

  /** Whether the source takes writes now (a fresh session: a kept one keeps the default it logged in with). */
  const sourceTakesWrites = async (): Promise<boolean> => {
    const client = await connectPg(await platform.source(settings.database));
    try {
      return (await pgRow<{ default_transaction_read_only: string }>(client, 'SHOW default_transaction_read_only'))?.default_transaction_read_only !== 'on';
    } finally {
      await closePg(client);
    }
  };

  /**
   * A target this run's earlier copy filled, never opened to traffic (the endpoint never moved):
   * dropped and created again empty, because the source it was copied from took writes since
   * (the freeze was undone). Never a target that may have served the application.
   */
  const emptyTargetCopiedEarlier = async (context: StepContext): Promise<void> => {
    const maintenance = await connectPg(await platform.target(context.facts, 'postgres'));
    try {
      await maintenance.query(`DROP DATABASE IF EXISTS ${quoteIdent(settings.database)} WITH (FORCE)`);
    } finally {
      await closePg(maintenance);
    }
    await createTarget.apply(context);
    context.log.warn(`the target's database ${settings.database} held this run's earlier copy, made stale by writes after the freeze was undone: dropped and created again, copying again`);
  };

  /**
   * Before the last comparison the source is closed to the application, not only read-only by
   * default: a transaction that asks for it (`BEGIN READ WRITE`, what an ORM sends for a writable
   * transaction) overrides `default_transaction_read_only`, and one the pooler's PAUSE waited for
   * would commit after the checksums, on a source about to be left. The app roles lose LOGIN,
   * their sessions end (an open transaction rolls back, never acknowledged), and the comparison
   * starts once they are gone. Reads stop too from here until the pooler resumes on the target.
   */
  const closeSourceToApplication = async (context: StepContext): Promise<Facts> => {
    const admin = await source(context);
    const { ended, gone } = await closeToApplicationAndWait(admin, settings.appUsers, settings.switchTimeoutMs);
    if (!gone) throw new Error(`Timed out after ${settings.switchTimeoutMs} ms waiting for the sessions of ${settings.appUsers.join(', ')} on the source to end`);
    context.resources.get(DOWNTIME)?.mark('closeSource');
    await context.record({ sourceClosedAt: wallClockMs() });
    return { sessionsEndedAtClose: ended };
  };

  /**
   * Undo what this process froze: the app roles may log in again (harmless where the source was
   * never closed), the source takes writes, the freeze's clock is dropped. Returns that clock.
   */
  const undoFreeze = async (context: StepContext): Promise<PhaseClock | undefined> => {
    const clock = context.resources.get(DOWNTIME);
    await openToApplication(await source(context), settings.appUsers);
    await platform.setSourceReadOnly(context, false);
    context.resources.forget(DOWNTIME);
    return clock;
  };

  /**
   * The source takes writes again (traffic never moved), journaled where the journal still takes
   * a line (a --resume reads the server's actual state otherwise). Returns the freeze's clock.
   */
  const reopenSource = async (context: StepContext): Promise<PhaseClock | undefined> => {
    const clock = await undoFreeze(context);
    try {
      await context.record({ sourceReopenedAt: wallClockMs() });
    } catch (recordFailure) {
      if (!(recordFailure instanceof JournalWriteError)) throw recordFailure;
      context.log.warn(`not journaled (${recordFailure.code}): the source's reopening; a --resume reads the server's actual state`);
    }
    return clock;
  };

  /** Undo the freeze after a failed copy: the source takes writes again, traffic never moved. */
  const reopen = async (context: StepContext, failure: unknown): Promise<never> => {
    const clock = await reopenSource(context);
    context.log.warn('copy failed: source reopened for writes, traffic stays on the source');
    throw new AbortRun(`Copy aborted, source reopened: ${(failure as Error).message}`, { abortedAt: wallClockMs(), ...(clock ? { switchStartedAt: clock.startedAt } : {}) });
  };

  const freeze: Step = {
    id: 'postgres.source.freeze',
    kind: 'action',
    hookBefore: 'before-switch',
    describe: () => [
      'Downtime starts: application writes are refused from here until the pooler resumes on the target.',
      ...platform.describe.freeze(),
      `end the sessions of ${settings.appUsers.join(', ')} still inside a transaction (it began writable).`,
    ],
    apply: (context) => freezeSource(context),
  };

  const copy: Step = {
    id: 'postgres.copy.dump',
    kind: 'action',
    describe: () => [
      `copy the frozen source into the empty target in one snapshot: schema without indexes (a small pg_dump archive without table data into a temp folder, pg_restore --section=pre-data),`,
      `then every table streamed COPY TO STDOUT | COPY FROM STDIN (binary where portable, no compression, no intermediate files), ${settings.copyJobs} tables at a time,`,
      'each as TRUNCATE + COPY FREEZE in one transaction (synchronous_commit off for the session);',
      `then indexes and constraints built in parallel (pg_restore --section=post-data -j ${settings.copyJobs}, maintenance_work_mem 1GB), large objects, sequence values;`,
      `bounded by ${settings.copyTimeoutMs} ms (past it, or on any error, the source reopens and the run aborts).`,
    ],
    async apply(context) {
      // A plan's recording endpoint makes no folder (temporaryFolder): a plan does not touch the disk.
      const folder = temporaryFolder(await platform.source(settings.database), settings.workDir, 'pg-copy-');
      const workDir = folder.path;
      try {
        // Resumed after a failed copy reopened the source: the freeze step counts as done, so the
        // copy freezes again itself. Copying a writable source would lose the writes made meanwhile.
        if (context.facts.sourceReopenedAt != null || !context.resources.has(DOWNTIME)) await freezeSource(context);
        // A copy this run made before the freeze was undone is stale: emptied, never kept.
        if (context.facts.copyStartedAt != null && context.facts.endpointMovedAt == null) await emptyTargetCopiedEarlier(context);
        else await assertTargetEmpty(await target(context), settings.database);
        await context.record({ copyStartedAt: wallClockMs() });
        const started = nowMs();
        const copied = await parallelCopy(await platform.source(settings.database), await platform.target(context.facts, settings.database), {
          jobs: settings.copyJobs,
          workDir,
          copySequences: true,
          timeoutMs: settings.copyTimeoutMs,
        });
        context.resources.get(DOWNTIME)?.mark('copy');
        return { copySchemaMs: copied.schemaMs, copyDataMs: copied.dataMs, copyIndexMs: copied.indexMs, copyStreams: copied.streams, copyDurationMs: Math.round(nowMs() - started) };
      } catch (failure) {
        return reopen(context, failure);
      } finally {
        folder.remove();
      }
    },
  };

  /** In a resumed process (not frozen by it): freeze again, and copy again when the source took writes since the copy. */
  const copyAgainIfReopened = async (context: StepContext): Promise<Facts> => {
    if (context.resources.has(DOWNTIME)) return {};
    if (!(await sourceTakesWrites())) return freezeSource(context);
    context.log.warn('the source takes writes again (an earlier attempt undid the freeze): freezing and copying again before the switch');
    return (await copy.apply(context)) ?? {};
  };

  const verify = verifyChecksumsStep(platform, settings, {
    describe: [
      `Close the source to the application: ${settings.appUsers.join(', ')} NOLOGIN there and their sessions ended and gone (a transaction that asks for READ WRITE overrides the freeze's default; reads stop too from here);`,
      'then compare per-table checksums (ordered row hash) of the frozen source and of the target before it opens;',
      'on a difference the source reopens (LOGIN back) and traffic never moves.',
    ],
  });
  const verifyOrReopen: Step = {
    ...verify,
    async apply(context) {
      try {
        // Resumed in a new process: the source frozen since the copy is frozen again (idempotent);
        // one reopened since (the freeze undone) has writes the copy lacks: copied again first.
        const copied = await copyAgainIfReopened(context);
        const closed = await closeSourceToApplication(context);
        const learned = await verify.apply(context);
        context.resources.get(DOWNTIME)?.mark('verify');
        return { ...copied, ...closed, ...learned };
      } catch (failure) {
        if (failure instanceof ChecksumsDiffer) {
          // The copy is one snapshot of the frozen source: a difference is a write the freeze let through (or a wrong copy).
          return reopen(context, new Error(`${failure.message}. The copy is one snapshot of the source taken at the freeze, so the frozen source took writes after the freeze: a client transaction that asked for READ WRITE (it overrides the freeze's default_transaction_read_only) or a session that bypassed the pooler — or the copy is wrong. Make those clients honour read-only or stop them during the move, then --resume (it freezes and copies again)`));
        }
        return reopen(context, failure);
      }
    },
  };

  const switchOver: Step = {
    id: POSTGRES_SWITCH_STEP,
    kind: 'action',
    irreversible: true,
    hookAfter: 'after-switch',
    describe: () => [...platform.describe.pause(), `open the target to the application: ${settings.appUsers.join(', ')} LOGIN there (closed since postgres.target.create);`, ...platform.describe.switchEndpoint(), ...platform.describe.resume(), 'downtime ends;', ...platform.describe.fence()],
    async apply(context): Promise<Facts> {
      // Resumed in a new process: traffic already on the target goes forward (the source stays
      // frozen); otherwise the source is frozen again and, if it took writes since, copied again.
      let again: Facts = {};
      if (!context.resources.has(DOWNTIME)) {
        const pointsAt = (await platform.switchPointState?.(context, settings.database).catch(() => undefined))?.pointsAt;
        const movedEarlier = pointsAt === 'target' || (pointsAt === undefined && context.facts.endpointMoveStartedAt != null && context.facts.sourceReopenedAt == null);
        if (movedEarlier) await platform.setSourceReadOnly(context, true);
        else again = await verifyOrReopen.apply(context) ?? {};
      }
      const downtime = context.resources.get(DOWNTIME);
      await platform.prepareSwitch(context, settings.database);
      const clock = new PhaseClock(settings.switchTimeoutMs);
      const paused = await platform.pauseClients(context, clock.remaining());
      if (!paused) throw new Error(`the pooler did not pause within ${settings.switchTimeoutMs} ms: its clients are still on the frozen source (read-only); retry with --resume`);
      clock.mark('pause');
      // Once the endpoint moved, a journal line that fails is remembered and the switch finishes.
      const { context: afterMove, journalFailure } = recordingPastJournalFailures(context);
      let finished: Facts;
      let targetOpened = false;
      let repointed = false;
      let resumed = false;
      try {
        // Opened only now, clients held and the source frozen: never both open to the application.
        targetOpened = true;
        await openToApplication(await target(context), settings.appUsers);
        clock.mark('openTarget');
        // On disk before the endpoint moves; a journal that refuses it leaves traffic where it was (undone below).
        await context.record({ targetOpenedAt: wallClockMs(), endpointMoveStartedAt: wallClockMs() });
        repointed = true;
        context.resources.set(MOVING, true);
        await platform.switchEndpoint(context, settings.database);
        clock.mark('switchEndpoint');
        await platform.resumeClients(context);
        resumed = true;
        clock.mark('resume');
        const switchEndedAt = wallClockMs();
        await afterMove.record({ endpointMovedAt: switchEndedAt });
        const fenceFacts = await platform.fenceSource(afterMove);
        const startedAt = (context.facts.switchStartedAt as number | undefined) ?? clock.startedAt;
        finished = {
          ...again,
          switchEndedAt,
          switchDurationMs: downtime ? downtime.elapsed() : switchEndedAt - startedAt,
          switchPhasesMs: { ...(downtime?.phases ?? {}), ...clock.phases },
          lagAtSwitchMs: null,
          ...fenceFacts,
        };
      } catch (failure) {
        // A repoint that failed while the pooler demonstrably still sends clients to the source moved nothing: undone below.
        const stillOnSource = repointed && !resumed && (await platform.switchPointState?.(context, settings.database).catch(() => undefined))?.pointsAt === 'source';
        if (repointed && !stillOnSource) {
          // Traffic points at the target (or may): going back could split the writes. Let clients go on.
          if (!resumed) await platform.resumeClients(context).catch(() => undefined);
          const why = failure instanceof Error ? failure.message : String(failure);
          throw new Error(`${why}. The endpoint move to the target had begun: the source stays frozen (never both sides writable); --resume reads where the endpoint points and finishes the switch forward`);
        }
        // Closed again before the source reopens: never both open to the application.
        if (targetOpened) await closeToApplication(await target(context), settings.appUsers);
        context.resources.forget(MOVING);
        await reopenSource(context);
        await platform.resumeClients(context);
        context.log.warn('switch aborted: target closed again, source reopened for writes, traffic stays on the source');
        const why =
          failure instanceof JournalWriteError
            ? failure.clause
            : stillOnSource
              ? `the endpoint change failed (${failure instanceof Error ? failure.message : String(failure)}) and the endpoint still points at the source`
              : failure instanceof Error
                ? failure.message
                : String(failure);
        throw new AbortRun(`Switch aborted: ${why}. The target was closed again; the source was reopened for writes and traffic never moved. --resume freezes and copies again (the stale copy is dropped first)`, {
          abortedAt: wallClockMs(),
          switchPhasesMs: clock.phases,
        });
      }
      // Traffic moved; a journal line refused since then is said now (the switch itself finished).
      const journalFailedAfterMove = journalFailure();
      if (journalFailedAfterMove) {
        throw new Error(`${journalFailedAfterMove.message}. The switch finished: traffic is on the target, the source stays frozen and fenced (as after every switch); what followed in the journal did not run: --resume finishes it`);
      }
      return finished;
    },
  };

  /** The run stopped between steps (journal refused a line, or Ctrl-C): a freeze this process made is undone (nobody is left to end it). */
  const onStopBetweenSteps = async (context: StepContext): Promise<string | undefined> => {
    if (!context.resources.has(DOWNTIME) || context.resources.has(MOVING)) return undefined;
    await undoFreeze(context);
    return 'The source was reopened for writes and traffic never moved; --resume freezes and copies again (a stale copy is dropped first).';
  };

  return {
    flow: 'postgres.dump',
    facts: POSTGRES_SWITCH_FACTS,
    summary: [`source: ${platform.describe.source()}`, `target: ${platform.describe.target()}${settings.targetVersion ? `, PostgreSQL ${settings.targetVersion}` : ''}`, `database: ${settings.database}`, `platform: ${platform.kind}`, 'downtime: the whole copy (writes are refused from the freeze until the pooler resumes)'],
    steps: [preflightStep(platform, settings, 'dump'), createTarget, freeze, copy, verifyOrReopen, switchOver],
    onStopBetweenSteps,
  };
}
