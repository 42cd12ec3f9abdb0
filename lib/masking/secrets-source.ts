import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { registerSecret } from '../util/secrets';

/** Where a secret comes from: an environment variable, or a Secrets Manager secret (optionally one JSON field of it). */
export interface SecretReference {
  env?: string;
  secretArn?: string;
  /** For JSON secrets such as RDS's {"username":…,"password":…}. */
  jsonKey?: string;
}

/**
 * Read a secret and register it for redaction. An env var wins over Secrets Manager so an
 * operator can override; the error names both ways to provide it. Never logged, never argv.
 */
export async function readSecret(reference: SecretReference, purpose: string, client?: SecretsManagerClient): Promise<string> {
  const fromEnv = reference.env ? process.env[reference.env] : undefined;
  if (fromEnv) return registerSecret(fromEnv);
  if (reference.secretArn) {
    const secrets = client ?? new SecretsManagerClient({});
    const result = await secrets.send(new GetSecretValueCommand({ SecretId: reference.secretArn }));
    const text = result.SecretString;
    if (text === undefined) throw new Error(`${purpose}: secret ${reference.secretArn} has no SecretString (binary secrets are not supported)`);
    if (reference.jsonKey === undefined) return registerSecret(text);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`${purpose}: secret ${reference.secretArn} is not JSON, but the configuration reads its field "${reference.jsonKey}"`);
    }
    const value = parsed[reference.jsonKey];
    if (typeof value !== 'string' || value === '') throw new Error(`${purpose}: secret ${reference.secretArn} has no string field "${reference.jsonKey}"`);
    return registerSecret(value);
  }
  const ways = [reference.env ? `export ${reference.env}` : undefined, 'set secretArn in config/masking/environments.ts'].filter(Boolean).join(' or ');
  throw new Error(`${purpose}: not available; ${ways}${reference.env ? ` (e.g. read -rs ${reference.env} && export ${reference.env})` : ''}`);
}

/** Where readSecret reads this secret from now (no value), for messages that send the user to the setting. */
export function secretSourceOf(reference: SecretReference): string {
  if (reference.env && process.env[reference.env]) return `environment variable ${reference.env}`;
  if (reference.secretArn) return `secret ${reference.secretArn}${reference.jsonKey === undefined ? '' : `, field "${reference.jsonKey}"`}`;
  return reference.env ? `environment variable ${reference.env}` : 'its secret';
}
