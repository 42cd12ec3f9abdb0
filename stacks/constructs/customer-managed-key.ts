/**
 * Customer managed KMS keys. The key policy names who may *administer* the key (listed
 * admins, never all of the account) and lets the account *use* it only through the listed
 * AWS services (`kms:ViaService`), so nobody can decrypt a snapshot by hand.
 * https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
 */
import { Construct, KmsAlias, KmsKey } from '../aws';
import { accountRootArn, policyDocument, type PolicyStatement } from './policy';
import { ACCOUNT_ID, check } from './validation';

/** Actions that manage a key but cannot encrypt or decrypt with it. */
export const KEY_ADMINISTRATION_ACTIONS = [
  'kms:CancelKeyDeletion',
  'kms:Create*',
  'kms:Delete*',
  'kms:Describe*',
  'kms:Disable*',
  'kms:Enable*',
  'kms:Get*',
  'kms:List*',
  'kms:Put*',
  'kms:Revoke*',
  'kms:RotateKeyOnDemand',
  'kms:ScheduleKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:Update*',
] as const;

/** What a service needs to encrypt and decrypt data with the key. */
export const KEY_USE_ACTIONS = ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'] as const;

/** Grant management; always paired with `kms:GrantIsForAWSResource`. */
export const KEY_GRANT_ACTIONS = ['kms:CreateGrant', 'kms:ListGrants', 'kms:RevokeGrant'] as const;

export interface CustomerManagedKeyProps {
  /** Account that owns the key. */
  readonly accountId: string;
  /** Region of the key, used in the `kms:ViaService` condition. */
  readonly region: string;
  /** Alias without the `alias/` prefix, e.g. "rds-cutover/prod/storage". */
  readonly alias: string;
  readonly description: string;
  /**
   * Principals that may administer the key. Must include the role that deploys the stack,
   * or KMS refuses the policy (lockout safety check).
   */
  readonly administratorArns: readonly string[];
  /**
   * Services through which principals of the owning account may use the key, e.g. ["rds"].
   * @default ["rds"]
   */
  readonly viaServices?: readonly string[];
  /**
   * Statements appended to the key policy (e.g. cross-account use).
   * @default - none
   */
  readonly additionalStatements?: readonly PolicyStatement[];
  /** @default 30 - the longest waiting period, to undo an accidental deletion */
  readonly deletionWindowInDays?: number;
}

/** A symmetric CMK with rotation on, an alias and a least-privilege key policy. */
export class CustomerManagedKey extends Construct {
  readonly key: KmsKey;
  readonly alias: KmsAlias;
  /** The policy statements, kept for tests and for constructs that extend the policy. */
  readonly statements: readonly PolicyStatement[];

  constructor(scope: Construct, id: string, props: CustomerManagedKeyProps) {
    super(scope, id);
    const { accountId, region, alias, description, administratorArns, viaServices = ['rds'], additionalStatements = [], deletionWindowInDays = 30 } = props;

    check(ACCOUNT_ID.test(accountId), this, 'accountId', accountId, 'a 12-digit AWS account id');
    check(administratorArns.length > 0, this, 'administratorArns', administratorArns, 'at least one IAM principal ARN (include the deploying role)');
    check(
      !administratorArns.includes(accountRootArn(accountId)),
      this,
      'administratorArns',
      administratorArns,
      'named roles or users, not the account root (which would hand administration to every IAM policy in the account)',
    );
    check(viaServices.length > 0, this, 'viaServices', viaServices, 'at least one service such as "rds"');
    check(/^[\w/-]{1,200}$/.test(alias) && !alias.startsWith('aws/'), this, 'alias', alias, 'letters, digits, "/", "_" or "-", not starting with "aws/"');
    check(Number.isInteger(deletionWindowInDays) && deletionWindowInDays >= 7 && deletionWindowInDays <= 30, this, 'deletionWindowInDays', deletionWindowInDays, 'a whole number from 7 to 30');

    const viaServiceEndpoints = viaServices.map((service) => `${service}.${region}.amazonaws.com`);
    this.statements = [
      {
        Sid: 'KeyAdministration',
        Effect: 'Allow',
        Principal: { AWS: administratorArns },
        Action: KEY_ADMINISTRATION_ACTIONS,
        Resource: '*',
      },
      {
        Sid: 'UseThroughServices',
        Effect: 'Allow',
        Principal: { AWS: accountRootArn(accountId) },
        Action: KEY_USE_ACTIONS,
        Resource: '*',
        Condition: { StringEquals: { 'kms:ViaService': viaServiceEndpoints, 'kms:CallerAccount': accountId } },
      },
      {
        Sid: 'GrantsForServices',
        Effect: 'Allow',
        Principal: { AWS: accountRootArn(accountId) },
        Action: KEY_GRANT_ACTIONS,
        Resource: '*',
        Condition: {
          StringEquals: { 'kms:ViaService': viaServiceEndpoints, 'kms:CallerAccount': accountId },
          Bool: { 'kms:GrantIsForAWSResource': true },
        },
      },
      ...additionalStatements,
    ];

    this.key = new KmsKey(this, 'key', {
      description,
      enableKeyRotation: true,
      deletionWindowInDays,
      policy: policyDocument(this.statements),
    });
    this.alias = new KmsAlias(this, 'alias', { name: `alias/${alias}`, targetKeyId: this.key.keyId });
  }
}

export interface StorageEncryptionKeyProps extends Omit<CustomerManagedKeyProps, 'viaServices' | 'additionalStatements' | 'description'> {
  /** @default "rds-cutover storage encryption" */
  readonly description?: string;
}

/** Key for the encrypted target database: administered by the listed admins, used only by RDS. */
export class StorageEncryptionKey extends CustomerManagedKey {
  constructor(scope: Construct, id: string, props: StorageEncryptionKeyProps) {
    super(scope, id, { description: 'rds-cutover storage encryption', ...props, viaServices: ['rds'] });
  }
}

export interface SnapshotShareKeyProps extends StorageEncryptionKeyProps {
  /** Accounts that copy and restore the shared snapshots. */
  readonly targetAccountIds: readonly string[];
}

/**
 * Key for snapshots shared with other accounts (seed 004). The target accounts may use it
 * for RDS copy and restore and nothing more: the crypto operations, and grant management only
 * for grants to AWS services (`kms:GrantIsForAWSResource`), which RDS needs to restore.
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/share-encrypted-snapshot.html
 */
export class SnapshotShareKey extends CustomerManagedKey {
  constructor(scope: Construct, id: string, props: SnapshotShareKeyProps) {
    const { targetAccountIds, ...keyProps } = props;
    const targets = targetAccountIds.map(accountRootArn);
    super(scope, id, {
      description: 'rds-cutover snapshot sharing',
      ...keyProps,
      viaServices: ['rds'],
      additionalStatements: [
        { Sid: 'TargetAccountsUseForCopyAndRestore', Effect: 'Allow', Principal: { AWS: targets }, Action: KEY_USE_ACTIONS, Resource: '*' },
        {
          Sid: 'TargetAccountsGrantsForAwsResources',
          Effect: 'Allow',
          Principal: { AWS: targets },
          Action: KEY_GRANT_ACTIONS,
          Resource: '*',
          Condition: { Bool: { 'kms:GrantIsForAWSResource': true } },
        },
      ],
    });
    check(targetAccountIds.length > 0, this, 'targetAccountIds', targetAccountIds, 'at least one account id');
    for (const account of targetAccountIds) {
      check(ACCOUNT_ID.test(account), this, 'targetAccountIds', account, 'a 12-digit AWS account id');
      check(account !== props.accountId, this, 'targetAccountIds', account, `another account than the key's own (${props.accountId})`);
    }
  }
}
