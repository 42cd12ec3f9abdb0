import { connect } from '../engines/mysql/connection';
import type { MysqlEndpoint } from '../engines/mysql/endpoint';
import type { WriteClient } from './write-load';

/** One load connection: an autocommit INSERT of a unique row into `<database>.cutover_load`. */
export async function mysqlWriteClient(endpoint: MysqlEndpoint, database: string): Promise<WriteClient> {
  const connection = await connect(endpoint, { database, connectTimeoutMs: 2000 });
  let ended = false;
  // A killed session must not hang the writer: mysql2 errors out as the socket closes. Either
  // event marks the connection ended, the signal mysql2's own pool drops a connection on.
  connection.on('error', () => (ended = true));
  connection.on('end', () => (ended = true));
  return {
    get ended() {
      return ended;
    },
    async write(id, client, seq) {
      await connection.query('INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES (?, ?, ?, ?, NOW(6))', [id, client, seq, `w${id}`]);
    },
    async close() {
      connection.destroy();
    },
  };
}
