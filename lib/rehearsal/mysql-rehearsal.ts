import type { Logger } from '../util/log';
import { connect, rows, type Connection } from '../engines/mysql/connection';
import { MysqlSandbox, SANDBOX_DATABASE } from '../platforms/local/mysql-sandbox';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { MYSQL_SWITCH_STEP, mysqlEncryptRunbook, type MysqlFlowSettings } from '../flows/mysql-encrypt';
import type { HookMap } from '../runbook/hooks';
import type { RunLock } from '../runbook/lock';
import { reportFromRun, type CutoverReport } from '../report';
import { RehearsalLoad, runRehearsalRunbook, switchBackUnderLoad, withWindDown, type WindDown } from './rehearsal-load';
import { mysqlSwitchBackRunbook, mysqlWayBackRunbook } from '../flows/mysql-switch-back';
import type { WayBackCommand } from '../runbook/way-back-command';
import { SqlRecorder } from '../engines/mysql/recording-connection';
import { PlannedMysqlSandbox } from '../platforms/local/planned-mysql-sandbox';
import { PlanTimeline, recordPlan, type RecordedPlan } from '../runbook/plan-recording';
import type { Facts, Runbook } from '../runbook/step';
import type { MysqlPlatform } from '../platforms/mysql-platform';
import { silentLogger } from '../util/log';

import type { RehearsalFault } from './faults';

export { REHEARSAL_FAULTS, type RehearsalFault } from './faults';

/**
 * What the plan assumes `SELECT VERSION()` answers on the local servers (it decides the SQL
 * dialect): the sandbox runs Debian 12's MariaDB 10.11.
 */
export const LOCAL_MYSQL_PLAN_VERSION = '10.11-MariaDB';

/** What a plan recorded after an earlier one keeps: the timeline, the SQL recorder (replication states) and the stand-in sandbox. */
export interface LocalMysqlPlanCarryOver {
  timeline: PlanTimeline;
  recorder: SqlRecorder;
  sandbox: PlannedMysqlSandbox;
}

/**
 * The local dry-run plan, recorded from the steps (issue 10): the runbook on the local platform
 * over the sandbox's recording stand-in (planned-mysql-sandbox.ts) and recording connections.
 * What the steps tried to do, in order, is the plan; nothing starts, connects or is written.
 * `runbook` builds another runbook on the same platform (switch-back, complete); `facts` are
 * what an earlier run journaled; a `carryOver` keeps what an earlier plan did (the forward
 * plan's reverse replication and HAProxy slots, for the switch back's).
 */
export async function recordLocalMysqlPlan(options: {
  runbook: (platform: MysqlPlatform) => Runbook;
  /** The databases the settings name (what the stand-in source lists). */
  databases: string[];
  facts?: Facts;
  carryOver?: LocalMysqlPlanCarryOver;
}): Promise<RecordedPlan & { carryOver: LocalMysqlPlanCarryOver }> {
  const timeline = options.carryOver?.timeline ?? new PlanTimeline();
  const first = timeline.entries.length;
  const recorder =
    options.carryOver?.recorder ??
    new SqlRecorder({
      record: (statement) => timeline.call({ channel: 'sql', on: statement.server, operation: statement.statement, effect: statement.effect, ...(statement.forEach ? { forEach: statement.forEach } : {}) }),
      values: timeline,
      version: LOCAL_MYSQL_PLAN_VERSION,
      // Read only on RDS (mysql.rds_show_configuration); the local preflight reads the server's variables.
      binlogRetentionHours: 168,
      databases: options.databases,
    });
  const sandbox = options.carryOver?.sandbox ?? new PlannedMysqlSandbox(recorder, (operation) => timeline.call(operation));
  // recordPlan closes the run's resources (the recording connections) itself.
  const recorded = await recordPlan(options.runbook(new LocalMysqlPlatform(sandbox)), timeline, { runId: 'plan', log: silentLogger, facts: options.facts });
  return { ...recorded, entries: recorded.entries.slice(first), carryOver: { timeline, recorder, sandbox } };
}

/** The commands that continue a finished run: its own plan each, recorded on the stand-in the runs before it left. */

/**
 * The sandbox's dry-run plan of `switch-back`, `switch-forth` or `complete RUN_ID`, recorded from
 * the steps as the forward plan is: the stand-in is first taken where the runs before it leave
 * the sandbox (the forward run: traffic on the target, the way back running; for switch-forth
 * also a switch-back), unrecorded, then the command's own runbook runs on it and is the plan.
 */
export async function recordLocalMysqlWayBackPlan(command: WayBackCommand, settings: MysqlFlowSettings, options: { deleteOld?: boolean } = {}): Promise<RecordedPlan> {
  const before: Array<(platform: MysqlPlatform) => Runbook> = [(platform) => mysqlEncryptRunbook(platform, settings), ...(command === 'switch-forth' ? [(platform: MysqlPlatform) => mysqlSwitchBackRunbook(platform, settings)] : [])];
  let carryOver: LocalMysqlPlanCarryOver | undefined;
  for (const runbook of before) {
    const earlier = await recordLocalMysqlPlan({ runbook, databases: settings.databases, carryOver });
    if (earlier.stoppedAt) throw new Error(`The plan of the run before ${command} stopped (${earlier.stoppedAt}): the stand-in is not where that run leaves the sandbox`);
    carryOver = earlier.carryOver;
  }
  const runbook = (platform: MysqlPlatform) => mysqlWayBackRunbook(command, platform, settings, { deleteOld: Boolean(options.deleteOld) });
  const { carryOver: _left, ...plan } = await recordLocalMysqlPlan({ runbook, databases: settings.databases, carryOver });
  return plan;
}

export interface MysqlRehearsalOptions {
  environment: string;
  settings: MysqlFlowSettings;
  stateDir: string;
  log: Logger;
  hooks?: HookMap;
  load: { connections: number; ratePerSecond: number; command?: string; commandGraceMs?: number; tailMs: number };
  seedRows?: number;
  fault?: RehearsalFault;
  keepSandbox?: boolean;
  /** Called with the sandbox once it is up (tests use it to inspect processes). */
  onSandbox?: (sandbox: MysqlSandbox) => void;
  /** Test probe called after each step that finished, before the load reacts to it (fault injection). */
  afterStep?: (stepId: string, sandbox: MysqlSandbox) => Promise<void>;
  /** Called after the run, before the sandbox stops (tests check the servers' state there). */
  beforeStop?: (sandbox: MysqlSandbox) => Promise<void>;
  /** Called right after the switch step, while every server is still running. */
  onSwitched?: (sandbox: MysqlSandbox) => void;
  /** One run per environment (the CLI passes the environment's lock). */
  lock?: RunLock;
  /** SIGINT/SIGTERM stop the run at a step boundary (the CLI sets it). */
  handleSignals?: boolean;
  /**
   * After a successful cutover, switch back (mysql.switch-back) under the same load: the report
   * then has both windows (`windows.forward`, `windows.back`) and the switch back's run.
   */
  switchBack?: boolean;
  /** The CLI's Ctrl-C handling from before the lock to the report (see WindDown); without it the rehearsal opens its own. */
  windDown?: WindDown;
}

/**
 * A full local rehearsal: real MariaDB servers and HAProxy in a throwaway sandbox, a write
 * load through the application endpoint for the whole flow, the same runbook as a real
 * cutover, and a report that accounts for every acknowledged write.
 */
export async function rehearseMysql(options: MysqlRehearsalOptions): Promise<CutoverReport> {
  return withWindDown(options, (windDown) => rehearseMysqlOnce(options, windDown));
}

async function rehearseMysqlOnce(options: MysqlRehearsalOptions, windDown: WindDown): Promise<CutoverReport> {
  const startedAt = new Date();
  const { log } = options;
  const sandbox = await MysqlSandbox.start({ log, seedRows: options.seedRows, keepFiles: options.keepSandbox });
  options.onSandbox?.(sandbox);
  let stallLock: Connection | undefined;
  const load = new RehearsalLoad({ engine: 'mysql', endpoint: sandbox.appEndpoint(), database: SANDBOX_DATABASE, ...options.load, log });
  try {
    const runbook = mysqlEncryptRunbook(new LocalMysqlPlatform(sandbox), options.settings);
    const run = await runRehearsalRunbook({
      runbook,
      environment: options.environment,
      stateDir: options.stateDir,
      hooks: options.hooks,
      log,
      load,
      switchStep: MYSQL_SWITCH_STEP,
      journalOptions: { fault: options.fault ?? null, switchBack: options.switchBack === true },
      lock: options.lock,
      handleSignals: options.handleSignals,
      keepLoad: options.switchBack,
      windDown,
      onRecord: async (step, facts) => {
        if (step === MYSQL_SWITCH_STEP && facts.switchPhase === 'freezing' && options.fault === 'replication-stall' && !stallLock) {
          // A target whose replication threads run but cannot apply (as behind a long lock or
          // a slow DDL), from right after the switch's last lag gate: the switch must time out
          // and reopen the source. (Right after the catch-up step instead, that gate refuses
          // to freeze at all: test/rehearsal/mysql-rehearsal.integration.test.ts.)
          log.warn('fault injection: holding a global read lock on the target so it stops applying');
          stallLock = await connect(sandbox.instance('target').endpoint());
          await stallLock.query('FLUSH TABLES WITH READ LOCK');
        }
      },
      onStepDone: async (step) => {
        await options.afterStep?.(step.id, sandbox);
        if (step.id === 'mysql.replication.catch-up' && options.fault === 'replication-stopped') {
          log.warn('fault injection: stopping replication on the target');
          const target = await connect(sandbox.instance('target').endpoint());
          await target.query('STOP SLAVE');
          await target.end();
        }
        if (step.id === MYSQL_SWITCH_STEP) options.onSwitched?.(sandbox);
      },
    });

    // Where the application writes now (through the switch point) must hold every acknowledged write.
    // An endpoint that is down (the proxy died) is read around: the server traffic was on (the
    // target once the switch finished, else the source), said in the log; the proof still runs.
    const presentIds = async () => {
      const admin = await connect(sandbox.adminEndpoint(), { database: SANDBOX_DATABASE }).catch(async (error: Error) => {
        const side = run.steps.find((s) => s.id === MYSQL_SWITCH_STEP)?.status === 'done' ? 'target' : 'source';
        log.warn(`the application endpoint does not answer (${error.message}): looking the acknowledged writes up on the ${side} directly`);
        return connect(sandbox.instance(side).endpoint(), { database: SANDBOX_DATABASE });
      });
      try {
        return new Set((await rows<{ id: string }>(admin, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
      } finally {
        await admin.end();
      }
    };
    await options.beforeStop?.(sandbox);
    if (!options.switchBack) return reportFromRun(run, { engine: 'mysql', startedAt, ...load.reportFields(await presentIds(), run.facts) });
    return await switchBackUnderLoad({
      engine: 'mysql',
      tailMs: options.load.tailMs,
      log,
      load,
      run,
      startedAt,
      presentIds,
      interruptedAlready: () => windDown.signal,
      switchBack: {
        runbook: mysqlSwitchBackRunbook(new LocalMysqlPlatform(sandbox), options.settings),
        environment: options.environment,
        stateDir: options.stateDir,
        hooks: options.hooks,
        lock: options.lock,
        handleSignals: options.handleSignals,
      },
    });
  } finally {
    await stallLock?.end().catch(() => stallLock?.destroy());
    await load.abandon();
    await sandbox.stop();
  }
}
