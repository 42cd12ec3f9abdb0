/**
 * What the flow tests on real servers share (the switch, switch-back and resume tests of both
 * engines): a sandbox under a write load through its application endpoint, a state folder, runs
 * of runbooks each with resources of its own (a process of its own), a run abandoned at a point as
 * kill -9 would leave it, and the check that every acknowledged write is where the endpoint
 * points. Everything is stopped and removed at the end, also when the test fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MysqlSandbox, SANDBOX_DATABASE } from '../../lib/platforms/local/mysql-sandbox';
import { PostgresSandbox, PG_SANDBOX_DATABASE } from '../../lib/platforms/local/postgres-sandbox';
import { LocalPostgresPlatform } from '../../lib/platforms/local/local-postgres-platform';
import type { MysqlFlowSettings } from '../../lib/flows/mysql-encrypt';
import { type PostgresFlowSettings } from '../../lib/flows/postgres-common';
import { runRunbook, type RunOptions, type RunResult } from '../../lib/runbook/engine';
import { Journal } from '../../lib/runbook/journal';
import { RunResources } from '../../lib/runbook/resources';
import type { Facts, Runbook, Step } from '../../lib/runbook/step';
import { connect, rows, type Connection } from '../../lib/engines/mysql/connection';
import { closePg, connectPg, pgRows, type PgClient } from '../../lib/engines/postgres/connection';
import { WriteLoad, summariseWrites } from '../../lib/load/write-load';
import { mysqlWriteClient } from '../../lib/load/mysql-write-client';
import { postgresWriteClient } from '../../lib/load/postgres-write-client';
import { postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger } from '../../lib/util/log';
import { sleep } from '../../lib/util/time';

/** Where a run is abandoned: after a journal record, or after a step finished. */
export interface KillPoint {
  /** What the error says when the run ends before the point. */
  name: string;
  afterRecord?(step: string, facts: Facts): boolean;
  afterStep?(step: Step): boolean;
}

export interface FlowWorld<Sandbox> {
  readonly sandbox: Sandbox;
  readonly stateDir: string;
  readonly load: WriteLoad;
  /** One run with resources of its own; `resumeRunId` resumes a journaled run. */
  run(runbook: Runbook, options?: { resumeRunId?: string; onRecord?: RunOptions['onRecord'] }): Promise<RunResult>;
  /** Runs until the kill point, then abandons the run like a kill -9: nothing after it runs, its sessions end. Returns its run id. */
  runUntilKilled(runbook: Runbook, kill: KillPoint): Promise<string>;
  /** Stops the load after a little more writing, then: every acknowledged write (over 100) is present. */
  expectNothingLost(): Promise<void>;
}

interface FlowWorldOptions<Sandbox> {
  sandbox: Sandbox & { stop(): Promise<void> };
  stateDirPrefix: string;
  load: WriteLoad;
  /** The ids in the load table, read through the endpoint's side. */
  presentIds(): Promise<Set<string>>;
}

async function withFlowWorld<Sandbox, World>(options: FlowWorldOptions<Sandbox>, extend: (world: FlowWorld<Sandbox>) => World, use: (world: World) => Promise<void>): Promise<void> {
  const { sandbox, load } = options;
  const stateDir = mkdtempSync(join(tmpdir(), options.stateDirPrefix));
  const resourceSets: RunResources[] = [];
  const resources = () => {
    const fresh = new RunResources();
    resourceSets.push(fresh);
    return fresh;
  };
  const flow: FlowWorld<Sandbox> = {
    sandbox,
    stateDir,
    load,
    async run(runbook, { resumeRunId, onRecord } = {}) {
      // Its sessions end when the run returns (the engine disposes the run's resources).
      return runRunbook({ runbook, environment: 'local', stateDir, dryRun: false, log: silentLogger, resources: resources(), resumeRunId, onRecord });
    },
    async runUntilKilled(runbook, kill) {
      const own = resources();
      let killed!: () => void;
      const dead = new Promise<'killed'>((resolve) => (killed = () => resolve('killed')));
      const die = () => {
        killed();
        return new Promise<void>(() => undefined); // the process is gone: nothing after this runs
      };
      const before = new Set(Journal.list(stateDir));
      const running = runRunbook({
        runbook,
        environment: 'local',
        stateDir,
        dryRun: false,
        log: silentLogger,
        resources: own,
        onRecord: (step, facts) => (kill.afterRecord?.(step, facts) ? die() : undefined),
        onStepDone: (step) => (kill.afterStep?.(step) ? die() : undefined),
      });
      const outcome = await Promise.race([dead, running]);
      if (outcome !== 'killed') throw new Error(`the run ended (${outcome.result}: ${outcome.error}) before the kill point ${kill.name}`);
      // The dead process's connections close (its transactions and snapshots with them).
      await own.disposeAll();
      return Journal.list(stateDir).find((id) => !before.has(id))!;
    },
    async expectNothingLost() {
      const acknowledgedBefore = load.attempts.filter((a) => a.acknowledged).length;
      await sleep(700);
      await load.stop();
      expect(load.attempts.filter((a) => a.acknowledged).length).toBeGreaterThan(acknowledgedBefore);
      const writes = summariseWrites(load.attempts, await options.presentIds());
      expect(writes.acknowledged).toBeGreaterThan(100);
      expect(writes.lost).toBe(0);
    },
  };
  try {
    load.start();
    await use(extend(flow));
  } finally {
    await load.stop().catch(() => undefined);
    for (const each of resourceSets) await each.disposeAll().catch(() => undefined);
    await sandbox.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** The MySQL-family flow settings these tests use (a generous catch-up for a busy machine). */
export const mysqlTestSettings: MysqlFlowSettings = { ...loadEnvironment('local').mysql!, catchUpTimeoutMs: 120000, switchTimeoutMs: 20000 };

/** A MariaDB + HAProxy sandbox (300 seeded rows) under a load of 4 connections, 200 writes/s. */
export async function withMysqlWorld(stateDirPrefix: string, use: (world: FlowWorld<MysqlSandbox>) => Promise<void>): Promise<void> {
  const sandbox = await MysqlSandbox.start({ log: silentLogger, seedRows: 300 });
  const options: FlowWorldOptions<MysqlSandbox> = {
    sandbox,
    stateDirPrefix,
    load: new WriteLoad({ connections: 4, ratePerSecond: 200, connect: () => mysqlWriteClient(sandbox.appEndpoint(), SANDBOX_DATABASE) }),
    presentIds: async () => {
      const admin = await connect(sandbox.adminEndpoint(), { database: SANDBOX_DATABASE });
      const present = new Set((await rows<{ id: string }>(admin, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
      await admin.end();
      return present;
    },
  };
  await withFlowWorld(options, (world) => world, use);
}

/** Rows of one statement on one of the sandbox's servers, over a connection of its own. */
export async function mysqlQuery<T>(sandbox: MysqlSandbox, server: string, sql: string): Promise<T[]> {
  const connection: Connection = await connect(sandbox.instance(server).endpoint());
  try {
    return await rows<T>(connection, sql);
  } finally {
    await connection.end();
  }
}

export async function mysqlReadOnly(sandbox: MysqlSandbox, server: string): Promise<boolean> {
  return Number((await mysqlQuery<{ ro: number | string }>(sandbox, server, 'SELECT @@GLOBAL.read_only AS ro'))[0].ro) === 1;
}

export interface PostgresWorld extends FlowWorld<PostgresSandbox> {
  readonly settings: PostgresFlowSettings;
  readonly platform: LocalPostgresPlatform;
}

/** A PostgreSQL 15 pair + pgbouncer sandbox (300 seeded rows) under a load through pgbouncer. */
export async function withPostgresWorld(options: { stateDirPrefix: string; connections: number; ratePerSecond: number }, use: (world: PostgresWorld) => Promise<void>): Promise<void> {
  const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 300 });
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--switch-timeout', '20000']);
  const settings: PostgresFlowSettings = { ...postgresSettings(loadEnvironment('local'), args), catchUpTimeoutMs: 120000, workDir: sandbox.baseDir };
  const flowOptions: FlowWorldOptions<PostgresSandbox> = {
    sandbox,
    stateDirPrefix: options.stateDirPrefix,
    load: new WriteLoad({ connections: options.connections, ratePerSecond: options.ratePerSecond, connect: () => postgresWriteClient(sandbox.appEndpoint()) }),
    presentIds: async () => {
      const app = await connectPg(sandbox.appEndpoint());
      const present = new Set((await pgRows<{ id: string }>(app, 'SELECT id::text AS id FROM cutover_load')).map((r) => r.id));
      await closePg(app);
      return present;
    },
  };
  await withFlowWorld(flowOptions, (world) => Object.assign(world, { settings, platform: new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers }) }), use);
}

/** `use` with a writable admin session on one of the sandbox's servers (closed after). */
export async function onPostgres<T>(sandbox: PostgresSandbox, server: 'source' | 'target', use: (client: PgClient) => Promise<T>): Promise<T> {
  const client = await connectPg(sandbox.instance(server).endpoint(PG_SANDBOX_DATABASE), { writable: true });
  try {
    return await use(client);
  } finally {
    await closePg(client);
  }
}
