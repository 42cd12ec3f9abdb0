/**
 * IAM and resource policy documents as typed data. Policies are serialised with
 * JSON.stringify: Terraform tokens inside strings (e.g. a bucket ARN) become `${...}`
 * interpolations, and tests can parse the synthesized policy back and assert on it.
 */

export type PolicyConditions = Record<string, Record<string, string | readonly string[] | boolean>>;

export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: '*' | { readonly AWS?: string | readonly string[]; readonly Service?: string | readonly string[] };
  readonly Action: string | readonly string[];
  /** Absent only in trust policies. */
  readonly Resource?: string | readonly string[];
  readonly Condition?: PolicyConditions;
}

/** Serialises statements into a policy document. */
export function policyDocument(statements: readonly PolicyStatement[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

/** The ARN that stands for "IAM principals of this account, as IAM policies allow". */
export function accountRootArn(accountId: string): string {
  return `arn:aws:iam::${accountId}:root`;
}

/**
 * Trust policy letting one AWS service assume a role, only on behalf of `accountId`
 * (`aws:SourceAccount` closes the confused-deputy hole).
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
 */
export function serviceTrustPolicy(service: string, accountId: string): string {
  return policyDocument([
    {
      Sid: 'TrustedService',
      Effect: 'Allow',
      Principal: { Service: service },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'aws:SourceAccount': accountId } },
    },
  ]);
}

/** Denies every request to `resources` that does not arrive over TLS. */
export function denyInsecureTransport(resources: readonly string[]): PolicyStatement {
  return {
    Sid: 'DenyInsecureTransport',
    Effect: 'Deny',
    Principal: '*',
    Action: 's3:*',
    Resource: resources,
    Condition: { Bool: { 'aws:SecureTransport': false } },
  };
}
