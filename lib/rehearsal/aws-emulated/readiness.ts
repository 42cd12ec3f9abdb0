import { existsSync, readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import type { DBInstance, Event } from '@aws-sdk/client-rds';
import { createAwsClients, type AwsClients, type CreateClientsOptions } from '../../platforms/aws/clients';
import type { AwsSettings } from '../../../config/cutover/schemas/aws';

/** PostgreSQL's SSLRequest (length 8, code 80877103): a server answers it with one byte, S or N. */
const POSTGRES_SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** RDS engine names whose servers wait for the client to speak first. */
export const isPostgresEngine = (engine: string | undefined): boolean => engine === 'postgres' || engine === 'aurora-postgresql';

/**
 * True once the server behind a tunnel answers: a MySQL server speaks first (its greeting); a
 * PostgreSQL server waits for the client, so it is sent an SSLRequest, which it answers with one
 * byte before any authentication (nothing is logged as a failed login). Nothing is sent to a
 * MySQL server: a malformed handshake would count against its max_connect_errors.
 */
export function greets(address: string, options: { timeoutMs?: number; postgres?: boolean } = {}): Promise<boolean> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = netConnect(Number(address.slice(colon + 1)), address.slice(0, colon));
    const done = (ready: boolean) => (socket.destroy(), clearTimeout(timer), resolve(ready));
    const timer = setTimeout(() => done(false), options.timeoutMs ?? 500);
    if (options.postgres) socket.once('connect', () => socket.write(POSTGRES_SSL_REQUEST));
    socket.once('data', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The emulator reports a new instance `available` at once; on AWS `available` means the database
 * answers. Until the local server standing in for an instance answers through its tunnel,
 * DescribeDBInstances reports it as `creating` — so the platform's own waiter waits for it, as
 * it waits for RDS. Only the answer the SDK hands back changes; the flow's code does not.
 */
export function reportUnreadyInstancesAsCreating(clients: AwsClients, tunnels: Record<string, string>): AwsClients {
  const ready = new Set<string>();
  clients.rds.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName !== 'DescribeDBInstancesCommand') return result;
      const instances = ((result.output as { DBInstances?: DBInstance[] }).DBInstances ?? []);
      for (const instance of instances) {
        const id = instance.DBInstanceIdentifier!;
        // An Aurora writer is reached through its cluster's (writer) endpoint: the cluster's tunnel.
        const tunnel = tunnels[id] ?? (instance.DBClusterIdentifier ? tunnels[instance.DBClusterIdentifier] : undefined);
        if (!tunnel || instance.DBInstanceStatus !== 'available' || ready.has(id)) continue;
        if (await greets(tunnel, { postgres: isPostgresEngine(instance.Engine) })) ready.add(id);
        else instance.DBInstanceStatus = 'creating';
      }
      return result;
    },
    { step: 'initialize', name: 'emulatedInstanceReadiness' },
  );
  return clients;
}

/**
 * Names a JSON file of RDS events (`Event[]`, dates as ISO text) that the emulated data plane
 * writes when a server it stands in for reports one, and that DescribeEvents then also returns.
 * Set by the harness for itself and the processes it starts (see EmulatedWorld).
 */
export const EMULATED_RDS_EVENTS_VAR = 'RDS_CUTOVER_EMULATED_RDS_EVENTS';

/**
 * Events the emulator cannot produce because they come from the database engine, not the
 * control plane: Aurora's "Binlog position from crash recovery is <file> <position>" of a
 * restored cluster (moto keeps no cluster events and cannot be told any). The data plane
 * writes them to the file named by RDS_CUTOVER_EMULATED_RDS_EVENTS when its restored server
 * is up; DescribeEvents answers include the ones matching its SourceType and SourceIdentifier.
 */
export function addDataPlaneEvents(clients: AwsClients, environment: NodeJS.ProcessEnv = process.env): AwsClients {
  clients.rds.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const file = environment[EMULATED_RDS_EVENTS_VAR];
      if (context.commandName !== 'DescribeEventsCommand' || !file || !existsSync(file)) return result;
      const input = args.input as { SourceType?: string; SourceIdentifier?: string };
      const events = (JSON.parse(readFileSync(file, 'utf8')) as Array<Event & { Date: string }>)
        .filter((e) => (!input.SourceType || e.SourceType === input.SourceType) && (!input.SourceIdentifier || e.SourceIdentifier === input.SourceIdentifier))
        .map((e) => ({ ...e, Date: new Date(e.Date) }));
      const output = result.output as { Events?: Event[] };
      output.Events = [...(output.Events ?? []), ...events];
      return result;
    },
    { step: 'initialize', name: 'emulatedDataPlaneEvents' },
  );
  return clients;
}

/** runAws's `createClients` for an emulated account: the usual clients, with the readiness and data-plane events above. */
export function emulatedClients(aws: Pick<AwsSettings, 'region' | 'profile' | 'assumeRole' | 'tunnels'>, options: CreateClientsOptions): AwsClients {
  return addDataPlaneEvents(reportUnreadyInstancesAsCreating(createAwsClients(aws, options), aws.tunnels));
}
