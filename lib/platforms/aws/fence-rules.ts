import type { IpPermission, SecurityGroup } from '@aws-sdk/client-ec2';

/** The ports a fence may reach out to: the databases' (MySQL family, PostgreSQL). */
export const FENCE_EGRESS_PORTS = [3306, 5432] as const;

/**
 * What is wrong with a fence group. The fence is inbound-only: no ingress rule at all (nothing
 * reaches the old database), and egress only on the database ports, because once the old
 * source replicates from the new one (the way back, issue 12) it dials the new instance: a
 * security group is stateful, so a fence without that egress would cut reverse replication the
 * moment it is applied. `reverseReplicationPort`: the fenced database replicates from a server
 * on that port, so the fence must allow egress to it.
 * https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-group-rules.html
 */
export function fenceRuleProblems(group: SecurityGroup, options: { reverseReplicationPort?: number }): string[] {
  const id = group.GroupId ?? '(fence)';
  const problems: string[] = [];
  const ingress = group.IpPermissions ?? [];
  if (ingress.length > 0) problems.push(`fence security group ${id} lets traffic in (${ingress.map(describeRule).join('; ')}): remove its ingress rules, or deploy the stacks again (the fence has none)`);
  const egress = group.IpPermissionsEgress ?? [];
  // The port the way back dials is a database port too (a target on a port of its own).
  const allowed: number[] = [...FENCE_EGRESS_PORTS, ...(options.reverseReplicationPort !== undefined ? [options.reverseReplicationPort] : [])];
  const beyond = egress.filter((rule) => !(rule.IpProtocol === 'tcp' && rule.FromPort === rule.ToPort && allowed.includes(rule.FromPort ?? -1)));
  if (beyond.length > 0) problems.push(`fence security group ${id} allows egress other than the database ports ${FENCE_EGRESS_PORTS.join('/')} (${beyond.map(describeRule).join('; ')}): remove those rules, or deploy the stacks again`);
  const port = options.reverseReplicationPort;
  if (port !== undefined && !egress.some((rule) => rule.IpProtocol === 'tcp' && (rule.FromPort ?? -1) <= port && port <= (rule.ToPort ?? -1))) {
    problems.push(
      `fence security group ${id} has no egress on tcp ${port}: fencing the old source with it would cut replication target -> source (the way back). ` +
        `Deploy the stacks again (the fence allows egress to the database ports inside the VPC), or turn aws.reverseReplication off`,
    );
  }
  return problems;
}

function describeRule(rule: IpPermission): string {
  const what = rule.IpProtocol === '-1' ? 'all traffic' : `${rule.IpProtocol} ${rule.FromPort === rule.ToPort ? rule.FromPort : `${rule.FromPort}-${rule.ToPort}`}`;
  const peers = [...(rule.IpRanges ?? []).map((r) => r.CidrIp), ...(rule.Ipv6Ranges ?? []).map((r) => r.CidrIpv6), ...(rule.UserIdGroupPairs ?? []).map((p) => p.GroupId), ...(rule.PrefixListIds ?? []).map((p) => p.PrefixListId)];
  return `${what}${peers.length > 0 ? ` ${peers.join(', ')}` : ''}`;
}
