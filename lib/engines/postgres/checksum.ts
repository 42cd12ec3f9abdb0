import { pgRow, qualified, type PgClient } from './connection';
import { sequenceValues, tableName, tableShapes, type TableInfo } from './server';
import type { SequenceState, TableChecksum } from '../../verify/checksums';

export { compareChecksums, type TableChecksum } from '../../verify/checksums';

/**
 * Settings that make a row's text form identical on both servers whatever their
 * configuration (time zone, date style, float digits).
 */
export const CHECKSUM_SESSION = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex'";

/**
 * Per-table checksum: row count plus the MD5 of every row's MD5 in sorted order (an ordered
 * row hash). Sorting the row hashes with the "C" collation makes it independent of primary
 * keys, physical order and the servers' collations. Reads through the caller's connection,
 * so inside a REPEATABLE READ transaction it sees exactly that snapshot.
 *
 * Without `tables`, the tables are the ones this side's snapshot holds (verification: each
 * side lists its own, so a table on one side only cannot drop out of the comparison). Each
 * entry carries the table's columns in order, compared as well.
 */
export async function tableChecksums(client: PgClient, tables?: Array<Pick<TableInfo, 'schema' | 'name'>>): Promise<TableChecksum[]> {
  await client.query(CHECKSUM_SESSION);
  const shapes = await tableShapes(client);
  const list = tables ?? [...shapes.keys()].map((key) => ({ schema: key.slice(0, key.indexOf('.')), name: key.slice(key.indexOf('.') + 1) }));
  const result: TableChecksum[] = [];
  for (const table of [...list].sort((a, b) => tableName(a).localeCompare(tableName(b)))) {
    const r = await pgRow<{ n: string; h: string | null }>(
      client,
      `SELECT count(*) AS n, md5(string_agg(h, '' ORDER BY h COLLATE "C")) AS h
         FROM (SELECT md5(t::text) AS h FROM ${qualified(table)} t) hashed`,
    );
    const columns = shapes.get(tableName(table));
    result.push({ table: tableName(table), rows: Number(r!.n), hash: r!.h ?? 'empty', ...(columns !== undefined ? { columns } : {}) });
  }
  return result;
}

/** Every sequence of this side with its value now (sequences are not transactional). */
export async function sequenceStates(client: PgClient): Promise<SequenceState[]> {
  return (await sequenceValues(client)).map((s) => ({ sequence: tableName(s), lastValue: s.lastValue, increment: s.increment }));
}
