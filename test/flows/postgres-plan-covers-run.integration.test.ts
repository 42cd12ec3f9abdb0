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
 * The plan is the local one `--env local` prints (the platform on the sandbox's recording
 * stand-in), so the platform's own operations are compared too: its SQL (ALTER SYSTEM, roles,
 * CREATE DATABASE), the pooler's console commands (PAUSE, RELOAD, RESUME) and initdb. The
 * complete runbook is held the same way, after a forward run (switch-back is not yet: see forwardRun).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { RunResources } from '../../lib/runbook/resources';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresSandbox } from '../../lib/platforms/local/postgres-sandbox';
import { LocalPostgresPlatform } from '../../lib/platforms/local/local-postgres-platform';
import { postgresRunbook, recordLocalPostgresPlan } from '../../lib/rehearsal/postgres-rehearsal';
import { type PostgresFlowSettings } from '../../lib/flows/postgres-common';
import { runRunbook } from '../../lib/runbook/engine';
import { connectPg, type PgClient } from '../../lib/engines/postgres/connection';
import type { PgConnectionRecorder, PostgresEndpoint } from '../../lib/engines/postgres/endpoint';
import { splitPgStatements } from '../../lib/engines/postgres/recording-client';
import type { PostgresPlatform } from '../../lib/platforms/postgres-platform';
import type { PlanEntry } from '../../lib/runbook/plan-recording';
import type { LocalPostgresServer, LocalPostgresServers } from '../../lib/platforms/local/local-postgres-platform';
import { createAppRole, PG_SANDBOX_DATABASE } from '../../lib/platforms/local/postgres-sandbox';
import { initdbArguments } from '../../lib/platforms/local/postgres-instance';
import { postgresCompleteRunbook, postgresSwitchBackRunbook } from '../../lib/flows/postgres-switch-back';
import { currentStepId } from '../../lib/runbook/current-step';
import { postgresSettings } from '../../lib/cli/postgres';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger } from '../../lib/util/log';

jest.setTimeout(600_000);

/** A statement's kind: literals, identifiers, numbers and repeated list items reduced. */
export function statementKind(statement: string): string {
  return statement
    // A plan's named run-time values (`<source sequence value>`) are values too.
    .replace(/<[A-Za-z][^<>]*>/g, '?')
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

/**
 * The running sandbox as the platform sees it, observed: every server endpoint (the flow's and
 * the platform's own admin sessions) passes through the recorder above, the pooler's console
 * commands are noted as sent (PAUSE, RELOAD, RESUME, SHOW …), and initdb, the ini rewrite and a
 * server's removal are noted where the platform asks for them. Everything still runs for real.
 */
function observedSandbox(sandbox: PostgresSandbox, seen: Seen): LocalPostgresServers {
  const server = (real: LocalPostgresServer): LocalPostgresServer => ({
    version: real.version,
    port: real.port,
    endpoint: (database?: string) => ({ ...real.endpoint(database), pgRecorder: passThrough(real.endpoint(database), seen) }),
    serverLog: () => real.serverLog(),
  });
  const pooler = sandbox.pgbouncer;
  const command = pooler.command.bind(pooler);
  // The real pause/resumeNow/showDatabase call `this.command`: noted from the text really sent.
  pooler.command = async (sql: string) => {
    note(seen, currentStepId(), statementKind(sql));
    return command(sql);
  };
  return {
    app: sandbox.app,
    instances: { find: (name) => (sandbox.instances.has(name) ? server(sandbox.instance(name)) : undefined), has: (name) => sandbox.instances.has(name) },
    instance: (name) => server(sandbox.instance(name)),
    newInstance: async (name, version) => {
      note(seen, currentStepId(), toolKind(['initdb', ...initdbArguments('dir', 'file')].join(' ')));
      note(seen, currentStepId(), toolKind('postgres -D dir'));
      return server(await sandbox.newInstance(name, version));
    },
    removeInstance: async (name) => {
      note(seen, currentStepId(), toolKind('stop postgres'));
      await sandbox.removeInstance(name);
    },
    createAppRole: (instance, options) => createAppRole(instance.endpoint(), sandbox.app, options),
    pgbouncer: {
      command: (sql) => pooler.command(sql),
      pause: (timeoutMs) => pooler.pause(timeoutMs),
      // A fresh console connection (not `command`): noted here with the statement it sends.
      resume: async () => {
        note(seen, currentStepId(), statementKind(`RESUME ${PG_SANDBOX_DATABASE}`));
        await pooler.resume();
      },
      resumeNow: () => pooler.resumeNow(),
      repoint: async (backend) => {
        note(seen, currentStepId(), toolKind('rewrite pgbouncer.ini'));
        await pooler.repoint(backend);
      },
      showDatabase: () => pooler.showDatabase(),
    },
  };
}

/** Statement kinds and tools per step, as the plan recorded them. */
function plannedKinds(entries: PlanEntry[]): Seen {
  const planned: Seen = new Map();
  for (const entry of entries) {
    if (entry.type !== 'call') continue;
    note(planned, entry.step, entry.channel === 'process' ? toolKind(entry.operation) : statementKind(entry.operation));
  }
  return planned;
}

/** What a step sent that its plan lacks (`step: kind`). */
function notPlanned(sent: Seen, planned: Seen): string[] {
  const missing: string[] = [];
  for (const [step, kinds] of sent) for (const kind of kinds) if (!planned.get(step)?.has(kind)) missing.push(`${step}: ${kind}`);
  return missing;
}

/** `switch-back` is not held yet: its plan stops at its checksum step (the recorder answers a sequence read with a different stand-in per server). */
async function forwardRun(way: 'switch-back' | 'complete') {
  const args = parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--method', 'logical', '--switch-timeout', '20000']);
  const sandbox = await PostgresSandbox.start({ log: silentLogger, seedRows: 50 });
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-pg-plan-covers-'));
  const settings: PostgresFlowSettings = { ...postgresSettings(loadEnvironment('local'), args), catchUpTimeoutMs: 120000, workDir: sandbox.baseDir };
  const resources = new RunResources();
  try {
    // GIVEN the local plan, recorded from the steps against the sandbox's recording stand-in and recording clients (what --env local prints)
    const plan = await recordLocalPostgresPlan({ runbook: (platform) => postgresRunbook('logical', platform, settings), appUsers: settings.appUsers });
    expect(plan.stoppedAt).toBeUndefined();

    // WHEN the same runbook runs for real on the observed sandbox
    const sent: Seen = new Map();
    const platform = new LocalPostgresPlatform(observedSandbox(sandbox, sent), { appUsers: settings.appUsers });
    const run = await runRunbook({ runbook: postgresRunbook('logical', platform, settings), environment: 'local', stateDir, dryRun: false, log: silentLogger, resources });
    expect(run.error).toBeUndefined();
    expect(run.result).toBe('success');

    // THEN per step, nothing was sent or run that the plan lacks
    expect(notPlanned(sent, plannedKinds(plan.entries))).toEqual([]);
    // and the comparison is not empty: the switch's statements and the pooler's commands were seen on both sides
    expect([...(sent.get('postgres.switch') ?? [])].length).toBeGreaterThan(10);
    expect(sent.get('postgres.switch')).toContain('PAUSE app');
    expect(sent.get('postgres.target.create')).toContain(toolKind(['initdb', ...initdbArguments('dir', 'file')].join(' ')));

    // GIVEN the way back's plan, recorded after the forward plan (the recorder remembers what it built)
    await resources.disposeAll();
    const wayRunbook = (on: PostgresPlatform) => (way === 'switch-back' ? postgresSwitchBackRunbook(on, settings) : postgresCompleteRunbook(on, settings, { deleteOld: true }));
    const wayPlan = await recordLocalPostgresPlan({ runbook: wayRunbook, appUsers: settings.appUsers, carryOver: plan.carryOver });
    expect(wayPlan.stoppedAt).toBeUndefined();
    // WHEN it runs for real
    const waySent: Seen = new Map();
    const wayRun = await runRunbook({ runbook: wayRunbook(new LocalPostgresPlatform(observedSandbox(sandbox, waySent), { appUsers: settings.appUsers })), environment: 'local', stateDir, dryRun: false, log: silentLogger, resources });
    expect(wayRun.error).toBeUndefined();
    expect(wayRun.result).toBe('success');
    // THEN nothing it sent is missing from its plan
    expect(notPlanned(waySent, plannedKinds(wayPlan.entries))).toEqual([]);
    return { waySent };
  } finally {
    await resources.disposeAll();
    await sandbox.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

test('GIVEN the logical flow and then complete --delete-old WHEN each runs under --execute on real servers THEN every statement kind and tool each step sent is in that step\'s recorded local plan', async () => {
  const { waySent } = await forwardRun('complete');
  expect(waySent.get('postgres.source.delete')).toContain(toolKind('stop postgres'));
});
