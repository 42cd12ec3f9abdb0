import {
  DeregisterDBProxyTargetsCommand,
  DescribeDBProxyTargetsCommand,
  RegisterDBProxyTargetsCommand,
  type DBProxyTarget,
  type DescribeDBProxyTargetsCommandOutput,
} from '@aws-sdk/client-rds';
import type { Logger } from '../../util/log';
import { nowMs, sleep } from '../../util/time';
import type { AwsGateway } from './gateway';
import type { EndpointState } from '../mysql-platform';

/** The stacks' RDS Proxy (outputs `proxyName`, `proxyTargetGroupName`, `proxyEndpoint`) or aws.proxy in config. */
export interface ProxySwitchSettings {
  name: string;
  /** @default 'default' - the only target group RDS Proxy has */
  targetGroupName: string;
  /** The proxy's endpoint (the application's), polled after the swap. */
  endpoint: string;
  port: number;
}

/** Errors worth retrying within the budget: the proxy is busy (modifying) or the API throttles. */
const RETRYABLE = /^(InvalidDBProxyStateFault|Throttling|ThrottlingException|TooManyRequestsException|RequestLimitExceeded)$/;
/** Register of a target that is already there: the outcome we want (a resumed run, a race). */
const ALREADY_REGISTERED = 'DBProxyTargetAlreadyRegisteredFault';
/** Deregister of a target that is not there any more: the outcome we want. */
const NOT_REGISTERED = /^(DBProxyTargetNotFoundFault|DBInstanceNotFoundFault)$/;

/**
 * RDS Proxy as the switch point (seed 002): the proxy's target group points at one instance;
 * the switch deregisters the old instance and registers the new one
 * (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RegisterDBProxyTargets.html).
 * Clients keep their connection to the proxy; while no target is registered, the proxy makes new
 * borrowers wait up to the target group's ConnectionBorrowTimeout (stacks: 120 s) instead of
 * failing.
 *
 * Every operation reads the target group first (DescribeDBProxyTargets) and changes only what
 * differs, so a resumed run (after kill -9) registers nothing twice and fails on nothing that is
 * already as wanted. The stacks do not manage the target (see stacks/constructs/database-proxy.ts):
 * the scripts register the initial one here.
 */
export class RdsProxySwitch {
  constructor(
    readonly settings: ProxySwitchSettings,
    private readonly aws: AwsGateway,
    private readonly options: { log: Logger; retryBudgetMs: number; retryDelayMs?: number },
  ) {}

  private get group() {
    return { DBProxyName: this.settings.name, TargetGroupName: this.settings.targetGroupName };
  }

  describeSwitch(from: string, to: string): string[] {
    const { name, targetGroupName, endpoint } = this.settings;
    return [
      `RDS Proxy ${name} (target group ${targetGroupName}): DeregisterDBProxyTargets ${from}, then RegisterDBProxyTargets ${to} (each only when DescribeDBProxyTargets shows it is needed);`,
      `poll SELECT @@hostname, @@server_id, @@port through the proxy endpoint ${endpoint} (a new connection each time) until it answers as ${to} answers directly, bounded by --switch-timeout;`,
      `if ${to} cannot be registered, ${from} is registered back (the switch then aborts and the source reopens).`,
    ];
  }

  /** The instances registered in the target group, with their health. */
  async registered(): Promise<Array<{ id: string; state: string }>> {
    const output = await this.aws.read<DescribeDBProxyTargetsCommandOutput>('rds', new DescribeDBProxyTargetsCommand(this.group));
    return (output?.Targets ?? []).filter((t: DBProxyTarget) => t.Type === 'RDS_INSTANCE' && t.RdsResourceId).map((t) => ({ id: t.RdsResourceId!, state: t.TargetHealth?.State ?? 'unknown' }));
  }

  /**
   * The proxy must point at the source (or, on a resumed run past the swap, the target) before
   * the switch. An empty target group (the first run after `cdktf deploy`) gets the source
   * registered; a group pointing elsewhere stops the run.
   */
  async ensureInitialTarget(sourceId: string, targetId: string): Promise<'registered' | 'present'> {
    const current = await this.registered();
    if (current.some((t) => t.id === sourceId || t.id === targetId)) return 'present';
    if (current.length > 0) {
      throw new Error(`RDS Proxy ${this.settings.name} points at ${current.map((t) => t.id).join(', ')}, neither the source ${sourceId} nor the target ${targetId}: deregister it by hand (aws rds deregister-db-proxy-targets --db-proxy-name ${this.settings.name} --db-instance-identifiers …) or fix aws.source, then --resume`);
    }
    await this.register(sourceId);
    this.options.log.info(`RDS Proxy ${this.settings.name}: registered the source ${sourceId} as its initial target`);
    return 'registered';
  }

  /**
   * Move the proxy from `fromId` to `toId`. Past the deregistration, a failed registration puts
   * `fromId` back, so the proxy never stays without a target and the caller can abort cleanly.
   */
  async swap(fromId: string, toId: string): Promise<void> {
    const current = this.aws.planning ? [{ id: fromId, state: 'AVAILABLE' }] : await this.registered();
    if (current.some((t) => t.id === fromId)) {
      await this.retrying(`deregister ${fromId}`, () => this.aws.write('rds', new DeregisterDBProxyTargetsCommand({ ...this.group, DBInstanceIdentifiers: [fromId] })), NOT_REGISTERED);
    }
    if (current.some((t) => t.id === toId) && !this.aws.planning) return;
    try {
      await this.register(toId);
    } catch (error) {
      this.options.log.warn(`RDS Proxy ${this.settings.name}: registering ${toId} failed (${(error as Error).message}); registering ${fromId} back`);
      await this.register(fromId).catch((undo: Error) => this.options.log.error(`RDS Proxy ${this.settings.name}: registering ${fromId} back failed too (${undo.message}): the proxy has no target`));
      throw error;
    }
  }

  /** Where the proxy points, for a resumed switch. */
  async state(sourceId: string, targetId: string): Promise<EndpointState> {
    const current = await this.registered();
    const detail = `RDS Proxy ${this.settings.name} target group ${this.settings.targetGroupName} → ${current.length > 0 ? current.map((t) => `${t.id} (${t.state})`).join(', ') : '(no target)'}`;
    if (current.length === 0) return { pointsTo: 'none', detail };
    if (current.length === 1 && current[0].id === targetId) return { pointsTo: 'target', detail };
    if (current.length === 1 && current[0].id === sourceId) return { pointsTo: 'source', detail };
    return { pointsTo: 'unknown', detail: `${detail} (source ${sourceId}, target ${targetId})` };
  }

  private async register(id: string): Promise<void> {
    await this.retrying(`register ${id}`, () => this.aws.write('rds', new RegisterDBProxyTargetsCommand({ ...this.group, DBInstanceIdentifiers: [id] })), new RegExp(`^${ALREADY_REGISTERED}$`));
  }

  /**
   * The SDK already retries throttling a few times; the proxy being busy (InvalidDBProxyStateFault,
   * e.g. while it is modified) is retried here, until the budget is spent, then reported.
   */
  private async retrying(what: string, call: () => Promise<unknown>, done: RegExp): Promise<void> {
    const deadline = nowMs() + this.options.retryBudgetMs;
    let delay = this.options.retryDelayMs ?? 200;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await call();
        return;
      } catch (error) {
        const name = (error as Error).name;
        if (done.test(name)) return;
        if (!RETRYABLE.test(name)) throw error;
        if (nowMs() + delay > deadline) throw new Error(`RDS Proxy ${this.settings.name}: ${what} still refused after ${attempt} attempts within ${this.options.retryBudgetMs} ms (${name}: ${(error as Error).message})`);
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }
}
