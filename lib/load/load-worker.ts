/**
 * Child-process side of WriteLoadProcess: runs the write load in its own process so that
 * its timestamps (the evidence for write downtime) are not delayed by the orchestrator's
 * work on the same event loop, and the two use both cores.
 * The password arrives in the CUTOVER_LOAD_PASSWORD environment variable, never in argv or IPC.
 *
 * Results go back in chunks (`records`, then `stopped`), each send awaited: one multi-megabyte
 * message followed at once by a disconnect can be lost on a busy machine (Node's IPC channel
 * closes before the write is flushed). The worker never disconnects itself: the parent does
 * once it has everything, and the worker exits when the channel closes.
 */
import { WriteLoad, type WriteClient } from './write-load';
import { RECORDS_PER_MESSAGE, type LoadWorkerStart, type LoadWorkerMessage, type LoadWorkerCommand, type CompactWriteRecord, type CompactConnectRecord } from './write-load-process';

let load: WriteLoad | undefined;
let stopping = false;

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

/** Resolves once the message is handed to the operating system; rejects if the channel is gone. */
function send(message: LoadWorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send || !process.connected) return reject(new Error('the IPC channel to the orchestrator is closed'));
    process.send(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

process.on('message', async (message: LoadWorkerCommand) => {
  try {
    if (message.type === 'start') {
      const start = message.start;
      load = new WriteLoad({ connections: start.connections, ratePerSecond: start.ratePerSecond, connect: () => clientFor(start) });
      load.start();
      await send({ type: 'started', startedAt: load.startedAt });
    } else if (message.type === 'stop' && load && !stopping) {
      stopping = true;
      await load.stop();
      // Compact rows: [id, sentAt, doneAt, acknowledged(1/0), error]
      const rows = load.attempts.map((a): CompactWriteRecord => [a.id, a.sentAt, a.doneAt, a.acknowledged ? 1 : 0, a.error ?? null]);
      for (let offset = 0; offset < rows.length; offset += RECORDS_PER_MESSAGE) await send({ type: 'records', rows: rows.slice(offset, offset + RECORDS_PER_MESSAGE) });
      const connects = load.connects.map((c): CompactConnectRecord => [c.client, c.startedAt, c.doneAt, c.ok ? 1 : 0]);
      for (let offset = 0; offset < connects.length; offset += RECORDS_PER_MESSAGE) await send({ type: 'connects', rows: connects.slice(offset, offset + RECORDS_PER_MESSAGE) });
      await send({ type: 'stopped', startedAt: load.startedAt, stoppedAt: load.stoppedAt, connectErrors: load.connectErrors, lastConnectError: load.lastConnectError, records: rows.length, connects: connects.length });
    }
  } catch (error) {
    // The parent is gone or the channel broke: nothing left to report to.
    process.stderr.write(`load worker: ${(error as Error).message}\n`);
    process.exit(1);
  }
});
// If the parent dies or has collected everything, stop writing.
process.on('disconnect', () => process.exit(0));
