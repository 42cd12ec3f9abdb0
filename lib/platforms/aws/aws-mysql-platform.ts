import {
  CopyDBSnapshotCommand,
  CreateDBInstanceReadReplicaCommand,
  CreateDBSnapshotCommand,
  DeleteDBInstanceCommand,
  DeleteDBSnapshotCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBInstanceCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
  waitUntilDBInstanceAvailable,
  waitUntilDBInstanceDeleted,
  waitUntilDBSnapshotAvailable,
  type DBInstance,
  type DBSnapshot,
  type DescribeDBSnapshotsCommandOutput,
  type RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import type { EndpointState, ReverseReplication, TemporaryReplicaSeeding } from '../mysql-platform';
import type { Facts, StepContext } from '../../runbook/step';
import type { MysqlEndpoint } from '../../engines/mysql/endpoint';
import type { AwsGateway } from './gateway';
import type { AwsMysqlSettings } from './settings';
import type { DatabaseRestoreSettings } from '../../infra/outputs';
import { connectAddress, endpointTls } from './credentials';
import { isNotFound, type RdsReader } from './rds-reader';
import { RdsProxySwitch } from './proxy-switch';
import { connect } from '../../engines/mysql/connection';
import { describeIdentity, sameServer, serverIdentity, waitUntilEndpointAnswersFrom, type ServerIdentity } from '../../engines/mysql/server-identity';
import type { Logger } from '../../util/log';
import { seedTargetAccount, targetAccountOverrides, crossAccountNames } from './cross-account-target';
import { carriedTags, defined, ownedBy, PLANNED_RUN_ID, RUN_ID_TAG, runScopedId, runTags } from './run-tags';
import { AwsMysqlFamilyPlatform, AwsMysqlSwitchover, type AwsMysqlSwitching } from './aws-mysql-common';

export { dnsUpsertInput, fenceInput } from './switch';
export { endpointTls } from './credentials';

export { PLANNED_RUN_ID, RUN_ID_TAG } from './run-tags';

export { AWS_MYSQL_STEP } from './aws-mysql-common';

/** The source settings the replica and the restored target carry over. */
export interface SourceSettings {
  engine: string;
  engineVersion: string;
  instanceClass: string;
  subnetGroup: string;
  securityGroupIds: string[];
  parameterGroup: string;
  optionGroup: string;
  multiAz: boolean;
  storageType: string;
  iops?: number;
  storageThroughput?: number;
  port: number;
  publiclyAccessible: boolean;
  backupRetentionPeriod: number;
  preferredBackupWindow: string;
  autoMinorVersionUpgrade: boolean;
  deletionProtection: boolean;
  copyTagsToSnapshot: boolean;
  iamDatabaseAuthentication: boolean;
  cloudwatchLogsExports: string[];
  caCertificateIdentifier?: string;
  tags: Tag[];
}

/** Read the settings to carry over from DescribeDBInstances; offline, named placeholders. */
export function sourceSettings(instance: DBInstance | undefined, id: string): SourceSettings {
  // Offline there is no instance: the plan shows where each value will come from.
  const p = <T>(value: T | undefined, field: string): T => (instance ? (value as T) : (`<${id}.${field}>` as unknown as T));
  return {
    engine: p(instance?.Engine, 'Engine'),
    engineVersion: p(instance?.EngineVersion, 'EngineVersion'),
    instanceClass: p(instance?.DBInstanceClass, 'DBInstanceClass'),
    subnetGroup: p(instance?.DBSubnetGroup?.DBSubnetGroupName, 'DBSubnetGroup'),
    securityGroupIds: instance ? (instance.VpcSecurityGroups ?? []).map((g) => g.VpcSecurityGroupId!).filter(Boolean) : [`<${id}.VpcSecurityGroups>`],
    parameterGroup: p(instance?.DBParameterGroups?.[0]?.DBParameterGroupName, 'DBParameterGroup'),
    optionGroup: p(instance?.OptionGroupMemberships?.[0]?.OptionGroupName, 'OptionGroup'),
    multiAz: p(instance?.MultiAZ, 'MultiAZ'),
    storageType: p(instance?.StorageType, 'StorageType'),
    iops: instance ? instance.Iops : (`<${id}.Iops>` as unknown as number),
    storageThroughput: instance ? instance.StorageThroughput : (`<${id}.StorageThroughput>` as unknown as number),
    port: p(instance?.Endpoint?.Port ?? instance?.DbInstancePort, 'Port'),
    publiclyAccessible: p(instance?.PubliclyAccessible, 'PubliclyAccessible'),
    backupRetentionPeriod: p(instance?.BackupRetentionPeriod, 'BackupRetentionPeriod'),
    preferredBackupWindow: p(instance?.PreferredBackupWindow, 'PreferredBackupWindow'),
    autoMinorVersionUpgrade: p(instance?.AutoMinorVersionUpgrade, 'AutoMinorVersionUpgrade'),
    deletionProtection: p(instance?.DeletionProtection, 'DeletionProtection'),
    copyTagsToSnapshot: p(instance?.CopyTagsToSnapshot, 'CopyTagsToSnapshot'),
    iamDatabaseAuthentication: p(instance?.IAMDatabaseAuthenticationEnabled, 'IAMDatabaseAuthenticationEnabled'),
    cloudwatchLogsExports: instance ? instance.EnabledCloudwatchLogsExports ?? [] : [`<${id}.EnabledCloudwatchLogsExports>`],
    caCertificateIdentifier: instance ? instance.CACertificateIdentifier : (`<${id}.CACertificateIdentifier>` as unknown as string),
    tags: instance ? (instance.TagList ?? []).filter((t) => !t.Key?.startsWith('aws:') && t.Key !== RUN_ID_TAG) : [],
  };
}

/**
 * The MySQL-family platform on RDS, made of its parts: its seeding (ReadReplicaSeeding: read
 * replica → stop → snapshot → encrypted copy with the stacks' KMS key → restore carrying the
 * source's settings), the half shared with Aurora MySQL (AwsMysqlSwitchover: connections, the
 * Route 53 switch, the fence with the stacks' deny-all security group, ECS services recycled,
 * the way back), and with aws.switchPoint 'proxy' the RDS Proxy's switching instead of the
 * Route 53 one (RdsProxySwitching). Every AWS call goes through the gateway, so the dry-run plan
 * lists exactly the calls `--execute` makes, produced by this same code.
 */
export type AwsMysqlPlatform = AwsMysqlFamilyPlatform<AwsMysqlSettings, ReadReplicaSeeding, AwsMysqlSwitching>;

export function awsMysqlPlatform(settings: AwsMysqlSettings, aws: AwsGateway, targetAws?: AwsGateway): AwsMysqlPlatform {
  if (settings.targetAccount && !targetAws) throw new Error('aws.targetAccount is set: the RDS MySQL platform needs the target account\'s gateway');
  const switchover = new AwsMysqlSwitchover(
    settings,
    aws,
    { kind: 'instance', sourceId: settings.sourceInstanceId, targetName: "the target's endpoint", targetFact: 'targetId', targetId: settings.targetInstanceId },
    settings.targetAccount ? targetAws : undefined,
  );
  const seeding = new ReadReplicaSeeding(settings, switchover, targetAws ?? aws);
  const switching = settings.proxy ? new RdsProxySwitching(settings, settings.proxy, switchover) : switchover;
  return new AwsMysqlFamilyPlatform(settings, switchover, seeding, switching);
}

/**
 * The RDS Proxy as the switch point (aws.switchPoint 'proxy'): the proxy's target swapped from
 * the source to the target instance, done when a new connection through the proxy answers from
 * the target; the fence at once (no DNS to wait for), letting the way back out; and the way back
 * (aws.reverseReplication) as the shared half builds it, with the proxy's target moved back
 * instead of the Route 53 record.
 */
export class RdsProxySwitching implements AwsMysqlSwitching {
  private readonly aws: AwsGateway;
  private proxySwitch?: RdsProxySwitch;
  private proxyLog?: Logger;
  /** The target as it answers directly: what the proxy must answer like after the swap. */
  private targetIdentity?: ServerIdentity;
  /** The old source as it answers directly: what the proxy must answer like after the swap back. */
  private sourceIdentity?: ServerIdentity;

  /** The way back (aws.reverseReplication): replication target -> source from the switch on, switch-back, complete. */
  readonly reverseReplication?: ReverseReplication;

  constructor(
    private readonly settings: AwsMysqlSettings,
    private readonly proxy: NonNullable<AwsMysqlSettings['proxy']>,
    private readonly switchover: AwsMysqlSwitchover,
  ) {
    this.aws = switchover.aws;
    if (switchover.reverseReplication) this.reverseReplication = this.wayBack(switchover.reverseReplication);
  }

  readonly describe = {
    switchEndpoint: () => [
      `before the freeze: DescribeDBProxyTargets; an empty target group gets the source registered (RegisterDBProxyTargets ${this.settings.sourceInstanceId}); SELECT @@hostname, @@server_id, @@port on the target directly;`,
      ...this.proxyOf().describeSwitch(this.settings.sourceInstanceId, this.settings.targetInstanceId),
      ...this.switchover.describe.switchEndpoint().slice(1),
    ],
    fence: () => [`Fence the old source (the proxy already answers from the target): ModifyDBInstance VpcSecurityGroupIds [${this.settings.fenceSecurityGroupId}] (deny-all, ApplyImmediately).`],
  };

  /** The RDS Proxy switch point (aws.switchPoint 'proxy'). */
  private proxyOf(log?: Logger): RdsProxySwitch {
    // The switch is made once (often first by the plan lines, without a logger): it logs to the
    // step's logger of the latest call, so "registered the source …" is never lost.
    if (log) this.proxyLog = log;
    const to = (level: keyof Logger) => (message: string) => this.proxyLog?.[level](message);
    this.proxySwitch ??= new RdsProxySwitch(this.proxy, this.aws, { log: { debug: to('debug'), info: to('info'), warn: to('warn'), error: to('error') }, retryBudgetMs: this.settings.switchTimeoutMs });
    return this.proxySwitch;
  }

  /** The proxy's endpoint for the scripts' own connections: its tunnel when configured, TLS as for the instances. */
  private async proxyEndpoint(): Promise<MysqlEndpoint> {
    const proxy = this.proxy;
    const { host, port } = connectAddress(this.settings.aws.tunnels, proxy.name, proxy.endpoint, proxy.port);
    const source = this.switchover.rds.known({ kind: 'instance', id: this.settings.sourceInstanceId }) as DBInstance | undefined;
    return { name: 'proxy', host, port, user: source?.MasterUsername ?? 'admin', password: await this.switchover.adminPassword(), tls: endpointTls(this.settings.aws, proxy.endpoint) };
  }

  private async identityOf(endpoint: MysqlEndpoint): Promise<ServerIdentity> {
    const connection = await connect(endpoint);
    try {
      return await serverIdentity(connection);
    } finally {
      await connection.end().catch(() => connection.destroy());
    }
  }

  /**
   * Proxy switch point, before the freeze: the proxy points at the source (an empty target group
   * gets it registered, idempotently), and the target's identity is read directly, so the poll
   * after the swap knows what "answers from the target" looks like.
   */
  private async prepareProxySwitch(context: StepContext): Promise<void> {
    const targetId = String(context.facts.targetId ?? this.settings.targetInstanceId);
    const outcome = await this.proxyOf(context.log).ensureInitialTarget(this.settings.sourceInstanceId, targetId);
    if (outcome === 'registered') await context.record({ proxyInitialTargetRegistered: this.settings.sourceInstanceId });
    if (this.aws.planning) return;
    this.targetIdentity = await this.identityOf(await this.switchover.target(context.facts));
    const sourceIdentity = await this.identityOf(await this.switchover.source());
    if (sameServer(sourceIdentity, this.targetIdentity)) throw new Error(`The source and the target answer alike (${describeIdentity(this.targetIdentity)}): the poll through the proxy could not tell them apart; check aws.tunnels`);
  }

  prepareSwitch(context: StepContext): Promise<void> {
    return this.prepareProxySwitch(context);
  }

  async switchEndpoint(context: StepContext): Promise<void> {
    const targetId = String(context.facts.targetId ?? this.settings.targetInstanceId);
    if (!this.targetIdentity && !this.aws.planning) await this.prepareProxySwitch(context);
    await this.proxyOf(context.log).swap(this.settings.sourceInstanceId, targetId);
    await context.record({ proxyTargetSwappedTo: targetId });
    if (this.aws.planning) return;
    // Not done until a new connection through the proxy lands on the target.
    const answered = await waitUntilEndpointAnswersFrom(() => this.proxyEndpoint(), this.targetIdentity!, { timeoutMs: this.settings.switchTimeoutMs, intervalMs: 50 });
    await context.record({ proxyAnsweredFromTargetMs: answered.waitedMs, proxyPolls: answered.polls });
  }

  /** Where the proxy's target points now, compared with the source and the target. */
  endpointTarget(context: StepContext): Promise<EndpointState> {
    return this.proxyOf(context.log).state(this.settings.sourceInstanceId, this.switchover.targetIdOf(context.facts));
  }

  fenceSource(context: StepContext): Promise<Facts> {
    // The switch ended when the proxy answered from the target: no DNS to wait for.
    // With the way back the fenced source dials the target: a fence without that egress would cut it.
    return this.switchover.fence(context, { afterDns: false, wayBack: this.reverseReplication !== undefined });
  }

  /**
   * The way back through the proxy: the shared one (AwsMysqlSwitchover: the fence lifted first,
   * the old source deleted by complete --delete-old), with the proxy's target moved back instead
   * of the record; the switch back is done when a new connection through the proxy answers from
   * the old source.
   */
  private wayBack(dns: ReverseReplication): ReverseReplication {
    const sourceId = this.settings.sourceInstanceId;
    return {
      ...dns,
      prepareSwitchBack: async (context) => {
        await this.switchover.unfenceSource(context);
        if (this.aws.planning) return;
        this.sourceIdentity = await this.identityOf(await this.switchover.source());
      },
      switchEndpointBack: async (context) => {
        const targetId = this.switchover.targetIdOf(context.facts);
        if (!this.sourceIdentity && !this.aws.planning) this.sourceIdentity = await this.identityOf(await this.switchover.source());
        await this.proxyOf(context.log).swap(targetId, sourceId);
        await context.record({ proxyTargetSwappedTo: sourceId });
        if (this.aws.planning) return;
        const answered = await waitUntilEndpointAnswersFrom(() => this.proxyEndpoint(), this.sourceIdentity!, { timeoutMs: this.settings.switchTimeoutMs, intervalMs: 50 });
        await context.record({ proxyAnsweredFromSourceMs: answered.waitedMs, proxyPolls: answered.polls });
      },
      // Traffic is on the target when the proxy answers from it (not the record).
      deleteSource: (context) => this.switchover.deleteSourceInstance(context, () => this.endpointTarget(context)),
      describe: {
        ...dns.describe,
        switchEndpointBack: () => [this.switchover.describeUnfence(), ...this.proxyOf().describeSwitch(this.settings.targetInstanceId, sourceId)],
      },
    };
  }
}

/**
 * How an RDS MySQL target is seeded: CreateDBInstanceReadReplica of the source (the flow stops
 * it and records the coordinates it executed), a snapshot of the stopped replica, an encrypted
 * copy with the stacks' KMS key (or, with aws.targetAccount, the share-key copy shared with and
 * re-encrypted in the target account), a restore carrying the source's (or the stack's declared)
 * settings; the clean-up deletes the replica and its unencrypted snapshot (--cleanup).
 */
export class ReadReplicaSeeding implements TemporaryReplicaSeeding {
  readonly strategy = 'temporary-replica' as const;
  private readonly aws: AwsGateway;
  private readonly rds: RdsReader;
  private readonly targetRds: RdsReader;

  constructor(
    readonly settings: AwsMysqlSettings,
    private readonly switchover: AwsMysqlSwitchover,
    /** The gateway of the account the target lives in (aws.targetAccount), else the source's. */
    readonly targetAws: AwsGateway,
  ) {
    this.aws = switchover.aws;
    this.rds = switchover.rds;
    this.targetRds = switchover.targetRds;
  }

  private notOurs(kind: string, id: string, setting: string): Error {
    return this.switchover.notOurs(kind, id, setting);
  }

  // ---- reading state ---------------------------------------------------------------------

  private async describeSnapshot(id: string): Promise<DBSnapshot | undefined> {
    try {
      const output = await this.aws.read<DescribeDBSnapshotsCommandOutput>('rds', new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }));
      return output?.DBSnapshots?.[0];
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The source as read by the preflight (or placeholders offline). */
  async sourceInstance(): Promise<DBInstance | undefined> {
    return this.rds.instance(this.settings.sourceInstanceId);
  }

  /** A resource this run may reuse carries its run id; anything else with the name is refused. */
  private ownedBy(tags: Tag[] | undefined, runId: string): boolean {
    return ownedBy(tags, runId);
  }

  private runTags(runId: string): Tag[] {
    return runTags(this.settings.tags, runId);
  }

  /** Snapshot of the stopped replica: named after the run, so a resumed run finds it again. */
  replicaSnapshotId(runId: string): string {
    return runScopedId(this.settings.replicaInstanceId, runId);
  }

  /** Facts an offline plan runs the operations with (no run exists yet). */
  plannedFacts(): Facts {
    return { replicaId: this.settings.replicaInstanceId, targetId: this.settings.targetInstanceId, replicaSnapshotId: this.replicaSnapshotId(PLANNED_RUN_ID) };
  }

  // ---- endpoints ---------------------------------------------------------------------------

  replica(facts: Facts): Promise<MysqlEndpoint> {
    return this.switchover.endpointOf('replica', String(facts.replicaId ?? this.settings.replicaInstanceId));
  }

  // ---- plan lines --------------------------------------------------------------------------

  readonly describe = {
    createReplica: () => [
      `CreateDBInstanceReadReplica ${this.settings.replicaInstanceId} from ${this.settings.sourceInstanceId} (same class, security groups and parameter group, tagged ${RUN_ID_TAG});`,
      'wait until it is available (DescribeDBInstances waiter).',
    ],
    cloneTarget: () => this.settings.targetAccount ? [
      `CreateDBSnapshot of the stopped replica ${this.settings.replicaInstanceId} → CopyDBSnapshot ${crossAccountNames(this.settings, '<run-id>').shareCopyId} with KmsKeyId ${this.settings.targetAccount.shareKeyArn} (the share key) →`,
      `ModifyDBSnapshotAttribute restore +${this.settings.targetAccount.accountId} → target account: CopyDBSnapshot of the shared ARN → ${crossAccountNames(this.settings, '<run-id>').targetCopyId} with KmsKeyId ${this.settings.targetAccount.kmsKeyArn} (the target's key) → restore −${this.settings.targetAccount.accountId} →`,
      `target account: RestoreDBInstanceFromDBSnapshot ${this.settings.targetInstanceId} (${this.settings.targetAccount.instanceClass}, subnet group ${this.settings.targetAccount.dbSubnetGroupName}, security groups ${this.settings.targetAccount.vpcSecurityGroupIds.join(', ')}, parameter group ${this.settings.targetAccount.parameterGroupName}, the source's storage and backups, tags);`,
      'wait until it is available.',
    ] : [
      `CreateDBSnapshot of the stopped replica ${this.settings.replicaInstanceId} → CopyDBSnapshot ${this.settings.encryptedSnapshotId} with KmsKeyId ${this.settings.kmsKeyId} (PercentProgress shown) →`,
      this.settings.declaredTarget
        ? `RestoreDBInstanceFromDBSnapshot ${this.settings.targetInstanceId} as the cutover stack declares it (output databaseRestoreSettings: ${describeDeclared(this.settings.declaredTarget)}; the source's option group and backup window), so the stack can import it unchanged;`
        : `RestoreDBInstanceFromDBSnapshot ${this.settings.targetInstanceId} carrying the source's class, subnet group, security groups, parameter and option groups, Multi-AZ, backups and tags;`,
      'wait until it is available.',
      ...(this.settings.declaredTarget ? ['Then DescribeDBInstances of the target: a declared setting the restore did not take is set with ModifyDBInstance (ApplyImmediately), and must then match.'] : []),
    ],
    removeReplica: () =>
      this.settings.cleanup
        ? [`--cleanup: DeleteDBInstance ${this.settings.replicaInstanceId} (SkipFinalSnapshot) and DeleteDBSnapshot of its unencrypted snapshot; the encrypted copy ${this.settings.encryptedSnapshotId} is kept.`]
        : [`Without --cleanup nothing is deleted: prints the commands that delete ${this.settings.replicaInstanceId} and its unencrypted snapshot.`],
  };

  // ---- operations --------------------------------------------------------------------------

  async createReplica(context: StepContext): Promise<Facts> {
    const id = this.settings.replicaInstanceId;
    const source = sourceSettings(await this.sourceInstance(), this.settings.sourceInstanceId);
    const existing = await this.rds.instance(id, { fresh: true });
    if (existing && !this.ownedBy(existing.TagList, context.runId)) throw this.notOurs('RDS instance', id, 'aws.replicaInstanceId');
    if (!existing) {
      // Same-region replicas inherit the source's subnet group: passing one is refused
      // (DBSubnetGroupNotAllowedFault). Replicas start with backups off, which is what we want.
      await this.aws.write('rds', new CreateDBInstanceReadReplicaCommand(replicaInput(id, this.settings.sourceInstanceId, source, this.runTags(context.runId))));
    }
    await this.waitAvailable(id, 'read replica');
    return { replicaId: id };
  }

  async cloneTarget(context: StepContext): Promise<Facts> {
    const replicaId = String(context.facts.replicaId ?? this.settings.replicaInstanceId);
    const snapshotId = this.replicaSnapshotId(context.runId);
    const copyId = this.settings.encryptedSnapshotId;
    const targetId = this.settings.targetInstanceId;
    const tags = this.runTags(context.runId);
    const source = sourceSettings(await this.sourceInstance(), this.settings.sourceInstanceId);

    const target = await this.targetRds.instance(targetId, { fresh: true });
    if (target && !this.ownedBy(target.TagList, context.runId)) throw this.notOurs('RDS instance', targetId, 'aws.targetInstanceId');
    if (!target && this.settings.targetAccount) {
      await this.snapshotReplica(context, replicaId, snapshotId, tags);
      const targetAccount = this.settings.targetAccount;
      const seeded = await seedTargetAccount(this.settings, { source: this.aws, target: this.targetAws }, {
        replicaSnapshotId: snapshotId,
        tags,
        restore: (seedId) => defined({ ...restoreInput(targetId, seedId, source, tags), ...targetAccountOverrides(targetAccount) }),
      }, context);
      await this.waitAvailable(targetId, 'restored target (target account)', this.targetAws, this.targetRds);
      return { targetId, replicaSnapshotId: snapshotId, ...seeded };
    }
    if (!target) {
      // 1. Snapshot of the stopped replica (named after the run: a resumed run reuses it).
      const snapshot = await this.describeSnapshot(snapshotId);
      if (!snapshot) await this.aws.write('rds', new CreateDBSnapshotCommand({ DBInstanceIdentifier: replicaId, DBSnapshotIdentifier: snapshotId, Tags: tags }));
      await this.aws.wait<RDSClient>({ service: 'rds', command: 'DescribeDBSnapshots', input: { DBSnapshotIdentifier: snapshotId }, resource: `snapshot ${snapshotId}`, state: 'available', timeoutSeconds: this.settings.aws.waits.snapshotSeconds }, (config) =>
        waitUntilDBSnapshotAvailable(config, { DBSnapshotIdentifier: snapshotId }),
      );
      // 2. Encrypted copy with the stacks' key: the only way to encrypt an RDS instance snapshot.
      const copy = await this.describeSnapshot(copyId);
      if (copy && !this.ownedBy(copy.TagList, context.runId)) throw this.notOurs('DB snapshot', copyId, 'aws.encryptedSnapshotId');
      if (!copy) await this.aws.write('rds', new CopyDBSnapshotCommand({ SourceDBSnapshotIdentifier: snapshotId, TargetDBSnapshotIdentifier: copyId, KmsKeyId: this.settings.kmsKeyId, CopyTags: false, Tags: tags }));
      await this.aws.poll({ service: 'rds', command: 'DescribeDBSnapshots', input: { DBSnapshotIdentifier: copyId }, resource: `encrypted copy ${copyId}`, state: 'available', timeoutSeconds: this.settings.aws.waits.snapshotSeconds }, async () => {
        const current = await this.describeSnapshot(copyId);
        if (current?.Status === 'available') return { done: true };
        if (current && !['creating', 'copying', 'pending'].includes(current.Status ?? '')) throw new Error(`Encrypted copy ${copyId} is ${current.Status}: see the RDS console events, delete it and --resume`);
        return { done: false, progress: `${current?.Status ?? 'not visible yet'}, ${current?.PercentProgress ?? 0}% copied` };
      });
      // 3. Restore, carrying the source's settings (the replica's would lack backups).
      await this.aws.write('rds', new RestoreDBInstanceFromDBSnapshotCommand(restoreInput(targetId, copyId, source, tags, this.settings.declaredTarget)));
    }
    await this.waitAvailable(targetId, 'restored target', this.targetAws, this.targetRds);
    const corrected = this.settings.declaredTarget && !this.settings.targetAccount ? await this.matchDeclaredTarget(targetId, this.settings.declaredTarget) : [];
    return { targetId, replicaSnapshotId: snapshotId, ...(corrected.length > 0 ? { targetSettingsCorrected: corrected } : {}), ...(this.settings.targetAccount ? { ...crossAccountNames(this.settings, context.runId), targetAccount: this.settings.targetAccount.accountId } : { encryptedSnapshotId: copyId }) };
  }

  /**
   * The restored target must be what the cutover stack declares, or the deploy that imports it
   * changes it (docs/DEPLOY.md step 6). RDS documents every one of these restore parameters
   * (API_RestoreDBInstanceFromDBSnapshot: MultiAZ and DeletionProtection default to false, not to
   * the snapshot's value), but a restore that did not take one (moto keeps the snapshot's value
   * for a false MultiAZ/DeletionProtection) must not go unnoticed: DescribeDBInstances, and
   * ModifyDBInstance (ApplyImmediately) of exactly the settings that differ; then they must match.
   * Returns the names of the settings corrected. Not in a plan: it reads what only a restore made.
   */
  private async matchDeclaredTarget(targetId: string, declared: DatabaseRestoreSettings): Promise<string[]> {
    if (this.aws.planning) return [];
    const differences = declaredTargetDifferences(await this.targetRds.instance(targetId, { fresh: true }), declared);
    const fields = Object.keys(differences);
    if (fields.length === 0) return [];
    await this.aws.write('rds', new ModifyDBInstanceCommand({ DBInstanceIdentifier: targetId, ...differences, ApplyImmediately: true }));
    await this.waitAvailable(targetId, 'restored target (settings the restore did not take)', this.targetAws, this.targetRds);
    const left = Object.keys(declaredTargetDifferences(await this.targetRds.instance(targetId, { fresh: true }), declared));
    if (left.length > 0) throw new Error(`RDS instance ${targetId} still differs from what the cutover stack declares (databaseRestoreSettings) after ModifyDBInstance: ${left.join(', ')}; fix it by hand (aws rds modify-db-instance --apply-immediately) before the deploy that imports it, then --resume`);
    return fields;
  }

  /** The stopped replica's snapshot (named after the run: a resumed run reuses it), available. */
  private async snapshotReplica(context: StepContext, replicaId: string, snapshotId: string, tags: Tag[]): Promise<void> {
    const snapshot = await this.describeSnapshot(snapshotId);
    if (snapshot && !this.ownedBy(snapshot.TagList, context.runId)) throw this.notOurs('DB snapshot', snapshotId, 'aws.replicaInstanceId');
    if (!snapshot) await this.aws.write('rds', new CreateDBSnapshotCommand({ DBInstanceIdentifier: replicaId, DBSnapshotIdentifier: snapshotId, Tags: tags }));
    await this.aws.wait<RDSClient>({ service: 'rds', command: 'DescribeDBSnapshots', input: { DBSnapshotIdentifier: snapshotId }, resource: `snapshot ${snapshotId}`, state: 'available', timeoutSeconds: this.settings.aws.waits.snapshotSeconds }, (config) =>
      waitUntilDBSnapshotAvailable(config, { DBSnapshotIdentifier: snapshotId }),
    );
  }

  async removeReplica(context: StepContext): Promise<Facts> {
    const replicaId = String(context.facts.replicaId ?? this.settings.replicaInstanceId);
    const snapshotId = String(context.facts.replicaSnapshotId ?? this.replicaSnapshotId(context.runId));
    if (!this.settings.cleanup) {
      const commands = [
        `aws rds delete-db-instance --region ${this.settings.aws.region} --db-instance-identifier ${replicaId} --skip-final-snapshot --delete-automated-backups`,
        `aws rds delete-db-snapshot --region ${this.settings.aws.region} --db-snapshot-identifier ${snapshotId}`,
      ];
      return { replicaRemoved: false, ...this.switchover.leftInPlace(context, commands, [replicaId, snapshotId]) };
    }
    const replica = await this.rds.instance(replicaId, { fresh: true });
    if (replica && !this.ownedBy(replica.TagList, context.runId)) throw this.notOurs('RDS instance', replicaId, 'aws.replicaInstanceId');
    if (replica || this.aws.planning) {
      if (replica?.DBInstanceStatus !== 'deleting') await this.aws.write('rds', new DeleteDBInstanceCommand({ DBInstanceIdentifier: replicaId, SkipFinalSnapshot: true, DeleteAutomatedBackups: true }));
      await this.aws.wait<RDSClient>({ service: 'rds', command: 'DescribeDBInstances', input: { DBInstanceIdentifier: replicaId }, resource: `read replica ${replicaId}`, state: 'deleted', timeoutSeconds: this.settings.aws.waits.instanceSeconds }, (config) =>
        waitUntilDBInstanceDeleted(config, { DBInstanceIdentifier: replicaId }),
      );
    }
    const snapshot = await this.describeSnapshot(snapshotId);
    if (snapshot && !this.ownedBy(snapshot.TagList, context.runId)) throw this.notOurs('DB snapshot', snapshotId, 'aws.replicaInstanceId');
    if (snapshot || this.aws.planning) await this.aws.write('rds', new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: snapshotId }));
    return { replicaRemoved: true, deletedSnapshots: [snapshotId] };
  }

  private async waitAvailable(id: string, what: string, aws: AwsGateway = this.aws, reader: RdsReader = this.rds): Promise<void> {
    await aws.wait<RDSClient>({ service: 'rds', command: 'DescribeDBInstances', input: { DBInstanceIdentifier: id }, resource: `${what} ${id}`, state: 'available', timeoutSeconds: this.settings.aws.waits.instanceSeconds }, (config) =>
      waitUntilDBInstanceAvailable(config, { DBInstanceIdentifier: id }),
    );
    reader.forget(id); // the endpoint is known only now
  }
}

export function replicaInput(id: string, sourceId: string, source: SourceSettings, tags: Tag[]) {
  return defined({
    DBInstanceIdentifier: id,
    SourceDBInstanceIdentifier: sourceId,
    DBInstanceClass: source.instanceClass,
    VpcSecurityGroupIds: source.securityGroupIds,
    DBParameterGroupName: source.parameterGroup,
    MultiAZ: false,
    PubliclyAccessible: false,
    Tags: tags,
  });
}

/**
 * The ModifyDBInstance fields that would make `instance` what the stack declares: only those that
 * differ (a missing instance differs in nothing: the caller's waiter has already failed then).
 */
export function declaredTargetDifferences(instance: DBInstance | undefined, declared: DatabaseRestoreSettings): Partial<{ DBInstanceClass: string; MultiAZ: boolean; DeletionProtection: boolean; BackupRetentionPeriod: number; AutoMinorVersionUpgrade: boolean; CopyTagsToSnapshot: boolean; EnableIAMDatabaseAuthentication: boolean; PubliclyAccessible: boolean; VpcSecurityGroupIds: string[]; DBParameterGroupName: string; AllocatedStorage: number; StorageType: string }> {
  if (!instance) return {};
  const groups = (instance.VpcSecurityGroups ?? []).map((g) => g.VpcSecurityGroupId!).sort();
  const wanted = [...declared.securityGroupIds].sort();
  return defined({
    DBInstanceClass: instance.DBInstanceClass !== declared.instanceClass ? declared.instanceClass : undefined,
    MultiAZ: Boolean(instance.MultiAZ) !== declared.multiAz ? declared.multiAz : undefined,
    DeletionProtection: Boolean(instance.DeletionProtection) !== declared.deletionProtection ? declared.deletionProtection : undefined,
    BackupRetentionPeriod: instance.BackupRetentionPeriod !== declared.backupRetentionDays ? declared.backupRetentionDays : undefined,
    AutoMinorVersionUpgrade: Boolean(instance.AutoMinorVersionUpgrade) !== declared.autoMinorVersionUpgrade ? declared.autoMinorVersionUpgrade : undefined,
    CopyTagsToSnapshot: Boolean(instance.CopyTagsToSnapshot) !== declared.copyTagsToSnapshot ? declared.copyTagsToSnapshot : undefined,
    EnableIAMDatabaseAuthentication: Boolean(instance.IAMDatabaseAuthenticationEnabled) !== declared.iamDatabaseAuthentication ? declared.iamDatabaseAuthentication : undefined,
    PubliclyAccessible: Boolean(instance.PubliclyAccessible) !== declared.publiclyAccessible ? declared.publiclyAccessible : undefined,
    VpcSecurityGroupIds: JSON.stringify(groups) !== JSON.stringify(wanted) ? [...declared.securityGroupIds] : undefined,
    DBParameterGroupName: instance.DBParameterGroups?.[0]?.DBParameterGroupName !== declared.parameterGroupName ? declared.parameterGroupName : undefined,
    // Storage only grows (RDS refuses a smaller size): a larger restored volume is left alone.
    AllocatedStorage: (instance.AllocatedStorage ?? 0) < declared.allocatedStorageGb ? declared.allocatedStorageGb : undefined,
    StorageType: instance.StorageType !== declared.storageType ? declared.storageType : undefined,
  });
}

/** The plan's words for the declared target's settings. */
function describeDeclared(declared: DatabaseRestoreSettings): string {
  return [
    declared.instanceClass,
    `subnet group ${declared.subnetGroupName}`,
    `security groups ${declared.securityGroupIds.join(', ')}`,
    `parameter group ${declared.parameterGroupName}`,
    `${declared.storageType} ${declared.allocatedStorageGb} GB`,
    declared.multiAz === true ? 'Multi-AZ' : declared.multiAz === false ? 'single-AZ' : `Multi-AZ ${declared.multiAz}`,
    `backups ${declared.backupRetentionDays} days`,
    `deletion protection ${declared.deletionProtection}`,
    "the stack's tags",
  ].join(', ');
}

/**
 * The restore request. With `declared` (the cutover stack declares the target, see
 * AwsMysqlSettings.declaredTarget) every setting the stack declares comes from it, and the
 * source's only where the stack declares nothing (option group, backup window, CA): Terraform
 * then finds nothing to change when it imports the instance. Otherwise the source's settings.
 */
export function restoreInput(id: string, snapshotId: string, source: SourceSettings, runTags: Tag[], declared?: DatabaseRestoreSettings) {
  if (declared) {
    return defined({
      DBInstanceIdentifier: id,
      DBSnapshotIdentifier: snapshotId,
      DBInstanceClass: declared.instanceClass,
      DBSubnetGroupName: declared.subnetGroupName,
      VpcSecurityGroupIds: [...declared.securityGroupIds],
      DBParameterGroupName: declared.parameterGroupName,
      OptionGroupName: source.optionGroup,
      MultiAZ: declared.multiAz,
      Port: declared.port,
      PubliclyAccessible: declared.publiclyAccessible,
      StorageType: declared.storageType,
      AllocatedStorage: declared.allocatedStorageGb,
      BackupRetentionPeriod: declared.backupRetentionDays,
      PreferredBackupWindow: source.preferredBackupWindow,
      AutoMinorVersionUpgrade: declared.autoMinorVersionUpgrade,
      DeletionProtection: declared.deletionProtection,
      CopyTagsToSnapshot: declared.copyTagsToSnapshot,
      EnableIAMDatabaseAuthentication: declared.iamDatabaseAuthentication,
      CACertificateIdentifier: source.caCertificateIdentifier,
      // The stack's tags (what Terraform gives the instance), then the run's (its id: a resumed run knows it).
      Tags: carriedTags(Object.entries(declared.tags).map(([Key, Value]) => ({ Key, Value })), runTags),
    });
  }
  return defined({
    DBInstanceIdentifier: id,
    DBSnapshotIdentifier: snapshotId,
    DBInstanceClass: source.instanceClass,
    DBSubnetGroupName: source.subnetGroup,
    VpcSecurityGroupIds: source.securityGroupIds,
    DBParameterGroupName: source.parameterGroup,
    OptionGroupName: source.optionGroup,
    MultiAZ: source.multiAz,
    Port: source.port,
    PubliclyAccessible: source.publiclyAccessible,
    StorageType: source.storageType,
    Iops: source.iops,
    StorageThroughput: source.storageThroughput,
    // A replica's snapshot has backups off; the new primary needs the source's.
    BackupRetentionPeriod: source.backupRetentionPeriod,
    PreferredBackupWindow: source.preferredBackupWindow,
    AutoMinorVersionUpgrade: source.autoMinorVersionUpgrade,
    DeletionProtection: source.deletionProtection,
    CopyTagsToSnapshot: source.copyTagsToSnapshot,
    EnableIAMDatabaseAuthentication: source.iamDatabaseAuthentication,
    EnableCloudwatchLogsExports: source.cloudwatchLogsExports.length > 0 ? source.cloudwatchLogsExports : undefined,
    CACertificateIdentifier: source.caCertificateIdentifier,
    Tags: carriedTags(source.tags, runTags),
  });
}
