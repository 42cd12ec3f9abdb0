/**
 * The encrypted target of a cutover (seeds 000 and 001): an RDS instance or an Aurora
 * cluster, empty or restored from a snapshot, with the parameter groups the flows need.
 *
 * - Every engine: TLS required (`require_secure_transport=1` / `rds.force_ssl=1`).
 * - MySQL family: `binlog_format=ROW` (the binlog catch-up reads row events).
 * - PostgreSQL family: `rds.logical_replication=1` (static: applies after a reboot), and a
 *   "frozen" group that adds `default_transaction_read_only=1` for the freeze step. The frozen
 *   group keeps logical replication on, so putting it on the source does not stop the
 *   replication the flow is waiting on.
 */
import {
  Construct,
  DbInstance,
  DbParameterGroup,
  DbSubnetGroup,
  RdsCluster,
  RdsClusterInstance,
  RdsClusterParameterGroup,
  SecurityGroup,
} from '../aws';
import { check } from './validation';

export type DatabaseEngine = 'mysql' | 'postgres' | 'aurora-mysql' | 'aurora-postgresql';

export interface DatabaseParameter {
  readonly name: string;
  readonly value: string;
  readonly applyMethod: 'immediate' | 'pending-reboot';
}

export interface TargetDatabaseProps {
  readonly identifier: string;
  readonly engine: DatabaseEngine;
  readonly engineVersion: string;
  readonly parameterGroupFamily: string;
  /** PostgreSQL only. @default - `parameterGroupFamily` */
  readonly freezeParameterGroupFamily?: string;
  readonly instanceClass: string;
  /** KMS key ARN for storage (and the managed master password). */
  readonly kmsKeyArn: string;
  readonly vpcId: string;
  /** The target connects out to the source on the database port (binlog or logical replication). */
  readonly vpcCidr: string;
  readonly subnetIds: readonly string[];
  /** Security groups allowed to connect (applications, the proxy). @default - none */
  readonly clientSecurityGroupIds?: readonly string[];
  /** Aurora only. @default 2 */
  readonly instanceCount?: number;
  /** RDS instances only. @default 100 */
  readonly allocatedStorageGb?: number;
  /**
   * Snapshot to restore. For an RDS instance it must already be encrypted (the scripts copy
   * it with the storage key first); an Aurora cluster restore encrypts with `kmsKeyArn`.
   * @default - an empty database
   */
  readonly restoreFromSnapshotId?: string;
  /**
   * RDS instances restored by the cutover run from `restoreFromSnapshotId` (its encrypted copy,
   * which does not exist before the run). "pending": the instance is not declared (its groups
   * are; `restoreSettings` is what the run restores it with). "done": it is declared and taken
   * over with an import block (`terraform import` at plan time, Terraform >= 1.5).
   * @default - the stack creates the database itself
   */
  readonly restoredByCutover?: 'pending' | 'done';
  /** @default "cutover_admin"; the password is managed by RDS in Secrets Manager */
  readonly masterUsername?: string;
  /** @default true */
  readonly deletionProtection?: boolean;
  /** @default 7 */
  readonly backupRetentionDays?: number;
  /** RDS instances only. @default true */
  readonly multiAz?: boolean;
}

/** An RDS instance's declared settings, as the cutover run's restore request needs them. */
export interface InstanceRestoreSettings {
  readonly instanceClass: string;
  readonly subnetGroupName: string;
  readonly securityGroupIds: readonly string[];
  readonly parameterGroupName: string;
  readonly multiAz: boolean;
  readonly storageType: string;
  readonly allocatedStorageGb: number;
  readonly port: number;
  readonly publiclyAccessible: boolean;
  readonly backupRetentionDays: number;
  readonly autoMinorVersionUpgrade: boolean;
  readonly deletionProtection: boolean;
  readonly copyTagsToSnapshot: boolean;
  readonly iamDatabaseAuthentication: boolean;
}

const DEFAULT_PORT: Record<DatabaseEngine, number> = { mysql: 3306, 'aurora-mysql': 3306, postgres: 5432, 'aurora-postgresql': 5432 };

/** Parameters that let the target take part in replication (and later be a rollback source). */
export function replicationParameters(engine: DatabaseEngine): DatabaseParameter[] {
  if (engine === 'mysql') return [{ name: 'binlog_format', value: 'ROW', applyMethod: 'immediate' }];
  if (engine === 'aurora-mysql') return [{ name: 'binlog_format', value: 'ROW', applyMethod: 'pending-reboot' }];
  return [{ name: 'rds.logical_replication', value: '1', applyMethod: 'pending-reboot' }];
}

/**
 * Connections must use TLS, as the scripts' own connections already do: `require_secure_transport`
 * for the MySQL family, `rds.force_ssl` for PostgreSQL. `pending-reboot` is accepted for static
 * and dynamic parameters alike; a new database starts with its group applied.
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/mysql-ssl-connections.html
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html
 */
export function tlsParameters(engine: DatabaseEngine): DatabaseParameter[] {
  if (engine === 'mysql' || engine === 'aurora-mysql') return [{ name: 'require_secure_transport', value: '1', applyMethod: 'pending-reboot' }];
  return [{ name: 'rds.force_ssl', value: '1', applyMethod: 'pending-reboot' }];
}

export class TargetDatabase extends Construct {
  readonly kind: 'instance' | 'cluster';
  readonly port: number;
  readonly securityGroup: SecurityGroup;
  readonly subnetGroup: DbSubnetGroup;
  /** The group with the replication parameters (cluster-level for Aurora). */
  readonly parameterGroup: DbParameterGroup | RdsClusterParameterGroup;
  /** PostgreSQL engines only: replication parameters plus `default_transaction_read_only=1`. */
  readonly frozenParameterGroup?: DbParameterGroup | RdsClusterParameterGroup;
  readonly instance?: DbInstance;
  readonly cluster?: RdsCluster;
  readonly clusterInstances: readonly RdsClusterInstance[] = [];
  /**
   * RDS instances: the instance's settings as this construct declares them, in the terms of
   * RestoreDBInstanceFromDBSnapshot. The cutover run restores with exactly these (read from the
   * stack's outputs), so the instance it creates is the one declared here and the import that
   * follows shows no change to it.
   */
  readonly restoreSettings?: InstanceRestoreSettings;

  private readonly declaredIdentifier: string;

  constructor(scope: Construct, id: string, props: TargetDatabaseProps) {
    super(scope, id);
    this.declaredIdentifier = props.identifier;
    const {
      identifier,
      engine,
      engineVersion,
      parameterGroupFamily,
      freezeParameterGroupFamily = parameterGroupFamily,
      instanceClass,
      kmsKeyArn,
      vpcId,
      vpcCidr,
      subnetIds,
      clientSecurityGroupIds = [],
      instanceCount = 2,
      allocatedStorageGb = 100,
      restoreFromSnapshotId,
      restoredByCutover,
      masterUsername = 'cutover_admin',
      deletionProtection = true,
      backupRetentionDays = 7,
      multiAz = true,
    } = props;
    check(/^[a-z](?!.*--)[a-z0-9-]{0,61}[a-z0-9]$/.test(identifier), this, 'identifier', identifier, 'lower-case letters, digits and single hyphens, starting with a letter');
    check(parameterGroupFamily.startsWith(engine) && /\d/.test(parameterGroupFamily.slice(engine.length, engine.length + 1)), this, 'parameterGroupFamily', parameterGroupFamily, `a family of engine "${engine}"`);
    check(freezeParameterGroupFamily.startsWith(engine), this, 'freezeParameterGroupFamily', freezeParameterGroupFamily, `a family of engine "${engine}"`);
    check(kmsKeyArn.length > 0, this, 'kmsKeyArn', kmsKeyArn, 'the storage key ARN (storage is always encrypted)');
    check(subnetIds.length >= 2, this, 'subnetIds', subnetIds, 'at least two subnets in different availability zones');
    check(restoredByCutover === undefined || (!engine.startsWith('aurora-') && restoreFromSnapshotId !== undefined), this, 'restoredByCutover', restoredByCutover, 'no value unless an RDS instance is restored from restoreFromSnapshotId by the cutover run');
    check(backupRetentionDays >= 1, this, 'backupRetentionDays', backupRetentionDays, 'at least 1 (read replicas and point-in-time restore need backups)');

    const aurora = engine.startsWith('aurora-');
    const postgres = engine.endsWith('postgres') || engine.endsWith('postgresql');
    this.kind = aurora ? 'cluster' : 'instance';
    this.port = DEFAULT_PORT[engine];

    this.subnetGroup = new DbSubnetGroup(this, 'subnet-group', {
      name: identifier,
      description: `rds-cutover target ${identifier}`,
      subnetIds: [...subnetIds],
    });
    this.securityGroup = new SecurityGroup(this, 'security-group', {
      name: `${identifier}-database`,
      description: `rds-cutover target ${identifier}: clients in, replication out`,
      vpcId,
      ingress: clientSecurityGroupIds.length === 0 ? [] : [
        { description: 'database clients', protocol: 'tcp', fromPort: this.port, toPort: this.port, securityGroups: [...clientSecurityGroupIds] },
      ],
      egress: [{ description: 'replication from the source database', protocol: 'tcp', fromPort: this.port, toPort: this.port, cidrBlocks: [vpcCidr] }],
      revokeRulesOnDelete: true,
    });

    const ParameterGroup = aurora ? RdsClusterParameterGroup : DbParameterGroup;
    const parameterGroup = (groupId: string, name: string, family: string, description: string, parameter: DatabaseParameter[]) =>
      new ParameterGroup(this, groupId, { name, family, description, parameter });

    const replication = replicationParameters(engine);
    // The target's own group requires TLS; the frozen group goes on the *source* during the
    // freeze and keeps its transport settings as they are (read-only clients keep reading).
    this.parameterGroup = parameterGroup('parameter-group', `${identifier}-replication`, parameterGroupFamily, 'rds-cutover: replication on', [...replication, ...tlsParameters(engine)]);
    if (postgres) {
      this.frozenParameterGroup = parameterGroup('frozen-parameter-group', `${identifier}-frozen`, freezeParameterGroupFamily, 'rds-cutover freeze step: read-only, replication kept on', [
        ...replication,
        { name: 'default_transaction_read_only', value: '1', applyMethod: 'immediate' },
      ]);
    }

    // An RDS restore takes the master user from the snapshot; a new database gets one whose
    // password RDS generates and keeps in Secrets Manager (never in state or config).
    const restoring = restoreFromSnapshotId !== undefined;
    const managedPassword = restoring ? {} : { manageMasterUserPassword: true, masterUserSecretKmsKeyId: kmsKeyArn };
    const common = {
      engine,
      engineVersion,
      storageEncrypted: true,
      kmsKeyId: kmsKeyArn,
      dbSubnetGroupName: this.subnetGroup.name,
      vpcSecurityGroupIds: [this.securityGroup.id],
      deletionProtection,
      copyTagsToSnapshot: true,
      skipFinalSnapshot: false,
      finalSnapshotIdentifier: `${identifier}-final`,
      iamDatabaseAuthenticationEnabled: true,
      port: this.port,
    };

    if (aurora) {
      this.cluster = new RdsCluster(this, 'cluster', {
        ...common,
        ...(restoring ? { snapshotIdentifier: restoreFromSnapshotId } : { masterUsername }),
        ...managedPassword,
        clusterIdentifier: identifier,
        dbClusterParameterGroupName: this.parameterGroup.name,
        backupRetentionPeriod: backupRetentionDays,
      });
      this.clusterInstances = Array.from({ length: instanceCount }, (_, index) =>
        new RdsClusterInstance(this, `cluster-instance-${index + 1}`, {
          identifier: `${identifier}-${index + 1}`,
          clusterIdentifier: this.cluster!.clusterIdentifier,
          engine,
          engineVersion,
          instanceClass,
          dbSubnetGroupName: this.subnetGroup.name,
          publiclyAccessible: false,
          copyTagsToSnapshot: true,
        }),
      );
    } else {
      check(Number.isInteger(allocatedStorageGb) && allocatedStorageGb >= 20, this, 'allocatedStorageGb', allocatedStorageGb, 'a whole number of GB, at least 20');
      const settings = {
        instanceClass,
        subnetGroupName: this.subnetGroup.name,
        securityGroupIds: [this.securityGroup.id],
        parameterGroupName: this.parameterGroup.name,
        multiAz,
        storageType: 'gp3',
        allocatedStorageGb,
        port: this.port,
        publiclyAccessible: false,
        backupRetentionDays,
        autoMinorVersionUpgrade: true,
        deletionProtection,
        copyTagsToSnapshot: true,
        iamDatabaseAuthentication: true,
      } as const satisfies InstanceRestoreSettings;
      this.restoreSettings = settings;
      // Before the run there is no snapshot to restore from: the run restores the instance itself.
      if (restoredByCutover === 'pending') return;
      this.instance = new DbInstance(this, 'instance', {
        ...common,
        ...(restoring ? { snapshotIdentifier: restoreFromSnapshotId } : { username: masterUsername }),
        ...managedPassword,
        identifier,
        instanceClass: settings.instanceClass,
        allocatedStorage: settings.allocatedStorageGb,
        storageType: settings.storageType,
        multiAz: settings.multiAz,
        publiclyAccessible: settings.publiclyAccessible,
        parameterGroupName: this.parameterGroup.name,
        backupRetentionPeriod: settings.backupRetentionDays,
        autoMinorVersionUpgrade: settings.autoMinorVersionUpgrade,
        ...(restoredByCutover === 'done'
          ? {
              // An imported instance has no snapshot_identifier in state (the API does not
              // report it); it only matters at creation, so a difference must not replace it.
              lifecycle: { ignoreChanges: ['snapshot_identifier'] },
            }
          : {}),
      });
      // The run restored it: Terraform takes it over at the next plan/apply (import block).
      if (restoredByCutover === 'done') this.instance.importFrom(identifier);
    }
  }

  /** Writer endpoint host name; undefined while the cutover run has yet to restore the instance. */
  get endpoint(): string | undefined {
    return this.cluster ? this.cluster.endpoint : this.instance?.address;
  }

  get arn(): string | undefined {
    return this.cluster ? this.cluster.arn : this.instance?.arn;
  }

  get identifier(): string {
    return this.cluster ? this.cluster.clusterIdentifier : this.instance?.identifier ?? this.declaredIdentifier;
  }
}
