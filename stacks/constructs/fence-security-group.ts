/**
 * The security group the switch puts on the old database so that nothing can reach it by
 * mistake after the cutover. Inbound-only: no ingress at all; egress only to the database
 * ports inside the VPC, because after the switch the old database replicates from the new one
 * (the way back, issue 12) and dials out to it. Security groups are stateful: a fence without
 * that egress would cut reverse replication the moment it is applied.
 */
import { Construct, SecurityGroup } from '../aws';
import { check } from './validation';

export interface FenceSecurityGroupProps {
  readonly vpcId: string;
  /** Group name, unique in the VPC. */
  readonly name: string;
  /** The VPC range: the only place the fenced database may dial (the new database's port). */
  readonly vpcCidr: string;
}

/** The database ports the fenced old database may dial inside the VPC (MySQL family, PostgreSQL). */
export const FENCE_EGRESS_PORTS = [3306, 5432] as const;

export class FenceSecurityGroup extends Construct {
  readonly securityGroup: SecurityGroup;

  constructor(scope: Construct, id: string, props: FenceSecurityGroupProps) {
    super(scope, id);
    check(/^vpc-[0-9a-f]{8,17}$/.test(props.vpcId), this, 'vpcId', props.vpcId, 'a VPC id such as "vpc-0abc1234def567890"');
    this.securityGroup = new SecurityGroup(this, 'security-group', {
      name: props.name,
      description: 'rds-cutover fence: no ingress; egress only to database ports in the VPC',
      vpcId: props.vpcId,
      // AWS adds an allow-all egress rule to every new group; inline rules make the provider
      // manage the whole list (the allow-all one is removed and kept removed).
      // https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/security_group#removing-all-ingress-and-egress-rules
      ingress: [],
      egress: FENCE_EGRESS_PORTS.map((port) => ({ description: `the way back: replication from the new database (${port})`, protocol: 'tcp', fromPort: port, toPort: port, cidrBlocks: [props.vpcCidr] })),
      revokeRulesOnDelete: true,
    });
  }
}
