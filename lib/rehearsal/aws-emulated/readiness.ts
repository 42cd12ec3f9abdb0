import { connect as netConnect } from 'node:net';
import type { DBInstance } from '@aws-sdk/client-rds';
import { createAwsClients, type AwsClients, type CreateClientsOptions } from '../../platforms/aws/clients';
import type { AwsSettings } from '../../../config/cutover/schemas/aws';

/** True once the server behind a tunnel sends its greeting (a MySQL server speaks first). */
function greets(address: string, timeoutMs = 500): Promise<boolean> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = netConnect(Number(address.slice(colon + 1)), address.slice(0, colon));
    const done = (ready: boolean) => (socket.destroy(), clearTimeout(timer), resolve(ready));
    const timer = setTimeout(() => done(false), timeoutMs);
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
        const tunnel = tunnels[id];
        if (!tunnel || instance.DBInstanceStatus !== 'available' || ready.has(id)) continue;
        if (await greets(tunnel)) ready.add(id);
        else instance.DBInstanceStatus = 'creating';
      }
      return result;
    },
    { step: 'initialize', name: 'emulatedInstanceReadiness' },
  );
  return clients;
}

/** runAws's `createClients` for an emulated account: the usual clients, with the readiness above. */
export function emulatedClients(aws: Pick<AwsSettings, 'region' | 'profile' | 'assumeRole' | 'tunnels'>, options: CreateClientsOptions): AwsClients {
  return reportUnreadyInstancesAsCreating(createAwsClients(aws, options), aws.tunnels);
}
