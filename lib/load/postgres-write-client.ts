import { connectPg } from '../engines/postgres/connection';
import type { PostgresEndpoint } from '../engines/postgres/endpoint';
import type { WriteClient } from './write-load';

/**
 * One load connection: an autocommit INSERT of a unique row into `cutover_load`, whose
 * `serial_no` comes from a sequence (so a target without the source's sequence values
 * fails writes after the switch). Unnamed statements only: works through transaction pooling.
 */
export async function postgresWriteClient(endpoint: PostgresEndpoint): Promise<WriteClient> {
  const client = await connectPg(endpoint, { connectTimeoutMs: 2000, applicationName: 'cutover-load' });
  let ended = false;
  // A session the server (or the pooler) ended: pg emits 'error' and 'end', pg-pool's signal to drop an idle client.
  client.on('error', () => (ended = true));
  client.on('end', () => (ended = true));
  return {
    get ended() {
      return ended;
    },
    async write(id, clientNumber, seq) {
      await client.query('INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES ($1, $2, $3, $4, clock_timestamp())', [id, clientNumber, seq, `w${id}`]);
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}
