/**
 * Rule (issue 10, one path for plan and run): the AWS MySQL-family way-back dry runs (switch-back,
 * switch-forth, complete without --execute, on an RDS MySQL instance, through the RDS Proxy, or
 * on an Aurora MySQL cluster) print the plan recorded from the steps themselves
 * (recordAwsMysqlWayBackPlan: the same runbook on a planning gateway and recording SQL
 * connections, starting where the earlier runs left the move), call by call: every AWS call and
 * every statement the run would make, not the steps' hand-written descriptions alone. The CLI's
 * dry run prints these calls (test/platforms/aws/emulated-aurora-mysql-way-back.integration.test.ts
 * runs it against the emulator).
 */
import type { CutoverEnvironment } from '../../config/cutover';
import { recordAwsMysqlWayBackPlan } from '../../lib/cli/way-back';
import { mysqlSettings } from '../../lib/cli/settings';
import { parseCutoverArgs } from '../../lib/cli/args';
import { resolveAwsAuroraMysqlSettings, resolveAwsMysqlSettings } from '../../lib/platforms/aws/settings';
import type { PlanCall, RecordedPlan } from '../../lib/runbook/plan-recording';
import { prodEnvironment } from '../platforms/aws/helpers';
import { auroraEnvironment } from '../platforms/aws/aurora-helpers';

/** What the forward run journaled that the way back reads (its fence's previous groups, its target). */
const FORWARD_FACTS = { sourcePreviousSecurityGroupIds: ['sg-0aaaaaaaaaaaaaaa1'], targetId: 'orders-encrypted', targetClusterId: 'catalog-encrypted' };

function withWayBack(environment: CutoverEnvironment, extra: Partial<NonNullable<CutoverEnvironment['aws']>> = {}): CutoverEnvironment {
  return { ...environment, aws: { ...environment.aws!, reverseReplication: true, ...extra } as NonNullable<CutoverEnvironment['aws']> };
}

const PROXY = { switchPoint: 'proxy', proxy: { name: 'orders-proxy', targetGroupName: 'default', endpoint: 'orders-proxy.proxy-abcdefghijkl.eu-west-1.rds.amazonaws.com', port: 3306 } } as Partial<NonNullable<CutoverEnvironment['aws']>>;

type Platform = 'rds' | 'rds-proxy' | 'aurora';

/** The recorded plan of `command`, offline (no AWS client: nothing read, nothing sent). */
async function recorded(platform: Platform, command: 'switch-back' | 'switch-forth' | 'complete', options: { deleteOld?: boolean } = {}): Promise<RecordedPlan> {
  const environment = platform === 'aurora' ? withWayBack(auroraEnvironment()) : withWayBack(prodEnvironment(), platform === 'rds-proxy' ? PROXY : {});
  const resolved = platform === 'aurora' ? resolveAwsAuroraMysqlSettings(environment, { cleanup: false }) : resolveAwsMysqlSettings(environment, { cleanup: false });
  const settings = mysqlSettings(environment, parseCutoverArgs(['--env', environment.name]));
  return recordAwsMysqlWayBackPlan(resolved, settings, { command, deleteOld: Boolean(options.deleteOld), forwardFacts: FORWARD_FACTS, waits: { pollSeconds: 0.01 } });
}

const calls = (plan: RecordedPlan) => plan.entries.filter((entry): entry is PlanCall => entry.type === 'call');
/** `effect on: operation`, as the plan lists a call (AWS: `rds.ModifyDBInstance`). */
const lines = (plan: RecordedPlan) => calls(plan).map((call) => `${call.effect} ${call.channel === 'aws' ? `${call.on}.${call.operation}` : `${call.on}: ${call.operation}`}`);
const indexOf = (all: string[], pattern: RegExp) => all.findIndex((line) => pattern.test(line));
/** Where each pattern matches first after the previous one's match (-1: not in that order). */
const inOrder = (all: string[], patterns: RegExp[]) => {
  let from = 0;
  return patterns.map((pattern) => {
    const at = all.findIndex((line, index) => index >= from && pattern.test(line));
    if (at >= 0) from = at + 1;
    return { pattern: String(pattern), inOrder: at >= 0 };
  });
};

describe('the AWS MySQL-family way-back dry runs are recorded from their steps', () => {
  test.each([
    ['rds', 'switch-back'],
    ['rds', 'switch-forth'],
    ['rds', 'complete'],
    ['rds-proxy', 'switch-back'],
    ['aurora', 'switch-back'],
    ['aurora', 'switch-forth'],
    ['aurora', 'complete'],
  ] as Array<[Platform, 'switch-back' | 'switch-forth' | 'complete']>)('GIVEN %s WHEN %s is planned THEN every step is recorded to its end, on the state the earlier runs leave (none stops early)', async (platform, command) => {
    const plan = await recorded(platform, command, { deleteOld: true });
    expect({ platform, command, stoppedAt: plan.stoppedAt }).toEqual({ platform, command, stoppedAt: undefined });
    expect(plan.steps.map((step) => ({ id: step.id, status: step.status }))).toEqual(plan.steps.map((step) => ({ id: step.id, status: 'recorded' })));
  });

  test('GIVEN an RDS MySQL forward run WHEN switch-back is planned THEN the plan lifts the fence, freezes the target, promotes the old source, starts replication old -> new and moves the record back, in that order', async () => {
    const all = lines(await recorded('rds', 'switch-back'));
    const order = inOrder(all, [
      /^change rds\.ModifyDBInstance$/, // the fence lifted from the old source
      /^change target: ALTER USER .*ACCOUNT LOCK/, // the target frozen
      /^wait source: SELECT (MASTER|SOURCE)_POS_WAIT/, // the old source executes the target's final position
      /^change source: CALL mysql\.rds_stop_replication$/, // promoted
      /^change target: CALL mysql\.rds_set_external_master\(/, // the way forth from the old source
      /^change route53\.ChangeResourceRecordSets$/, // the record back
    ]);
    expect(order).toEqual(order.map((step) => ({ ...step, inOrder: true })));
  });

  test('GIVEN the RDS Proxy as the switch point WHEN switch-back is planned THEN the proxy target moves back from the target to the old source and no Route 53 record is changed', async () => {
    const all = lines(await recorded('rds-proxy', 'switch-back'));
    expect(all).toContain('change rds.DeregisterDBProxyTargets');
    expect(all).toContain('change rds.RegisterDBProxyTargets');
    expect(all.filter((line) => /route53\.ChangeResourceRecordSets/.test(line))).toEqual([]);
  });

  test('GIVEN an RDS MySQL switch-back WHEN switch-forth is planned THEN the old source is frozen, the target promoted, and the old source fenced again at the end', async () => {
    const all = lines(await recorded('rds', 'switch-forth'));
    expect(indexOf(all, /^change source: ALTER USER .*ACCOUNT LOCK/)).toBeGreaterThanOrEqual(0);
    expect(indexOf(all, /^change target: CALL mysql\.rds_stop_replication$/)).toBeGreaterThan(indexOf(all, /^change source: ALTER USER .*ACCOUNT LOCK/));
    expect(all.filter((line) => line.startsWith('change ')).at(-1)).toBe('change rds.ModifyDBInstance');
  });

  test('GIVEN an Aurora MySQL forward run WHEN complete --delete-old is planned THEN the way back stops with Aurora\'s procedure names, its account is dropped on both sides, then the instances and the cluster are deleted', async () => {
    const all = lines(await recorded('aurora', 'complete', { deleteOld: true }));
    expect(all).toContain('change source: CALL mysql.rds_reset_external_source');
    expect(all.filter((line) => /DROP USER IF EXISTS/.test(line)).map((line) => line.replace(/^change (\w+):.*/, '$1'))).toEqual(['target', 'source']);
    expect(indexOf(all, /^change rds\.DeleteDBCluster$/)).toBeGreaterThan(indexOf(all, /^change rds\.DeleteDBInstance$/));
  });
});
