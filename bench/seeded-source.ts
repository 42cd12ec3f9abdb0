import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../lib/engines/mysql/connection';
import { seedPersonalData } from '../lib/masking/local/personal-data';
import type { MysqlTarget } from '../lib/masking/mysql-client';
import { MariadbInstance } from '../lib/platforms/local/mariadb-instance';
import type { Logger } from '../lib/util/log';
import type { ProcessGroup } from '../lib/util/process-group';
import { generatePassword } from '../lib/util/secrets';

/**
 * The masking benches' source: a MariaDB server in `baseDir` (stopped with `group`), database
 * `app` seeded with `customers` customers and twice as many orders (lib/masking/local/personal-data.ts).
 * Tuned for the bulk load as a scratch server for this job would be (1 GB buffer pool, no flush
 * per commit): this speeds up the seeding, never what the benches measure.
 */
export async function seededMaskingSource(options: { baseDir: string; group: ProcessGroup; log: Logger; customers: number }): Promise<MysqlTarget> {
  const { baseDir, group, log, customers } = options;
  const server = new MariadbInstance({ baseDir, rootPassword: generatePassword(), group, log, name: 'bench-source', serverId: 1 });
  await server.initialise();
  const source: MysqlTarget = { ...server.endpoint(), name: 'source', database: 'app' };
  const connection = await connect(source);
  try {
    await connection.query('SET GLOBAL innodb_buffer_pool_size = 1073741824, GLOBAL innodb_flush_log_at_trx_commit = 2, GLOBAL sync_binlog = 0');
    await connection.query('CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci');
    await connection.query('USE app');
    mkdirSync(join(baseDir, 'seed'));
    await seedPersonalData(connection, { customers, workDir: join(baseDir, 'seed') });
  } finally {
    await connection.end();
  }
  rmSync(join(baseDir, 'seed'), { recursive: true, force: true });
  return source;
}
