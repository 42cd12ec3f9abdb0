import { ModifyDBClusterCommand, ModifyDBInstanceCommand, type VpcSecurityGroupMembership } from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand, waitUntilResourceRecordSetsChanged, type ChangeResourceRecordSetsCommandOutput, type ListResourceRecordSetsCommandOutput, type Route53Client } from '@aws-sdk/client-route-53';
import { UpdateServiceCommand, waitUntilServicesStable, type ECSClient } from '@aws-sdk/client-ecs';
import { DescribeSecurityGroupsCommand, type DescribeSecurityGroupsCommandOutput } from '@aws-sdk/client-ec2';
import type { Logger } from '../../util/log';
import { fenceRuleProblems } from './fence-rules';
import type { Facts } from '../../runbook/step';
import type { AwsGateway } from './gateway';
import type { RdsReader } from './rds-reader';
import type { AwsCommonSettings, DatabaseRef } from './settings';

/** Shown in plans where the UPSERT's change id is not known yet. */
export const PLANNED_CHANGE_ID = '<ChangeInfo.Id of the UPSERT>';

/** `direction` 'back': a switch-back, the record goes back to the old source (the comment says so). */
export function dnsUpsertInput(dns: AwsCommonSettings['dns'], targetAddress: string, runId: string, direction: 'forward' | 'back' = 'forward') {
  return {
    HostedZoneId: dns.zoneId,
    ChangeBatch: {
      Comment: `rds-cutover run ${runId}: ${direction === 'back' ? 'switch back to the old source' : 'switch to the new instance'}`,
      Changes: [{ Action: 'UPSERT' as const, ResourceRecordSet: { Name: dns.recordName, Type: 'CNAME' as const, TTL: dns.ttlSeconds, ResourceRecords: [{ Value: targetAddress }] } }],
    },
  };
}

export function fenceInput(id: string, fenceSecurityGroupId: string) {
  return { DBInstanceIdentifier: id, VpcSecurityGroupIds: [fenceSecurityGroupId], ApplyImmediately: true };
}

export function clusterFenceInput(id: string, fenceSecurityGroupId: string) {
  return { DBClusterIdentifier: id, VpcSecurityGroupIds: [fenceSecurityGroupId], ApplyImmediately: true };
}

/**
 * The AWS side of a switch, the same for every flow: the Route 53 CNAME (UPSERT, then INSYNC),
 * the ECS services recycled, and the old database fenced with the stacks' deny-all group.
 */
export class AwsSwitch {
  private changeId?: string;

  constructor(
    private readonly settings: AwsCommonSettings,
    private readonly aws: AwsGateway,
    private readonly rds: RdsReader,
  ) {}

  /** Plan lines of the switch: the UPSERT to `targetName` and the ECS recycle. */
  describeSwitch(targetName: string): string[] {
    const { dns, aws } = this.settings;
    return [
      `Route 53 ChangeResourceRecordSets UPSERT CNAME ${dns.recordName} → ${targetName}, TTL ${dns.ttlSeconds} s (zone ${dns.zoneId});`,
      ...(aws.ecsServices.length > 0 ? [`recycle ECS ${aws.ecsServices.map((s) => `${s.cluster}/${s.service}`).join(', ')} (UpdateService forceNewDeployment, wait until stable).`] : []),
    ];
  }

  /** Plan lines of the fence, after INSYNC. */
  describeFence(kind: DatabaseRef['kind']): string[] {
    return [
      `Wait for Route 53 GetChange INSYNC, then fence the old source: ${kind === 'instance' ? 'ModifyDBInstance' : 'ModifyDBCluster'} VpcSecurityGroupIds`,
      `[${this.settings.fenceSecurityGroupId}] (deny-all, ApplyImmediately).`,
    ];
  }

  /** Reads the record (the zone is reachable, and the UPSERT's connection is warm); warns when it does not point at the source. */
  async checkRecord(sourceAddress: string | undefined, log: Logger): Promise<void> {
    const current = await this.aws.read<ListResourceRecordSetsCommandOutput>('route53', new ListResourceRecordSetsCommand({ HostedZoneId: this.settings.dns.zoneId, StartRecordName: this.settings.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    const record = current?.ResourceRecordSets?.[0];
    if (record && sourceAddress && !record.ResourceRecords?.some((r) => r.Value?.replace(/\.$/, '') === sourceAddress)) {
      log.warn(`${this.settings.dns.recordName} currently points at ${record.ResourceRecords?.map((r) => r.Value).join(', ')}, not at the source ${sourceAddress}`);
    }
  }

  /** Returns the change id: callers journal it, so that a resumed run can wait for the same change. */
  async upsert(targetAddress: string, runId: string, direction: 'forward' | 'back' = 'forward'): Promise<string> {
    const output = await this.aws.write<ChangeResourceRecordSetsCommandOutput>('route53', new ChangeResourceRecordSetsCommand(dnsUpsertInput(this.settings.dns, targetAddress, runId, direction)));
    this.changeId = output?.ChangeInfo?.Id ?? PLANNED_CHANGE_ID;
    return this.changeId;
  }

  /** The change id of this process's UPSERT, if it made one. */
  get currentChangeId(): string | undefined {
    return this.changeId;
  }

  /**
   * Where the record points now (ListResourceRecordSets), compared with the source's and the
   * target's addresses: a resumed switch decides from this whether traffic moved.
   */
  async recordState(sourceAddress: string | undefined, targetAddress: string | undefined): Promise<{ pointsTo: 'source' | 'target' | 'unknown'; detail: string }> {
    const { recordName } = this.settings.dns;
    const current = await this.aws.read<ListResourceRecordSetsCommandOutput>('route53', new ListResourceRecordSetsCommand({ HostedZoneId: this.settings.dns.zoneId, StartRecordName: recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
    const record = current?.ResourceRecordSets?.[0];
    const sameName = record && record.Name?.replace(/\.$/, '').toLowerCase() === recordName.replace(/\.$/, '').toLowerCase() && record.Type === 'CNAME';
    const values = sameName ? (record!.ResourceRecords ?? []).map((r) => (r.Value ?? '').replace(/\.$/, '')) : [];
    const detail = `Route 53 ${recordName} CNAME → ${values.length > 0 ? values.join(', ') : '(no record)'}`;
    if (values.length === 1 && targetAddress && values[0] === targetAddress) return { pointsTo: 'target', detail };
    if (values.length === 1 && sourceAddress && values[0] === sourceAddress) return { pointsTo: 'source', detail };
    return { pointsTo: 'unknown', detail: `${detail} (source ${sourceAddress ?? '?'}, target ${targetAddress ?? '?'})` };
  }

  /**
   * Route 53 has accepted the change when the UPSERT returns; INSYNC means every authoritative
   * server answers the new name. Whatever must not beat the DNS (the fence) waits for it.
   * `journaledChangeId`: the id an earlier process of this run journaled (resume).
   * https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html
   */
  async waitInSync(journaledChangeId?: string): Promise<void> {
    const changeId = this.changeId ?? journaledChangeId ?? PLANNED_CHANGE_ID;
    await this.aws.wait<Route53Client>({ service: 'route53', command: 'GetChange', input: { Id: changeId }, resource: `Route 53 change ${changeId} for ${this.settings.dns.recordName}`, state: 'INSYNC', timeoutSeconds: this.settings.aws.waits.dnsSeconds }, (config) =>
      waitUntilResourceRecordSetsChanged(config, { Id: changeId }),
    );
  }

  /** UpdateService forceNewDeployment for each listed service: new tasks resolve the new name. */
  async startRecycle(): Promise<void> {
    for (const { cluster, service } of this.settings.aws.ecsServices) {
      await this.aws.write('ecs', new UpdateServiceCommand({ cluster, service, forceNewDeployment: true }));
    }
  }

  async waitRecycled(): Promise<void> {
    const services = this.settings.aws.ecsServices;
    for (const cluster of [...new Set(services.map((s) => s.cluster))]) {
      const names = services.filter((s) => s.cluster === cluster).map((s) => s.service);
      await this.aws.wait<ECSClient>({ service: 'ecs', command: 'DescribeServices', input: { cluster, services: names }, resource: `ECS services ${names.join(', ')} in ${cluster}`, state: 'stable', timeoutSeconds: this.settings.aws.waits.servicesSeconds }, (config) =>
        waitUntilServicesStable(config, { cluster, services: names }),
      );
    }
  }

  /**
   * Replace the database's security groups with the deny-all fence (ApplyImmediately) and wait
   * until only the fence is active. Logs the call that undoes it.
   */
  async fence(database: DatabaseRef, log: Logger, options: { reverseReplicationPort?: number } = {}): Promise<Facts> {
    const fence = this.settings.fenceSecurityGroupId;
    if (options.reverseReplicationPort !== undefined) {
      // The fenced database replicates from the new one (the way back): the fence must let that out.
      const group = (await this.aws.read<DescribeSecurityGroupsCommandOutput>('ec2', new DescribeSecurityGroupsCommand({ GroupIds: [fence] })))?.SecurityGroups?.[0];
      const problems = group ? fenceRuleProblems(group, options) : [];
      if (problems.length > 0) throw new Error(`${database.id} was not fenced (it stays frozen for the app accounts): ${problems.join('; ')}`);
    }
    const groupsNow = async (): Promise<VpcSecurityGroupMembership[]> =>
      ((database.kind === 'instance' ? await this.rds.instance(database.id, { fresh: true }) : await this.rds.cluster(database.id, { fresh: true }))?.VpcSecurityGroups ?? []);
    const previous = (await groupsNow()).map((g) => g.VpcSecurityGroupId!);
    if (!(previous.length === 1 && previous[0] === fence)) {
      await this.aws.write('rds', database.kind === 'instance' ? new ModifyDBInstanceCommand(fenceInput(database.id, fence)) : new ModifyDBClusterCommand(clusterFenceInput(database.id, fence)));
    }
    const describe = database.kind === 'instance' ? { command: 'DescribeDBInstances', input: { DBInstanceIdentifier: database.id } } : { command: 'DescribeDBClusters', input: { DBClusterIdentifier: database.id } };
    await this.aws.poll({ service: 'rds', ...describe, resource: `security groups of ${database.id}`, state: `only ${fence}, active`, timeoutSeconds: this.settings.aws.waits.instanceSeconds }, async () => {
      const groups = await groupsNow();
      if (groups.length === 1 && groups[0].VpcSecurityGroupId === fence && groups[0].Status === 'active') return { done: true };
      return { done: false, progress: groups.map((g) => `${g.VpcSecurityGroupId} ${g.Status}`).join(', ') || 'no security groups reported' };
    });
    const undo = database.kind === 'instance' ? 'ModifyDBInstance' : 'ModifyDBCluster';
    log.info(`fenced ${database.id}: security groups ${previous.join(', ') || '(unknown)'} replaced by ${fence}; to undo: ${undo} VpcSecurityGroupIds [${previous.join(', ')}]`);
    return { fence: `sg:${fence}`, sourcePreviousSecurityGroupIds: previous };
  }
}
