import { resolve } from 'node:path';
import type { CutoverEnvironment } from '../../../config/cutover';
import type { AwsSettings } from '../../../config/cutover/schemas/aws';
import { loadInfraEnvironment } from '../../../config/infra';
import { outputsFilePath, readInfraOutputs, type InfraOutputs } from '../../../stacks/outputs';

/** Everything the AWS MySQL platform needs, with the stacks' outputs filled in. */
export interface AwsMysqlSettings {
  environment: string;
  aws: AwsSettings;
  sourceInstanceId: string;
  replicaInstanceId: string;
  targetInstanceId: string;
  encryptedSnapshotId: string;
  kmsKeyId: string;
  dns: { zoneId: string; recordName: string; ttlSeconds: number };
  fenceSecurityGroupId: string;
  replicationAccountHost: string;
  /** Delete the temporary replica and the unencrypted snapshot at the end (`--cleanup`). */
  cleanup: boolean;
  /** The outputs file consulted (absolute). */
  outputsFile: string;
  /** Values neither the config nor the outputs file gave: shown as `<…>` in an offline plan, fatal with --execute. */
  missing: string[];
  /** Why the outputs file could not be used, if it could not. */
  outputsProblem?: string;
}

const PLACEHOLDER_DNS = { zoneId: '<dnsZoneId>', recordName: '<dnsRecordName>', ttlSeconds: '<dnsTtlSeconds>' as unknown as number };

/** `10.10.0.0/16` → `10.10.0.0/255.255.0.0` (MySQL account hosts take address/netmask). */
export function accountHostFromCidr(cidr: string): string {
  const [address, bits] = cidr.split('/');
  const prefix = Number(bits);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const octets = address.split('.').map(Number);
  const network = (((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) & mask) >>> 0;
  const dotted = (n: number) => [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
  return `${dotted(network)}/${dotted(mask)}`;
}

/**
 * Combine the environment's `aws` section with the stacks' outputs file and the infra config.
 * Config values win; the rest come from the outputs (`readInfraOutputs`, the stacks' own reader).
 */
export function resolveAwsMysqlSettings(environment: CutoverEnvironment, options: { cleanup: boolean; projectRoot?: string }): AwsMysqlSettings {
  const aws = environment.aws;
  if (!aws) throw new Error(`config/cutover/${environment.name}.ts: platform "aws" needs an aws section (region, source, adminPassword)`);
  const infraName = aws.infraEnvironment ?? environment.name;
  const outputsFile = resolve(options.projectRoot ?? process.cwd(), aws.outputsFile ?? outputsFilePath(environment.name));
  let outputs: InfraOutputs | undefined;
  let outputsProblem: string | undefined;
  try {
    outputs = readInfraOutputs(infraName, { file: outputsFile });
  } catch (error) {
    outputsProblem = (error as Error).message;
  }
  let vpcCidr: string | undefined;
  try {
    vpcCidr = loadInfraEnvironment(infraName).network.vpcCidr;
  } catch {
    vpcCidr = undefined;
  }
  const missing: string[] = [];
  const need = (value: string | undefined, field: string, from: string): string => {
    if (value !== undefined) return value;
    missing.push(`aws.${field} (or the stacks' output ${from})`);
    return `<${from}>`;
  };
  const source = aws.source.instanceId;
  const target = aws.targetInstanceId ?? `${source}-encrypted`;
  const replicationAccountHost = aws.replicationAccountHost ?? (vpcCidr ? accountHostFromCidr(vpcCidr) : undefined);
  if (!replicationAccountHost) missing.push(`aws.replicationAccountHost (or network.vpcCidr in config/infra/${infraName}.ts)`);
  return {
    environment: environment.name,
    aws,
    sourceInstanceId: source,
    replicaInstanceId: aws.replicaInstanceId ?? `${source}-cutover-replica`,
    targetInstanceId: target,
    encryptedSnapshotId: aws.encryptedSnapshotId ?? `${target}-seed`,
    kmsKeyId: need(aws.kmsKeyId ?? outputs?.cutover.storageKeyArn, 'kmsKeyId', 'storageKeyArn'),
    dns: aws.dns ?? outputs?.dns ?? (need(undefined, 'dns', 'dnsZoneId, dnsRecordName, dnsTtlSeconds'), PLACEHOLDER_DNS),
    fenceSecurityGroupId: need(aws.fenceSecurityGroupId ?? outputs?.cutover.fenceSecurityGroupId, 'fenceSecurityGroupId', 'fenceSecurityGroupId'),
    replicationAccountHost: replicationAccountHost ?? '<VPC range>',
    cleanup: options.cleanup,
    outputsFile,
    missing,
    outputsProblem,
  };
}
