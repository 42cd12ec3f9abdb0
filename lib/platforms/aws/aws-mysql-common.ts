import type { DBCluster, DBInstance } from '@aws-sdk/client-rds';
import { DeleteDBInstanceCommand } from '@aws-sdk/client-rds';
import type { EndpointState, MysqlPlatform, ReverseReplication, SourceSnapshotSeeding, TemporaryReplicaSeeding } from '../mysql-platform';
import type { Facts, Step, StepContext } from '../../runbook/step';
import type { MysqlEndpoint } from '../../engines/mysql/endpoint';
import type { MysqlDialect } from '../../engines/mysql/dialect';
import type { AwsGateway } from './gateway';
import { endpointPlaceholder, type AwsCommonSettings, type DatabaseRef } from './settings';
import { connectAddress, endpointTls, readPassword } from './credentials';
import { RdsReader } from './rds-reader';
import { AwsSwitch } from './switch';
import { notOurs, runScopedId } from './run-tags';
import { deleteOldSourceCluster, describeDeleteOldSourceCluster, unfenceOldSource } from './old-source';

/**
 * Ids of the steps the AWS MySQL-family platforms define themselves (the flow's are the flow's):
 * the AWS preflight, and the fence again after a switch-forth. AWS calls carry no step label:
 * the engine's current step labels them.
 */
export const AWS_MYSQL_STEP = {
  preflight: 'aws.preflight',
  fence: 'mysql.source.fence',
} as const;

/** What the two AWS MySQL-family platforms' source and target are. */
export interface MysqlDatabases {
  /**
   * 'instance': RDS MySQL instances, reached at `Endpoint.Address`/`Endpoint.Port`.
   * 'cluster': Aurora MySQL clusters, reached at the cluster (writer) endpoint `Endpoint`/`Port`,
   * which follows a failover of the writer.
   */
  kind: DatabaseRef['kind'];
  sourceId: string;
  /** The plan's name for where the record moves to ("the target's endpoint"). */
  targetName: string;
  /** The fact that names the run's target once it is cloned ('targetId', 'targetClusterId'). */
  targetFact: string;
  /** The target the settings name, before any journal does. */
  targetId: string;
}

/** The address, port, master user and status of an instance or a cluster, read the way its kind needs. */
export function mysqlAddressOf(kind: DatabaseRef['kind'], found: DBInstance | DBCluster | undefined) {
  if (!found) return undefined;
  if (kind === 'instance') {
    const instance = found as DBInstance;
    return { address: instance.Endpoint?.Address, port: instance.Endpoint?.Port ?? 3306, user: instance.MasterUsername, status: instance.DBInstanceStatus };
  }
  const cluster = found as DBCluster;
  return { address: cluster.Endpoint, port: cluster.Port ?? 3306, user: cluster.MasterUsername, status: cluster.Status };
}

/**
 * The half the RDS MySQL platform (aws-mysql-platform.ts) and the Aurora MySQL platform
 * (aws-aurora-mysql-platform.ts) share, a part of each (AwsMysqlFamilyPlatform, below): the
 * scripts' connections and the replication address, the plan lines of the freeze and the switch,
 * the switch by Route 53 (prepare, UPSERT journaled, where the record points), the fence after
 * INSYNC, the ECS recycle, the way back by Route 53 (aws.reverseReplication: the fence lifted,
 * the record moved back, the old source deleted by `complete --delete-old`) and the clean-up
 * left in place without --cleanup. How the target is seeded is each platform's seeding strategy
 * (ReadReplicaSeeding, ClusterSnapshotSeeding); what differs here is data (`MysqlDatabases`:
 * instances or clusters, which fact names the target).
 */
export class AwsMysqlSwitchover implements AwsMysqlSwitching {
  readonly rds: RdsReader;
  /** Reads of the target: the target account's (aws.targetAccount), else the same as `rds`. */
  readonly targetRds: RdsReader;
  readonly switchPoint: AwsSwitch;
  private password?: string;
  private targetAddress?: string;
  /** Switch back by DNS: the old source's endpoint, where the record goes back to. */
  private oldSourceAddress?: string;
  /** The forward run's facts (switch-back, switch-forth and complete are runs of their own): the fence's previous groups, the target. */
  private forwardFacts: Facts = {};

  /** The way back by Route 53 (aws.reverseReplication); the RDS Proxy switching builds its own on it. */
  readonly reverseReplication?: ReverseReplication;

  constructor(
    readonly settings: AwsCommonSettings & { replicationAccountHost: string; reverseReplication: boolean },
    readonly aws: AwsGateway,
    readonly databases: MysqlDatabases,
    /** The gateway of another account the target lives in (aws.targetAccount). @default - the source's account */
    targetAccountAws?: AwsGateway,
  ) {
    this.rds = new RdsReader(aws);
    this.targetRds = targetAccountAws ? new RdsReader(targetAccountAws) : this.rds;
    this.switchPoint = new AwsSwitch(settings, aws, this.rds);
    if (settings.reverseReplication) this.reverseReplication = this.dnsWayBack();
  }

  /** `switch-back RUN_ID` / `switch-forth RUN_ID` / `complete RUN_ID`: what the forward run RUN_ID journaled (its fence, its target). */
  useForwardRun(facts: Facts): void {
    this.forwardFacts = facts;
  }

  /** The target of this run: what its (or the forward run's) journal names, else the settings. */
  targetIdOf(facts: Facts): string {
    const fact = this.databases.targetFact;
    return String(facts[fact] ?? this.forwardFacts[fact] ?? this.databases.targetId);
  }

  notOurs(kind: string, id: string, setting: string): Error {
    return notOurs(this.settings.environment, kind, id, setting);
  }

  // ---- endpoints ---------------------------------------------------------------------------

  private ref(id: string): DatabaseRef {
    return { kind: this.databases.kind, id };
  }

  private async read(reader: RdsReader, id: string, options: { fresh?: boolean } = {}) {
    const found = this.databases.kind === 'instance' ? await reader.instance(id, options) : await reader.cluster(id, options);
    return mysqlAddressOf(this.databases.kind, found);
  }

  /** What the plan shows for an address not known offline. */
  private placeholder(id: string): string {
    return this.databases.kind === 'instance' ? endpointPlaceholder(id, 'Endpoint.Address') : endpointPlaceholder(id, 'Endpoint');
  }

  async adminPassword(): Promise<string> {
    this.password ??= await readPassword(this.aws, this.settings.aws.adminPassword, `master password of ${this.databases.sourceId}`);
    return this.password;
  }

  /** Where the scripts connect: the configured tunnel, else the instance's (the cluster's writer) endpoint. */
  async endpointOf(name: string, id: string, reader: RdsReader = this.rds): Promise<MysqlEndpoint> {
    const found = await this.read(reader, id);
    if (!found?.address) throw new Error(`${this.databases.kind === 'instance' ? 'RDS instance' : 'Aurora cluster'} ${id} has no endpoint yet (status ${found?.status ?? 'not found'}): wait until it is available, then --resume`);
    const { host, port } = connectAddress(this.settings.aws.tunnels, id, found.address, found.port);
    return { name, host, port, user: found.user ?? 'admin', password: await this.adminPassword(), tls: endpointTls(this.settings.aws, found.address) };
  }

  source(): Promise<MysqlEndpoint> {
    return this.endpointOf('source', this.databases.sourceId);
  }
  target(facts: Facts): Promise<MysqlEndpoint> {
    return this.endpointOf('target', this.targetIdOf(facts), this.targetRds);
  }
  sourceAddressForReplication() {
    // The target dials the source inside the VPC, never through the operator's tunnel; a
    // cluster's endpoint follows a failover of the source's writer.
    const source = mysqlAddressOf(this.databases.kind, this.rds.known(this.ref(this.databases.sourceId)));
    if (!source?.address) throw new Error(`The source ${this.databases.sourceId} has not been described yet (run the preflight first)`);
    return { host: source.address, port: source.port };
  }
  replicationAccountHost(): string {
    return this.settings.replicationAccountHost;
  }
  replicationTls(): boolean {
    return true;
  }

  // ---- plan lines --------------------------------------------------------------------------

  /** The plan lines both platforms word alike: the source, RDS's freeze clauses, the switch by DNS and the fence. */
  readonly describe = {
    source: () => {
      const { sourceId } = this.databases;
      const tunnel = this.settings.aws.tunnels[sourceId];
      return `${this.databases.kind === 'instance' ? 'RDS instance' : 'Aurora MySQL cluster'} ${sourceId} (${this.settings.aws.region})${tunnel ? ` via tunnel ${tunnel}` : ''}`;
    },
    readOnly: () => '',
    killSessions: () => ' (mysql.rds_kill)',
    targetKeptOff: () => 'On RDS read_only is a parameter-group setting: until the switch only its new, unpublished endpoint keeps the application off the target.',
    switchEndpoint: () => this.switchPoint.describeSwitch(this.databases.targetName),
    fence: () => this.switchPoint.describeFence(this.databases.kind),
  };

  // ---- the switch by Route 53 ----------------------------------------------------------------

  async prepareSwitch(context: StepContext): Promise<void> {
    const targetId = this.targetIdOf(context.facts);
    const target = await this.read(this.targetRds, targetId, { fresh: true });
    this.targetAddress = target?.address ?? this.placeholder(targetId);
    const source = mysqlAddressOf(this.databases.kind, this.rds.known(this.ref(this.databases.sourceId)));
    await this.switchPoint.checkRecord(source?.address, context.log);
  }

  async switchEndpoint(context: StepContext): Promise<void> {
    if (!this.targetAddress) await this.prepareSwitch(context);
    const changeId = await this.switchPoint.upsert(this.targetAddress!, context.runId);
    // Journaled at once: a resumed run waits for this change before fencing (it was in memory only).
    await context.record({ route53ChangeId: changeId });
  }

  /** Where the Route 53 record points now, compared with the source's and the target's endpoints. */
  async endpointTarget(context: StepContext): Promise<EndpointState> {
    const source = await this.read(this.rds, this.databases.sourceId, { fresh: true });
    const target = await this.read(this.targetRds, this.targetIdOf(context.facts), { fresh: true });
    return this.switchPoint.recordState(source?.address, target?.address);
  }

  /**
   * The fence must not beat the DNS: wait for this process's UPSERT, else the journaled one;
   * with neither (killed between the UPSERT and its journal line) UPSERT the same value again,
   * which is a no-op for the record and gives a change id to wait for.
   */
  private async waitForDns(context: StepContext): Promise<void> {
    const journaled = typeof context.facts.route53ChangeId === 'string' ? context.facts.route53ChangeId : undefined;
    if (!this.switchPoint.currentChangeId && !journaled && !this.aws.planning) await this.switchEndpoint(context);
    await this.switchPoint.waitInSync(journaled);
  }

  /**
   * After INSYNC: the deny-all group on the old source (ModifyDBInstance / ModifyDBCluster; it is
   * never deleted here). With the way back the fenced source dials the target: the fence is
   * checked to let that out (`wayBack`). `afterDns: false`: the switch did not move a record (RDS Proxy).
   */
  async fence(context: StepContext, options: { afterDns: boolean; wayBack: boolean }): Promise<Facts> {
    if (options.afterDns) await this.waitForDns(context);
    const target = options.wayBack ? mysqlAddressOf(this.databases.kind, this.rds.known(this.ref(this.targetIdOf(context.facts)))) : undefined;
    const reverseReplicationPort = options.wayBack ? target?.port ?? 3306 : undefined;
    return this.switchPoint.fence(this.ref(this.databases.sourceId), context.log, { reverseReplicationPort });
  }

  /** After INSYNC; with the way back the fence is checked to let the old source dial the target. */
  fenceSource(context: StepContext): Promise<Facts> {
    return this.fence(context, { afterDns: true, wayBack: this.reverseReplication !== undefined });
  }

  async recycleClients(_context?: StepContext): Promise<void> {
    await this.switchPoint.startRecycle();
    await this.switchPoint.waitRecycled();
  }

  // ---- the way back (aws.reverseReplication) ------------------------------------------------

  /**
   * The way back by Route 53, for instances and clusters alike. Replication target -> source
   * runs on the old source with RDS's procedures (the flow's dialect): it dials the target's
   * VPC endpoint (a cluster's writer endpoint) through the fence, which is inbound-only.
   * Switching back first lifts the fence (the clients must reach the old source again; it
   * stays frozen by its locked app accounts until the switch back opens it), then moves the
   * record back to the old source's endpoint. The RDS Proxy switching (RdsProxySwitching) replaces the move.
   */
  private dnsWayBack(): ReverseReplication {
    const sourceId = this.databases.sourceId;
    const kind = this.databases.kind;
    const what = kind === 'instance' ? 'old source' : 'old source cluster';
    return {
      targetAddressForReplication: (facts) => {
        const id = this.targetIdOf(facts);
        const target = mysqlAddressOf(kind, this.targetRds.known(this.ref(id)));
        if (!target?.address) throw new Error(`The target ${id} has not been described yet: its endpoint is where the old source replicates from`);
        return { host: target.address, port: target.port };
      },
      prepareSwitchBack: async (context) => {
        await this.unfenceSource(context);
        this.oldSourceAddress = (await this.read(this.rds, sourceId, { fresh: true }))?.address ?? this.placeholder(sourceId);
      },
      switchEndpointBack: async (context) => {
        this.oldSourceAddress ??= (await this.read(this.rds, sourceId))?.address ?? this.placeholder(sourceId);
        const changeId = await this.switchPoint.upsert(this.oldSourceAddress, context.runId, 'back');
        await context.record({ route53ChangeId: changeId });
      },
      deleteSource: (context) =>
        kind === 'instance'
          ? this.deleteSourceInstance(context, () => this.endpointTarget(context))
          : deleteOldSourceCluster(this.aws, this.rds, this.settings, { id: sourceId, context, recordOnTarget: async () => onTarget(await this.endpointTarget(context), this.aws) }),
      describe: {
        switchEndpointBack: () => [
          this.describeUnfence(),
          `Route 53 ChangeResourceRecordSets UPSERT CNAME ${this.settings.dns.recordName} → the ${what}'s endpoint, TTL ${this.settings.dns.ttlSeconds} s (zone ${this.settings.dns.zoneId});`,
        ],
        deleteSource: () =>
          kind === 'instance' ? [`DeleteDBInstance ${sourceId} with a final snapshot (${sourceId}-final-<run id>); refused while traffic is on it or deletion protection is on.`] : describeDeleteOldSourceCluster(sourceId),
      },
    };
  }

  /** The plan line of lifting the fence before a switch back. */
  describeUnfence(): string {
    return `before the freeze: lift the fence from ${this.databases.sourceId} (${this.databases.kind === 'instance' ? 'ModifyDBInstance' : 'ModifyDBCluster'} VpcSecurityGroupIds back to the groups the forward run journaled, ApplyImmediately, polled until active); it stays frozen by its locked app accounts;`;
  }

  /**
   * Put the old source's own security groups back (the forward run journaled them as
   * `sourcePreviousSecurityGroupIds`), idempotently: only when it carries just the fence.
   */
  unfenceSource(context: StepContext): Promise<void> {
    return unfenceOldSource(this.aws, this.rds, this.settings, {
      ref: this.ref(this.databases.sourceId),
      previous: (this.forwardFacts.sourcePreviousSecurityGroupIds ?? context.facts.sourcePreviousSecurityGroupIds) as string[] | undefined,
      context,
      frozenBy: 'it stays frozen for the app accounts until the switch back opens it',
    });
  }

  /**
   * `complete --delete-old` of an RDS instance source: DeleteDBInstance with a final snapshot,
   * refused unless `endpointTarget` (the switching's: the record, or the proxy's target) says
   * traffic is on the target.
   */
  async deleteSourceInstance(context: StepContext, endpointTarget: () => Promise<EndpointState>): Promise<Facts> {
    const sourceId = this.databases.sourceId;
    const endpoint = await endpointTarget();
    if (!onTarget(endpoint, this.aws)) throw new Error(`refusing to delete the old source ${sourceId}: traffic is not on the target (${endpoint.detail})`);
    const finalSnapshot = runScopedId(`${sourceId}-final`, context.runId);
    const instance = await this.rds.instance(sourceId, { fresh: true });
    if (instance?.DeletionProtection) throw new Error(`refusing to delete the old source ${sourceId}: deletion protection is on (ModifyDBInstance --no-deletion-protection first, on purpose)`);
    if (instance && instance.DBInstanceStatus !== 'deleting') {
      // Irreversible: a Ctrl-C that arrived before this point stops the run here, nothing deleted.
      await context.checkpoint?.(`DeleteDBInstance ${sourceId}`);
      await this.aws.write('rds', new DeleteDBInstanceCommand({ DBInstanceIdentifier: sourceId, SkipFinalSnapshot: false, FinalDBSnapshotIdentifier: finalSnapshot }));
    }
    return { sourceDeleted: true, sourceFinalSnapshot: finalSnapshot };
  }

  // ---- clean-up ----------------------------------------------------------------------------

  /** Without --cleanup nothing is deleted: the commands that would are logged for a person. */
  leftInPlace(context: StepContext, commands: string[], ids: string[]): Facts {
    context.log.info(`left in place (run again with --cleanup, or delete by hand):\n  ${commands.join('\n  ')}`);
    return { leftForCleanup: ids };
  }
}

/**
 * Whether `complete --delete-old` may delete the old source: traffic is on the target. A plan
 * reads the switch point as the run does (the reads are recorded) and goes on as the run would
 * once the complete's preflight found traffic on the target, as the PostgreSQL platform's plan
 * does; the dry run's checks then read the real state.
 */
function onTarget(endpoint: EndpointState, aws: AwsGateway): boolean {
  return endpoint.pointsTo === 'target' || aws.planning;
}

/**
 * `switch-forth RUN_ID` on AWS ends as the forward run did: the old source fenced again with the
 * inbound-only group (checked to let the way back out), after the switch and its checksums,
 * which read the old source. The switch-back had put its own groups back.
 */
export function awsMysqlFenceAgainStep(platform: Pick<MysqlPlatform, 'describe' | 'fenceSource'>): Step {
  return {
    id: AWS_MYSQL_STEP.fence,
    kind: 'action',
    describe: () => [...platform.describe.fence(), 'switch-back RUN_ID puts its own groups back again.'],
    apply: (context) => platform.fenceSource(context),
  };
}

/**
 * How a platform seeds the target (MysqlPlatform.seeding), with the clone that makes the target
 * from it: ReadReplicaSeeding (RDS instance: a temporary read replica, the flow's
 * mysql.replica.* steps) or ClusterSnapshotSeeding (Aurora: a cluster snapshot of the source,
 * mysql.snapshot.create / .remove; no replica).
 */
export type AwsMysqlSeeding = (TemporaryReplicaSeeding | SourceSnapshotSeeding) & {
  readonly describe: Pick<MysqlPlatform['describe'], 'cloneTarget'>;
  cloneTarget(context: StepContext): Promise<Facts>;
};

/** How traffic moves and the old source is fenced (and moves back): the shared half's Route 53 switch, or the RDS Proxy's (RdsProxySwitching). */
export interface AwsMysqlSwitching {
  readonly describe: Pick<MysqlPlatform['describe'], 'switchEndpoint' | 'fence'>;
  prepareSwitch(context: StepContext): Promise<void>;
  switchEndpoint(context: StepContext): Promise<void>;
  endpointTarget(context: StepContext): Promise<EndpointState>;
  fenceSource(context: StepContext): Promise<Facts>;
  readonly reverseReplication?: ReverseReplication;
}

/** What an engine changes in the flow's SQL (Aurora MySQL 3): the procedures' names, whether account changes replicate. */
export interface AwsMysqlEngineTraits {
  /** @default - the dialect detected from SELECT VERSION() */
  dialect?(detected: MysqlDialect): MysqlDialect;
  /** @default true */
  readonly accountChangesReplicate?: boolean;
}

/**
 * An AWS MySQL-family platform, made of its parts: the shared half (connections, recycle,
 * clean-up, the freeze's plan clauses), a seeding strategy and a switching (the shared half's
 * Route 53 switch, or RDS Proxy). Every MysqlPlatform member is one part's; none is decided here.
 */
export class AwsMysqlFamilyPlatform<Settings, Seeding extends AwsMysqlSeeding, Switching extends AwsMysqlSwitching = AwsMysqlSwitching> implements MysqlPlatform {
  readonly kind = 'aws' as const;
  readonly rdsProcedures = true;
  readonly dialect?: MysqlPlatform['dialect'];
  readonly accountChangesReplicate?: boolean;
  readonly reverseReplication?: ReverseReplication;
  readonly describe: MysqlPlatform['describe'];

  constructor(
    readonly settings: Settings,
    readonly switchover: AwsMysqlSwitchover,
    readonly seeding: Seeding,
    readonly switching: Switching,
    engine: AwsMysqlEngineTraits = {},
  ) {
    this.describe = { ...switchover.describe, cloneTarget: () => seeding.describe.cloneTarget(), ...switching.describe };
    if (engine.dialect) this.dialect = engine.dialect.bind(engine);
    if (engine.accountChangesReplicate !== undefined) this.accountChangesReplicate = engine.accountChangesReplicate;
    if (switching.reverseReplication) this.reverseReplication = switching.reverseReplication;
  }

  /** `switch-back RUN_ID` / `switch-forth RUN_ID` / `complete RUN_ID`: what the forward run RUN_ID journaled (its fence, its target). */
  useForwardRun(facts: Facts): void {
    this.switchover.useForwardRun(facts);
  }

  source(): Promise<MysqlEndpoint> {
    return this.switchover.source();
  }
  target(facts: Facts): Promise<MysqlEndpoint> {
    return this.switchover.target(facts);
  }
  sourceAddressForReplication() {
    return this.switchover.sourceAddressForReplication();
  }
  replicationAccountHost(): string {
    return this.switchover.replicationAccountHost();
  }
  replicationTls(): boolean {
    return this.switchover.replicationTls();
  }
  recycleClients(context: StepContext): Promise<void> {
    return this.switchover.recycleClients(context);
  }

  cloneTarget(context: StepContext): Promise<Facts> {
    return this.seeding.cloneTarget(context);
  }

  prepareSwitch(context: StepContext): Promise<void> {
    return this.switching.prepareSwitch(context);
  }
  switchEndpoint(context: StepContext): Promise<void> {
    return this.switching.switchEndpoint(context);
  }
  endpointTarget(context: StepContext): Promise<EndpointState> {
    return this.switching.endpointTarget(context);
  }
  fenceSource(context: StepContext): Promise<Facts> {
    return this.switching.fenceSource(context);
  }
}
