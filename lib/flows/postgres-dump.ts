import { parallelCopy } from '../engines/postgres/parallel-copy';
import { temporaryFolder } from '../engines/postgres/copy';
import { currentLsn, terminateSessions } from '../engines/postgres/server';
import type { PostgresPlatform } from '../platforms/postgres-platform';
import { AbortRun, type Facts, type Runbook, type Step, type StepContext } from '../runbook/step';
import { nowMs, wallClockMs } from '../util/time';
import { assertTargetEmpty, createTargetStep, openConnection, openTargetToApplication, PhaseClock, preflightStep, verifyChecksumsStep, type PostgresFlowSettings } from './postgres-common';

/** Runtime key of the clock started at the freeze (the downtime runs until the pooler resumes). */
const DOWNTIME = 'postgres.dump.clock';

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

  /** Freeze (idempotent): read-only for new transactions, then end the app's transactions begun writable. */
  const freezeSource = async (context: StepContext): Promise<Facts> => {
    const clock = new PhaseClock(settings.copyTimeoutMs);
    context.runtime.set(DOWNTIME, clock);
    await platform.setSourceReadOnly(context, true);
    clock.mark('freeze');
    const ended = await terminateSessions(await source(context), settings.appUsers, { onlyInTransaction: true });
    clock.mark('endSessions');
    context.record({ sourceFrozenAt: wallClockMs(), sourceReopenedAt: null });
    return { switchStartedAt: clock.startedAt, frozenLsn: await currentLsn(await source(context)), sessionsEnded: ended };
  };

  /** Undo the freeze after a failed copy: the source takes writes again, traffic never moved. */
  const reopen = async (context: StepContext, failure: unknown): Promise<never> => {
    await platform.setSourceReadOnly(context, false);
    context.record({ sourceReopenedAt: wallClockMs() });
    context.log.warn('copy failed: source reopened for writes, traffic stays on the source');
    const clock = context.runtime.get(DOWNTIME) as PhaseClock | undefined;
    throw new AbortRun(`Copy aborted, source reopened: ${(failure as Error).message}`, { abortedAt: wallClockMs(), switchStartedAt: clock?.startedAt ?? null });
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
        if (context.facts.sourceReopenedAt != null || !context.runtime.has(DOWNTIME)) await freezeSource(context);
        await assertTargetEmpty(await target(context), settings.database);
        const started = nowMs();
        const copied = await parallelCopy(await platform.source(settings.database), await platform.target(context.facts, settings.database), {
          jobs: settings.copyJobs,
          workDir,
          copySequences: true,
          timeoutMs: settings.copyTimeoutMs,
        });
        (context.runtime.get(DOWNTIME) as PhaseClock | undefined)?.mark('copy');
        return { copySchemaMs: copied.schemaMs, copyDataMs: copied.dataMs, copyIndexMs: copied.indexMs, copyStreams: copied.streams, copyDurationMs: Math.round(nowMs() - started) };
      } catch (failure) {
        return reopen(context, failure);
      } finally {
        folder.remove();
      }
    },
  };

  const verify = verifyChecksumsStep(platform, settings, {
    describe: ['Compare per-table checksums (ordered row hash) of the frozen source and of the target before it opens;', 'on a difference the source reopens and traffic never moves.'],
  });
  const verifyOrReopen: Step = {
    ...verify,
    async apply(context) {
      try {
        // Resumed after a reopen: compare a frozen source again (a write since then shows as a difference).
        if (context.facts.sourceReopenedAt != null) await freezeSource(context);
        const learned = await verify.apply(context);
        (context.runtime.get(DOWNTIME) as PhaseClock | undefined)?.mark('verify');
        return learned;
      } catch (failure) {
        return reopen(context, failure);
      }
    },
  };

  const switchOver: Step = {
    id: 'postgres.switch',
    kind: 'action',
    irreversible: true,
    hookAfter: 'after-switch',
    describe: () => [...platform.describe.pause(), `open the target to the application: ${settings.appUsers.join(', ')} LOGIN there (closed since postgres.target.create);`, ...platform.describe.switchEndpoint(), ...platform.describe.resume(), 'downtime ends;', ...platform.describe.fence()],
    async apply(context): Promise<Facts> {
      const downtime = context.runtime.get(DOWNTIME) as PhaseClock | undefined;
      await platform.prepareSwitch(context, settings.database);
      const clock = new PhaseClock(settings.switchTimeoutMs);
      const paused = await platform.pauseClients(context, clock.remaining());
      if (!paused) throw new Error(`the pooler did not pause within ${settings.switchTimeoutMs} ms: its clients are still on the frozen source (read-only); retry with --resume`);
      clock.mark('pause');
      // Opened only now, clients held and the source frozen: never both open to the application.
      await openTargetToApplication(await target(context), settings.appUsers);
      clock.mark('openTarget');
      await platform.switchEndpoint(context, settings.database);
      clock.mark('switchEndpoint');
      await platform.resumeClients(context);
      clock.mark('resume');
      const switchEndedAt = wallClockMs();
      const fenceFacts = await platform.fenceSource(context);
      const startedAt = (context.facts.switchStartedAt as number | undefined) ?? clock.startedAt;
      return {
        switchEndedAt,
        switchDurationMs: downtime ? downtime.elapsed() : switchEndedAt - startedAt,
        switchPhasesMs: { ...(downtime?.phases ?? {}), ...clock.phases },
        lagAtSwitchMs: null,
        ...fenceFacts,
      };
    },
  };

  return {
    flow: 'postgres.dump',
    summary: [`source: ${platform.describe.source()}`, `target: ${platform.describe.target()}${settings.targetVersion ? `, PostgreSQL ${settings.targetVersion}` : ''}`, `database: ${settings.database}`, `platform: ${platform.kind}`, 'downtime: the whole copy (writes are refused from the freeze until the pooler resumes)'],
    steps: [preflightStep(platform, settings, 'dump'), createTargetStep(platform, settings), freeze, copy, verifyOrReopen, switchOver],
  };
}
