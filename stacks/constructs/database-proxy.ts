/**
 * RDS Proxy in front of the live database (seed 002): a Secrets Manager secret for the
 * database credentials, a role that may read only that secret, TLS required, its own
 * security group, and the default target group's pool settings.
 *
 * The proxy's *target* is owned by the cutover scripts, not by this construct: they register
 * the initial target (exported as an output) and swap it at switch time. A Terraform-managed
 * `aws_db_proxy_target` would come back after a switch — its identity is the old database, so
 * once the scripts deregister it Terraform plans to register it again, and `ignore_changes`
 * cannot prevent a re-create. See stacks/README.md.
 */
import { Construct, DbProxy, DbProxyDefaultTargetGroup, IamRole, IamRolePolicy, SecurityGroup } from '../aws';
import { policyDocument, serviceTrustPolicy } from './policy';
import { check } from './validation';

export interface DatabaseProxyProps {
  readonly name: string;
  readonly engineFamily: 'MYSQL' | 'POSTGRESQL';
  /** Secret holding `username` and `password` of the database user the proxy logs in as. */
  readonly secretArn: string;
  readonly accountId: string;
  readonly region: string;
  readonly vpcId: string;
  /** The proxy may open connections to databases in this range, on `databasePort` only. */
  readonly vpcCidr: string;
  readonly subnetIds: readonly string[];
  readonly databasePort: number;
  /**
   * Customer-managed KMS key the secret is encrypted with: the role may decrypt with this key
   * only, and only through Secrets Manager.
   * @default - the secret uses the AWS-managed key aws/secretsmanager, whose own policy lets the
   *   role decrypt through Secrets Manager: no kms:Decrypt statement at all
   */
  readonly secretKmsKeyArn?: string;
  /** Security groups allowed to connect to the proxy. @default - none (add rules elsewhere) */
  readonly clientSecurityGroupIds?: readonly string[];
  /** @default 1800 */
  readonly idleClientTimeoutSeconds?: number;
  /** @default true - clients must use TLS */
  readonly requireTls?: boolean;
}

export class DatabaseProxy extends Construct {
  readonly proxy: DbProxy;
  readonly defaultTargetGroup: DbProxyDefaultTargetGroup;
  readonly securityGroup: SecurityGroup;
  readonly role: IamRole;
  readonly rolePolicy: IamRolePolicy;

  constructor(scope: Construct, id: string, props: DatabaseProxyProps) {
    super(scope, id);
    const { name, engineFamily, secretArn, secretKmsKeyArn, accountId, region, vpcId, vpcCidr, subnetIds, databasePort, clientSecurityGroupIds = [], idleClientTimeoutSeconds = 1800, requireTls = true } = props;
    check(/^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}$/.test(name) && !name.endsWith('-'), this, 'name', name, 'letters, digits and single hyphens, starting with a letter, at most 63 characters');
    check(secretArn.startsWith('arn:') && secretArn.includes(':secretsmanager:'), this, 'secretArn', secretArn, 'a Secrets Manager secret ARN');
    if (secretKmsKeyArn !== undefined) {
      check(new RegExp(`^arn:aws[a-z-]*:kms:${region}:${accountId}:key/[\\w-]+$`).test(secretKmsKeyArn), this, 'secretKmsKeyArn', secretKmsKeyArn, `a KMS key ARN (not an alias, not a wildcard) in ${region}, account ${accountId}`);
    }
    check(subnetIds.length >= 2, this, 'subnetIds', subnetIds, 'at least two subnets in different availability zones');
    check(Number.isInteger(databasePort) && databasePort > 0 && databasePort < 65536, this, 'databasePort', databasePort, 'a TCP port');

    this.role = new IamRole(this, 'role', {
      name: `${name}-proxy`,
      description: `RDS Proxy ${name}: reads its database credentials`,
      assumeRolePolicy: serviceTrustPolicy('rds.amazonaws.com', accountId),
    });
    this.rolePolicy = new IamRolePolicy(this, 'read-secret', {
      role: this.role.id,
      name: 'read-database-secret',
      policy: policyDocument([
        { Sid: 'ReadTheOneSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secretArn },
        ...(secretKmsKeyArn
          ? [
              {
                Sid: 'DecryptTheSecret',
                Effect: 'Allow' as const,
                Action: 'kms:Decrypt',
                Resource: secretKmsKeyArn,
                Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com` } },
              },
            ]
          : []),
      ]),
    });

    this.securityGroup = new SecurityGroup(this, 'security-group', {
      name: `${name}-proxy`,
      description: `RDS Proxy ${name}: clients in, database port out`,
      vpcId,
      ingress: clientSecurityGroupIds.length === 0 ? [] : [
        { description: 'application clients', protocol: 'tcp', fromPort: databasePort, toPort: databasePort, securityGroups: [...clientSecurityGroupIds] },
      ],
      egress: [{ description: 'databases in the VPC', protocol: 'tcp', fromPort: databasePort, toPort: databasePort, cidrBlocks: [vpcCidr] }],
      revokeRulesOnDelete: true,
    });

    this.proxy = new DbProxy(this, 'proxy', {
      name,
      engineFamily,
      requireTls,
      debugLogging: false, // would write SQL text, including literal values, to CloudWatch
      idleClientTimeout: idleClientTimeoutSeconds,
      roleArn: this.role.arn,
      vpcSubnetIds: [...subnetIds],
      vpcSecurityGroupIds: [this.securityGroup.id],
      auth: [{ authScheme: 'SECRETS', secretArn, iamAuth: 'DISABLED', description: 'database credentials' }],
    });

    this.defaultTargetGroup = new DbProxyDefaultTargetGroup(this, 'default-target-group', {
      dbProxyName: this.proxy.name,
      connectionPoolConfig: {
        // Clients wait up to this long for a connection while the scripts swap targets.
        connectionBorrowTimeout: 120,
        maxConnectionsPercent: 90,
        maxIdleConnectionsPercent: 50,
      },
    });
  }
}
