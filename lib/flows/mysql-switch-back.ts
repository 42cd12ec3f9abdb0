import type { Connection } from '../engines/mysql/connection';
import { replicaStatus } from '../engines/mysql/server';
import type { MysqlPlatform } from '../platforms/mysql-platform';
import { AbortRun, PreconditionFailed, type Runbook, type Step, type StepContext } from '../runbook/step';
import { z } from 'zod';
import type { FactsSchema } from '../runbook/facts-schema';
import { BACK, FREEZE_SETTLED_MS, dialectOf, FORWARD, MYSQL_ENCRYPT_FACTS, MYSQL_SWITCH_AGAIN_FACTS, open, resumeSwitch, switchSides, switchWrites, verifyChecksumsStep, waitUntilCaughtUp, wayBackAccount, type MysqlFlowSettings, type Side, type SwitchDirection } from './mysql-encrypt';
import type { WayBackCommand } from '../runbook/way-back-command';

/**
 * The way back (issue 12): after the forward switch the old source replicates from the target
 * (started by mysql.switch from the frozen, equal state). `switch-back RUN_ID` is the same
 * bounded switch in the other direction — freeze the target, wait until the source executed
 * its final position, promote the source, start replication source → target again (so one can
 * switch forth), move the endpoint back — with the same sub-phases, abort rules, resume rules
 * and report. It is its own run (own journal, `--resume` of its own id).
 */
export function mysqlSwitchBackRunbook(platform: MysqlPlatform, settings: MysqlFlowSettings): Runbook {
  return mysqlSwitchAgainRunbook(platform, settings, BACK);
}

/**
 * `switch-forth RUN_ID`: after a switch-back, traffic to the target again — the forward switch
 * itself (freeze the source, wait until the target executed its final position, promote the
 * target, start replication target → source again, move the endpoint), on the replication the
 * switch-back started, with the same gates, sub-phases, abort and resume rules. Its own run;
 * afterwards `switch-back RUN_ID` works again.
 */
export function mysqlSwitchForthRunbook(platform: MysqlPlatform, settings: MysqlFlowSettings): Runbook {
  return mysqlSwitchAgainRunbook(platform, settings, FORWARD);
}

/** A switch between the two sides of a finished run, in `direction`, as its own run (switch-back, switch-forth). */
function mysqlSwitchAgainRunbook(platform: MysqlPlatform, settings: MysqlFlowSettings, direction: SwitchDirection): Runbook {
  const source = (context: StepContext) => open(context, 'source', () => platform.source());
  const target = (context: StepContext) => open(context, 'target', () => platform.target(context.facts));
  const reverse = platform.reverseReplication;
  const back = direction.name === 'back';
  const verb = back ? 'switch-back' : 'switch-forth';
  const Verb = back ? 'Switch-back' : 'Switch-forth';
  const { from, to } = direction;
  const sideOf = (side: Side) => (side === 'source' ? source : target);
  // The replication the switch goes along: into `to` from `from`.
  const way = back ? 'replication target -> source (the way back, started by the switch)' : 'replication source -> target (the way forth, started by the switch back)';
  const wayShort = back ? 'replication target -> source (the way back)' : 'replication source -> target (the way forth)';

  const preflight: Step = {
    id: `mysql.${verb}.preflight`,
    kind: 'check',
    describe: () => [
      `Check: traffic is on the ${from} (${platform.kind}); ${way} runs on the ${to}`,
      'with both threads and no error; otherwise refuse, saying why, with nothing changed.',
    ],
    async apply(context) {
      // Refusals before anything changed: a plan lists them, an executed run aborts on purpose.
      const refuse = (message: string) => (context.dryRun ? new PreconditionFailed(message) : new AbortRun(message));
      if (!reverse) throw refuse(`The ${platform.kind} platform cannot switch back yet (it has no reverse replication): traffic stays on the ${from}.`);
      if (context.facts.switchPhase) return {}; // a resumed run decides from the actual state
      const endpoint = await platform.endpointTarget(context);
      if (endpoint.pointsTo !== from) throw refuse(`${Verb} refused: traffic is not on the ${from} (${endpoint.detail}); nothing to ${back ? 'switch back' : 'switch forth'}. Nothing was changed.`);
      const toConnection = await sideOf(to)(context);
      const dialect = await dialectOf(context, platform, toConnection);
      const status = await replicaStatus(toConnection, dialect);
      if (!status) {
        throw refuse(
          `${Verb} refused: replication ${from} -> ${to} is not configured on the ${to} (${back ? 'the way back is built by mysql.switch; `complete` removes it' : 'the way forth is started by switch-back'}). ` +
            `Without it the ${to} lacks every write made on the ${from}. Nothing was changed; traffic stays on the ${from}.`,
        );
      }
      if (status.lastError || !status.ioRunning || !status.sqlRunning) {
        throw refuse(
          `${Verb} refused: ${wayShort} is broken on the ${to}: ${status.lastError || `IO ${status.ioRunning ? 'running' : 'stopped'}, SQL ${status.sqlRunning ? 'running' : 'stopped'}`}. ` +
            `The ${to} would miss writes made on the ${from}. Nothing was changed; traffic stays on the ${from}. Fix it (SHOW SLAVE STATUS on the ${to}), then run ${verb} again.`,
        );
      }
      return { [back ? 'reverseReplicationExecutedAt' : 'forwardReplicationExecutedAt']: `${status.executedFile}:${status.executedPosition}` };
    },
  };

  const catchUp: Step = {
    id: `mysql.${verb}.catch-up`,
    kind: 'action',
    describe: () => [`Wait until the ${to} is healthy and less than ${settings.lagThresholdMs} ms behind the ${from} (gate before the ${back ? 'switch back' : 'switch forth'}).`],
    async apply(context) {
      const fromConnection = await sideOf(from)(context);
      const lag = await waitUntilCaughtUp(context, fromConnection, await sideOf(to)(context), await dialectOf(context, platform, fromConnection), settings, `${to} (replicating from the ${from})`);
      return { lagBeforeSwitchMs: Math.round(lag) };
    },
  };

  const switchAgain: Step = {
    id: `mysql.${verb}`,
    kind: 'action',
    irreversible: true,
    hookBefore: 'before-switch',
    hookAfter: 'after-switch',
    describe: () => [
      `Last lag gate, nothing frozen yet: measure again until the ${to} is within ${FREEZE_SETTLED_MS} ms of the ${from} or stops getting closer; over ${settings.lagThresholdMs} ms for ${settings.switchTimeoutMs} ms, refuse (the ${from} never frozen).`,
      `Within ${settings.switchTimeoutMs} ms (--switch-timeout), else abort and reopen the ${from}:`,
      `freeze the ${from}: lock ${settings.appUsers.join(', ')}${platform.describe.readOnly(true)}, kill their sessions;`,
      `read the ${from}'s final binlog position; wait until the ${to} executed it (MASTER_POS_WAIT);`,
      `stop replication on the ${to}, unlock the app accounts there${platform.describe.readOnly(false)} and read its binlog position (same round trip);`,
      `start replication ${to} -> ${from} from that position (so one can switch ${back ? 'forth' : 'back'} again; the ${from} stays frozen for the app accounts);`,
      ...(back ? (reverse ? reverse.describe.switchEndpointBack() : ['(this platform cannot switch back)']) : platform.describe.switchEndpoint()),
      `done once replication ${to} -> ${from} runs (IO and SQL threads), else --resume after fixing it.`,
    ],
    precondition: async (context) => {
      if (context.facts.switchPhase) return;
      const toConnection = await sideOf(to)(context);
      const dialect = await dialectOf(context, platform, toConnection);
      const status = await replicaStatus(toConnection, dialect);
      if (!status?.ioRunning || !status.sqlRunning) {
        throw new AbortRun(`${Verb} not started: replication ${from} -> ${to} is not running on the ${to} (${status?.lastError || 'threads stopped'}); the ${from} was never frozen and keeps the traffic. Fix it, then --resume`);
      }
    },
    async apply(context) {
      const sides = switchSides(platform, direction, source, target);
      if (context.facts.switchPhase) {
        const finished = await resumeSwitch(context, platform, settings, sides);
        if (finished) return finished;
      }
      return switchWrites(context, platform, settings, sides);
    },
  };

  const verify = verifyChecksumsStep(
    `mysql.${verb}.verify.checksums`,
    settings,
    `Compare per-table checksums of the frozen ${from} and of the ${to} at the ${back ? 'switch-back' : 'switch-forth'} position (consistent snapshots taken during the ${back ? 'switch back' : 'switch forth'}).`,
  );

  return {
    flow: `mysql.${verb}`,
    summary: [back ? `back to: ${platform.describe.source()}` : `forth to: the target again (from ${platform.describe.source()})`, `platform: ${platform.kind}`],
    facts: MYSQL_SWITCH_AGAIN_FACTS,
    steps: [preflight, catchUp, switchAgain, verify],
  };
}

/**
 * The forward run's facts that `switch-back`, `switch-forth` and `complete RUN_ID` read from its
 * journal before anything runs: the forward flow's own (where it froze, how far its switch got)
 * and those the AWS platforms take from it (the old source's groups before the fence, the
 * target's id). A hand-edited or foreign journal is refused naming the fact, not half-used.
 */
export const MYSQL_FORWARD_FACTS_READ_BY_WAY_BACK: FactsSchema = {
  ...MYSQL_ENCRYPT_FACTS,
  shape: {
    ...MYSQL_ENCRYPT_FACTS.shape,
    sourcePreviousSecurityGroupIds: z.array(z.string().min(1)),
    targetId: z.string().min(1),
    targetClusterId: z.string().min(1),
  },
};

/**
 * The facts a resumed complete decides on: whether the old source is deleted already (then its
 * way back is not touched again) and what the stop of the way back left. A `"false"` where a
 * boolean belongs would read as true and skip the stop.
 */
export const MYSQL_COMPLETE_FACTS: FactsSchema = {
  shape: {
    reverseReplicationStopped: z.boolean(),
    reverseReplicationExecutedAtStop: z.string().nullable(),
    wayBackAccountDropped: z.string().min(1),
    sourceDeleted: z.boolean(),
    sourceFinalSnapshot: z.string().min(1),
  },
};

/**
 * `complete RUN_ID`: the move is final. Replication target -> source (the way back) stops and
 * is forgotten; only with `--delete-old` is the old source deleted. Refused while traffic is on
 * the source (after a switch back): completing then would retire the side traffic is on.
 */
export function mysqlCompleteRunbook(platform: MysqlPlatform, settings: MysqlFlowSettings, options: { deleteOld: boolean }): Runbook {
  const source = (context: StepContext) => open(context, 'source', () => platform.source());
  const reverse = platform.reverseReplication;

  const preflight: Step = {
    id: 'mysql.complete.preflight',
    kind: 'check',
    describe: () => ['Check: traffic is on the target (complete retires the old source; it is refused while traffic is on the source).'],
    async apply(context) {
      const refuse = (message: string) => (context.dryRun ? new PreconditionFailed(message) : new AbortRun(message));
      if (!reverse) throw refuse(`The ${platform.kind} platform has no reverse replication: there is nothing to complete beyond the run's own clean-up.`);
      const endpoint = await platform.endpointTarget(context);
      if (endpoint.pointsTo !== 'target') throw refuse(`Complete refused: traffic is not on the target (${endpoint.detail}). Nothing was changed.`);
      return {};
    },
  };

  const stopReverse: Step = {
    id: 'mysql.reverse-replication.stop',
    kind: 'action',
    describe: () => [
      'Stop replication target -> source on the source and forget it (STOP SLAVE; RESET SLAVE ALL): after this, switch-back is no longer possible;',
      `then drop the way back's replication account ${wayBackAccount(settings, FORWARD)}@${platform.replicationAccountHost()} on the target and on the source (no login left for a retired path).`,
    ],
    async apply(context) {
      if (context.facts.sourceDeleted) return {};
      const connection: Connection = await source(context);
      const dialect = await dialectOf(context, platform, connection);
      const status = await replicaStatus(connection, dialect);
      if (status) {
        await connection.query(dialect.stopReplication());
        await connection.query(dialect.resetReplication());
      }
      // Only now: with replication back stopped, the DROP on the target cannot reach the source
      // through it, and each side drops its own copy (the account replicated to both).
      const user = wayBackAccount(settings, FORWARD);
      const account = `'${user}'@'${platform.replicationAccountHost()}'`;
      await (await open(context, 'target', () => platform.target(context.facts))).query(`DROP USER IF EXISTS ${account}`);
      await connection.query(`DROP USER IF EXISTS ${account}`);
      return { reverseReplicationStopped: true, reverseReplicationExecutedAtStop: status ? `${status.executedFile}:${status.executedPosition}` : null, wayBackAccountDropped: user };
    },
  };

  const deleteSource: Step = {
    id: 'mysql.source.delete',
    kind: 'action',
    describe: () =>
      options.deleteOld ? (reverse?.describe.deleteSource() ?? ['(this platform cannot delete the old source)']) : ['Keep the old source (pass --delete-old to delete it); it stays frozen for the app accounts.'],
    async apply(context) {
      if (!options.deleteOld) {
        context.log.info('old source kept (frozen); to delete it: complete RUN_ID --execute --delete-old');
        return { sourceDeleted: false };
      }
      return reverse!.deleteSource(context);
    },
  };

  return {
    flow: 'mysql.complete',
    summary: [`retire: ${platform.describe.source()}`, `platform: ${platform.kind}`, `delete the old source: ${options.deleteOld ? 'yes (--delete-old)' : 'no'}`],
    facts: MYSQL_COMPLETE_FACTS,
    steps: [preflight, stopReverse, deleteSource],
  };
}

/** The runbook of a way-back command on a platform (the sandbox's, AWS's, a recording stand-in). */
export function mysqlWayBackRunbook(command: WayBackCommand, platform: MysqlPlatform, settings: MysqlFlowSettings, options: { deleteOld: boolean }): Runbook {
  if (command === 'complete') return mysqlCompleteRunbook(platform, settings, options);
  return command === 'switch-forth' ? mysqlSwitchForthRunbook(platform, settings) : mysqlSwitchBackRunbook(platform, settings);
}
