import type { Readable } from 'node:stream';
import type { Logger } from '../util/log';
import { engineTools, type Engine } from './engines';
import type { MysqlTarget } from './mysql-client';

/**
 * Replace a staging database with a masked dump: DROP DATABASE, CREATE DATABASE, then
 * stream the (decompressed) dump into the engine's client, which stops at the first error.
 * Destructive: the caller has checked the --restore-staging flag.
 */
export async function restoreDump(options: { target: MysqlTarget; dump: Readable; log: Logger; engine?: Engine }): Promise<void> {
  const { target, log } = options;
  await engineTools(options.engine ?? 'mysql').restore(target, options.dump, log);
  log.info(`restore: ${target.database} on ${target.name} now holds the masked dump`);
}
