/**
 * The MySQL encrypt flow with its target in another account (`aws.targetAccount`).
 *
 * Clone: the stopped replica's snapshot → CopyDBSnapshot under the share key (source account) →
 * restore attribute +target account → in the target account CopyDBSnapshot of the shared ARN
 * under the target's own key → restore attribute −target account (the target's copy no longer
 * needs the share) → RestoreDBInstanceFromDBSnapshot in the target account with the network and
 * parameters config gives. The copies, the share and the unshare are the path `--flow share-snapshot`
 * takes too (cross-account-copy.ts), here in one step:
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/share-encrypted-snapshot.html
 *
 * Preflight: the target identity is in the configured account, the share key's policy lets that
 * account use it through RDS, the target key is enabled, and the network path the operator
 * provides exists: the target subnets route the source VPC's range through an active VPC
 * peering connection or a Transit Gateway, and the source's security groups admit the target
 * VPC's range (or a target security group) on the source's port. The control plane cannot prove
 * that packets flow (NACLs, TGW route tables, DNS resolution across the peering): replication's
 * own start (`mysql.replication.start`, IO thread running) is the check of the data path.
 */
import {
  DescribeDBSubnetGroupsCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
  type DBInstance,
  type DescribeDBSubnetGroupsCommandOutput,
  type Tag,
} from '@aws-sdk/client-rds';
import { DescribeKeyCommand, GetKeyPolicyCommand, type DescribeKeyCommandOutput, type GetKeyPolicyCommandOutput } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand, type GetCallerIdentityCommandOutput } from '@aws-sdk/client-sts';
import {
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcPeeringConnectionsCommand,
  DescribeVpcsCommand,
  type DescribeRouteTablesCommandOutput,
  type DescribeSecurityGroupsCommandOutput,
  type DescribeVpcPeeringConnectionsCommandOutput,
  type DescribeVpcsCommandOutput,
  type RouteTable,
} from '@aws-sdk/client-ec2';
import type { Facts, StepContext } from '../../runbook/step';
import type { AwsGateway } from './gateway';
import { isNotFound } from './rds-reader';
import { shareKeyPolicyProblems } from './key-policy';
import { notOurs, runScopedId } from './run-tags';
import { CrossAccountCopy } from './cross-account-copy';
import type { AwsMysqlSettings } from './settings';

export type TargetAccount = NonNullable<AwsMysqlSettings['targetAccount']>;

/** The names a run uses in both accounts: deterministic from config and run id, so a resume finds them. */
export function crossAccountNames(s: AwsMysqlSettings, runId: string) {
  const t = s.targetAccount!;
  return {
    shareCopyId: t.shareCopyId ?? runScopedId(`${s.targetInstanceId}-share`, runId),
    targetCopyId: t.copyId ?? runScopedId(`${s.targetInstanceId}-seed`, runId),
  };
}

/**
 * Seed the target in the other account from the stopped replica's snapshot (already available
 * in the source account). Each piece is looked up by its run-scoped name first and reused when
 * this run made it, so a resume after kill -9 anywhere creates no second copy. Returns the
 * restore's input once sent; the caller waits for the instance through the target gateway.
 */
export async function seedTargetAccount(
  s: AwsMysqlSettings,
  gateways: { source: AwsGateway; target: AwsGateway },
  input: {
    replicaSnapshotId: string;
    restore: (snapshotId: string) => object;
    tags: Tag[];
  },
  context: Pick<StepContext, 'runId' | 'facts' | 'log' | 'record'>,
): Promise<Facts> {
  const t = s.targetAccount!;
  const n = crossAccountNames(s, context.runId);
  const copier = new CrossAccountCopy({
    kind: 'instance',
    gateways,
    region: s.aws.region,
    targetAccountId: t.accountId,
    shareKeyArn: t.shareKeyArn,
    targetKeyArn: t.kmsKeyArn,
    snapshotSeconds: s.aws.waits.snapshotSeconds,
    notOurs: (copy, id) =>
      copy === 'share copy' ? notOurs(s.environment, 'DB snapshot', id, 'aws.targetAccount.shareCopyId') : notOurs(s.environment, 'DB snapshot (target account)', id, 'aws.targetAccount.copyId'),
  });
  const { targetCopy } = await copier.run(context, {
    from: input.replicaSnapshotId,
    shareCopyId: n.shareCopyId,
    targetCopyId: n.targetCopyId,
    tags: input.tags,
    sourceAccount: String(context.facts.awsAccount ?? '<source-account>'),
  });

  // Then the restore, in the target account.
  await gateways.target.write('rds', new RestoreDBInstanceFromDBSnapshotCommand(input.restore(n.targetCopyId) as never));
  await context.record({ targetRestoreRequested: s.targetInstanceId });
  return {
    shareCopyId: n.shareCopyId,
    targetCopyId: n.targetCopyId,
    targetCopyKmsKeyId: targetCopy?.kmsKeyId ?? t.kmsKeyArn,
    targetAccount: t.accountId,
  };
}

/** The restore's network and parameters in the target account (config), over the source's settings. */
export function targetAccountOverrides(t: TargetAccount) {
  return {
    DBInstanceClass: t.instanceClass,
    DBSubnetGroupName: t.dbSubnetGroupName,
    VpcSecurityGroupIds: t.vpcSecurityGroupIds,
    DBParameterGroupName: t.parameterGroupName,
    OptionGroupName: t.optionGroupName,
    MultiAZ: t.multiAz,
    PubliclyAccessible: false,
    DeletionProtection: t.deletionProtection,
  };
}

// ---- preflight -----------------------------------------------------------------------------

function ipv4(address: string): number {
  return address.split('.').reduce((n, octet) => ((n << 8) | Number(octet)) >>> 0, 0);
}

/** True when CIDR `outer` contains every address of CIDR `inner`. */
export function cidrContains(outer: string, inner: string): boolean {
  const [outerAddress, outerBits] = outer.split('/');
  const [innerAddress, innerBits] = inner.split('/');
  const bits = Number(outerBits);
  if (!outerAddress.includes('.') || !innerAddress?.includes('.') || Number(innerBits) < bits) return false;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (ipv4(outerAddress) & mask) >>> 0 === (ipv4(innerAddress) & mask) >>> 0;
}

/** The route table a subnet uses: its explicit association, else the VPC's main table. */
function routeTableOf(tables: RouteTable[], subnetId: string): RouteTable | undefined {
  return tables.find((t) => (t.Associations ?? []).some((a) => a.SubnetId === subnetId)) ?? tables.find((t) => (t.Associations ?? []).some((a) => a.Main));
}

/**
 * Read-only checks of the second account and of the network path between the two. Returns the
 * problems found (each naming its fix) and the facts to journal. Offline the calls are listed only.
 */
export async function crossAccountPreflight(s: AwsMysqlSettings, gateways: { source: AwsGateway; target: AwsGateway }, source: DBInstance | undefined): Promise<{ problems: string[]; facts: Facts }> {
  const t = s.targetAccount!;
  const { source: src, target: tgt } = gateways;
  const problems: string[] = [];
  const targetIdentity = await tgt.read<GetCallerIdentityCommandOutput>('sts', new GetCallerIdentityCommand({}));
  const shareKey = await src.read<DescribeKeyCommandOutput>('kms', new DescribeKeyCommand({ KeyId: t.shareKeyArn }));
  const policy = await src.read<GetKeyPolicyCommandOutput>('kms', new GetKeyPolicyCommand({ KeyId: t.shareKeyArn, PolicyName: 'default' }));
  const targetKey = await tgt.read<DescribeKeyCommandOutput>('kms', new DescribeKeyCommand({ KeyId: t.kmsKeyArn }));
  const subnetGroup = await tgt
    .read<DescribeDBSubnetGroupsCommandOutput>(
      'rds',
      new DescribeDBSubnetGroupsCommand({
        DBSubnetGroupName: t.dbSubnetGroupName,
      }),
    )
    .catch((error: Error) => {
      if (isNotFound(error)) return { DBSubnetGroups: [] };
      throw error;
    });
  if (src.canRead && !source?.DBSubnetGroup?.VpcId) {
    // (a source that was not found is a problem of the main preflight already)
    if (source) problems.push(`${s.sourceInstanceId} is in no VPC (no DB subnet group): a target in another account can only reach it through VPC peering or a Transit Gateway`);
    return { problems, facts: {} };
  }
  if (tgt.canRead && !subnetGroup?.DBSubnetGroups?.[0]) {
    problems.push(`DB subnet group ${t.dbSubnetGroupName} not found in account ${t.accountId}: deploy the target-account stack or fix aws.targetAccount.dbSubnetGroupName`);
    return { problems: [...problems, ...identityAndKeyProblems()], facts: {} };
  }
  const sourceVpcId = source?.DBSubnetGroup?.VpcId ?? `<${s.sourceInstanceId}.DBSubnetGroup.VpcId>`;
  const targetVpcId = subnetGroup?.DBSubnetGroups?.[0]?.VpcId ?? `<${t.dbSubnetGroupName}.VpcId>`;
  const sourceVpc = await src.read<DescribeVpcsCommandOutput>('ec2', new DescribeVpcsCommand({ VpcIds: [sourceVpcId] }));
  const targetVpc = await tgt.read<DescribeVpcsCommandOutput>('ec2', new DescribeVpcsCommand({ VpcIds: [targetVpcId] }));
  const routes = await tgt.read<DescribeRouteTablesCommandOutput>(
    'ec2',
    new DescribeRouteTablesCommand({
      Filters: [{ Name: 'vpc-id', Values: [targetVpcId] }],
    }),
  );
  const groupIds = (source?.VpcSecurityGroups ?? []).map((g) => g.VpcSecurityGroupId!).filter(Boolean);
  const groups = await src.read<DescribeSecurityGroupsCommandOutput>(
    'ec2',
    new DescribeSecurityGroupsCommand({
      GroupIds: groupIds.length > 0 ? groupIds : [`<${s.sourceInstanceId}.VpcSecurityGroups>`],
    }),
  );
  if (!src.canRead) return { problems, facts: {} };
  problems.push(...identityAndKeyProblems());
  const path = await networkPath();
  return { problems: [...problems, ...path.problems], facts: path.facts };

  function identityAndKeyProblems(): string[] {
    const problems: string[] = [];
    if (targetIdentity?.Account && targetIdentity.Account !== t.accountId)
      problems.push(`the target identity (${targetIdentity.Arn}) is in account ${targetIdentity.Account}, not aws.targetAccount.accountId ${t.accountId}: fix aws.targetAccount.assumeRole or profile`);
    const shareMeta = shareKey?.KeyMetadata;
    if (shareMeta && shareMeta.KeyState !== 'Enabled') problems.push(`share key ${t.shareKeyArn} is ${shareMeta.KeyState}: enable it (or deploy the snapshot-share stack)`);
    if (shareMeta?.KeyManager && shareMeta.KeyManager !== 'CUSTOMER')
      problems.push(`share key ${t.shareKeyArn} is AWS-managed: a snapshot under aws/rds cannot be shared; use the snapshot-share stack's key (snapshotShareKeyArn)`);
    if (policy?.Policy) problems.push(...shareKeyPolicyProblems(policy.Policy, t.accountId, s.aws.region, t.shareKeyArn));
    const targetMeta = targetKey?.KeyMetadata;
    if (targetMeta && targetMeta.KeyState !== 'Enabled') problems.push(`target key ${t.kmsKeyArn} is ${targetMeta.KeyState}: enable it (or deploy the target-account stack)`);
    return problems;
  }

  async function networkPath(): Promise<{ problems: string[]; facts: Facts }> {
    const sourceCidr = sourceVpc?.Vpcs?.[0]?.CidrBlock;
    const targetCidr = targetVpc?.Vpcs?.[0]?.CidrBlock;
    if (!sourceCidr || !targetCidr) {
      problems.push(`could not read the VPC ranges (source ${sourceVpcId}: ${sourceCidr ?? 'not found'}, target ${targetVpcId}: ${targetCidr ?? 'not found'})`);
      return { problems, facts: {} };
    }
    const port = source?.Endpoint?.Port ?? 3306;

    // Route: every target subnet reaches the source VPC's range through a peering connection or a Transit Gateway.
    const peerings = new Set<string>();
    for (const subnet of subnetGroup?.DBSubnetGroups?.[0]?.Subnets ?? []) {
      const table = routeTableOf(routes?.RouteTables ?? [], subnet.SubnetIdentifier!);
      const route = (table?.Routes ?? []).find((r) => r.DestinationCidrBlock && cidrContains(r.DestinationCidrBlock, sourceCidr) && (r.VpcPeeringConnectionId || r.TransitGatewayId) && r.State !== 'blackhole');
      if (!route) {
        problems.push(
          `no network path from the target to the source: subnet ${subnet.SubnetIdentifier} (target VPC ${targetVpcId}, route table ${
            table?.RouteTableId ?? 'none'
          }) has no route to the source VPC's ${sourceCidr} through a VPC peering connection or Transit Gateway: add one (aws ec2 create-route --route-table-id ${
            table?.RouteTableId ?? '<table>'
          } --destination-cidr-block ${sourceCidr} --vpc-peering-connection-id pcx-…)`,
        );
      } else if (route.VpcPeeringConnectionId) peerings.add(route.VpcPeeringConnectionId);
    }
    if (peerings.size > 0) {
      const described = await tgt.read<DescribeVpcPeeringConnectionsCommandOutput>(
        'ec2',
        new DescribeVpcPeeringConnectionsCommand({
          VpcPeeringConnectionIds: [...peerings],
        }),
      );
      for (const id of peerings) {
        const status = described?.VpcPeeringConnections?.find((p) => p.VpcPeeringConnectionId === id)?.Status?.Code;
        if (status !== 'active')
          problems.push(`VPC peering connection ${id} is ${status ?? 'not found'}, not active: accept it in the source account (aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id ${id})`);
      }
    }

    // Security groups: the source admits the target's range (or one of its groups) on its port.
    const admits = (groups?.SecurityGroups ?? []).some((group) =>
      (group.IpPermissions ?? []).some((rule) => {
        const coversPort = rule.IpProtocol === '-1' || (rule.IpProtocol === 'tcp' && (rule.FromPort ?? 0) <= port && port <= (rule.ToPort ?? 65535));
        if (!coversPort) return false;
        return (
          (rule.IpRanges ?? []).some((range) => range.CidrIp && cidrContains(range.CidrIp, targetCidr)) ||
          (rule.UserIdGroupPairs ?? []).some((pair) => pair.UserId === t.accountId && t.vpcSecurityGroupIds.includes(pair.GroupId ?? ''))
        );
      }),
    );
    if (!admits) {
      problems.push(
        `the source's security groups (${groupIds.join(', ') || 'none'}) do not admit the target on port ${port}: add an ingress rule for TCP ${port} from the target VPC's ${targetCidr} (or from ${t.accountId}/${
          t.vpcSecurityGroupIds[0]
        }) to one of them`,
      );
    }
    return {
      problems,
      facts: {
        targetAccount: t.accountId,
        sourceVpcCidr: sourceCidr,
        targetVpcCidr: targetCidr,
        peeringConnections: [...peerings],
      },
    };
  }
}
