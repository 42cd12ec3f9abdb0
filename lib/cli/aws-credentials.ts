/**
 * The first AWS call of a command is where missing, expired or refused credentials show, and the
 * SDK says it in its own words ("Could not load credentials from any providers": which account,
 * which profile, what to do?). This checks an identity with sts:GetCallerIdentity before a run
 * starts (nothing journaled, nothing locked, nothing changed) and turns a credential error into
 * a UsageError (exit 2) that names the account side, the settings that choose its identity and
 * the fix. A profile that no shared config file has is named with the files looked in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { UsageError } from './args';
import type { CutoverEnvironment } from '../../config/cutover';

/** Which identity a check is about, and the settings a person edits to change it. */
export interface IdentityUnderCheck {
  /** "the source account", "the target account 222222222222" */
  side: string;
  region: string;
  profile?: string;
  /** Where `profile` is set, e.g. "aws.profile", "aws.shareSnapshot.target.profile". */
  profileField: string;
  assumeRoleArn?: string;
  /** The settings that choose this identity, e.g. "aws.profile or aws.assumeRole". */
  fields: string;
  /** The environment file, e.g. "config/cutover/prod.ts". */
  file: string;
}

const CREDENTIAL_ERROR = /CredentialsProviderError|Could not load credentials|ExpiredToken|RequestExpired|InvalidClientTokenId|UnrecognizedClientException|SignatureDoesNotMatch|InvalidAccessKeyId|AuthFailure|TokenRefreshRequired|SSO session .* (expired|invalid)|profile .* could not be found/i;
const EXPIRED = /ExpiredToken|RequestExpired|expired/i;
const REFUSED = /InvalidClientTokenId|UnrecognizedClientException|SignatureDoesNotMatch|InvalidAccessKeyId|AuthFailure/;

/** The shared config and credentials files the SDK reads (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/…). */
function sharedFiles(env: NodeJS.ProcessEnv): { config: string; credentials: string } {
  const home = env.HOME || homedir();
  return { config: env.AWS_CONFIG_FILE || join(home, '.aws', 'config'), credentials: env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials') };
}

/** Whether an ini file has the section of `profile` (`[profile X]` in config, `[X]` in both; `[default]`). */
function fileHasProfile(file: string, profile: string, kind: 'config' | 'credentials'): boolean {
  if (!existsSync(file)) return false;
  const names = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => /^\s*\[\s*([^\]]+?)\s*\]\s*$/.exec(line)?.[1])
    .filter((name): name is string => Boolean(name))
    .map((name) => (kind === 'config' ? name.replace(/^profile\s+/, '') : name));
  return names.includes(profile);
}

/** What the credential error means for this identity; undefined for errors that are not about credentials. */
export function credentialProblem(error: Error, identity: IdentityUnderCheck, env: NodeJS.ProcessEnv = process.env): UsageError | undefined {
  const said = `${error.name}: ${error.message.split('\n')[0]}`;
  if (!CREDENTIAL_ERROR.test(said)) return undefined;
  const profile = identity.profile ?? env.AWS_PROFILE;
  const profileFrom = identity.profile ? identity.profileField : 'AWS_PROFILE';
  const files = sharedFiles(env);
  const reasons: string[] = [];
  if (profile && !fileHasProfile(files.config, profile, 'config') && !fileHasProfile(files.credentials, profile, 'credentials')) {
    reasons.push(`the profile "${profile}" (${profileFrom}) is in neither ${files.config} nor ${files.credentials}: name a profile those files have (aws configure list-profiles), or unset it`);
  } else if (EXPIRED.test(said)) {
    reasons.push(`the credentials${profile ? ` of the profile "${profile}" (${profileFrom})` : ''} have expired: log in again (aws sso login${profile ? ` --profile ${profile}` : ''}) or get new temporary keys`);
  } else if (REFUSED.test(said)) {
    reasons.push(`AWS refused the credentials${profile ? ` of the profile "${profile}" (${profileFrom})` : ' in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY'}: the access key is unknown, deactivated or its secret wrong`);
  } else if (!profile) {
    reasons.push('no credentials were found: no AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, no AWS_PROFILE, no profile in config, no instance or container role');
  }
  if (identity.assumeRoleArn) reasons.push(`(the role ${identity.assumeRoleArn} is assumed with these base credentials)`);
  return new UsageError(
    `No usable AWS credentials for ${identity.side} (${identity.region}): ${said}\n` +
      reasons.map((reason) => `  ${reason}\n`).join('') +
      `Fix: set ${identity.fields} in ${identity.file}, export AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), log in (aws sso login), or plan without AWS using --offline. Nothing was changed.`,
  );
}

/** The source account's identity as an environment's `aws` settings choose it (the messages name these settings). */
export function sourceIdentity(aws: Pick<NonNullable<CutoverEnvironment['aws']>, 'region' | 'profile' | 'assumeRole'>, environmentName: string): IdentityUnderCheck {
  return { side: 'the source account', region: aws.region, profile: aws.profile, profileField: 'aws.profile', assumeRoleArn: aws.assumeRole?.roleArn, fields: 'aws.profile or aws.assumeRole', file: `config/cutover/${environmentName}.ts` };
}

/** sts:GetCallerIdentity with this identity's client: a credential problem becomes a UsageError naming the fix; other errors are left to the checks. */
export async function checkCredentials(sts: Pick<STSClient, 'send'>, identity: IdentityUnderCheck): Promise<void> {
  try {
    await sts.send(new GetCallerIdentityCommand({}));
  } catch (error) {
    const problem = credentialProblem(error as Error, identity);
    if (problem) throw problem;
  }
}

/** Environment variables that hold the environment's database passwords: hidden from hooks (dry runs too). */
export function passwordVariables(aws: NonNullable<CutoverEnvironment['aws']>): string[] {
  const sources = [aws.adminPassword, aws.postgres?.targetAdminPassword, ...Object.values(aws.postgres?.appRolePasswords ?? {})];
  return sources.flatMap((source) => (source && 'env' in source ? [source.env] : []));
}
