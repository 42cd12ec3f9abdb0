/**
 * Rule (issue 10, one path for plan and run): what a MySQL-family step does under --execute —
 * every statement that changes a server, every local operation (mariadb-backup, a server
 * start, HAProxy's runtime commands and its config rewrite) — is in that step's dry-run plan,
 * in the same order; and every kind of statement a step sends (reads too) is in its plan.
 *
 * The plan is the local one `--env local` prints (recordLocalMysqlPlan: the platform on the
 * sandbox's recording stand-in, recording connections). The same runbooks then run for real on
 * a sandbox under write load, observed: the SQL through the connections' statement tap, the
 * platform's operations through a wrapper of the sandbox that notes them and does them. A
 * statement or operation a step reaches only on real servers, or in another order, fails it.
 * The way back is held the same way, with the plans the sandbox's dry runs print
 * (recordLocalMysqlWayBackPlan: recorded on the stand-in the runs before it leave): switch-back,
 * switch-forth, complete --delete-old.
 */
import { LocalMysqlPlatform, type LocalMysqlServer, type LocalMysqlServers } from '../../lib/platforms/local/local-mysql-platform';
import type { MysqlSandbox } from '../../lib/platforms/local/mysql-sandbox';
import type { MariadbInstance } from '../../lib/platforms/local/mariadb-instance';
import { mysqlEncryptRunbook } from '../../lib/flows/mysql-encrypt';
import { mysqlCompleteRunbook, mysqlSwitchBackRunbook, mysqlSwitchForthRunbook } from '../../lib/flows/mysql-switch-back';
import { recordLocalMysqlPlan, recordLocalMysqlWayBackPlan } from '../../lib/rehearsal/mysql-rehearsal';
import type { WayBackCommand } from '../../lib/runbook/way-back-command';
import { tapStatements } from '../../lib/engines/mysql/connection';
import { effectOf, splitStatements } from '../../lib/engines/mysql/recording-connection';
import type { MysqlPlatform } from '../../lib/platforms/mysql-platform';
import type { PlanEntry } from '../../lib/runbook/plan-recording';
import type { Runbook } from '../../lib/runbook/step';
import { currentStepId } from '../../lib/runbook/current-step';
import { mysqlTestSettings as settings, withMysqlWorld } from '../support/flow-world';

jest.setTimeout(900_000);

/** A statement's kind: run-time values, literals, identifiers, numbers and repeated column expressions reduced to `?`. */
function statementKind(statement: string): string {
  return statement
    .replace(/<[A-Za-z][^<>]*>/g, '?')
    .replace(/'(?:[^'\\]|\\.)*'/g, '?')
    .replace(/`(?:[^`]|``)*`/g, '?')
    .replace(/\b\d+\b/g, '?')
    .replace(/\s+/g, ' ')
    .replace(/(\?\.\?\.\?\.\?)/g, '?')
    // One checksum expression per column, by type (HEX for binary ones); the plan names one stand-in column.
    .replace(/COALESCE\(HEX\(\?\), \?\)/g, 'COALESCE(CAST(? AS CHAR), ?)')
    .replace(/(COALESCE\(CAST\(\? AS CHAR\), \?\))(?:, \1)+/g, '$1')
    .trim();
}

/** A local operation's kind, from the text the plan records for it (anything else stays whole, and must then be sent as such). */
function operationKind(text: string): string {
  if (text.startsWith('runtime API: ')) return statementKind(text);
  if (text.startsWith('mariadb-backup ')) return ['mariadb-backup', ...(text.match(/ --[a-z-]+/g) ?? []).map((flag) => flag.trim())].join(' ');
  for (const [pattern, kind] of [
    [/^write <\w+ my\.cnf>/, 'write my.cnf'],
    [/^mariadbd /, 'mariadbd'],
    [/^rewrite haproxy\.cfg/, 'rewrite haproxy.cfg'],
    [/^rewrite <\w+ my\.cnf>/, 'rewrite my.cnf'],
    [/^stop mariadbd /, 'stop and remove a server'],
  ] as const) {
    if (pattern.test(text)) return kind;
  }
  return text;
}

interface Done {
  step: string;
  on: string;
  kind: string;
  /** The plan sends it once per row of an earlier read: any number of times. */
  forEach?: boolean;
}

/** What the steps planned: changes in order, and every kind per step. */
function planned(entries: PlanEntry[]): { changes: Done[]; kinds: Set<string> } {
  const changes: Done[] = [];
  const kinds = new Set<string>();
  for (const entry of entries) {
    if (entry.type !== 'call') continue;
    const kind = entry.channel === 'process' ? operationKind(entry.operation) : statementKind(entry.operation);
    kinds.add(`${entry.step} ${entry.on}: ${kind}`);
    if (entry.effect === 'change') changes.push({ step: entry.step, on: entry.on, kind, ...(entry.forEach ? { forEach: true } : {}) });
  }
  return { changes, kinds };
}

/** A run observed: what each step changed, in order, and every kind it sent. */
class Observed {
  readonly changes: Done[] = [];
  readonly kinds = new Set<string>();

  note(on: string, kind: string, change: boolean): void {
    const step = currentStepId();
    if (step === undefined) return; // the test's own reads and the load, not a step's
    this.kinds.add(`${step} ${on}: ${kind}`);
    if (change) this.changes.push({ step, on, kind });
  }

  /**
   * Every change, in order, found in the plan's changes in the same order (a plan may list a
   * change a run does not need, e.g. a second KILL round; one done "for each" row may repeat).
   * Returns the first change the plan lacks there, with what the plan had around it.
   */
  firstUnplanned(plan: Done[]): object | undefined {
    const same = (p: Done, s: Done) => p.step === s.step && p.on === s.on && p.kind === s.kind;
    let j = 0;
    for (const [i, sent] of this.changes.entries()) {
      let k = j;
      while (k < plan.length && !same(plan[k], sent)) k += 1;
      if (k === plan.length) return { sent, before: this.changes.slice(Math.max(0, i - 3), i), planFrom: plan.slice(Math.max(0, j - 3), j + 5) };
      j = plan[k].forEach ? k : k + 1;
    }
    return undefined;
  }

  unplannedKinds(plan: Set<string>): string[] {
    return [...this.kinds].filter((kind) => !plan.has(kind));
  }
}

/**
 * The running sandbox as the platform sees it, observed: every local operation is noted with
 * the step asking for it, then done for real (HAProxy's commands from the text really sent).
 */
function observedSandbox(sandbox: MysqlSandbox, seen: () => Observed): LocalMysqlServers {
  const haproxy = sandbox.haproxy;
  const command = haproxy.command.bind(haproxy);
  haproxy.command = async (commands: string | string[]) => {
    const line = Array.isArray(commands) ? commands.join('; ') : commands;
    seen().note('haproxy', statementKind(`runtime API: ${line}`), !/^(show|get)\b/.test(line));
    return command(commands);
  };
  const server = (name: string, real: MariadbInstance): LocalMysqlServer => ({
    port: real.port,
    endpoint: () => real.endpoint(),
    backup: async (dir) => {
      seen().note(name, 'mariadb-backup --defaults-file --backup --target-dir', true);
      seen().note(name, 'mariadb-backup --prepare --target-dir', true);
      return real.backup(dir);
    },
    restoreFrom: async (dir) => {
      seen().note(name, 'write my.cnf', true);
      seen().note(name, 'mariadbd', true);
      await real.restoreFrom(dir);
    },
    setReadOnlyAtStartup: async (readOnly) => {
      // Written only when it changes what the server starts as (a repeated call leaves the file alone).
      if (real.startsReadOnly !== readOnly) seen().note(name, 'rewrite my.cnf', true);
      await real.setReadOnlyAtStartup(readOnly);
    },
  });
  return {
    rootPassword: sandbox.rootPassword,
    instances: { has: (name) => sandbox.instances.has(name) },
    instance: (name) => server(name, sandbox.instance(name)),
    newInstance: (name, serverId, options) => server(name, sandbox.newInstance(name, serverId, options)),
    removeInstance: async (name) => {
      seen().note(name, 'stop and remove a server', true);
      await sandbox.removeInstance(name);
    },
    freshFolder: (name) => sandbox.freshFolder(name),
    haproxy: {
      command: (commands) => haproxy.command(commands),
      servers: () => haproxy.servers(),
      park: async (slot, to) => {
        await haproxy.park(slot, to);
        seen().note('haproxy', 'rewrite haproxy.cfg', true);
      },
      switchTo: async (slot) => {
        await haproxy.switchTo(slot);
        seen().note('haproxy', 'rewrite haproxy.cfg', true);
      },
    },
  };
}

test('GIVEN the local plans of the forward run, switch-back, switch-forth and complete --delete-old WHEN each runs under --execute on real servers under load THEN every change each step made is in its plan in the same order, and every kind of statement it sent', async () => {
  await withMysqlWorld('rc-mysql-plan-covers-', async (world) => {
    let observed = new Observed();
    const platform = new LocalMysqlPlatform(observedSandbox(world.sandbox, () => observed));
    const untap = tapStatements((server, text) => {
      for (const statement of splitStatements(text)) if (statement !== 'SELECT 1') observed.note(server, statementKind(statement), effectOf(statement) === 'change');
    });
    const results: Record<string, { unplannedChange?: object; unplannedKinds: string[]; changes: number }> = {};
    try {
      const runs: Array<[string, (on: MysqlPlatform) => Runbook, WayBackCommand?]> = [
        ['forward', (on) => mysqlEncryptRunbook(on, settings)],
        ['switch-back', (on) => mysqlSwitchBackRunbook(on, settings), 'switch-back'],
        ['switch-forth', (on) => mysqlSwitchForthRunbook(on, settings), 'switch-forth'],
        ['complete --delete-old', (on) => mysqlCompleteRunbook(on, settings, { deleteOld: true }), 'complete'],
      ];
      for (const [name, runbook, command] of runs) {
        // GIVEN its local plan: the forward one as --env local prints it; the way back's as the
        // sandbox's dry run prints it (recorded on the stand-in the runs before it leave)
        const plan = command ? await recordLocalMysqlWayBackPlan(command, settings, { deleteOld: true }) : await recordLocalMysqlPlan({ runbook, databases: settings.databases });
        expect({ name, stoppedAt: plan.stoppedAt }).toEqual({ name, stoppedAt: undefined });
        // WHEN it runs for real
        observed = new Observed();
        const run = await world.run(runbook(platform));
        expect({ name, result: run.result, error: run.error }).toEqual({ name, result: 'success', error: undefined });
        // THEN (collected, so one failure shows every run's findings)
        const { changes, kinds } = planned(plan.entries);
        results[name] = { unplannedChange: observed.firstUnplanned(changes), unplannedKinds: observed.unplannedKinds(kinds), changes: observed.changes.length };
        if (name === 'forward') {
          // the comparison is not empty: the platform's operations and the way back's statements were seen
          expect([...observed.kinds]).toEqual(
            expect.arrayContaining([
              'mysql.replica.create source: mariadb-backup --defaults-file --backup --target-dir',
              'mysql.target.clone target: mariadbd',
              'mysql.switch haproxy: runtime API: set server db/blue state maint; shutdown sessions server db/blue; set server db/green state ready',
              "mysql.switch source: CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY PASSWORD ?",
              "mysql.switch source: CHANGE MASTER TO MASTER_HOST=?, MASTER_PORT=?, MASTER_USER=?, MASTER_PASSWORD=?, MASTER_LOG_FILE=?, MASTER_LOG_POS=?, MASTER_USE_GTID=no, MASTER_SSL=?",
            ]),
          );
        }
      }
    } finally {
      untap();
    }
    expect(results).toEqual({
      forward: { unplannedChange: undefined, unplannedKinds: [], changes: expect.any(Number) },
      'switch-back': { unplannedChange: undefined, unplannedKinds: [], changes: expect.any(Number) },
      'switch-forth': { unplannedChange: undefined, unplannedKinds: [], changes: expect.any(Number) },
      'complete --delete-old': { unplannedChange: undefined, unplannedKinds: [], changes: expect.any(Number) },
    });
    expect(Object.values(results).every((result) => result.changes > 3)).toBe(true);
  });
});
