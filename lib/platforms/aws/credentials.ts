import { GetSecretValueCommand, type GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import type { AwsSettings } from '../../../config/cutover/schemas/aws';
import { fromProjectRoot } from '../../util/project-root';
import { passwordFromEnv, registerSecret } from '../../util/secrets';
import type { EndpointTls } from '../../engines/tls';
import type { AwsGateway } from './gateway';

export type PasswordSource = AwsSettings['adminPassword'];

/**
 * A password from an environment variable or a Secrets Manager secret (plain text, or JSON
 * with a `password` field as RDS-managed secrets hold it). Registered as a secret: never logged.
 */
export async function readPassword(aws: AwsGateway, from: PasswordSource | { secretArn: string }, what: string): Promise<string> {
  if ('env' in from) return passwordFromEnv(from.env, what);
  const output = await aws.read<GetSecretValueCommandOutput>('secretsmanager', new GetSecretValueCommand({ SecretId: from.secretArn }));
  const text = output?.SecretString;
  if (!text) throw new Error(`Secret ${from.secretArn} (${what}) has no SecretString: store the password (or {"password": …}) in it`);
  let password = text;
  try {
    const parsed = JSON.parse(text) as { password?: unknown };
    if (typeof parsed === 'object' && parsed && typeof parsed.password === 'string') password = parsed.password;
  } catch {
    // a plain-text secret is the password itself
  }
  return registerSecret(password);
}

/** Where the scripts connect: the configured tunnel for this id, else the endpoint itself. */
export function connectAddress(tunnels: Record<string, string>, id: string, address: string, port: number): { host: string; port: number } {
  const tunnel = tunnels[id];
  if (!tunnel) return { host: address, port };
  const colon = tunnel.lastIndexOf(':');
  return { host: tunnel.slice(0, colon), port: Number(tunnel.slice(colon + 1)) };
}

/**
 * TLS of every administrator connection to RDS: required and verified, against aws.tlsCaFile
 * when set; the certificate names the endpoint, also when the connection goes through a tunnel.
 */
export function endpointTls(aws: Pick<AwsSettings, 'tlsCaFile'>, endpointAddress: string): EndpointTls {
  return { ...(aws.tlsCaFile ? { caFile: fromProjectRoot(aws.tlsCaFile) } : {}), rejectUnauthorized: true, serverName: endpointAddress };
}
