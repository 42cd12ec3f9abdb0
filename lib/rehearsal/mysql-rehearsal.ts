import type { Logger } from '../util/log';
import { sleep } from '../util/time';
import { connect, rows, type Connection } from '../engines/mysql/connection';
import { MysqlSandbox, SANDBOX_DATABASE } from '../platforms/local/mysql-sandbox';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { closeFlowConnections, mysqlEncryptRunbook, type MysqlFlowSettings } from '../flows/mysql-encrypt';
import { runRunbook } from '../runbook/engine';
import type { HookMap } from '../runbook/hooks';
import { longestWriteGapMs, summariseWrites } from '../load/write-load';
import { WriteLoadProcess } from '../load/write-load-process';
import { LoadCommand, type LoadCommandOutcome } from '../load/load-command';
import { reportFromRun, type CutoverReport } from '../report';

/** Faults a rehearsal can inject to exercise the abort path. */
export const REHEARSAL_FAULTS = ['replication-stall'] as const;
export type RehearsalFault = (typeof REHEARSAL_FAULTS)[number];

export interface MysqlRehearsalOptions {
  environment: string;
  settings: MysqlFlowSettings;
  stateDir: string;
  log: Logger;
  hooks?: HookMap;
  load: { connections: number; ratePerSecond: number; command?: string; tailMs: number };
  seedRows?: number;
  fault?: RehearsalFault;
  keepSandbox?: boolean;
  /** Called with the sandbox once it is up (tests use it to inspect processes). */
  onSandbox?: (sandbox: MysqlSandbox) => void;
  /** Called right after the switch step, while every server is still running. */
  onSwitched?: (sandbox: MysqlSandbox) => void;
}

/**
 * A full local rehearsal: real MariaDB servers and HAProxy in a throwaway sandbox, a write
 * load through the application endpoint for the whole flow, the same runbook as a real
 * cutover, and a report that accounts for every acknowledged write.
 */
export async function rehearseMysql(options: MysqlRehearsalOptions): Promise<CutoverReport> {
  const startedAt = new Date();
  const { log } = options;
  const sandbox = await MysqlSandbox.start({ log, seedRows: options.seedRows, keepFiles: options.keepSandbox });
  options.onSandbox?.(sandbox);
  const runtime = new Map<string, unknown>();
  let stallLock: Connection | undefined;
  let load: WriteLoadProcess | undefined;
  let command: LoadCommand | undefined;
  let commandOutcome: LoadCommandOutcome | undefined;
  try {
    const platform = new LocalMysqlPlatform(sandbox);
    const runbook = mysqlEncryptRunbook(platform, options.settings);
    const app = sandbox.appEndpoint();
    load = new WriteLoadProcess({ engine: 'mysql', host: app.host, port: app.port, user: app.user, password: app.password, database: SANDBOX_DATABASE, connections: options.load.connections, ratePerSecond: options.load.ratePerSecond });
    await load.start();
    if (options.load.command) {
      command = new LoadCommand(options.load.command, { host: app.host, port: app.port, user: app.user, password: app.password, database: SANDBOX_DATABASE });
      command.start();
    }
    const stopLoad = async () => {
      if (command && !commandOutcome) commandOutcome = await command.stop();
      if (load && load.stoppedAt === 0) await load.stop();
    };
    log.info(`load: ${options.load.connections} connections, ${options.load.ratePerSecond} writes/s through the application endpoint${options.load.command ? `, plus: ${options.load.command}` : ''}`);

    const run = await runRunbook({
      runbook,
      environment: options.environment,
      stateDir: options.stateDir,
      dryRun: false,
      hooks: options.hooks,
      log,
      runtime,
      options: { rehearsal: true, fault: options.fault ?? null, load: { connections: options.load.connections, ratePerSecond: options.load.ratePerSecond } },
      onStepDone: async (step) => {
        if (step.id === 'mysql.replication.catch-up' && options.fault === 'replication-stall') {
          // A target whose replication threads run but cannot apply (as behind a long lock or
          // a slow DDL): the switch must time out and reopen the source.
          log.warn('fault injection: holding a global read lock on the target so it stops applying');
          stallLock = await connect(sandbox.instance('target').endpoint());
          await stallLock.query('FLUSH TABLES WITH READ LOCK');
        }
        if (step.id === 'mysql.switch') {
          options.onSwitched?.(sandbox);
          await sleep(options.load.tailMs);
          await stopLoad();
        }
      },
    });
    if (run.result === 'aborted' || run.result === 'failed') {
      // Keep writing a little after an abort: proves (or disproves) the source took writes again.
      await sleep(options.load.tailMs);
    }
    await stopLoad();

    const admin = await connect(sandbox.adminEndpoint(), { database: SANDBOX_DATABASE });
    const present = new Set((await rows<{ id: string }>(admin, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
    await admin.end();
    const writes = summariseWrites(load.attempts, present);
    const facts = run.facts;
    const from = typeof facts.switchStartedAt === 'number' ? facts.switchStartedAt : load.startedAt;
    const to = typeof facts.switchEndedAt === 'number' ? facts.switchEndedAt : typeof facts.abortedAt === 'number' ? facts.abortedAt : load.stoppedAt;
    const writeUnavailableMs = longestWriteGapMs(load.attempts, { from, to }, load.stoppedAt);
    if (typeof facts.abortedAt === 'number') {
      const abortedAt = facts.abortedAt;
      facts.writesAfterAbort = load.attempts.filter((a) => a.acknowledged && a.sentAt > abortedAt).length;
    }
    return reportFromRun(run, {
      engine: 'mysql',
      startedAt,
      writes: { attempted: writes.attempted, acknowledged: writes.acknowledged, failed: writes.failed, lost: writes.lost, ...(writes.lost > 0 ? { lostIds: writes.lostIds } : {}) },
      writeUnavailableMs,
      load: { connections: options.load.connections, ratePerSecond: options.load.ratePerSecond, ...(commandOutcome ? { command: commandOutcome } : {}) },
    });
  } finally {
    await stallLock?.end().catch(() => stallLock?.destroy());
    if (load && load.stoppedAt === 0) load.kill();
    if (command && !commandOutcome) await command.stop().catch(() => undefined);
    await closeFlowConnections(runtime);
    await sandbox.stop();
  }
}

