import { fenceRuleProblems } from './fence-rules';
import { GetCallerIdentityCommand, type GetCallerIdentityCommandOutput } from '@aws-sdk/client-sts';
import { DescribeKeyCommand, type DescribeKeyCommandOutput } from '@aws-sdk/client-kms';
import { DescribeSecurityGroupsCommand, type DescribeSecurityGroupsCommandOutput } from '@aws-sdk/client-ec2';
import { ListResourceRecordSetsCommand, type ListResourceRecordSetsCommandOutput } from '@aws-sdk/client-route-53';
import { DescribeServicesCommand, type DescribeServicesCommandOutput } from '@aws-sdk/client-ecs';
import { PreconditionFailed, type Facts, type Runbook, type Step, type StepContext } from '../../runbook/step';
import { isPlaceholder, type AwsGateway } from './gateway';
import type { AwsCommonSettings } from './settings';
import { AWS_MYSQL_STEP, type AwsMysqlPlatform } from './aws-mysql-platform';
import type { AwsAuroraMysqlPlatform } from './aws-aurora-mysql-platform';
import { groupParameters } from './rds-reader';
import { crossAccountPreflight } from './cross-account-target';

const SUPPORTED_ENGINES = ['mysql', 'mariadb'];

/**
 * Read-only checks of the AWS side, before anything is created: who we are, the source (exists,
 * MySQL/MariaDB, unencrypted unless re-keying is allowed, backups on: a read replica needs
 * them), the KMS key, the fence group (inbound-only), the DNS record and the ECS services.
 * Offline the calls are only listed.
 */
export async function awsPreflight(platform: AwsMysqlPlatform, aws: AwsGateway, context: Pick<StepContext, 'log'>): Promise<Facts> {
  const s = platform.settings;
  const problems = missingValueProblems(s);
  const identity = await aws.read<GetCallerIdentityCommandOutput>('sts', new GetCallerIdentityCommand({}));
  const source = await platform.seeding.sourceInstance();
  const key = await aws.read<DescribeKeyCommandOutput>('kms', new DescribeKeyCommand({ KeyId: s.kmsKeyId }));
  // With the way back the fenced source replicates from the target: the fence must let that out.
  const switchPoint = await readSwitchPoint(s, aws, { reverseReplicationPort: s.reverseReplication ? (source?.Endpoint?.Port ?? 3306) : undefined });
  const crossAccount = s.targetAccount ? await crossAccountPreflight(s, { source: aws, target: platform.seeding.targetAws }, source) : undefined;
  if (!aws.canRead) return {};

  if (!source) {
    problems.push(`RDS instance ${s.sourceInstanceId} not found in ${s.aws.region} for ${identity?.Arn ?? 'these credentials'}: fix aws.source.instanceId or aws.region`);
  } else {
    if (!SUPPORTED_ENGINES.includes(source.Engine ?? '')) problems.push(`${s.sourceInstanceId} runs ${source.Engine}: this flow moves MySQL or MariaDB instances (Aurora MySQL clusters are not supported by this version)`);
    if (source.StorageEncrypted && !s.aws.allowEncryptedSource) problems.push(`${s.sourceInstanceId} is already encrypted (${source.KmsKeyId}): to re-key it onto ${s.kmsKeyId}, set aws.allowEncryptedSource: true`);
    if (!source.BackupRetentionPeriod) problems.push(`${s.sourceInstanceId} has automated backups off (BackupRetentionPeriod 0); a read replica needs them: set a backup retention period of 1 day or more (ModifyDBInstance --backup-retention-period 1 --apply-immediately)`);
    if (source.DBInstanceStatus !== 'available') problems.push(`${s.sourceInstanceId} is ${source.DBInstanceStatus}, not available: wait, then run again`);
    if (source.ReadReplicaSourceDBInstanceIdentifier) problems.push(`${s.sourceInstanceId} is itself a read replica of ${source.ReadReplicaSourceDBInstanceIdentifier}: point aws.source.instanceId at the primary`);
  }
  const keyState = key?.KeyMetadata?.KeyState;
  if (key && keyState !== 'Enabled') problems.push(`KMS key ${s.kmsKeyId} is ${keyState}: enable it or deploy the stacks again`);
  problems.push(...switchPoint.problems());
  problems.push(...(crossAccount?.problems ?? []));
  if (problems.length > 0) throw new PreconditionFailed(problems.join('\n'));
  context.log.info(`AWS preflight passed as ${identity?.Arn ?? 'unknown identity'}: ${s.sourceInstanceId} ${source?.Engine} ${source?.EngineVersion}, unencrypted: ${!source?.StorageEncrypted}${s.targetAccount ? `; target in account ${s.targetAccount.accountId}, network path to port ${source?.Endpoint?.Port ?? 3306} found` : ''}`);
  return { ...(crossAccount?.facts ?? {}), awsAccount: identity?.Account ?? null, sourceEngine: source?.Engine ?? null, sourceEngineVersion: source?.EngineVersion ?? null, sourceEndpoint: source?.Endpoint?.Address ?? null };
}

/** Aurora MySQL 3 (`8.0.mysql_aurora.3.xx.y`): the version whose procedures the platform drives. */
const AURORA_MYSQL_3 = /^8\.0\.mysql_aurora\.3\./;

/**
 * Read-only checks of an Aurora MySQL source: the cluster (Aurora MySQL 3, provisioned, not a
 * replica cluster, unencrypted unless re-keying is allowed, available, has a writer), binary
 * logging on its cluster parameter group (`binlog_format` ROW, applied: no member pending a
 * reboot; the default group has binlog off and cannot be changed), the KMS key and the switch
 * point. Offline the calls are only listed.
 */
export async function auroraPreflight(platform: AwsAuroraMysqlPlatform, aws: AwsGateway, context: Pick<StepContext, 'log'>): Promise<Facts> {
  const s = platform.settings;
  const id = s.sourceClusterId;
  const problems = missingValueProblems(s);
  const identity = await aws.read<GetCallerIdentityCommandOutput>('sts', new GetCallerIdentityCommand({}));
  const cluster = await platform.seeding.sourceCluster();
  const writer = await platform.seeding.sourceWriter().catch((error: Error) => (problems.push(error.message), undefined));
  const group = cluster?.DBClusterParameterGroup ?? `<${id}.DBClusterParameterGroup>`;
  const parameters = await groupParameters(aws, { kind: 'cluster', id }, group);
  const key = await aws.read<DescribeKeyCommandOutput>('kms', new DescribeKeyCommand({ KeyId: s.kmsKeyId }));
  // With the way back the fenced source cluster dials the target cluster (same port: the restore carries it).
  const switchPoint = await readSwitchPoint(s, aws, { reverseReplicationPort: s.reverseReplication ? (cluster?.Port ?? 3306) : undefined });
  if (!aws.canRead) return {};

  if (!cluster) {
    problems.push(`Aurora cluster ${id} not found in ${s.aws.region} for ${identity?.Arn ?? 'these credentials'}: fix aws.source.clusterId or aws.region`);
  } else {
    if (cluster.Engine !== 'aurora-mysql') problems.push(`${id} runs ${cluster.Engine}: the MySQL flow moves Aurora MySQL clusters (or RDS MySQL/MariaDB instances with aws.source.instanceId)`);
    else if (!AURORA_MYSQL_3.test(cluster.EngineVersion ?? '')) problems.push(`${id} runs Aurora MySQL ${cluster.EngineVersion}: this version drives Aurora MySQL 3 (8.0.mysql_aurora.3.*) only; upgrade the cluster first`);
    if (cluster.EngineMode && cluster.EngineMode !== 'provisioned') problems.push(`${id} is an Aurora ${cluster.EngineMode} cluster: binlog replication needs a provisioned cluster (Serverless v2 instances are fine)`);
    if (cluster.StorageEncrypted && !s.aws.allowEncryptedSource) problems.push(`${id} is already encrypted (${cluster.KmsKeyId}): to re-key it onto ${s.kmsKeyId}, set aws.allowEncryptedSource: true`);
    if (cluster.Status !== 'available') problems.push(`${id} is ${cluster.Status}, not available: wait, then run again`);
    if (cluster.ReplicationSourceIdentifier) problems.push(`${id} is itself a replica of ${cluster.ReplicationSourceIdentifier}: point aws.source.clusterId at the primary cluster`);
    if (/^default\./.test(group)) {
      problems.push(`${id} uses the default cluster parameter group ${group}, where binary logging is off and cannot be turned on: attach a custom cluster parameter group with binlog_format=ROW, reboot the writer, then run again`);
    } else if (parameters) {
      const format = parameters.find((p) => p.ParameterName === 'binlog_format')?.ParameterValue;
      if (format !== 'ROW') problems.push(`binlog_format is ${format ?? 'not set (OFF)'} in ${group}: set binlog_format=ROW (ModifyDBClusterParameterGroup), reboot the writer of ${id} (static parameter), then run again`);
      if (parameters.find((p) => p.ParameterName === 'aurora_enhanced_binlog')?.ParameterValue === '1') {
        context.log.warn(`${group} has aurora_enhanced_binlog=1: make sure the restored cluster reports its crash-recovery binlog position (rehearse on a copy first); the run waits for it at most ${s.aws.waits.coordinatesSeconds} s`);
      }
    }
    const pending = (cluster.DBClusterMembers ?? []).filter((m) => m.DBClusterParameterGroupStatus === 'pending-reboot').map((m) => m.DBInstanceIdentifier);
    if (pending.length > 0) problems.push(`${pending.join(', ')} of ${id}: cluster parameter group changes are pending a reboot (binlog settings are static): reboot, then run again`);
  }
  const keyState = key?.KeyMetadata?.KeyState;
  if (key && keyState !== 'Enabled') problems.push(`KMS key ${s.kmsKeyId} is ${keyState}: enable it or deploy the stacks again`);
  problems.push(...switchPoint.problems());
  if (problems.length > 0) throw new PreconditionFailed(problems.join('\n'));
  context.log.info(`AWS preflight passed as ${identity?.Arn ?? 'unknown identity'}: ${id} ${cluster?.EngineVersion} (writer ${writer?.DBInstanceIdentifier} ${writer?.DBInstanceClass}), unencrypted: ${!cluster?.StorageEncrypted}`);
  return { awsAccount: identity?.Account ?? null, sourceEngine: cluster?.Engine ?? null, sourceEngineVersion: cluster?.EngineVersion ?? null, sourceEndpoint: cluster?.Endpoint ?? null, sourceWriter: writer?.DBInstanceIdentifier ?? null };
}

/** The Aurora checks as the first runbook step (a `check`: it runs in dry runs too). */
export function auroraPreflightStep(platform: AwsAuroraMysqlPlatform, aws: AwsGateway): Step {
  const s = platform.settings;
  return {
    id: AWS_MYSQL_STEP.preflight,
    kind: 'check',
    describe: () => [
      `Read-only AWS checks: caller identity; Aurora cluster ${s.sourceClusterId} exists, is Aurora MySQL 3, unencrypted${s.aws.allowEncryptedSource ? ' (or re-keyed: allowed)' : ''}, has a writer;`,
      'its cluster parameter group has binlog_format=ROW, applied (no reboot pending);',
      `KMS key enabled; fence group ${s.fenceSecurityGroupId} is inbound-only; CNAME ${s.dns.recordName} exists; ECS services active.`,
    ],
    apply: (context) => auroraPreflight(platform, aws, context),
  };
}

/**
 * What every flow's switch needs, read in one place: the fence group (inbound-only), the CNAME and
 * the ECS services. `problems()` lists what is wrong once the reads came back.
 */
export async function readSwitchPoint(s: AwsCommonSettings, aws: AwsGateway, options: { reverseReplicationPort?: number } = {}): Promise<{ problems(): string[] }> {
  const fence = await aws.read<DescribeSecurityGroupsCommandOutput>('ec2', new DescribeSecurityGroupsCommand({ GroupIds: [s.fenceSecurityGroupId] }));
  const dnsKnown = !isPlaceholder(s.dns.zoneId) && !isPlaceholder(s.dns.recordName);
  const record = await aws.read<ListResourceRecordSetsCommandOutput>('route53', new ListResourceRecordSetsCommand({ HostedZoneId: s.dns.zoneId, StartRecordName: s.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
  const services: DescribeServicesCommandOutput[] = [];
  for (const cluster of [...new Set(s.aws.ecsServices.map((e) => e.cluster))]) {
    const names = s.aws.ecsServices.filter((e) => e.cluster === cluster).map((e) => e.service);
    const output = await aws.read<DescribeServicesCommandOutput>('ecs', new DescribeServicesCommand({ cluster, services: names }));
    if (output) services.push(output);
  }
  return {
    problems() {
      const problems: string[] = [];
      const group = fence?.SecurityGroups?.[0];
      if (group) problems.push(...fenceRuleProblems(group, options));
      const found = record?.ResourceRecordSets?.[0];
      // A missing zone or name is already a problem of its own (missingValueProblems).
      if (dnsKnown && (!found || found.Name?.replace(/\.$/, '') !== s.dns.recordName.replace(/\.$/, '') || found.Type !== 'CNAME')) {
        problems.push(`CNAME ${s.dns.recordName} not found in hosted zone ${s.dns.zoneId}: deploy the stacks' dns section, or fix aws.dns`);
      }
      for (const output of services) {
        for (const failure of output.failures ?? []) problems.push(`ECS service ${failure.arn} ${failure.reason}: fix aws.ecsServices`);
        for (const service of output.services ?? []) if (service.status !== 'ACTIVE') problems.push(`ECS service ${service.serviceName} is ${service.status}: fix aws.ecsServices`);
      }
      return problems;
    },
  };
}

/** Values neither config nor the outputs gave, as preflight problems. */
export function missingValueProblems(s: AwsCommonSettings): string[] {
  if (s.missing.length === 0) return [];
  const values = s.missing.map((what) => `no value for ${what}: set it in config/cutover/${s.environment}.ts or write the stacks' outputs file`);
  // The reader's message names the file and the `npx cdktf output …` command that writes it.
  return s.outputsProblem ? [...values, `the stacks' outputs file ${s.outputsProblem}`] : values;
}

/** The AWS checks as the first runbook step (a `check`: it runs in dry runs too). */
export function awsPreflightStep(platform: AwsMysqlPlatform, aws: AwsGateway): Step {
  return {
    id: AWS_MYSQL_STEP.preflight,
    kind: 'check',
    describe: () => [
      `Read-only AWS checks: caller identity; ${platform.settings.sourceInstanceId} exists, is MySQL/MariaDB, unencrypted${platform.settings.aws.allowEncryptedSource ? ' (or re-keyed: allowed)' : ''}, backups on;`,
      `KMS key enabled; fence group ${platform.settings.fenceSecurityGroupId} is inbound-only; CNAME ${platform.settings.dns.recordName} exists; ECS services active.`,
      ...(platform.settings.targetAccount
        ? [
            `Target account ${platform.settings.targetAccount.accountId}: its identity, the share key's policy grants it use through RDS, its key is enabled, the subnet group ${platform.settings.targetAccount.dbSubnetGroupName} exists;`,
            "network path: the target subnets route the source VPC's range through an active VPC peering connection or Transit Gateway, and the source's security groups admit the target VPC's range on the source's port.",
          ]
        : []),
    ],
    apply: (context) => awsPreflight(platform, aws, context),
  };
}

/** The MySQL runbook with the AWS checks in front; the flow itself is unchanged. */
export function withAwsPreflight(runbook: Runbook, platform: AwsMysqlPlatform, aws: AwsGateway): Runbook {
  return withAwsSteps(runbook, { before: [awsPreflightStep(platform, aws)] });
}

/** A flow's runbook with AWS steps around it; the flow's own steps are unchanged. */
export function withAwsSteps(runbook: Runbook, steps: { before?: Step[]; after?: Step[] }): Runbook {
  return { ...runbook, steps: [...(steps.before ?? []), ...runbook.steps, ...(steps.after ?? [])] };
}
