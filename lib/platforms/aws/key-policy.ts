/**
 * Reading a KMS key policy (GetKeyPolicy) for what it lets another account do. Used by the
 * share-snapshot preflight: an encrypted snapshot shared with an account can only be copied
 * there when the key policy lets that account use the key and create grants for RDS.
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/share-encrypted-snapshot.html
 */

interface PolicyStatementJson {
  Sid?: string;
  Effect?: string;
  Principal?: '*' | { AWS?: string | string[] };
  Action?: string | string[];
  NotAction?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

/** What the target account must be allowed (concrete actions; a statement may grant them by wildcard). */
export const SHARE_KEY_USE_ACTIONS = ['kms:Decrypt', 'kms:DescribeKey', 'kms:ReEncryptFrom', 'kms:GenerateDataKey'] as const;
export const SHARE_KEY_GRANT_ACTIONS = ['kms:CreateGrant'] as const;

const list = (value: unknown): string[] => (value === undefined ? [] : Array.isArray(value) ? value.map(String) : [String(value)]);

/** IAM-style action match: `kms:ReEncrypt*` covers `kms:ReEncryptFrom`; case-insensitive like IAM. */
export function actionMatches(pattern: string, action: string): boolean {
  const expression = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
  return expression.test(action);
}

function namesAccount(statement: PolicyStatementJson, accountId: string): boolean {
  if (statement.Principal === '*') return true;
  return list(statement.Principal?.AWS).some((principal) => principal === '*' || principal === accountId || principal.startsWith(`arn:aws:iam::${accountId}:`) || new RegExp(`^arn:aws[a-z-]*:iam::${accountId}:`).test(principal));
}

function coversAction(statement: PolicyStatementJson, action: string): boolean {
  if (statement.NotAction) return !list(statement.NotAction).some((pattern) => actionMatches(pattern, action));
  return list(statement.Action).some((pattern) => actionMatches(pattern, action));
}

/** A `kms:ViaService` condition that names other services only does not allow use through RDS. */
function allowsThroughRds(statement: PolicyStatementJson, region: string): boolean {
  for (const [operator, conditions] of Object.entries(statement.Condition ?? {})) {
    if (!/^String(Equals|Like)/.test(operator)) continue;
    const via = Object.entries(conditions).find(([key]) => key.toLowerCase() === 'kms:viaservice')?.[1];
    if (via === undefined) continue;
    if (!list(via).some((service) => actionMatches(service, `rds.${region}.amazonaws.com`))) return false;
  }
  return true;
}

/** The statements the stacks' SnapshotShareKey declares for a target account, as the fix to paste. */
export function expectedShareStatements(accountId: string, region: string): object[] {
  const principal = { AWS: `arn:aws:iam::${accountId}:root` };
  const via = { 'kms:ViaService': `rds.${region}.amazonaws.com` };
  return [
    { Sid: 'TargetAccountsUseThroughRds', Effect: 'Allow', Principal: principal, Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'], Resource: '*', Condition: { StringEquals: via } },
    { Sid: 'TargetAccountsGrantsForRds', Effect: 'Allow', Principal: principal, Action: ['kms:CreateGrant', 'kms:ListGrants', 'kms:RevokeGrant'], Resource: '*', Condition: { StringEquals: via, Bool: { 'kms:GrantIsForAWSResource': 'true' } } },
  ];
}

/**
 * The problems of a key policy for sharing snapshots with `accountId` (empty when it allows
 * the copy): every required action needs an Allow naming the account (its root, the account
 * id, one of its principals, or `*`) that does not restrict `kms:ViaService` to another service,
 * and no Deny naming the account may cover it. Other conditions are taken as met (the check
 * cannot evaluate them; AWS does, at copy time).
 */
export function shareKeyPolicyProblems(policyText: string, accountId: string, region: string, keyArn: string): string[] {
  let statements: PolicyStatementJson[];
  try {
    const parsed = JSON.parse(policyText) as { Statement?: PolicyStatementJson | PolicyStatementJson[] };
    statements = Array.isArray(parsed.Statement) ? parsed.Statement : parsed.Statement ? [parsed.Statement] : [];
  } catch (error) {
    return [`the key policy of ${keyArn} is not JSON (${(error as Error).message})`];
  }
  const allowed = (action: string) =>
    statements.some((s) => s.Effect === 'Allow' && namesAccount(s, accountId) && coversAction(s, action) && allowsThroughRds(s, region)) &&
    !statements.some((s) => s.Effect === 'Deny' && namesAccount(s, accountId) && coversAction(s, action) && !s.Condition);
  const missingUse = SHARE_KEY_USE_ACTIONS.filter((action) => !allowed(action));
  const missingGrant = SHARE_KEY_GRANT_ACTIONS.filter((action) => !allowed(action));
  if (missingUse.length === 0 && missingGrant.length === 0) return [];
  const [use, grants] = expectedShareStatements(accountId, region);
  const problems: string[] = [];
  if (missingUse.length > 0) problems.push(`the key policy of ${keyArn} does not let account ${accountId} use the key through RDS (missing ${missingUse.join(', ')}): the statement "TargetAccountsUseThroughRds" is missing: ${JSON.stringify(use)}`);
  if (missingGrant.length > 0) problems.push(`the key policy of ${keyArn} does not let account ${accountId} create grants for RDS (missing ${missingGrant.join(', ')}): the statement "TargetAccountsGrantsForRds" is missing: ${JSON.stringify(grants)}`);
  problems.push(`fix: add ${accountId} to snapshotShare.targetAccountIds in config/infra/<env>.ts and deploy the snapshot-share stack (it declares both statements), or add them to the key policy (PutKeyPolicy)`);
  return problems;
}
