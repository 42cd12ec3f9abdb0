/**
 * The deny-all security group the switch puts on the old database so nothing can reach
 * it (or be reached from it) by mistake after the cutover.
 */
import { Construct, SecurityGroup } from '../aws';
import { check } from './validation';

export interface FenceSecurityGroupProps {
  readonly vpcId: string;
  /** Group name, unique in the VPC. */
  readonly name: string;
}

export class FenceSecurityGroup extends Construct {
  readonly securityGroup: SecurityGroup;

  constructor(scope: Construct, id: string, props: FenceSecurityGroupProps) {
    super(scope, id);
    check(/^vpc-[0-9a-f]{8,17}$/.test(props.vpcId), this, 'vpcId', props.vpcId, 'a VPC id such as "vpc-0abc1234def567890"');
    this.securityGroup = new SecurityGroup(this, 'security-group', {
      name: props.name,
      description: 'rds-cutover fence: no ingress, no egress',
      vpcId: props.vpcId,
      // AWS adds an allow-all egress rule to every new group; an explicit empty list makes
      // the provider remove it and keeps it removed.
      // https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/security_group#removing-all-ingress-and-egress-rules
      ingress: [],
      egress: [],
      revokeRulesOnDelete: true,
    });
  }
}
