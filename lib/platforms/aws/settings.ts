import type { CutoverEnvironment } from '../../../config/cutover';
import type { AwsSettings } from '../../../config/cutover/schemas/aws';
import type { TargetAccountSettings } from '../../../config/cutover/schemas/share-snapshot';
import { environmentTags, loadInfraEnvironment, type InfraEnvironment } from '../../../config/infra';
import { fromProjectRoot } from '../../util/project-root';
import { environmentOutputsFile, readInfraOutputs, type DatabaseRestoreSettings, type InfraOutputs } from '../../infra/outputs';

/** An RDS instance or an Aurora cluster. */
export interface DatabaseRef {
  kind: 'instance' | 'cluster';
  id: string;
}

/** What every AWS flow needs: the switch point, the fence and where the values came from. */
export interface AwsCommonSettings {
  environment: string;
  aws: AwsSettings;
  dns: { zoneId: string; recordName: string; ttlSeconds: number };
  fenceSecurityGroupId: string;
  /** The stacks' storage key (MySQL: the encrypted copy's key; PostgreSQL: the target must use it). */
  kmsKeyId: string;
  /**
   * Tags on everything the run creates (besides the run id): the infra environment's, as on the
   * stacks' resources (`runResourceTags`).
   */
  tags: Record<string, string>;
  /** Delete what the run created temporarily (`--cleanup`). */
  cleanup: boolean;
  /** The outputs file consulted (absolute). */
  outputsFile: string;
  /** Values neither the config nor the outputs file gave: shown as `<…>` in an offline plan, fatal with --execute. */
  missing: string[];
  /** Why the outputs file could not be used, if it could not. */
  outputsProblem?: string;
}

/** Everything the AWS MySQL platform needs, with the stacks' outputs filled in. */
export interface AwsMysqlSettings extends AwsCommonSettings {
  sourceInstanceId: string;
  replicaInstanceId: string;
  targetInstanceId: string;
  encryptedSnapshotId: string;
  replicationAccountHost: string;
  /** What the switch moves (aws.switchPoint). */
  switchPoint: 'dns' | 'proxy';
  /** With switchPoint 'proxy': the RDS Proxy, from config or the stacks' outputs. */
  proxy?: { name: string; targetGroupName: string; endpoint: string; port: number };
  /** Bound of the proxy swap's retries and of the poll through the proxy: the flow's switch timeout. */
  switchTimeoutMs: number;
  /** aws.targetAccount: the target is restored in another account through the share path. */
  targetAccount?: TargetAccountSettings & { region: string; shareKeyArn: string };
  /** aws.reverseReplication: the old source replicates from the target after the switch (the way back). */
  reverseReplication: boolean;
  /**
   * The target as the cutover stack declares it (config/infra `database` with `restoredByCutover`
   * and the same identifier; values from the output `databaseRestoreSettings`): the restore carries
   * these instead of the source's settings, so that the stack can import the instance unchanged.
   */
  declaredTarget?: DatabaseRestoreSettings;
}

/** Everything the Aurora MySQL platform needs (source: an Aurora MySQL 3 cluster), with the stacks' outputs filled in. */
export interface AwsAuroraMysqlSettings extends AwsCommonSettings {
  sourceClusterId: string;
  /** The new cluster, restored from the source's cluster snapshot with the stacks' KMS key. */
  targetClusterId: string;
  /** Its writer instance (an Aurora cluster restored from a snapshot has no instance of its own). */
  targetWriterInstanceId: string;
  replicationAccountHost: string;
  /** aws.reverseReplication: the old source cluster replicates from the target cluster after the switch (the way back). */
  reverseReplication: boolean;
}

/** Everything the AWS PostgreSQL platform needs, with the stacks' outputs filled in. */
export interface AwsPostgresSettings extends AwsCommonSettings {
  source: DatabaseRef;
  /** The encrypted database the stacks created. */
  target: DatabaseRef;
  /** aws.reverseReplication: the old source subscribes to the target at the switch (the way back: switch-back, complete). */
  reverseReplication: boolean;
}

const PLACEHOLDER_DNS = { zoneId: '<dnsZoneId>', recordName: '<dnsRecordName>', ttlSeconds: '<dnsTtlSeconds>' as unknown as number };

/** `10.10.0.0/16` → `10.10.0.0/255.255.0.0` (MySQL account hosts take address/netmask). */
/**
 * What a plan shows for an address not known offline: `<id.Endpoint.Address>`. An id that is
 * itself a placeholder (the stacks' outputs were missing) is not nested in another.
 */
export function endpointPlaceholder(id: string, path: 'Endpoint' | 'Endpoint.Address'): string {
  return `<${id.replace(/^<(.*)>$/, '$1')}.${path}>`;
}

export function accountHostFromCidr(cidr: string): string {
  const [address, bits] = cidr.split('/');
  const prefix = Number(bits);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const octets = address.split('.').map(Number);
  const network = (((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) & mask) >>> 0;
  const dotted = (n: number) => [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
  return `${dotted(network)}/${dotted(mask)}`;
}

export function databaseRef(config: { instanceId: string } | { clusterId: string }): DatabaseRef {
  return 'clusterId' in config ? { kind: 'cluster', id: config.clusterId } : { kind: 'instance', id: config.instanceId };
}

/** The stacks' outputs and infra config of an environment, and the values common to every AWS flow. */
function commonSettings(environment: CutoverEnvironment, options: SettingsOptions) {
  const aws = environment.aws;
  if (!aws) throw new Error(`config/cutover/${environment.name}.ts: platform "aws" needs an aws section (region, source, adminPassword)`);
  const infraName = aws.infraEnvironment ?? environment.name;
  const outputsFile = fromProjectRoot(environmentOutputsFile(aws, environment.name), options.projectRoot);
  let outputs: InfraOutputs | undefined;
  let outputsProblem: string | undefined;
  try {
    outputs = readInfraOutputs(infraName, { file: outputsFile, environment: options.infraEnvironment });
  } catch (error) {
    outputsProblem = (error as Error).message;
  }
  let infra: InfraEnvironment | undefined;
  try {
    infra = options.infraEnvironment ?? loadInfraEnvironment(infraName);
  } catch {
    infra = undefined;
  }
  const vpcCidr = infra?.network.vpcCidr;
  const missing: string[] = [];
  /** A value from config or the outputs; else a `<placeholder>`, and noted as missing. */
  const need = (value: string | undefined, field: string, from: string): string => {
    if (value !== undefined) return value;
    missing.push(`aws.${field} (or the stacks' output ${from})`);
    return `<${from}>`;
  };
  const common: AwsCommonSettings = {
    environment: environment.name,
    aws,
    kmsKeyId: need(aws.kmsKeyId ?? outputs?.cutover.storageKeyArn, 'kmsKeyId', 'storageKeyArn'),
    dns: aws.dns ?? outputs?.dns ?? (need(undefined, 'dns', 'dnsZoneId, dnsRecordName, dnsTtlSeconds'), PLACEHOLDER_DNS),
    fenceSecurityGroupId: need(aws.fenceSecurityGroupId ?? outputs?.cutover.fenceSecurityGroupId, 'fenceSecurityGroupId', 'fenceSecurityGroupId'),
    tags: runResourceTags(environment.name, aws, infra, infraName),
    cleanup: options.cleanup,
    outputsFile,
    missing,
    outputsProblem,
  };
  return { common, outputs, vpcCidr, infraName, infra, need };
}

/**
 * What the run tags its resources with: the infra environment's tags (config/infra, the same the
 * stacks put on theirs: one list), or `aws.tags` for an environment that has no infra environment.
 * Both at once is refused: two lists of the same tags drift apart.
 */
export function runResourceTags(environmentName: string, aws: Pick<AwsSettings, 'tags'>, infra: InfraEnvironment | undefined, infraName: string): Record<string, string> {
  if (!infra) return aws.tags;
  if (Object.keys(aws.tags).length > 0) {
    throw new Error(`config/cutover/${environmentName}.ts: aws.tags repeats the tags of config/infra/${infraName}.ts (defaultTags): remove aws.tags; the run tags what it creates with that environment's defaultTags, as the stacks tag theirs`);
  }
  return environmentTags(infra);
}

export interface SettingsOptions {
  cleanup: boolean;
  projectRoot?: string;
  /** @default - config/infra/<aws.infraEnvironment or the environment's name>.ts */
  infraEnvironment?: InfraEnvironment;
}

/**
 * Combine the environment's `aws` section with the stacks' outputs file and the infra config.
 * Config values win; the rest come from the outputs (`readInfraOutputs`, the stacks' own reader).
 */
export function resolveAwsMysqlSettings(environment: CutoverEnvironment, options: SettingsOptions & { switchTimeoutMs?: number }): AwsMysqlSettings {
  const { common, vpcCidr, infraName, infra, outputs, need } = commonSettings(environment, options);
  const aws = common.aws;
  if ('clusterId' in aws.source) {
    throw new Error(`config/cutover/${environment.name}.ts: aws.source.clusterId names an Aurora cluster: its settings come from resolveAwsAuroraMysqlSettings (the RDS instance flow needs aws.source.instanceId)`);
  }
  const source = aws.source.instanceId;
  const target = aws.targetInstanceId ?? `${source}-encrypted`;
  const declaredTarget = aws.targetAccount ? undefined : declaredTargetOf(common, outputs, infra, infraName, target);
  if (aws.targetAccount && aws.switchPoint === 'proxy') {
    throw new Error(`config/cutover/${environment.name}.ts: aws.switchPoint "proxy" cannot move to a target in another account (an RDS Proxy registers instances of its own account only): use "dns" with aws.targetAccount`);
  }
  if (aws.targetAccount?.region && aws.targetAccount.region !== aws.region) {
    throw new Error(`config/cutover/${environment.name}.ts: aws.targetAccount.region ${aws.targetAccount.region} differs from aws.region ${aws.region}: the flow moves within one region (a cross-region copy is not built); drop targetAccount.region`);
  }
  const targetAccount = aws.targetAccount
    ? { ...aws.targetAccount, region: aws.targetAccount.region ?? aws.region, shareKeyArn: need(aws.targetAccount.shareKeyArn ?? outputs?.snapshotShare?.keyArn, 'targetAccount.shareKeyArn', 'snapshotShareKeyArn') }
    : undefined;
  return {
    ...common,
    targetAccount,
    sourceInstanceId: source,
    replicaInstanceId: aws.replicaInstanceId ?? `${source}-cutover-replica`,
    targetInstanceId: target,
    encryptedSnapshotId: aws.encryptedSnapshotId ?? `${target}-seed`,
    replicationAccountHost: replicationAccountHostOf(common, vpcCidr, infraName),
    switchPoint: aws.switchPoint,
    proxy:
      aws.switchPoint !== 'proxy'
        ? undefined
        : aws.proxy ?? {
            name: need(outputs?.proxy?.name, 'proxy.name', 'proxyName'),
            targetGroupName: outputs?.proxy?.targetGroupName ?? 'default',
            endpoint: need(outputs?.proxy?.endpoint, 'proxy.endpoint', 'proxyEndpoint'),
            port: 3306,
          },
    switchTimeoutMs: options.switchTimeoutMs ?? environment.mysql?.switchTimeoutMs ?? 10000,
    reverseReplication: aws.reverseReplication,
    declaredTarget,
  };
}

/**
 * When the cutover stack declares the target instance as one the run restores
 * (`database.restoredByCutover` with the target's identifier), the restore must carry what the
 * stack declares: from the outputs; offline without them, named placeholders (fatal with --execute).
 */
function declaredTargetOf(common: AwsCommonSettings, outputs: InfraOutputs | undefined, infra: InfraEnvironment | undefined, infraName: string, target: string): DatabaseRestoreSettings | undefined {
  const declared = infra?.database;
  if (!declared?.restoredByCutover || declared.identifier !== target) return undefined;
  if (outputs?.database?.restoreSettings) return outputs.database.restoreSettings;
  common.missing.push(`the stacks' output databaseRestoreSettings (config/infra/${infraName}.ts declares ${target} with restoredByCutover: the restore uses the stack's settings)`);
  const p = (field: string) => `<databaseRestoreSettings.${field}>`;
  return {
    instanceClass: p('instanceClass'),
    subnetGroupName: p('subnetGroupName'),
    securityGroupIds: [p('securityGroupIds')],
    parameterGroupName: p('parameterGroupName'),
    multiAz: p('multiAz') as unknown as boolean,
    storageType: p('storageType'),
    allocatedStorageGb: p('allocatedStorageGb') as unknown as number,
    port: p('port') as unknown as number,
    publiclyAccessible: p('publiclyAccessible') as unknown as boolean,
    backupRetentionDays: p('backupRetentionDays') as unknown as number,
    autoMinorVersionUpgrade: p('autoMinorVersionUpgrade') as unknown as boolean,
    deletionProtection: p('deletionProtection') as unknown as boolean,
    copyTagsToSnapshot: p('copyTagsToSnapshot') as unknown as boolean,
    iamDatabaseAuthentication: p('iamDatabaseAuthentication') as unknown as boolean,
    tags: {},
  };
}

/** The replication account's host part: configured, else the infra VPC range; noted as missing otherwise. */
function replicationAccountHostOf(common: AwsCommonSettings, vpcCidr: string | undefined, infraName: string): string {
  const host = common.aws.replicationAccountHost ?? (vpcCidr ? accountHostFromCidr(vpcCidr) : undefined);
  if (!host) common.missing.push(`aws.replicationAccountHost (or network.vpcCidr in config/infra/${infraName}.ts)`);
  return host ?? '<VPC range>';
}

/**
 * The MySQL flow with an Aurora MySQL cluster as the source (`aws.source.clusterId`): no
 * temporary replica; the target is a new cluster restored, encrypted, from the source's cluster
 * snapshot. Settings that only the instance flow uses are refused rather than ignored.
 */
export function resolveAwsAuroraMysqlSettings(environment: CutoverEnvironment, options: SettingsOptions): AwsAuroraMysqlSettings {
  const { common, vpcCidr, infraName } = commonSettings(environment, options);
  const aws = common.aws;
  if (aws.switchPoint === 'proxy') throw new Error(`config/cutover/${environment.name}.ts: aws.switchPoint "proxy" is built for the RDS MySQL instance flow only (not yet for an Aurora MySQL source): use "dns"`);
  if (!('clusterId' in aws.source)) throw new Error(`config/cutover/${environment.name}.ts: the Aurora MySQL flow needs aws.source.clusterId (an RDS instance source uses resolveAwsMysqlSettings)`);
  const instanceOnly = (['replicaInstanceId', 'targetInstanceId', 'encryptedSnapshotId'] as const).filter((field) => aws[field] !== undefined);
  if (instanceOnly.length > 0) {
    throw new Error(
      `config/cutover/${environment.name}.ts: ${instanceOnly.map((f) => `aws.${f}`).join(', ')} belong to the RDS instance flow; an Aurora MySQL source has no temporary replica and no snapshot copy (the cluster is restored encrypted): name the new cluster with aws.targetClusterId and its writer with aws.targetWriterInstanceId`,
    );
  }
  const source = aws.source.clusterId;
  const target = aws.targetClusterId ?? `${source}-encrypted`;
  return {
    ...common,
    sourceClusterId: source,
    targetClusterId: target,
    targetWriterInstanceId: aws.targetWriterInstanceId ?? `${target}-writer`,
    replicationAccountHost: replicationAccountHostOf(common, vpcCidr, infraName),
    reverseReplication: Boolean(aws.reverseReplication),
  };
}

/** The PostgreSQL flow's settings: the target is the database the stacks created (`database*` outputs). */
export function resolveAwsPostgresSettings(environment: CutoverEnvironment, options: SettingsOptions): AwsPostgresSettings {
  const { common, outputs, need } = commonSettings(environment, options);
  const aws = common.aws;
  if (aws.switchPoint === 'proxy') throw new Error(`config/cutover/${environment.name}.ts: aws.switchPoint "proxy" is built for the RDS MySQL instance flow only (not yet for PostgreSQL): use "dns"`);
  const configured = aws.postgres?.target;
  const target: DatabaseRef = configured
    ? databaseRef(configured)
    : outputs?.database
      ? { kind: outputs.database.kind, id: outputs.database.identifier }
      : { kind: 'instance', id: (need(undefined, 'postgres.target', 'databaseKind, databaseIdentifier'), '<databaseIdentifier>') };
  const problems = (environment.postgres?.appUsers ?? []).filter((role) => !aws.postgres?.appRolePasswords[role]);
  for (const role of problems) common.missing.push(`aws.postgres.appRolePasswords.${role} ({ env: "VARIABLE" } or { secretArn: "arn:…" }): the role is created on the target with it`);
  return { ...common, source: databaseRef(aws.source), target, reverseReplication: Boolean(aws.reverseReplication) };
}
