import type { Connection } from './connection';
import { rows, quoteIdentifier } from './connection';
import { quoteString } from './dialect';
import { userDatabases } from './server';
import type { TableChecksum } from '../../verify/checksums';

export { compareChecksums, type TableChecksum, type ChecksumComparison } from '../../verify/checksums';

const BINARY_TYPES = new Set(['binary', 'varbinary', 'blob', 'tinyblob', 'mediumblob', 'longblob', 'bit', 'geometry', 'point', 'linestring', 'polygon']);

/**
 * Per-table checksum: row count plus two order-independent aggregates of an MD5 of every row
 * (the exact DECIMAL sum of one half and the XOR of the other, so neither reordering nor a
 * duplicated pair of rows hides a difference; CONV returns text, which SUM would add as DOUBLE
 * and round, hence the casts). Reads through the caller's connection, so inside
 * `START TRANSACTION WITH CONSISTENT SNAPSHOT` it sees exactly that snapshot.
 *
 * The tables are the ones this side has in `databases` (each side lists its own), each with
 * its columns in order (`name column_type`), compared too. information_schema is not
 * transactional: a table created or rebuilt after the snapshot began cannot be read in it
 * (InnoDB error 1412); it is returned as `unreadable`, never left out (a table rebuilt after
 * the switch on both sides would otherwise fall out of the comparison unseen).
 */
export async function tableChecksums(connection: Connection, databases: string[]): Promise<TableChecksum[]> {
  if (databases.length === 0) return [];
  await connection.query("SET SESSION time_zone = '+00:00'");
  const columns = await rows<{ db: string; tbl: string; col: string; type: string; columnType: string }>(
    connection,
    `SELECT c.TABLE_SCHEMA AS db, c.TABLE_NAME AS tbl, c.COLUMN_NAME AS col, c.DATA_TYPE AS type, c.COLUMN_TYPE AS columnType
     FROM information_schema.COLUMNS c JOIN information_schema.TABLES t
       ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE'
     WHERE c.TABLE_SCHEMA IN (${databases.map(quoteString).join(', ')})
     ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION`,
  );
  const tables = new Map<string, Array<{ col: string; type: string; columnType: string }>>();
  for (const c of columns) {
    const key = `${c.db}.${c.tbl}`;
    if (!tables.has(key)) tables.set(key, []);
    tables.get(key)!.push({ col: c.col, type: c.type.toLowerCase(), columnType: String(c.columnType).toLowerCase() });
  }
  const result: TableChecksum[] = [];
  for (const [table, cols] of [...tables.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const [db, name] = [table.slice(0, table.indexOf('.')), table.slice(table.indexOf('.') + 1)];
    // NULL is spelled out so that (NULL,'x') and ('', 'x') differ.
    const parts = cols.map(({ col, type }) => {
      const c = quoteIdentifier(col);
      return BINARY_TYPES.has(type) ? `COALESCE(HEX(${c}), '\\\\N')` : `COALESCE(CAST(${c} AS CHAR), '\\\\N')`;
    });
    const rowHash = `MD5(CONCAT_WS('|', ${parts.join(', ')}))`;
    let aggregate: { n: string; s: string | null; x: string | null };
    try {
      [aggregate] = await rows<{ n: string; s: string | null; x: string | null }>(
        connection,
        `SELECT COUNT(*) AS n, SUM(CAST(CONV(SUBSTRING(h, 1, 15), 16, 10) AS UNSIGNED)) AS s, BIT_XOR(CAST(CONV(SUBSTRING(h, 16, 16), 16, 10) AS UNSIGNED)) AS x
         FROM (SELECT ${rowHash} AS h FROM ${quoteIdentifier(db)}.${quoteIdentifier(name)}) AS hashed`,
      );
    } catch (error) {
      // ER_TABLE_DEF_CHANGED: created or rebuilt after this snapshot began: not readable in it.
      if ((error as { errno?: number }).errno === 1412) {
        result.push({ table, rows: -1, hash: 'unreadable', columns: cols.map((c) => `${c.col} ${c.columnType}`).join(', '), unreadable: 'created or rebuilt after the switch-time snapshot' });
        continue;
      }
      throw error;
    }
    result.push({ table, rows: Number(aggregate.n), hash: `${aggregate.s ?? 0}:${aggregate.x ?? 0}`, columns: cols.map((c) => `${c.col} ${c.columnType}`).join(', ') });
  }
  return result;
}

/**
 * The databases verification compares: the configured ones, or else every non-system
 * database either side holds now (read from both snapshots' servers, not from preflight:
 * a database created during the move is compared too).
 */
export async function databasesOnEitherSide(connections: Connection[], configured: string[]): Promise<string[]> {
  if (configured.length > 0) return configured;
  const lists = await Promise.all(connections.map((c) => userDatabases(c)));
  return [...new Set(lists.flat())].sort();
}
