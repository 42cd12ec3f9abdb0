/**
 * Child-process side of WriteLoadProcess: runs the write load in its own process so that
 * its timestamps (the evidence for write downtime) are not delayed by the orchestrator's
 * work on the same event loop, and the two use both cores.
 * The password arrives in the CUTOVER_LOAD_PASSWORD environment variable, never in argv or IPC.
 */
import { WriteLoad, type WriteClient } from './write-load';
import type { LoadWorkerStart, LoadWorkerMessage } from './write-load-process';

let load: WriteLoad | undefined;

async function clientFor(start: LoadWorkerStart): Promise<WriteClient> {
  const password = process.env.CUTOVER_LOAD_PASSWORD ?? '';
  const endpoint = { name: 'endpoint', host: start.host, port: start.port, user: start.user, password };
  if (start.engine === 'mysql') {
    // require, not import(): the worker runs under tsx's CommonJS hook only.
    const { mysqlWriteClient } = require('./mysql-write-client') as typeof import('./mysql-write-client');
    return mysqlWriteClient(endpoint, start.database);
  }
  const { postgresWriteClient } = require('./postgres-write-client') as typeof import('./postgres-write-client');
  return postgresWriteClient({ ...endpoint, database: start.database });
}

const send = (message: LoadWorkerMessage) => process.send?.(message);

process.on('message', async (message: { type: 'start'; start: LoadWorkerStart } | { type: 'stop' }) => {
  if (message.type === 'start') {
    const start = message.start;
    load = new WriteLoad({ connections: start.connections, ratePerSecond: start.ratePerSecond, connect: () => clientFor(start) });
    load.start();
    send({ type: 'started', startedAt: load.startedAt });
  } else if (message.type === 'stop' && load) {
    await load.stop();
    // Compact rows: [id, sentAt, doneAt, acknowledged(1/0), error]
    const rows = load.attempts.map((a): [string, number, number, number, string | null] => [a.id, a.sentAt, a.doneAt, a.acknowledged ? 1 : 0, a.error ?? null]);
    // Disconnect only once the message has been handed over: a large one (thousands of rows)
    // is still being written when send() returns, and disconnecting at once drops it.
    process.send?.({ type: 'stopped', startedAt: load.startedAt, stoppedAt: load.stoppedAt, connectErrors: load.connectErrors, lastConnectError: load.lastConnectError, rows } satisfies LoadWorkerMessage, undefined, {}, () =>
      process.disconnect?.(),
    );
  }
});
// If the parent dies, stop writing.
process.on('disconnect', () => process.exit(0));
