import { RDSClient } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { KMSClient } from '@aws-sdk/client-kms';
import { STSClient, AssumeRoleCommand } from '@aws-sdk/client-sts';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsSettings } from '../../../config/cutover/schemas/aws';

/** The services the AWS platform talks to, one SDK v3 client each. */
export interface AwsClients {
  rds: RDSClient;
  route53: Route53Client;
  ecs: ECSClient;
  ec2: EC2Client;
  kms: KMSClient;
  sts: STSClient;
  secretsmanager: SecretsManagerClient;
}
export type AwsService = keyof AwsClients;

/** Commands that only read: the only ones a dry run may send. */
export function isReadOnlyCommand(command: string): boolean {
  return /^(Describe|List|Get)[A-Z]/.test(command.replace(/Command$/, ''));
}

export class ReadOnlyViolation extends Error {
  constructor(readonly command: string) {
    super(`Refused ${command}: this is a dry run and only Describe*/List*/Get* calls are sent. Add --execute to change anything.`);
    this.name = 'ReadOnlyViolation';
  }
}

export interface CreateClientsOptions {
  /** Refuse every command that is not Describe*, List* or Get* before it leaves the process. */
  readOnly: boolean;
}

/**
 * Clients for one environment: region and profile from config, the SDK's standard credential
 * chain, an optional assumed role on top. Endpoints are deliberately not set here: the SDK reads
 * `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_RDS`, `AWS_ENDPOINT_URL_ROUTE_53`, …
 * (and `endpoint_url` in the shared config file) itself, which is how LocalStack-style
 * emulators are reached. https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
 * Throttling is retried by the SDK's standard retry strategy.
 */
export function createAwsClients(settings: Pick<AwsSettings, 'region' | 'profile' | 'assumeRole'>, options: CreateClientsOptions): AwsClients {
  const base = { region: settings.region, ...(settings.profile ? { profile: settings.profile } : {}), maxAttempts: 5 };
  const credentials = settings.assumeRole ? assumedRoleCredentials(new STSClient(base), settings.assumeRole) : undefined;
  const clients = newClients({ ...base, ...(credentials ? { credentials } : {}) });
  if (options.readOnly) for (const client of Object.values(clients)) guardReadOnly(client);
  return clients;
}

/** The settings every client shares (the rest is the SDK's defaults and environment). */
export interface SharedClientConfig {
  region: string;
  profile?: string;
  maxAttempts?: number;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | (() => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }>);
}

/** One client per service, all with the same configuration. */
export function newClients(config: SharedClientConfig): AwsClients {
  return {
    rds: new RDSClient(config),
    route53: new Route53Client(config),
    ecs: new ECSClient(config),
    ec2: new EC2Client(config),
    kms: new KMSClient(config),
    sts: new STSClient(config),
    secretsmanager: new SecretsManagerClient(config),
  };
}

/** Belt and braces for dry runs: a mutating command fails before it is signed or sent. */
export function guardReadOnly(client: { middlewareStack: { add: (...args: any[]) => void } }): void { // eslint-disable-line @typescript-eslint/no-explicit-any
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const command = context.commandName ?? 'unknown command';
      if (!isReadOnlyCommand(command)) throw new ReadOnlyViolation(command);
      return next(args);
    },
    { step: 'initialize', name: 'rdsCutoverReadOnlyGuard', priority: 'high' },
  );
}

export function destroyClients(clients: AwsClients): void {
  for (const client of Object.values(clients)) client.destroy();
}

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Credentials of an assumed role, refreshed five minutes before they expire. */
function assumedRoleCredentials(sts: STSClient, role: NonNullable<AwsSettings['assumeRole']>): () => Promise<Credentials> {
  let cached: Credentials | undefined;
  return async () => {
    if (cached?.expiration && cached.expiration.getTime() - Date.now() > 5 * 60_000) return cached;
    const { Credentials } = await sts.send(new AssumeRoleCommand({ RoleArn: role.roleArn, RoleSessionName: role.sessionName, ...(role.externalId ? { ExternalId: role.externalId } : {}) }));
    if (!Credentials?.AccessKeyId || !Credentials.SecretAccessKey) throw new Error(`AssumeRole ${role.roleArn} returned no credentials`);
    cached = { accessKeyId: Credentials.AccessKeyId, secretAccessKey: Credentials.SecretAccessKey, sessionToken: Credentials.SessionToken, expiration: Credentials.Expiration };
    return cached;
  };
}
