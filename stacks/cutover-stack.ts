/**
 * Seeds 000, 001 and 002: what a cutover needs in one environment. The storage key and the
 * fence always; the target database, the DNS switch point and the RDS Proxy when configured.
 * They share one stack because they reference each other (the proxy's group may reach the
 * target) and cross-stack references would break the offline plan of a fresh clone.
 */
import type { Construct } from './aws';
import { CutoverDnsRecord } from './constructs/cutover-dns-record';
import { DatabaseProxy } from './constructs/database-proxy';
import { FenceSecurityGroup } from './constructs/fence-security-group';
import { StorageEncryptionKey } from './constructs/customer-managed-key';
import { TargetDatabase } from './constructs/target-database';
import { EnvironmentStack, type EnvironmentStackProps } from './environment-stack';
import { exportOutputs } from './outputs';

const PROXY_PORT = { MYSQL: 3306, POSTGRESQL: 5432 } as const;

export class CutoverStack extends EnvironmentStack {
  readonly storageKey: StorageEncryptionKey;
  readonly fence: FenceSecurityGroup;
  readonly proxy?: DatabaseProxy;
  readonly database?: TargetDatabase;
  readonly dns?: CutoverDnsRecord;

  constructor(scope: Construct, props: EnvironmentStackProps) {
    super(scope, 'cutover', props);
    const { name, accountId, region, network, keyAdministratorArns, database, dns, proxy } = this.environment;
    const prefix = `rds-cutover-${name}`;

    this.storageKey = new StorageEncryptionKey(this, 'storage-key', { accountId, region, alias: `rds-cutover/${name}/storage`, administratorArns: keyAdministratorArns });
    this.fence = new FenceSecurityGroup(this, 'fence', { vpcId: network.vpcId, vpcCidr: network.vpcCidr, name: `${prefix}-fence` });
    exportOutputs(this, 'cutover', {
      storageKeyArn: this.storageKey.key.arn,
      storageKeyId: this.storageKey.key.keyId,
      fenceSecurityGroupId: this.fence.securityGroup.id,
    });

    if (proxy) {
      this.proxy = new DatabaseProxy(this, 'proxy', {
        name: prefix,
        engineFamily: proxy.engineFamily,
        secretArn: proxy.secretArn,
        secretKmsKeyArn: proxy.secretKmsKeyArn,
        accountId,
        region,
        vpcId: network.vpcId,
        vpcCidr: network.vpcCidr,
        subnetIds: network.subnetIds,
        databasePort: PROXY_PORT[proxy.engineFamily],
        clientSecurityGroupIds: proxy.clientSecurityGroupIds,
        idleClientTimeoutSeconds: proxy.idleClientTimeoutSeconds,
      });
      exportOutputs(this, 'proxy', {
        name: this.proxy.proxy.name,
        arn: this.proxy.proxy.arn,
        endpoint: this.proxy.proxy.endpoint,
        targetGroupName: this.proxy.defaultTargetGroup.name,
        securityGroupId: this.proxy.securityGroup.id,
        initialTargetKind: proxy.initialTarget.kind,
        initialTargetIdentifier: proxy.initialTarget.identifier,
      });
    }

    if (database) {
      this.database = new TargetDatabase(this, 'database', {
        ...database,
        kmsKeyArn: this.storageKey.key.arn,
        vpcId: network.vpcId,
        vpcCidr: network.vpcCidr,
        subnetIds: network.subnetIds,
        clientSecurityGroupIds: [...database.clientSecurityGroupIds, ...(this.proxy ? [this.proxy.securityGroup.id] : [])],
      });
      exportOutputs(this, 'database', {
        kind: this.database.kind,
        identifier: this.database.identifier,
        arn: this.database.arn,
        endpoint: this.database.endpoint,
        port: this.database.port,
        securityGroupId: this.database.securityGroup.id,
        parameterGroupName: this.database.parameterGroup.name,
        frozenParameterGroupName: this.database.frozenParameterGroup?.name,
        // What the cutover run restores the instance with, when the run restores it.
        restoreSettings: database.restoredByCutover && this.database.restoreSettings ? { ...this.database.restoreSettings, tags: this.defaultTags } : undefined,
      });
    }

    if (dns) {
      this.dns = new CutoverDnsRecord(this, 'dns', {
        zone: 'existingZoneId' in dns.zone ? dns.zone : { privateZoneName: dns.zone.privateZoneName, vpcId: network.vpcId },
        recordName: dns.recordName,
        initialTarget: dns.currentEndpoint,
        ttlSeconds: dns.ttlSeconds,
      });
      exportOutputs(this, 'dns', { zoneId: this.dns.zoneId, recordName: this.dns.record.fqdn, ttlSeconds: dns.ttlSeconds });
    }
  }
}
