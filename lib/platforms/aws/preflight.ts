import { GetCallerIdentityCommand, type GetCallerIdentityCommandOutput } from '@aws-sdk/client-sts';
import { DescribeKeyCommand, type DescribeKeyCommandOutput } from '@aws-sdk/client-kms';
import { DescribeSecurityGroupsCommand, type DescribeSecurityGroupsCommandOutput } from '@aws-sdk/client-ec2';
import { ListResourceRecordSetsCommand, type ListResourceRecordSetsCommandOutput } from '@aws-sdk/client-route-53';
import { DescribeServicesCommand, type DescribeServicesCommandOutput } from '@aws-sdk/client-ecs';
import { PreconditionFailed, type Facts, type Runbook, type Step, type StepContext } from '../../runbook/step';
import type { AwsGateway } from './gateway';
import type { AwsCommonSettings } from './settings';
import { STEP, type AwsMysqlPlatform } from './aws-mysql-platform';

const SUPPORTED_ENGINES = ['mysql', 'mariadb'];

/**
 * Read-only checks of the AWS side, before anything is created: who we are, the source (exists,
 * MySQL/MariaDB, unencrypted unless re-keying is allowed, backups on: a read replica needs
 * them), the KMS key, the fence group (no rules), the DNS record and the ECS services.
 * Offline the calls are only listed.
 */
export async function awsPreflight(platform: AwsMysqlPlatform, aws: AwsGateway, context: Pick<StepContext, 'log'>): Promise<Facts> {
  const s = platform.settings;
  const step = STEP.preflight;
  const problems = missingValueProblems(s);
  const identity = await aws.read<GetCallerIdentityCommandOutput>(step, 'sts', new GetCallerIdentityCommand({}));
  const source = await platform.sourceInstance(step);
  const key = await aws.read<DescribeKeyCommandOutput>(step, 'kms', new DescribeKeyCommand({ KeyId: s.kmsKeyId }));
  const switchPoint = await readSwitchPoint(s, aws, step);
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
  if (problems.length > 0) throw new PreconditionFailed(problems.join('\n'));
  context.log.info(`AWS preflight passed as ${identity?.Arn ?? 'unknown identity'}: ${s.sourceInstanceId} ${source?.Engine} ${source?.EngineVersion}, unencrypted: ${!source?.StorageEncrypted}`);
  return { awsAccount: identity?.Account ?? null, sourceEngine: source?.Engine ?? null, sourceEngineVersion: source?.EngineVersion ?? null, sourceEndpoint: source?.Endpoint?.Address ?? null };
}

/**
 * What every flow's switch needs, read in one place: the fence group (no rules), the CNAME and
 * the ECS services. `problems()` lists what is wrong once the reads came back.
 */
export async function readSwitchPoint(s: AwsCommonSettings, aws: AwsGateway, step: string): Promise<{ problems(): string[] }> {
  const fence = await aws.read<DescribeSecurityGroupsCommandOutput>(step, 'ec2', new DescribeSecurityGroupsCommand({ GroupIds: [s.fenceSecurityGroupId] }));
  const record = await aws.read<ListResourceRecordSetsCommandOutput>(step, 'route53', new ListResourceRecordSetsCommand({ HostedZoneId: s.dns.zoneId, StartRecordName: s.dns.recordName, StartRecordType: 'CNAME', MaxItems: 1 }));
  const services: DescribeServicesCommandOutput[] = [];
  for (const cluster of [...new Set(s.aws.ecsServices.map((e) => e.cluster))]) {
    const names = s.aws.ecsServices.filter((e) => e.cluster === cluster).map((e) => e.service);
    const output = await aws.read<DescribeServicesCommandOutput>(step, 'ecs', new DescribeServicesCommand({ cluster, services: names }));
    if (output) services.push(output);
  }
  return {
    problems() {
      const problems: string[] = [];
      const group = fence?.SecurityGroups?.[0];
      if (group && ((group.IpPermissions ?? []).length > 0 || (group.IpPermissionsEgress ?? []).length > 0)) {
        problems.push(`fence security group ${s.fenceSecurityGroupId} has rules: a fence must deny everything (remove its ingress and egress rules, or deploy the stacks again)`);
      }
      const found = record?.ResourceRecordSets?.[0];
      if (!found || found.Name?.replace(/\.$/, '') !== s.dns.recordName.replace(/\.$/, '') || found.Type !== 'CNAME') {
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
  return s.missing.map((what) => `no value for ${what}: set it in config/cutover/${s.environment}.ts or write the outputs file${s.outputsProblem ? ` (${s.outputsProblem.split('\n')[0]})` : ''}`);
}

/** The AWS checks as the first runbook step (a `check`: it runs in dry runs too). */
export function awsPreflightStep(platform: AwsMysqlPlatform, aws: AwsGateway): Step {
  return {
    id: STEP.preflight,
    kind: 'check',
    describe: () => [
      `Read-only AWS checks: caller identity; ${platform.settings.sourceInstanceId} exists, is MySQL/MariaDB, unencrypted${platform.settings.aws.allowEncryptedSource ? ' (or re-keyed: allowed)' : ''}, backups on;`,
      `KMS key enabled; fence group ${platform.settings.fenceSecurityGroupId} has no rules; CNAME ${platform.settings.dns.recordName} exists; ECS services active.`,
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
