/**
 * Customer managed KMS keys. The key policy names who may *administer* the key (listed
 * admins, never all of the account) and lets the account *use* it only through the listed
 * AWS services (`kms:ViaService`), so nobody can decrypt a snapshot by hand.
 * https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
 */
import { Construct, KmsAlias, KmsKey } from '../aws';
import { accountRootArn, policyDocument, type PolicyStatement } from './policy';
import { ACCOUNT_ID, check } from './validation';

/**
 * Actions that manage a key but cannot encrypt, decrypt or hand out use of it: listed one by
 * one, because the usual `kms:Create*` / `kms:Put*` wildcards include `kms:CreateGrant` and
 * `kms:PutKeyPolicy`, with which an administrator could grant itself use of the key.
 */
export const KEY_ADMINISTRATION_ACTIONS = [
  'kms:CancelKeyDeletion',
  'kms:CreateAlias',
  'kms:DeleteAlias',
  'kms:DescribeKey',
  'kms:DisableKey',
  'kms:DisableKeyRotation',
  'kms:EnableKey',
  'kms:EnableKeyRotation',
  'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListAliases',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListResourceTags',
  'kms:RevokeGrant',
  'kms:RotateKeyOnDemand',
  'kms:ScheduleKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:UpdateAlias',
  'kms:UpdateKeyDescription',
] as const;

/**
 * What the account root keeps, so that deleting or breaking the administrator roles cannot
 * orphan the key: administration plus `kms:PutKeyPolicy` (to repair the policy), through IAM
 * policies of the account (the root principal delegates to IAM). No use of the key, no grants.
 * https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
 */
export const ACCOUNT_ROOT_MANAGEMENT_ACTIONS = [...KEY_ADMINISTRATION_ACTIONS, 'kms:PutKeyPolicy'] as const;

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
    for (const arn of administratorArns) {
      check(arn.split(':')[4] === accountId, this, 'administratorArns', arn, `a principal of the key's own account ${accountId} (an administrator in another account could change the policy of a key it does not own)`);
    }
    check(viaServices.length > 0, this, 'viaServices', viaServices, 'at least one service such as "rds"');
    check(/^[\w/-]{1,200}$/.test(alias) && !alias.startsWith('aws/'), this, 'alias', alias, 'letters, digits, "/", "_" or "-", not starting with "aws/"');
    check(Number.isInteger(deletionWindowInDays) && deletionWindowInDays >= 7 && deletionWindowInDays <= 30, this, 'deletionWindowInDays', deletionWindowInDays, 'a whole number from 7 to 30');

    const viaServiceEndpoints = viaServices.map((service) => `${service}.${region}.amazonaws.com`);
    this.statements = [
      {
        Sid: 'AccountRootManagesKey',
        Effect: 'Allow',
        Principal: { AWS: accountRootArn(accountId) },
        Action: ACCOUNT_ROOT_MANAGEMENT_ACTIONS,
        Resource: '*',
      },
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
 * through RDS in the key's region only (`kms:ViaService`), to copy and restore, and nothing more:
 * the crypto operations, and grant management only for grants to AWS resources
 * (`kms:GrantIsForAWSResource`), which RDS creates while copying. The statement ids are the ones
 * the share-snapshot preflight names when a policy lacks them (lib/platforms/aws/key-policy.ts).
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/share-encrypted-snapshot.html
 */
export class SnapshotShareKey extends CustomerManagedKey {
  constructor(scope: Construct, id: string, props: SnapshotShareKeyProps) {
    const { targetAccountIds, ...keyProps } = props;
    const targets = targetAccountIds.map(accountRootArn);
    const viaRds = `rds.${props.region}.amazonaws.com`;
    super(scope, id, {
      description: 'rds-cutover snapshot sharing',
      ...keyProps,
      viaServices: ['rds'],
      additionalStatements: [
        {
          Sid: 'TargetAccountsUseThroughRds',
          Effect: 'Allow',
          Principal: { AWS: targets },
          Action: KEY_USE_ACTIONS,
          Resource: '*',
          Condition: { StringEquals: { 'kms:ViaService': viaRds } },
        },
        {
          Sid: 'TargetAccountsGrantsForRds',
          Effect: 'Allow',
          Principal: { AWS: targets },
          Action: KEY_GRANT_ACTIONS,
          Resource: '*',
          Condition: { StringEquals: { 'kms:ViaService': viaRds }, Bool: { 'kms:GrantIsForAWSResource': true } },
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
