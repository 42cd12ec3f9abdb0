import { GetCallerIdentityCommand, type GetCallerIdentityCommandOutput } from '@aws-sdk/client-sts';
import type { PostgresFlowSettings } from '../postgres-platform';
import { PreconditionFailed, type Facts, type Runbook, type Step, type StepContext } from '../../runbook/step';
import { isPlaceholder, type AwsGateway } from './gateway';
import { AWS_POSTGRES_STEP, FREEZE_PARAMETER, type AwsPostgresPlatform } from './aws-postgres-platform';
import { missingValueProblems, readSwitchPoint, withAwsSteps } from './preflight';

const POSTGRES_ENGINES = ['postgres', 'aurora-postgresql'];

/**
 * Read-only AWS checks for the PostgreSQL flow: the source (PostgreSQL, available, a custom
 * parameter group the freeze can modify, `rds.logical_replication=1` applied for the logical
 * method), the stacks' target (encrypted with the stacks' key), the fence group, the CNAME and
 * the ECS services. Offline the calls are only listed.
 */
export async function awsPostgresPreflight(platform: AwsPostgresPlatform, aws: AwsGateway, context: Pick<StepContext, 'log'>): Promise<Facts> {
  const s = platform.settings;
  const problems = missingValueProblems(s);
  const identity = await aws.read<GetCallerIdentityCommandOutput>('sts', new GetCallerIdentityCommand({}));
  const source = await platform.describe_(s.source);
  const target = await platform.describe_(s.target);
  const group = source?.parameterGroup ?? `<${s.source.id}.${s.source.kind === 'cluster' ? 'DBClusterParameterGroup' : 'DBParameterGroup'}>`;
  const parameters = await platform.parameters(s.source, group);
  // With the way back the fenced source dials the target: the fence must allow egress to its port.
  const switchPoint = await readSwitchPoint(s, aws, { reverseReplicationPort: platform.wayBack ? (target?.port ?? 5432) : undefined });
  if (!aws.canRead) return {};

  const setting = (name: string) => parameters?.find((p) => p.ParameterName === name)?.ParameterValue;
  if (!source) {
    problems.push(`${s.source.kind === 'cluster' ? 'Aurora cluster' : 'RDS instance'} ${s.source.id} not found in ${s.aws.region} for ${identity?.Arn ?? 'these credentials'}: fix aws.source or aws.region`);
  } else {
    if (!POSTGRES_ENGINES.includes(source.engine ?? '')) problems.push(`${s.source.id} runs ${source.engine}: --engine postgres moves PostgreSQL (RDS or Aurora)`);
    if (source.status !== 'available') problems.push(`${s.source.id} is ${source.status}, not available: wait, then run again`);
    if (!source.parameterGroup || source.parameterGroup.startsWith('default.')) {
      problems.push(`${s.source.id} uses the default parameter group ${source.parameterGroup ?? '(none)'}, which cannot be modified: attach a custom group (the stacks' frozen group family, or a copy of the current one) and reboot before the window; the freeze sets ${FREEZE_PARAMETER} on it`);
    }
    if (source.pendingReboot) problems.push(`${s.source.id} has parameter changes pending a reboot: reboot it before the window (a static parameter such as rds.logical_replication applies only then)`);
    if (platform.options.method === 'logical' && setting('rds.logical_replication') !== '1') {
      problems.push(`rds.logical_replication is not 1 in ${group}: set it (static: it applies after a REBOOT of ${s.source.id}; plan the reboot ahead of the window), or use --method dump`);
    }
  }
  if (!target && !isPlaceholder(s.target.id)) {
    problems.push(`the target ${s.target.id} does not exist: deploy the stacks (npx cdktf deploy 'rds-cutover-${s.aws.infraEnvironment ?? s.environment}-*') or fix aws.postgres.target`);
  } else if (target) {
    if (!target.encrypted) problems.push(`the target ${s.target.id} is not encrypted: it must be the stacks' database, encrypted with ${s.kmsKeyId}`);
    else if (target.kmsKeyId && !target.kmsKeyId.endsWith(s.kmsKeyId.split('/').pop()!)) problems.push(`the target ${s.target.id} is encrypted with ${target.kmsKeyId}, not the stacks' key ${s.kmsKeyId}: fix aws.kmsKeyId or aws.postgres.target`);
  }
  problems.push(...switchPoint.problems());
  if (problems.length > 0) throw new PreconditionFailed(problems.join('\n'));
  context.log.info(`AWS preflight passed as ${identity?.Arn ?? 'unknown identity'}: ${s.source.id} ${source?.engine} ${source?.engineVersion} → ${s.target.id} ${target?.engineVersion}`);
  return { awsAccount: identity?.Account ?? null, sourceEngineVersion: source?.engineVersion ?? null, targetEngineVersion: target?.engineVersion ?? null };
}

export function awsPostgresPreflightStep(platform: AwsPostgresPlatform, aws: AwsGateway): Step {
  const s = platform.settings;
  return {
    id: AWS_POSTGRES_STEP.preflight,
    kind: 'check',
    describe: () => [
      `Read-only AWS checks: caller identity; ${s.source.id} is PostgreSQL, available, on a custom parameter group (the freeze modifies it)${platform.options.method === 'logical' ? ' with rds.logical_replication = 1 applied (static: a REBOOT, plan it ahead)' : ''};`,
      `the target ${s.target.id} exists, encrypted with the stacks' key; fence group ${s.fenceSecurityGroupId} is inbound-only; CNAME ${s.dns.recordName} exists; ECS services active.`,
    ],
    apply: (context) => awsPostgresPreflight(platform, aws, context),
  };
}

/** The last step: the inbound-only fence group on the old source, once the flow no longer reads it. */
export function awsSourceFenceStep(platform: AwsPostgresPlatform): Step {
  return {
    id: AWS_POSTGRES_STEP.fence,
    kind: 'action',
    describe: () => {
      const call = `${platform.settings.source.kind === 'cluster' ? 'ModifyDBCluster' : 'ModifyDBInstance'} VpcSecurityGroupIds [${platform.settings.fenceSecurityGroupId}] (inbound-only: nothing reaches it, ApplyImmediately);`;
      if (!platform.wayBack) return [`Fence the old source for good: ${call}`, 'the log prints the call that undoes it. The old source is never deleted.'];
      return [
        `Fence the old source: DescribeSecurityGroups ${platform.settings.fenceSecurityGroupId} first (no ingress; egress to the target's port, else refused: it would cut the way back), then`,
        call,
        'the log prints the call that undoes it; switch-back RUN_ID puts its groups back. The old source keeps subscribing to the target through it; only complete --delete-old deletes it.',
      ];
    },
    apply: (context) => platform.fenceWithSecurityGroup(context),
  };
}

/**
 * With the way back: the target's rds.logical_replication applied (static: a reboot), right
 * after the checks, while the target is empty and unused — never inside the window.
 */
export function awsTargetLogicalReplicationStep(platform: AwsPostgresPlatform): Step {
  const target = platform.settings.target;
  return {
    id: AWS_POSTGRES_STEP.targetLogicalReplication,
    kind: 'action',
    describe: () => [
      `The way back needs logical decoding on the target: rds.logical_replication = 1 in ${target.id}'s own parameter group, applied (the stacks' group sets it).`,
      `If it is not: ${target.kind === 'cluster' ? 'ModifyDBClusterParameterGroup' : 'ModifyDBParameterGroup'} (pending-reboot), RebootDBInstance ${target.kind === 'cluster' ? `(${target.id}'s writer)` : target.id} and wait until available (minutes; the target is empty and unused here, long before the window).`,
    ],
    apply: (context) => platform.ensureTargetLogicalReplication(context),
  };
}

/** The PostgreSQL flow's runbook on AWS: the AWS checks first, the security-group fence last; the flow itself unchanged. */
export function awsPostgresRunbook(flow: (platform: AwsPostgresPlatform, settings: PostgresFlowSettings) => Runbook, platform: AwsPostgresPlatform, aws: AwsGateway, settings: PostgresFlowSettings): Runbook {
  const before = [awsPostgresPreflightStep(platform, aws), ...(platform.wayBack ? [awsTargetLogicalReplicationStep(platform)] : [])];
  return withAwsSteps(flow(platform, settings), { before, after: [awsSourceFenceStep(platform)] });
}
