import type { Logger } from '../util/log';
import { closePg, connectPg, pgRows, quoteIdent, type PgClient } from '../engines/postgres/connection';
import { PostgresSandbox, PG_SANDBOX_DATABASE, PG_SANDBOX_SOURCE_VERSION } from '../platforms/local/postgres-sandbox';
import { PlannedPostgresSandbox } from '../platforms/local/planned-postgres-sandbox';
import { PgRecorder } from '../engines/postgres/recording-client';
import { PlanTimeline, recordPlan, type RecordedPlan } from '../runbook/plan-recording';
import { silentLogger } from '../util/log';
import { LocalPostgresPlatform } from '../platforms/local/local-postgres-platform';
import { POSTGRES_SWITCH_STEP, type PostgresFlowSettings, type PostgresMethod } from '../flows/postgres-common';
import { postgresLogicalRunbook } from '../flows/postgres-logical';
import { postgresDumpRunbook } from '../flows/postgres-dump';
import type { HookMap } from '../runbook/hooks';
import type { RunLock } from '../runbook/lock';
import type { Facts, Runbook } from '../runbook/step';
import type { PostgresPlatform } from '../platforms/postgres-platform';
import { reportFromRun, type CutoverReport } from '../report';
import { RehearsalLoad, runRehearsalRunbook, switchBackUnderLoad, withWindDown, type WindDown } from './rehearsal-load';
import { postgresSwitchBackRunbook, postgresWayBackRunbook } from '../flows/postgres-switch-back';
import type { WayBackCommand } from '../runbook/way-back-command';

/**
 * PostgreSQL's `replication-stall`: after the catch-up gate a session on the target locks the
 * load's table, so the subscription's apply worker blocks (still "streaming").
 */
export { REHEARSAL_FAULTS as POSTGRES_REHEARSAL_FAULTS, type RehearsalFault as PostgresRehearsalFault } from './faults';
import type { RehearsalFault as PostgresRehearsalFault } from './faults';

/** The runbook of a method, on any platform. */
export function postgresRunbook(method: PostgresMethod, platform: PostgresPlatform, settings: PostgresFlowSettings): Runbook {
  return method === 'logical' ? postgresLogicalRunbook(platform, settings) : postgresDumpRunbook(platform, settings);
}

/**
 * The local dry-run plan, recorded from the steps (issue 10): the runbook on the local platform
 * over the sandbox's recording stand-in (planned-postgres-sandbox.ts) and recording clients.
 * What the steps tried to do, in order, is the plan; nothing starts, connects or is written.
 * `runbook` builds another runbook on the same platform (switch-back, complete); `facts` are
 * what an earlier run journaled; a `recorder` carried over keeps what earlier plans did
 * (the forward plan's subscriptions, for the switch back's).
 */
export async function recordLocalPostgresPlan(options: {
  runbook: (platform: PostgresPlatform) => Runbook;
  appUsers: string[];
  /** The target's major version where the run would create one (server_version_num answered). */
  versionNum?: number;
  facts?: Facts;
  carryOver?: { timeline: PlanTimeline; recorder: PgRecorder; sandbox: PlannedPostgresSandbox };
}): Promise<RecordedPlan & { carryOver: { timeline: PlanTimeline; recorder: PgRecorder; sandbox: PlannedPostgresSandbox } }> {
  const timeline = options.carryOver?.timeline ?? new PlanTimeline();
  const first = timeline.entries.length;
  const recorder =
    options.carryOver?.recorder ??
    new PgRecorder({
      record: (call) => timeline.call({ channel: call.channel, on: call.server, operation: call.text, effect: call.effect, ...(call.forEach ? { forEach: call.forEach } : {}) }),
      values: timeline,
      versionNum: options.versionNum ?? PG_SANDBOX_SOURCE_VERSION * 10000,
    });
  const sandbox = options.carryOver?.sandbox ?? new PlannedPostgresSandbox(recorder);
  const platform = new LocalPostgresPlatform(sandbox, { appUsers: options.appUsers });
  const recorded = await recordPlan(options.runbook(platform), timeline, { runId: 'plan', log: silentLogger, facts: options.facts });
  return { ...recorded, entries: recorded.entries.slice(first), carryOver: { timeline, recorder, sandbox } };
}

/**
 * The sandbox's dry-run plan of `switch-back`, `switch-forth` or `complete RUN_ID` for a logical
 * run, recorded from the steps: the stand-in is first taken where the runs before it leave the
 * sandbox (the logical run; for switch-forth also a switch-back), unrecorded, then the
 * command's own runbook runs on it and is the plan.
 */
export async function recordLocalPostgresWayBackPlan(command: WayBackCommand, settings: PostgresFlowSettings, options: { deleteOld?: boolean } = {}): Promise<RecordedPlan> {
  const before: Array<(platform: PostgresPlatform) => Runbook> = [(platform) => postgresLogicalRunbook(platform, settings), ...(command === 'switch-forth' ? [(platform: PostgresPlatform) => postgresSwitchBackRunbook(platform, settings)] : [])];
  let carryOver: Parameters<typeof recordLocalPostgresPlan>[0]['carryOver'];
  for (const runbook of before) carryOver = (await recordLocalPostgresPlan({ runbook, appUsers: settings.appUsers, carryOver })).carryOver;
  const runbook = (platform: PostgresPlatform) => postgresWayBackRunbook(command, platform, settings, { deleteOld: Boolean(options.deleteOld) });
  const { carryOver: _left, ...plan } = await recordLocalPostgresPlan({ runbook, appUsers: settings.appUsers, carryOver });
  return plan;
}

export interface PostgresRehearsalOptions {
  environment: string;
  method: PostgresMethod;
  /** `workDir` defaults to the sandbox's own folder. */
  settings: Omit<PostgresFlowSettings, 'workDir'> & { workDir?: string };
  stateDir: string;
  log: Logger;
  hooks?: HookMap;
  load: { connections: number; ratePerSecond: number; command?: string; commandGraceMs?: number; tailMs: number };
  seedRows?: number;
  fault?: PostgresRehearsalFault;
  keepSandbox?: boolean;
  /** Seed a table without a primary key (preflight must refuse it unless allowed). */
  tableWithoutPrimaryKey?: boolean;
  /** Called with the sandbox once it is up (tests use it to inspect processes). */
  onSandbox?: (sandbox: PostgresSandbox) => void;
  /** Test probe called after each step that finished, before the load reacts to it (e.g. DDL mid-run). */
  afterStep?: (stepId: string, sandbox: PostgresSandbox) => Promise<void>;
  /** One run per environment (the CLI passes the environment's lock). */
  lock?: RunLock;
  /** SIGINT/SIGTERM stop the run at a step boundary (the CLI sets it). */
  handleSignals?: boolean;
  /** Called after the run, before the sandbox stops (tests check the servers' state there). */
  beforeStop?: (sandbox: PostgresSandbox) => Promise<void>;
  /**
   * After a successful cutover (logical method), switch back (postgres.switch-back) under the
   * same load: the report then has both windows (`windows.forward`, `windows.back`).
   */
  switchBack?: boolean;
  /** The CLI's Ctrl-C handling from before the lock to the report (see WindDown); without it the rehearsal opens its own. */
  windDown?: WindDown;
}

/**
 * A full local rehearsal: a real PostgreSQL 15 source and pgbouncer in a throwaway sandbox,
 * a write load through pgbouncer for the whole flow, the same runbook as a real cutover,
 * and a report that accounts for every acknowledged write.
 */
export async function rehearsePostgres(options: PostgresRehearsalOptions): Promise<CutoverReport> {
  return withWindDown(options, (windDown) => rehearsePostgresOnce(options, windDown));
}

async function rehearsePostgresOnce(options: PostgresRehearsalOptions, windDown: WindDown): Promise<CutoverReport> {
  const startedAt = new Date();
  const { log } = options;
  const sandbox = await PostgresSandbox.start({ log, seedRows: options.seedRows, keepFiles: options.keepSandbox, tableWithoutPrimaryKey: options.tableWithoutPrimaryKey });
  options.onSandbox?.(sandbox);
  const settings: PostgresFlowSettings = { ...options.settings, workDir: options.settings.workDir ?? sandbox.baseDir };
  let stallHolder: PgClient | undefined;
  const load = new RehearsalLoad({ engine: 'postgres', endpoint: sandbox.appEndpoint(), database: PG_SANDBOX_DATABASE, ...options.load, log });
  try {
    const platform = new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers });
    const runbook = postgresRunbook(options.method, platform, settings);
    const run = await runRehearsalRunbook({
      runbook,
      environment: options.environment,
      stateDir: options.stateDir,
      hooks: options.hooks,
      log,
      load,
      switchStep: POSTGRES_SWITCH_STEP,
      lock: options.lock,
      handleSignals: options.handleSignals,
      keepLoad: options.switchBack,
      windDown,
      journalOptions: { method: options.method, fault: options.fault ?? null, targetVersion: settings.targetVersion ?? null, switchBack: options.switchBack === true },
      onStepDone: async (step) => {
        await options.afterStep?.(step.id, sandbox);
        if (step.id === 'postgres.replication.catch-up' && options.fault === 'replication-stopped') {
          log.warn('fault injection: disabling the subscription on the target');
          const target = await connectPg(sandbox.instance('target').endpoint(PG_SANDBOX_DATABASE));
          await target.query(`ALTER SUBSCRIPTION ${quoteIdent(`${settings.workflow}_sub`)} DISABLE`);
          await closePg(target);
        }
        if (step.id === 'postgres.replication.catch-up' && options.fault === 'replication-stall') {
          log.warn('fault injection: a target session locks cutover_load, the apply worker stalls');
          stallHolder = await connectPg(sandbox.instance('target').endpoint(PG_SANDBOX_DATABASE));
          await stallHolder.query('BEGIN');
          await stallHolder.query('LOCK TABLE cutover_load IN ACCESS EXCLUSIVE MODE');
        }
      },
    });
    if (stallHolder) {
      await stallHolder.query('ROLLBACK').catch(() => undefined);
      await closePg(stallHolder);
      stallHolder = undefined;
    }

    // Where the application writes now (through the pooler) must hold every acknowledged write.
    // A pooler that is down is read around: the server traffic was on (the target once the
    // switch finished, else the source), said in the log; the proof still runs.
    const presentIds = async () => {
      const reader = await connectPg(sandbox.appEndpoint()).catch(async (error: Error) => {
        const side = run.steps.find((s) => s.id === POSTGRES_SWITCH_STEP)?.status === 'done' ? 'target' : 'source';
        log.warn(`the application endpoint does not answer (${error.message}): looking the acknowledged writes up on the ${side} directly`);
        return connectPg(sandbox.instance(side).endpoint(PG_SANDBOX_DATABASE));
      });
      try {
        return new Set((await pgRows<{ id: string }>(reader, 'SELECT id::text AS id FROM cutover_load')).map((r) => r.id));
      } finally {
        await closePg(reader);
      }
    };
    if (options.switchBack) {
      const report = await switchBackUnderLoad({
        engine: 'postgres',
        tailMs: options.load.tailMs,
        log,
        load,
        run,
        startedAt,
        presentIds,
        interruptedAlready: () => windDown.signal,
        switchBack: {
          runbook: postgresSwitchBackRunbook(platform, settings),
          environment: options.environment,
          stateDir: options.stateDir,
          hooks: options.hooks,
          lock: options.lock,
          handleSignals: options.handleSignals,
        },
      });
      await options.beforeStop?.(sandbox);
      return report;
    }
    const present = await presentIds();
    await options.beforeStop?.(sandbox);
    return reportFromRun(run, { engine: 'postgres', startedAt, ...load.reportFields(present, run.facts) });
  } finally {
    await load.abandon();
    await closePg(stallHolder);
    await sandbox.stop();
  }
}

