import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { quoteIdentifier } from '../engines/mysql/connection';
import type { Logger } from '../util/log';
import { clientOptionsFile, startClient, type MysqlTarget } from './mysql-client';

/**
 * Replace a staging database with a masked dump: DROP DATABASE, CREATE DATABASE, then
 * stream the (decompressed) dump into the mariadb client. Destructive: the caller has
 * checked the --restore-staging flag. The client stops at the first error (no --force).
 */
export async function restoreDump(options: { target: MysqlTarget; dump: Readable; log: Logger; client?: string }): Promise<void> {
  const { target, log } = options;
  const client = options.client ?? process.env.MASKING_CLIENT_COMMAND ?? 'mariadb';
  const credentials = clientOptionsFile(target);
  try {
    const name = quoteIdentifier(target.database);
    log.info(`restore: dropping and re-creating ${target.database} on ${target.name} (${target.host}:${target.port})`);
    const reset = startClient(client, credentials.path, ['-e', `DROP DATABASE IF EXISTS ${name}; CREATE DATABASE ${name} CHARACTER SET utf8mb4`], 'read');
    await reset.exited;
    const load = startClient(client, credentials.path, ['--default-character-set=utf8mb4', target.database], 'write');
    await Promise.all([pipeline(options.dump, load.child.stdin!), load.exited]);
    log.info(`restore: ${target.database} on ${target.name} now holds the masked dump`);
  } finally {
    credentials.dispose();
  }
}
