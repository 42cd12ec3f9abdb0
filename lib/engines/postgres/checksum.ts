import { pgRow, qualified, type PgClient } from './connection';
import { tableName, type TableInfo } from './server';
import type { TableChecksum } from '../../verify/checksums';

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
 */
export async function tableChecksums(client: PgClient, tables: Array<Pick<TableInfo, 'schema' | 'name'>>): Promise<TableChecksum[]> {
  await client.query(CHECKSUM_SESSION);
  const result: TableChecksum[] = [];
  for (const table of [...tables].sort((a, b) => tableName(a).localeCompare(tableName(b)))) {
    const r = await pgRow<{ n: string; h: string | null }>(
      client,
      `SELECT count(*) AS n, md5(string_agg(h, '' ORDER BY h COLLATE "C")) AS h
         FROM (SELECT md5(t::text) AS h FROM ${qualified(table)} t) hashed`,
    );
    result.push({ table: tableName(table), rows: Number(r!.n), hash: r!.h ?? 'empty' });
  }
  return result;
}
