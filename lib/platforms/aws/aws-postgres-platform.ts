import {
  DeleteDBInstanceCommand,
  ModifyDBClusterParameterGroupCommand,
  ModifyDBParameterGroupCommand,
  RebootDBInstanceCommand,
  waitUntilDBClusterAvailable,
  waitUntilDBInstanceAvailable,
  type DBCluster,
  type DBInstance,
  type Parameter,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { POSTGRES_ADMIN, type PostgresPlatform, type PostgresWayBack } from '../postgres-platform';
import { PreconditionFailed, type Facts, type StepContext } from '../../runbook/step';
import type { PostgresEndpoint } from '../../engines/postgres/endpoint';
import { closePg, connectPg, pgRow, quoteIdent, quoteLiteral, type PgClient } from '../../engines/postgres/connection';
import { setRolesLogin, terminateSessions } from '../../engines/postgres/server';
import { REDACTED } from '../../util/secrets';
import { nowMs, sleep } from '../../util/time';
import type { PostgresMethod } from '../postgres-platform';
import type { AwsGateway } from './gateway';
import { endpointPlaceholder, type AwsPostgresSettings, type DatabaseRef } from './settings';
import { connectAddress, endpointTls, readPassword } from './credentials';
import { groupParameters, RdsReader } from './rds-reader';
import { AwsSwitch } from './switch';
import { runScopedId } from './run-tags';
import { deleteOldSourceCluster, describeDeleteOldSourceCluster, unfenceOldSource } from './old-source';

/**
 * The ids of the steps this platform defines itself (postgres-runbook.ts). Not labels: the
 * engine's running step labels every AWS call (lib/runbook/current-step.ts).
 */
export const AWS_POSTGRES_STEP = {
  preflight: 'aws.preflight',
  fence: 'aws.source.fence',
  targetLogicalReplication: 'aws.target.logical-replication',
} as const;

/** The parameter the freeze sets on the source's parameter group. */
export const FREEZE_PARAMETER = 'default_transaction_read_only';

const describeRef = (ref: DatabaseRef) => `${ref.kind === 'cluster' ? 'Aurora cluster' : 'RDS instance'} ${ref.id}`;

/** Endpoint, port, master user and parameter group of an instance or a cluster (cluster: the writer endpoint). */
export function databaseFacts(found: DBInstance | DBCluster | undefined, ref: DatabaseRef) {
  if (!found) return undefined;
  if (ref.kind === 'instance') {
    const instance = found as DBInstance;
    return { address: instance.Endpoint?.Address, port: instance.Endpoint?.Port ?? 5432, user: instance.MasterUsername, parameterGroup: instance.DBParameterGroups?.[0]?.DBParameterGroupName, status: instance.DBInstanceStatus, engine: instance.Engine, engineVersion: instance.EngineVersion, encrypted: instance.StorageEncrypted, kmsKeyId: instance.KmsKeyId, secretArn: instance.MasterUserSecret?.SecretArn, pendingReboot: instance.DBParameterGroups?.[0]?.ParameterApplyStatus === 'pending-reboot' };
  }
  const cluster = found as DBCluster;
  return { address: cluster.Endpoint, port: cluster.Port ?? 5432, user: cluster.MasterUsername, parameterGroup: cluster.DBClusterParameterGroup, status: cluster.Status, engine: cluster.Engine, engineVersion: cluster.EngineVersion, encrypted: cluster.StorageEncrypted, kmsKeyId: cluster.KmsKeyId, secretArn: cluster.MasterUserSecret?.SecretArn, pendingReboot: (cluster.DBClusterMembers ?? []).some((m) => m.DBClusterParameterGroupStatus === 'pending-reboot') };
}

export function freezeParameterInput(ref: DatabaseRef, group: string, readOnly: boolean) {
  const Parameters = [{ ParameterName: FREEZE_PARAMETER, ParameterValue: readOnly ? '1' : '0', ApplyMethod: 'immediate' as const }];
  return ref.kind === 'instance' ? { DBParameterGroupName: group, Parameters } : { DBClusterParameterGroupName: group, Parameters };
}

/**
 * The PostgreSQL platform on RDS/Aurora. The target is the encrypted database the stacks
 * created (createTarget checks it and adds the database and the application roles); the source
 * is frozen through its own parameter group (default_transaction_read_only, a dynamic
 * parameter); the switch point is the Route 53 CNAME. There is no pooler to pause: writes fail
 * read-only from the freeze until clients follow the new name (RDS Proxy is not driven yet).
 * The application roles are fenced (NOLOGIN) at the switch; the deny-all security group goes
 * on at the very end (`aws.source.fence`), because the flow still reads the source after the
 * switch (checksums, dropping the slot).
 */
export class AwsPostgresPlatform implements PostgresPlatform {
  readonly kind = 'aws' as const;
  readonly rds: RdsReader;
  private readonly switchPoint: AwsSwitch;
  private readonly passwords = new Map<string, string>();
  private targetAddress?: string;
  private sourceAddress?: string;
  private warnedNoPooler = false;
  /** The forward run's facts (switch-back and complete are runs of their own): the fence's previous groups. */
  private forwardFacts: Facts = {};
  /**
   * The way back (aws.reverseReplication, issue 12): at the switch the old source subscribes to
   * the target (through its inbound-only fence), `switch-back RUN_ID` moves the record back.
   */
  get wayBack(): PostgresWayBack | undefined {
    // Built on each read, bound to the object it is read through: the dry run reads it through
    // the recording platform (recording-postgres-platform.ts), so the way back's own SQL goes
    // through that platform's recording endpoints too, not to the real servers.
    return this.settings.reverseReplication && this.options.method === 'logical' ? this.buildWayBack() : undefined;
  }

  constructor(
    readonly settings: AwsPostgresSettings,
    private readonly aws: AwsGateway,
    readonly options: { method: PostgresMethod; appUsers: string[] },
  ) {
    this.rds = new RdsReader(aws);
    this.switchPoint = new AwsSwitch(settings, aws, this.rds);
  }

  /** `switch-back RUN_ID` / `complete RUN_ID`: what the forward run RUN_ID journaled (the fence's previous groups). */
  useForwardRun(facts: Facts): void {
    this.forwardFacts = facts;
  }

  // ---- reading state ---------------------------------------------------------------------

  async describe_(ref: DatabaseRef, options: { fresh?: boolean } = {}) {
    const found = ref.kind === 'instance' ? await this.rds.instance(ref.id, options) : await this.rds.cluster(ref.id, options);
    return databaseFacts(found, ref);
  }

  /** The configured group's parameters, page by page (DescribeDBParameters returns 100 at most). */
  parameters(ref: DatabaseRef, group: string): Promise<Parameter[] | undefined> {
    return groupParameters(this.aws, ref, group);
  }

  // ---- endpoints ---------------------------------------------------------------------------

  private async password(key: string, from: Parameters<typeof readPassword>[1], what: string): Promise<string> {
    // A plan never reads a secret: its clients record and send nothing, so they need none.
    if (this.aws.planning) return REDACTED;
    if (!this.passwords.has(key)) this.passwords.set(key, await readPassword(this.aws, from, what));
    return this.passwords.get(key)!;
  }

  private async endpointOf(name: string, ref: DatabaseRef, database: string, password: (facts: NonNullable<ReturnType<typeof databaseFacts>>) => Promise<string>): Promise<PostgresEndpoint> {
    const facts = await this.describe_(ref);
    if (!facts?.address) throw new Error(`${describeRef(ref)} has no endpoint yet (status ${facts?.status ?? 'not found'}): wait until it is available, then --resume`);
    const { host, port } = connectAddress(this.settings.aws.tunnels, ref.id, facts.address, facts.port);
    return { name, host, port, user: facts.user ?? 'postgres', password: await password(facts), database, tls: endpointTls(this.settings.aws, facts.address) };
  }

  source(database: string): Promise<PostgresEndpoint> {
    return this.endpointOf('source', this.settings.source, database, () => this.password('source', this.settings.aws.adminPassword, `master password of ${this.settings.source.id}`));
  }

  target(_facts: Facts, database: string): Promise<PostgresEndpoint> {
    return this.endpointOf('target', this.settings.target, database, (facts) => {
      const from = this.settings.aws.postgres?.targetAdminPassword ?? (facts.secretArn ? { secretArn: facts.secretArn } : undefined);
      if (!from) throw new Error(`${describeRef(this.settings.target)} has no RDS-managed master secret: set aws.postgres.targetAdminPassword in config/cutover/${this.settings.environment}.ts`);
      return this.password('target', from, `master password of ${this.settings.target.id}`);
    });
  }

  /** The target dials the source inside the VPC (never through the operator's tunnel), encrypted. */
  async sourceForSubscription() {
    const facts = databaseFacts(this.rds.known(this.settings.source), this.settings.source);
    if (!facts?.address) throw new Error(`The source ${this.settings.source.id} has not been described yet (run the preflight first)`);
    return { host: facts.address, port: facts.port, sslmode: 'require' };
  }

  // ---- plan lines --------------------------------------------------------------------------

  /**
   * RDS gives nobody the REPLICATION attribute; its rds_replication role carries the right.
   * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.FeatureSupport.LogicalReplication.html
   */
  replicationRoleSql(role: string, password: string, exists: boolean): string[] {
    return [`${exists ? 'ALTER' : 'CREATE'} ROLE ${quoteIdent(role)} LOGIN PASSWORD ${quoteLiteral(password)}`, `GRANT rds_replication TO ${quoteIdent(role)}`];
  }

  readonly describe = {
    replicationRole: (role: string) => `role ${role} LOGIN with a fresh password, GRANT rds_replication (RDS gives nobody the REPLICATION attribute)`,
    source: () => `${describeRef(this.settings.source)} (${this.settings.aws.region})${this.settings.aws.tunnels[this.settings.source.id] ? ` via tunnel ${this.settings.aws.tunnels[this.settings.source.id]}` : ''}`,
    target: () => `${describeRef(this.settings.target)}, encrypted, from the stacks`,
    createTarget: () => [
      `The target ${describeRef(this.settings.target)} is created by the stacks (cdktf deploy), not by this run: check it is available and encrypted with ${this.settings.kmsKeyId};`,
      `create the application roles ${this.options.appUsers.join(', ')} (passwords from aws.postgres.appRolePasswords) and the empty database.`,
    ],
    freeze: () => [
      `freeze the source: ${this.settings.source.kind === 'cluster' ? 'ModifyDBClusterParameterGroup' : 'ModifyDBParameterGroup'} ${FREEZE_PARAMETER}=1 (immediate) on the custom parameter group already attached to ${this.settings.source.id}`,
      `(attaching a group needs a reboot: attach it before the window), then wait until the server reports it (at most ${this.settings.aws.waits.freezeSeconds} s, part of --switch-timeout);`,
      'no pooler on AWS: application writes fail read-only from here until clients follow the DNS change; they do not queue;',
    ],
    pause: () => [],
    resume: (to = 'target') => [`no pooler to release: clients reach the ${to} as they resolve the new record;`],
    switchEndpoint: () => [
      `Route 53 ChangeResourceRecordSets UPSERT CNAME ${this.settings.dns.recordName} → the target's endpoint, TTL ${this.settings.dns.ttlSeconds} s (zone ${this.settings.dns.zoneId});`,
    ],
    fence: () => [
      `wait for Route 53 INSYNC; application roles NOLOGIN on the old source and their sessions ended;${this.settings.aws.ecsServices.length > 0 ? ` recycle ECS ${this.settings.aws.ecsServices.map((s) => `${s.cluster}/${s.service}`).join(', ')} (forceNewDeployment, wait until stable);` : ''}`,
      `the deny-all security group ${this.settings.fenceSecurityGroupId} goes on at the end (aws.source.fence), after the flow last reads the source.`,
    ],
  };

  // ---- the way back (aws.reverseReplication) ---------------------------------------------

  /**
   * The way back on RDS/Aurora PostgreSQL. At the switch the old source subscribes to the target
   * (the flow's postgres.way-back.prepare and pin; the target's rds.logical_replication is on,
   * see ensureTargetLogicalReplication); the old source dials the target's endpoint inside the
   * VPC through its fence, which is inbound-only. `switch-back` lifts the fence before its window
   * (minutes on RDS; the old source stays frozen and NOLOGIN), freezes the target through its own
   * parameter group (as the source's freeze), moves the Route 53 record back (short TTL, INSYNC
   * before the target is fenced) and fences the target with NOLOGIN (no security group: forward
   * replication source -> target runs again, so one can switch forth).
   */
  private buildWayBack(): PostgresWayBack {
    const source = this.settings.source;
    const { dns } = this.settings;
    const switchEndpointBack = async (context: StepContext) => {
      this.sourceAddress ??= (await this.describe_(source))?.address ?? `<${source.id}.Endpoint>`;
      const changeId = await this.switchPoint.upsert(this.sourceAddress, context.runId, 'back');
      await context.record({ route53ChangeIdBack: changeId });
    };
    return {
      targetForSubscription: async () => {
        const facts = databaseFacts(this.rds.known(this.settings.target), this.settings.target) ?? (await this.describe_(this.settings.target));
        if (!facts?.address) throw new Error(`The target ${this.settings.target.id} has no endpoint yet: the old source subscribes to it (wait until it is available, then --resume)`);
        return { host: facts.address, port: facts.port, sslmode: 'require' };
      },
      prepareSwitchBack: async (context) => {
        await this.unfenceSourceGroups(context);
        this.sourceAddress = (await this.describe_(source, { fresh: true }))?.address ?? `<${source.id}.Endpoint>`;
        await this.sourceAdmin(context);
        await this.targetAdmin(context);
      },
      setTargetReadOnly: async (context, readOnly) => this.setReadOnly(this.settings.target, () => this.targetAdmin(context), readOnly),
      unfenceSource: async (context) => setRolesLogin(await this.sourceAdmin(context), this.options.appUsers, true),
      switchEndpointBack,
      fenceTarget: async (context) => {
        // The record points at the old source here (the switch back moved it, or a resumed switch-forth never moved it away).
        await this.waitForDns(context, 'route53ChangeIdBack', switchEndpointBack);
        const admin = await this.targetAdmin(context);
        await setRolesLogin(admin, this.options.appUsers, false);
        const ended = await terminateSessions(admin, this.options.appUsers);
        await this.switchPoint.startRecycle();
        await this.switchPoint.waitRecycled();
        return { targetFence: 'roles-nologin', targetFenceSessionsEnded: ended };
      },
      deleteSource: async (context) => {
        if (source.kind === 'cluster') return this.deleteSourceCluster(context);
        const found = (await this.rds.instance(source.id, { fresh: true })) ?? undefined;
        if (!found && !this.aws.planning) return { sourceDeleted: true, sourceAlreadyGone: true };
        const state = await this.switchPointState(context);
        if (state.pointsAt !== 'target') throw new Error(`refusing to delete the old source ${source.id}: the Route 53 record ${dns.recordName} does not point at the target`);
        if (found?.DeletionProtection) throw new Error(`refusing to delete the old source ${source.id}: deletion protection is on (ModifyDBInstance --no-deletion-protection first, on purpose)`);
        const finalSnapshot = runScopedId(`${source.id}-final`, context.runId);
        if (found?.DBInstanceStatus !== 'deleting') {
          // Ctrl-C pressed just before is handled here, not after the source is gone.
          await context.checkpoint?.(`DeleteDBInstance ${source.id}`);
          await this.aws.write('rds', new DeleteDBInstanceCommand({ DBInstanceIdentifier: source.id, SkipFinalSnapshot: false, FinalDBSnapshotIdentifier: finalSnapshot }));
        }
        return { sourceDeleted: true, sourceFinalSnapshot: finalSnapshot };
      },
      describe: {
        prepareSwitchBack: () => [
          `lift the fence from ${source.id}: ${source.kind === 'cluster' ? 'ModifyDBCluster' : 'ModifyDBInstance'} VpcSecurityGroupIds back to the groups the forward run journaled (ApplyImmediately, polled until active); it stays frozen and its app roles NOLOGIN until the switch back opens it;`,
        ],
        freezeTarget: () => [
          `freeze the target: ${this.settings.target.kind === 'cluster' ? 'ModifyDBClusterParameterGroup' : 'ModifyDBParameterGroup'} ${FREEZE_PARAMETER}=1 (immediate) on the target's own parameter group (the stacks'), then wait until the server reports it (at most ${this.settings.aws.waits.freezeSeconds} s);`,
        ],
        reopenSource: () => [`reopen the old source: ${FREEZE_PARAMETER}=0 on its parameter group;`],
        switchEndpointBack: () => [`Route 53 ChangeResourceRecordSets UPSERT CNAME ${dns.recordName} → the old source's endpoint, TTL ${dns.ttlSeconds} s (zone ${dns.zoneId});`],
        fenceTarget: () => [
          `wait for Route 53 INSYNC; application roles NOLOGIN on the target and their sessions ended;${this.settings.aws.ecsServices.length > 0 ? ` recycle ECS ${this.settings.aws.ecsServices.map((s) => `${s.cluster}/${s.service}`).join(', ')} (forceNewDeployment, wait until stable);` : ''} no security group on the target (forward replication runs again);`,
        ],
        deleteSource: () =>
          source.kind === 'cluster'
            ? describeDeleteOldSourceCluster(source.id)
            : [`DeleteDBInstance ${source.id} with a final snapshot (${source.id}-final-<run id>); refused while the Route 53 record does not point at the target, or with deletion protection on.`],
      },
    };
  }

  /** `complete --delete-old` of an Aurora cluster source: its instances, then the cluster with a final snapshot (old-source.ts). */
  private deleteSourceCluster(context: StepContext): Promise<Facts> {
    return deleteOldSourceCluster(this.aws, this.rds, this.settings, {
      id: this.settings.source.id,
      context,
      recordOnTarget: async () => (await this.switchPointState(context)).pointsAt === 'target',
    });
  }

  /**
   * Put the old source's own security groups back (the forward run journaled them as
   * `sourcePreviousSecurityGroupIds`), idempotently: only while it carries just the fence.
   */
  private unfenceSourceGroups(context: StepContext): Promise<void> {
    return unfenceOldSource(this.aws, this.rds, this.settings, {
      ref: this.settings.source,
      previous: (this.forwardFacts.sourcePreviousSecurityGroupIds ?? context.facts.sourcePreviousSecurityGroupIds) as string[] | undefined,
      context,
      frozenBy: 'it stays frozen and its app roles NOLOGIN until the switch back opens it',
    });
  }

  /**
   * The way back needs logical decoding on the target too: `rds.logical_replication = 1` in the
   * target's own (custom) parameter group, applied. It is static: it applies only after a reboot
   * (for Aurora, of the cluster's writer instance). The stacks' group sets it and a new database
   * starts with its group applied, so this is usually a read; otherwise the group is modified and
   * the target rebooted here, while it is still empty, long before the window.
   * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.FeatureSupport.LogicalReplication.html
   * https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraPostgreSQL.Replication.Logical.Configure.html
   */
  async ensureTargetLogicalReplication(context: StepContext): Promise<Facts> {
    const ref = this.settings.target;
    const facts = await this.describe_(ref, { fresh: true });
    const group = facts?.parameterGroup ?? `<${ref.id}.${ref.kind === 'cluster' ? 'DBClusterParameterGroup' : 'DBParameterGroup'}>`;
    if (this.aws.canRead && (!facts?.parameterGroup || facts.parameterGroup.startsWith('default.'))) {
      throw new PreconditionFailed(`the target ${ref.id} uses the default parameter group ${facts?.parameterGroup ?? '(none)'}: the way back needs rds.logical_replication=1 and the switch-back freezes the target through its group; attach the stacks' group (${ref.id}-replication) and reboot before the move`);
    }
    const parameters = await this.parameters(ref, group);
    const enabled = parameters?.find((p) => p.ParameterName === 'rds.logical_replication')?.ParameterValue === '1';
    if (this.aws.canRead && enabled && !facts?.pendingReboot) return { targetLogicalReplication: 'on (applied)' };
    if (!enabled) {
      const Parameters = [{ ParameterName: 'rds.logical_replication', ParameterValue: '1', ApplyMethod: 'pending-reboot' as const }];
      await this.aws.write('rds', ref.kind === 'instance' ? new ModifyDBParameterGroupCommand({ DBParameterGroupName: group, Parameters }) : new ModifyDBClusterParameterGroupCommand({ DBClusterParameterGroupName: group, Parameters }));
    }
    const instanceId = ref.kind === 'instance' ? ref.id : ((await this.rds.cluster(ref.id))?.DBClusterMembers?.find((m) => m.IsClusterWriter)?.DBInstanceIdentifier ?? `<${ref.id} writer instance>`);
    context.log.warn(`rebooting the target ${instanceId} so that rds.logical_replication=1 applies (static parameter); the target is not in use yet`);
    await this.aws.write('rds', new RebootDBInstanceCommand({ DBInstanceIdentifier: instanceId }));
    await this.waitAvailable(ref);
    return { targetLogicalReplication: 'on (rebooted)', targetRebootedInstance: instanceId };
  }

  // ---- operations --------------------------------------------------------------------------

  /** Wait until the stacks' target is available, check its encryption, then add the roles and the database. */
  async createTarget(context: StepContext, options: { database: string; version?: number }): Promise<Facts> {
    const ref = this.settings.target;
    await this.waitAvailable(ref);
    const target = await this.describe_(ref, { fresh: true });
    if (this.aws.canRead) {
      if (!target) throw new Error(`${describeRef(ref)} not found in ${this.settings.aws.region}: deploy the stacks (npx cdktf deploy 'rds-cutover-${this.settings.aws.infraEnvironment ?? this.settings.environment}-*') or fix aws.postgres.target`);
      if (!target.encrypted) throw new Error(`${describeRef(ref)} is not encrypted: it must be the stacks' target (storage encrypted with ${this.settings.kmsKeyId})`);
      const major = Number((target.engineVersion ?? '').split('.')[0]);
      if (options.version !== undefined && major !== options.version) throw new Error(`${describeRef(ref)} runs PostgreSQL ${target.engineVersion}, not ${options.version}: fix postgres.targetVersion or the stacks' database.engineVersion`);
    }
    const roles = await this.appRolePasswords();
    const admin = await connectPg(await this.target(context.facts, 'postgres'), { writable: true });
    try {
      for (const statement of createRolesSql(roles)) await admin.query(statement);
      // CREATE DATABASE cannot run inside a transaction (nor a DO block): look first.
      const exists = await pgRow(admin, 'SELECT 1 AS x FROM pg_database WHERE datname = $1', [options.database]);
      if (!exists) await admin.query(createDatabaseSql(options.database, this.options.appUsers[0]));
    } finally {
      await closePg(admin);
    }
    return { targetId: ref.id, targetKind: ref.kind, targetEngineVersion: target?.engineVersion ?? null };
  }

  private async appRolePasswords(): Promise<Array<{ role: string; password: string }>> {
    const configured = this.settings.aws.postgres?.appRolePasswords ?? {};
    const roles: Array<{ role: string; password: string }> = [];
    for (const role of this.options.appUsers) {
      const from = configured[role];
      if (!from) throw new Error(`No password for application role ${role}: set aws.postgres.appRolePasswords.${role} in config/cutover/${this.settings.environment}.ts`);
      roles.push({ role, password: await this.password(`role:${role}`, from, `password of role ${role}`) });
    }
    return roles;
  }

  /**
   * The freeze: the dynamic parameter default_transaction_read_only on the parameter group the
   * source already uses (a newly attached group would need a reboot). RDS applies it
   * asynchronously; the administrator session polls its own `reset_val` (the server-wide value
   * after the reload; the session itself stays writable) until it changed.
   */
  async setSourceReadOnly(context: StepContext, readOnly: boolean): Promise<void> {
    await this.setReadOnly(this.settings.source, () => this.sourceAdmin(context), readOnly);
  }

  /** The freeze on either side: the dynamic parameter on the group `ref` uses, then polled on `admin` until the server reports it. */
  private async setReadOnly(ref: DatabaseRef, adminSession: () => Promise<PgClient>, readOnly: boolean): Promise<void> {
    const facts = await this.describe_(ref);
    const group = facts?.parameterGroup ?? `<${ref.id}.${ref.kind === 'cluster' ? 'DBClusterParameterGroup' : 'DBParameterGroup'}>`;
    const input = freezeParameterInput(ref, group, readOnly);
    await this.aws.write('rds', ref.kind === 'instance' ? new ModifyDBParameterGroupCommand(input as never) : new ModifyDBClusterParameterGroupCommand(input as never));
    const admin = await adminSession();
    const wanted = readOnly ? 'on' : 'off';
    const deadline = nowMs() + this.settings.aws.waits.freezeSeconds * 1000;
    for (;;) {
      const row = await pgRow<{ reset_val: string }>(admin, "SELECT reset_val FROM pg_settings WHERE name = 'default_transaction_read_only'");
      if (row?.reset_val === wanted) return;
      if (nowMs() > deadline) throw new Error(`${ref.id}: ${FREEZE_PARAMETER} did not become ${wanted} within ${this.settings.aws.waits.freezeSeconds} s after modifying parameter group ${group} (is it the group the ${ref === this.settings.source ? 'source' : 'target'} uses, and in-sync? see DescribeDB${ref.kind === 'cluster' ? 'Clusters' : 'Instances'})`);
      await sleep(200);
    }
  }

  async prepareSwitch(context: StepContext): Promise<void> {
    // The freeze's session is opened now, so the switch does not pay for it.
    await this.sourceAdmin(context);
    const target = await this.describe_(this.settings.target, { fresh: true });
    this.targetAddress = target?.address ?? endpointPlaceholder(this.settings.target.id, 'Endpoint');
    await this.switchPoint.checkRecord(databaseFacts(this.rds.known(this.settings.source), this.settings.source)?.address, context.log);
  }

  /** Nothing to pause without a pooler: say so once, and go on (writes fail rather than queue). */
  async pauseClients(context: StepContext): Promise<boolean> {
    if (!this.warnedNoPooler) context.log.warn('no pooler to pause on AWS: application writes fail (read-only) from the freeze until clients follow the DNS change');
    this.warnedNoPooler = true;
    return true;
  }

  async switchEndpoint(context: StepContext): Promise<void> {
    if (!this.targetAddress) await this.prepareSwitch(context);
    const changeId = await this.switchPoint.upsert(this.targetAddress!, context.runId);
    // Journaled at once: a resumed run waits for this change before fencing (in memory only, a
    // fresh process asked Route 53 for the plan's placeholder id).
    await context.record({ route53ChangeId: changeId });
  }

  /**
   * The fence must not beat the DNS: wait for this process's UPSERT, else the one the run
   * journaled (`fact`); with neither — killed between the UPSERT and its journal line, or a
   * resumed switch back (or forth) that reopened the side traffic never left — UPSERT the value
   * the record already has (`upsert`: a no-op for the record), which gives a change id to wait for.
   */
  private async waitForDns(context: StepContext, fact: 'route53ChangeId' | 'route53ChangeIdBack', upsert: (context: StepContext) => Promise<void>): Promise<void> {
    const journaled = typeof context.facts[fact] === 'string' ? (context.facts[fact] as string) : undefined;
    if (!this.switchPoint.currentChangeId && !journaled && !this.aws.planning) await upsert(context);
    await this.switchPoint.waitInSync(journaled);
  }

  async resumeClients(): Promise<void> {
    // No pooler: clients reconnect by themselves (and through the ECS recycle in fenceSource).
  }

  /** INSYNC, then the application roles lose LOGIN on the old source, then the ECS services are recycled. */
  async fenceSource(context: StepContext): Promise<Facts> {
    // The record points at the target here (the switch moved it, or a resumed switch back never moved it away).
    await this.waitForDns(context, 'route53ChangeId', (c) => this.switchEndpoint(c));
    const admin = await this.sourceAdmin(context);
    await setRolesLogin(admin, this.options.appUsers, false);
    const ended = await terminateSessions(admin, this.options.appUsers);
    await this.switchPoint.startRecycle();
    await this.switchPoint.waitRecycled();
    return { fence: 'roles-nologin', fenceSessionsEnded: ended, securityGroupFence: 'pending (aws.source.fence)' };
  }

  /**
   * The last step of the run: the fence group on the old source. It is inbound-only; with the
   * way back the old source dials the target through it, so the group must allow egress to the
   * target's port (checked first: a fence without it would cut replication target -> source).
   */
  fenceWithSecurityGroup(context: StepContext): Promise<Facts> {
    const port = this.wayBack ? (databaseFacts(this.rds.known(this.settings.target), this.settings.target)?.port ?? 5432) : undefined;
    return this.switchPoint.fence(this.settings.source, context.log, port === undefined ? {} : { reverseReplicationPort: port });
  }

  /** Where the Route 53 record sends the application: the source's or the target's endpoint (a resumed switch or switch-back decides from it). */
  async switchPointState(_context: StepContext): Promise<{ pointsAt: 'source' | 'target' | 'unknown'; paused: boolean | null }> {
    const [source, target] = await Promise.all([this.describe_(this.settings.source), this.describe_(this.settings.target)]);
    if (this.aws.planning) return { pointsAt: 'target', paused: null };
    const state = await this.switchPoint.recordState(source?.address, target?.address);
    return { pointsAt: state.pointsTo, paused: null };
  }

  private async waitAvailable(ref: DatabaseRef): Promise<void> {
    const spec = { service: 'rds' as const, resource: `target ${ref.id}`, state: 'available', timeoutSeconds: this.settings.aws.waits.instanceSeconds };
    if (ref.kind === 'instance') {
      await this.aws.wait<RDSClient>({ ...spec, command: 'DescribeDBInstances', input: { DBInstanceIdentifier: ref.id } }, (config) => waitUntilDBInstanceAvailable(config, { DBInstanceIdentifier: ref.id }));
    } else {
      await this.aws.wait<RDSClient>({ ...spec, command: 'DescribeDBClusters', input: { DBClusterIdentifier: ref.id } }, (config) => waitUntilDBClusterAvailable(config, { DBClusterIdentifier: ref.id }));
    }
  }

  /** A writable administrator session on the target, kept for the run (in its resources, closed when it ends). */
  private async targetAdmin(context: StepContext): Promise<PgClient> {
    const existing = context.resources.get(POSTGRES_ADMIN.target);
    if (existing) return existing;
    return context.resources.register(POSTGRES_ADMIN.target, await connectPg(await this.target(context.facts, 'postgres'), { writable: true }), closePg);
  }

  /** A writable administrator session on the source, kept for the run (in its resources, closed when it ends). */
  private async sourceAdmin(context: StepContext): Promise<PgClient> {
    const existing = context.resources.get(POSTGRES_ADMIN.source);
    if (existing) return existing;
    return context.resources.register(POSTGRES_ADMIN.source, await connectPg(await this.source('postgres'), { writable: true }), closePg);
  }
}

/**
 * The roles createTarget makes on the target (in its `postgres` database), idempotent, NOLOGIN:
 * the target stays closed to the application until the switch gives them LOGIN. The
 * administrator joins each role: from PostgreSQL 16 a role's creator may not otherwise restore
 * objects owned by it (ALTER … OWNER TO in the dump).
 */
export function createRolesSql(roles: Array<{ role: string; password: string }>): string[] {
  return roles.flatMap(({ role, password }) => [
    `DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${quoteLiteral(role)}) THEN ALTER ROLE ${quoteIdent(role)} NOLOGIN PASSWORD ${quoteLiteral(password)}; ELSE CREATE ROLE ${quoteIdent(role)} NOLOGIN PASSWORD ${quoteLiteral(password)}; END IF; END $$`,
    `GRANT ${quoteIdent(role)} TO CURRENT_USER`,
  ]);
}

export function createDatabaseSql(database: string, owner: string | undefined): string {
  return `CREATE DATABASE ${quoteIdent(database)}${owner ? ` OWNER ${quoteIdent(owner)}` : ''}`;
}
