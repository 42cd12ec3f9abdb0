import type { Connection } from './connection';
import { connect, row } from './connection';
import type { MysqlEndpoint } from './endpoint';
import { nowMs, sleep } from '../../util/time';

/**
 * Which server answers on a connection. On RDS `@@hostname` is the instance's internal host
 * name (not its endpoint), so it is compared with what the server answers when asked directly;
 * `@@server_id` and `@@port` tell two servers on one host apart (a local rehearsal, where every
 * server has the machine's host name).
 */
export interface ServerIdentity {
  hostname: string;
  serverId: number;
  port: number;
}

export async function serverIdentity(connection: Connection): Promise<ServerIdentity> {
  const answer = await row<{ hostname: string; server_id: string | number; port: string | number }>(connection, 'SELECT @@hostname AS hostname, @@server_id AS server_id, @@port AS port');
  return { hostname: String(answer!.hostname), serverId: Number(answer!.server_id), port: Number(answer!.port) };
}

export const sameServer = (a: ServerIdentity, b: ServerIdentity) => a.hostname === b.hostname && a.serverId === b.serverId && a.port === b.port;
export const describeIdentity = (identity: ServerIdentity) => `${identity.hostname} (server_id ${identity.serverId}, port ${identity.port})`;

/**
 * Poll an endpoint (a proxy) with a NEW connection each time, until the server behind it is
 * `expected`. A proxy may keep an existing client session on the old server; a new one goes
 * where the proxy sends traffic now. Bounded by `timeoutMs`; connection errors while the proxy
 * has no target count as "not yet".
 */
export async function waitUntilEndpointAnswersFrom(
  endpoint: () => Promise<MysqlEndpoint>,
  expected: ServerIdentity,
  options: { timeoutMs: number; intervalMs?: number; onAnswer?: (answer: ServerIdentity | Error, attempt: number) => void | Promise<void> },
): Promise<{ polls: number; waitedMs: number }> {
  const started = nowMs();
  let last = 'no answer yet';
  for (let attempt = 1; ; attempt += 1) {
    const remaining = options.timeoutMs - (nowMs() - started);
    let answer: ServerIdentity | Error;
    try {
      const connection = await connect(await endpoint(), { connectTimeoutMs: Math.max(1000, Math.min(remaining, 10000)) });
      try {
        answer = await serverIdentity(connection);
      } finally {
        await connection.end().catch(() => connection.destroy());
      }
    } catch (error) {
      answer = error as Error;
    }
    await options.onAnswer?.(answer, attempt);
    if (!(answer instanceof Error) && sameServer(answer, expected)) return { polls: attempt, waitedMs: Math.round(nowMs() - started) };
    last = answer instanceof Error ? `error: ${answer.message}` : describeIdentity(answer);
    if (nowMs() - started + (options.intervalMs ?? 100) > options.timeoutMs) {
      throw new Error(`The endpoint did not answer from ${describeIdentity(expected)} within ${options.timeoutMs} ms (${attempt} polls; last answer: ${last})`);
    }
    await sleep(options.intervalMs ?? 100);
  }
}
