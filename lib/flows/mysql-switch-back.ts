import type { Connection } from '../engines/mysql/connection';
import { replicaStatus } from '../engines/mysql/server';
import type { MysqlPlatform } from '../platforms/mysql-platform';
import { AbortRun, PreconditionFailed, type Runbook, type Step, type StepContext } from '../runbook/step';
import { BACK, FREEZE_SETTLED_MS, dialectOf, FORWARD, open, resumeSwitch, switchSides, switchWrites, verifyChecksumsStep, waitUntilCaughtUp, wayBackAccount, type MysqlFlowSettings } from './mysql-encrypt';

/**
 * The way back (issue 12): after the forward switch the old source replicates from the target
 * (started by mysql.switch from the frozen, equal state). `switch-back RUN_ID` is the same
 * bounded switch in the other direction — freeze the target, wait until the source executed
 * its final position, promote the source, start replication source → target again (so one can
 * switch forth), move the endpoint back — with the same sub-phases, abort rules, resume rules
 * and report. It is its own run (own journal, `--resume` of its own id).
 */
export function mysqlSwitchBackRunbook(platform: MysqlPlatform, settings: MysqlFlowSettings): Runbook {
  const source = (context: StepContext) => open(context, 'source', () => platform.source());
  const target = (context: StepContext) => open(context, 'target', () => platform.target(context.facts));
  const reverse = platform.reverseReplication;

  const preflight: Step = {
    id: 'mysql.switch-back.preflight',
    kind: 'check',
    describe: () => [
      `Check: traffic is on the target (${platform.kind}); replication target -> source (the way back, started by the switch) runs on the source`,
      'with both threads and no error; otherwise refuse, saying why, with nothing changed.',
    ],
    async apply(context) {
      // Refusals before anything changed: a plan lists them, an executed run aborts on purpose.
      const refuse = (message: string) => (context.dryRun ? new PreconditionFailed(message) : new AbortRun(message));
      if (!reverse) throw refuse(`The ${platform.kind} platform cannot switch back yet (it has no reverse replication): traffic stays on the target.`);
      if (context.facts.switchPhase) return {}; // a resumed switch-back decides from the actual state
      const endpoint = await platform.endpointTarget(context);
      if (endpoint.pointsTo !== 'target') throw refuse(`Switch-back refused: traffic is not on the target (${endpoint.detail}); nothing to switch back. Nothing was changed.`);
      const sourceConnection = await source(context);
      const dialect = await dialectOf(context, platform, sourceConnection);
      const status = await replicaStatus(sourceConnection, dialect);
      if (!status) {
        throw refuse(
          'Switch-back refused: replication target -> source is not configured on the source (the way back is built by mysql.switch; `complete` removes it). ' +
            'Without it the source lacks every write made on the target. Nothing was changed; traffic stays on the target.',
        );
      }
      if (status.lastError || !status.ioRunning || !status.sqlRunning) {
        throw refuse(
          `Switch-back refused: replication target -> source (the way back) is broken on the source: ${status.lastError || `IO ${status.ioRunning ? 'running' : 'stopped'}, SQL ${status.sqlRunning ? 'running' : 'stopped'}`}. ` +
            'The source would miss writes made on the target. Nothing was changed; traffic stays on the target. Fix it (SHOW SLAVE STATUS on the source), then run switch-back again.',
        );
      }
      return { reverseReplicationExecutedAt: `${status.executedFile}:${status.executedPosition}` };
    },
  };

  const catchUp: Step = {
    id: 'mysql.switch-back.catch-up',
    kind: 'action',
    describe: () => [`Wait until the source is healthy and less than ${settings.lagThresholdMs} ms behind the target (gate before the switch back).`],
    async apply(context) {
      const targetConnection = await target(context);
      const lag = await waitUntilCaughtUp(context, targetConnection, await source(context), await dialectOf(context, platform, targetConnection), settings, 'source (the old side, replicating from the target)');
      return { lagBeforeSwitchMs: Math.round(lag) };
    },
  };

  const switchBack: Step = {
    id: 'mysql.switch-back',
    kind: 'action',
    irreversible: true,
    hookBefore: 'before-switch',
    hookAfter: 'after-switch',
    describe: () => [
      `Last lag gate, nothing frozen yet: measure again until the source is within ${FREEZE_SETTLED_MS} ms of the target or stops getting closer; over ${settings.lagThresholdMs} ms for ${settings.switchTimeoutMs} ms, refuse (the target never frozen).`,
      `Within ${settings.switchTimeoutMs} ms (--switch-timeout), else abort and reopen the target:`,
      `freeze the target: lock ${settings.appUsers.join(', ')}${platform.describe.readOnly(true)}, kill their sessions;`,
      'read the target\'s final binlog position; wait until the source executed it (MASTER_POS_WAIT);',
      `stop replication on the source, unlock the app accounts there${platform.describe.readOnly(false)} and read its binlog position (same round trip);`,
      'start replication source -> target from that position (so one can switch forth again; the target stays frozen for the app accounts);',
      ...(reverse ? reverse.describe.switchEndpointBack() : ['(this platform cannot switch back)']),
      'done once replication source -> target runs (IO and SQL threads), else --resume after fixing it.',
    ],
    precondition: async (context) => {
      if (context.facts.switchPhase) return;
      const dialect = await dialectOf(context, platform, await source(context));
      const status = await replicaStatus(await source(context), dialect);
      if (!status?.ioRunning || !status.sqlRunning) {
        throw new AbortRun(`Switch-back not started: replication target -> source is not running on the source (${status?.lastError || 'threads stopped'}); the target was never frozen and keeps the traffic. Fix it, then --resume`);
      }
    },
    async apply(context) {
      const sides = switchSides(platform, BACK, source, target);
      if (context.facts.switchPhase) {
        const finished = await resumeSwitch(context, platform, settings, sides);
        if (finished) return finished;
      }
      return switchWrites(context, platform, settings, sides);
    },
  };

  const verify = verifyChecksumsStep(
    'mysql.switch-back.verify.checksums',
    settings,
    'Compare per-table checksums of the frozen target and of the source at the switch-back position (consistent snapshots taken during the switch back).',
  );

  return {
    flow: 'mysql.switch-back',
    summary: [`back to: ${platform.describe.source()}`, `platform: ${platform.kind}`],
    steps: [preflight, catchUp, switchBack, verify],
  };
}

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
    steps: [preflight, stopReverse, deleteSource],
  };
}

