/**
 * The fence is inbound-only: once the old source replicates from the new one (the way back), it
 * dials out to the new instance's database port, so a fence without that egress would cut
 * reverse replication the moment it is applied. These rules are what the preflight and the
 * fence step check before the old source's security groups are replaced.
 */
import type { SecurityGroup } from '@aws-sdk/client-ec2';
import { fenceRuleProblems } from '../../../lib/platforms/aws/fence-rules';

const group = (rules: Partial<SecurityGroup>): SecurityGroup => ({ GroupId: 'sg-0f3e2d1c0b0a09081', IpPermissions: [], IpPermissionsEgress: [], ...rules });
const egress = (port: number, cidr = '10.0.0.0/16') => ({ IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: [{ CidrIp: cidr }] });

describe('the fence security group is inbound-only', () => {
  test('GIVEN no rules at all WHEN nothing replicates back THEN it is a valid fence', () => {
    expect(fenceRuleProblems(group({}), {})).toEqual([]);
  });

  test('an ingress rule of any kind is refused: the fence must let nothing in', () => {
    expect(fenceRuleProblems(group({ IpPermissions: [egress(3306)] }), {}).join('\n')).toMatch(/sg-0f3e2d1c0b0a09081 lets traffic in .*tcp 3306.*remove its ingress rules/);
  });

  test('egress beyond the database ports is refused (allow-all, another port)', () => {
    expect(fenceRuleProblems(group({ IpPermissionsEgress: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }), {}).join('\n')).toMatch(/egress other than the database ports.*all traffic/);
    expect(fenceRuleProblems(group({ IpPermissionsEgress: [egress(443)] }), {}).join('\n')).toMatch(/tcp 443/);
  });

  test('GIVEN replication back into the old source WHEN the fence has no egress to the database port THEN it is refused: it would cut the way back', () => {
    expect(fenceRuleProblems(group({}), { reverseReplicationPort: 3306 }).join('\n')).toMatch(/no egress on tcp 3306: fencing the old source with it would cut replication target -> source \(the way back\).*Deploy the stacks again/);
    expect(fenceRuleProblems(group({ IpPermissionsEgress: [egress(5432)] }), { reverseReplicationPort: 3306 }).join('\n')).toMatch(/no egress on tcp 3306/);
  });

  test('GIVEN replication back WHEN the fence allows egress to the database port only THEN it is valid', () => {
    expect(fenceRuleProblems(group({ IpPermissionsEgress: [egress(3306), egress(5432)] }), { reverseReplicationPort: 3306 })).toEqual([]);
    expect(fenceRuleProblems(group({ IpPermissionsEgress: [{ IpProtocol: 'tcp', FromPort: 3306, ToPort: 3306, UserIdGroupPairs: [{ GroupId: 'sg-0aaaabbbbccccdddd' }] }] }), { reverseReplicationPort: 3306 })).toEqual([]);
  });

  test('GIVEN a target on its own port (not 3306/5432) WHEN the fence allows egress to exactly that port THEN it is valid; without replication back the same rule is refused', () => {
    expect(fenceRuleProblems(group({ IpPermissionsEgress: [egress(5432), egress(6543)] }), { reverseReplicationPort: 6543 })).toEqual([]);
    expect(fenceRuleProblems(group({ IpPermissionsEgress: [egress(5432), egress(6543)] }), {}).join('\n')).toMatch(/egress other than the database ports.*tcp 6543/);
  });
});
