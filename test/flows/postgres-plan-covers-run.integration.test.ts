/**
 * Rule (issue 10, one path for plan and run): every SQL statement a PostgreSQL step sends under
 * --execute, and every client tool it starts, is in that step's dry-run plan. The plan is
 * recorded by running the same steps against recording clients (recording-client.ts behind
 * connectPg); this test runs the logical flow for real on local servers with a recording
 * wrapper around the same endpoints (statements pass through to the server and are noted with
 * the engine's current step) and compares the kinds of statement (literals, identifiers and
 * lists reduced to `?`) per step. A statement added to a step's --execute path that the
 * recording clients would not reach (a branch taken only on real servers) fails it.
 *
 * The platform's own operations (initdb, pgbouncer, ALTER SYSTEM) are the local sandbox's and
 * are left out on both sides: the comparison is the flow's SQL to the source and the target.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresSandbox } from '../../lib/platforms/local/postgres-sandbox';
import { LocalPostgresPlatform } from '../../lib/platforms/local/local-postgres-platform';
import { postgresRunbook } from '../../lib/rehearsal/postgres-rehearsal';
import { closePostgresConnections, type PostgresFlowSettings } from '../../lib/flows/postgres-common';
import { runRunbook } from '../../lib/runbook/engine';
import { connectPg, type PgClient } from '../../lib/engines/postgres/connection';
import type { PgConnectionRecorder, PostgresEndpoint } from '../../lib/engines/postgres/endpoint';
import { PgRecorder, splitPgStatements } from '../../lib/engines/postgres/recording-client';
import { recordingPostgresPlatform } from '../../lib/platforms/recording-postgres-platform';
import type { PostgresPlatform } from '../../lib/platforms/postgres-platform';
import { PlanTimeline, recordPlan } from '../../lib/runbook/plan-recording';
import { currentStepId } from '../../lib/runbook/current-step';
import { postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger } from '../../lib/util/log';

jest.setTimeout(600_000);

/** A statement's kind: literals, identifiers, numbers and repeated list items reduced. */
export function statementKind(statement: string): string {
  return statement
    .replace(/ARRAY\[[^\]]*\]/g, '?')
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/"(?:[^"]|"")*"/g, '?')
    .replace(/\$\d+/g, '?')
    .replace(/\b\d+\b/g, '?')
    .replace(/\s+/g, ' ')
    .replace(/(\?\.\?)(?:, \?\.\?)+/g, '$1')
    .replace(/(\([^()]*\))(?:, \1)+/g, '$1')
    .trim();
}

/** A tool run's kind: the tool and its flags, without values that differ per run (folders, snapshot names). */
const toolKind = (commandLine: string) => [commandLine.split(' ')[0], ...(commandLine.match(/(?<=^|[\s'])--[a-z-]+/g) ?? [])].join(' ');

type Seen = Map<string, Set<string>>;
const note = (seen: Seen, step: string | undefined, kind: string) => {
  const key = step ?? '(outside a step)';
  if (!seen.has(key)) seen.set(key, new Set());
  seen.get(key)!.add(kind);
};

/** A pass-through recorder: the real client, every statement noted with the step sending it; tools run for real. */
function passThrough(real: PostgresEndpoint, seen: Seen): PgConnectionRecorder {
  return {
    client(_server, options) {
      if (options.writable) note(seen, currentStepId(), statementKind('SET default_transaction_read_only = off'));
      const opened = connectPg({ ...real, pgRecorder: undefined }, options);
      const wrapper = {
        on: () => wrapper,
        end: async () => (await opened).end(),
        query: async (sql: string, values?: unknown[]) => {
          const text = typeof sql === 'string' ? sql : (sql as { text: string }).text;
          // The kept connections' liveness probe is not part of a plan.
          if (text !== 'SELECT 1') for (const statement of splitPgStatements(text)) note(seen, currentStepId(), statementKind(statement));
          return (await opened).query(sql, values);
        },
      };
      return wrapper as unknown as PgClient;
    },
    process(_server, tool, args) {
      note(seen, currentStepId(), toolKind([tool, ...args].join(' ')));
      return false;
    },
  };
}

/** The flow's endpoints wrapped; everything else the real platform's. */
function wrapped(platform: PostgresPlatform, seen: Seen): PostgresPlatform {
  const wrap = async (endpoint: Promise<PostgresEndpoint>) => {
    const real = await endpoint;
    return { ...real, pgRecorder: passThrough(real, seen) };
  };
  return new Proxy(platform, {
    get(target, property, receiver) {
      if (property === 'source') return (database: string) => wrap(target.source(database));
      if (property === 'target') return (facts: never, database: string) => wrap(target.target(facts, database));
      return Reflect.get(target, property, receiver);
    },
  });
}

/** The local platform for the plan: its own operations (servers, pooler, ALTER SYSTEM) are not the flow's SQL and start nothing here. */
function planningPlatform(): PostgresPlatform {
  const described = new LocalPostgresPlatform();
  const operations: Partial<PostgresPlatform> = {
    createTarget: async () => ({ targetId: 'target' }),
    setSourceReadOnly: async () => undefined,
    prepareSwitch: async () => undefined,
    pauseClients: async () => true,
    switchEndpoint: async () => undefined,
    resumeClients: async () => undefined,
    fenceSource: async () => ({}),
    switchPointState: undefined,
  };
  return new Proxy(described, {
    get(target, property, receiver) {
      if (typeof property === 'string' && property in operations) return operations[property as keyof PostgresPlatform];
      return Reflect.get(target, property, receiver);
    },
  });
}

test('GIVEN the logical flow WHEN it runs under --execute on real servers THEN every statement kind and tool each step sent is in that step\'s recorded plan', async () => {
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--method', 'logical', '--switch-timeout', '20000']);
  const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 50 });
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-plan-covers-'));
  const settings: PostgresFlowSettings = { ...postgresSettings(loadEnvironment('local'), args), catchUpTimeoutMs: 120000, workDir: sandbox.baseDir };
  const runtime = new Map<string, unknown>();
  try {
    // GIVEN the plan, recorded from the steps against recording clients
    const timeline = new PlanTimeline();
    const recorder = new PgRecorder({
      record: (call) => timeline.call({ channel: call.channel, on: call.server, operation: call.text, effect: call.effect }),
      values: timeline,
      versionNum: 150000,
    });
    const planned: Seen = new Map();
    const plan = await recordPlan(postgresRunbook('logical', recordingPostgresPlatform(planningPlatform(), recorder), settings), timeline, { runId: 'plan', log: silentLogger });
    expect(plan.stoppedAt).toBeUndefined();
    for (const entry of timeline.entries) {
      if (entry.type !== 'call') continue;
      note(planned, entry.step, entry.channel === 'process' ? toolKind(entry.operation) : statementKind(entry.operation));
    }

    // WHEN the same runbook runs for real, its endpoints wrapped
    const sent: Seen = new Map();
    const platform = wrapped(new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers }), sent);
    const run = await runRunbook({ runbook: postgresRunbook('logical', platform, settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, runtime });
    expect(run.error).toBeUndefined();
    expect(run.result).toBe('success');

    // THEN per step, nothing was sent that the plan lacks
    const missing: string[] = [];
    for (const [step, kinds] of sent) for (const kind of kinds) if (!planned.get(step)?.has(kind)) missing.push(`${step}: ${kind}`);
    expect(missing).toEqual([]);
    // and the comparison is not empty: the switch's statements were seen on both sides
    expect([...(sent.get('postgres.switch') ?? [])].length).toBeGreaterThan(10);
  } finally {
    await closePostgresConnections(runtime);
    await sandbox.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
