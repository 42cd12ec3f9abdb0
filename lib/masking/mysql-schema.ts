import type { ColumnInfo } from './transformers';

/** A backtick-quoted identifier: `a``b` is the name a`b. */
export const QUOTED_IDENTIFIER = /`((?:[^`]|``)+)`/g;
export const unquoteIdentifier = (quoted: string): string => quoted.replace(/``/g, '`');

/**
 * Columns (in order) and collations of a `CREATE TABLE` statement as `SHOW CREATE TABLE`
 * prints it (and so mariadb-dump/mysqldump): one column per line, indented, name in
 * backticks; key definitions start with a keyword instead; the table default collation is
 * on the closing line (`COLLATE=...`, or implied by `DEFAULT CHARSET=...`).
 */
export function parseCreateTable(statement: string): { table: string; columns: ColumnInfo[] } {
  const header = /^CREATE TABLE `((?:[^`]|``)+)` \(/.exec(statement);
  if (!header) throw new Error(`could not read the table name of: ${statement.slice(0, 80)}`);
  const lines = statement.split('\n');
  const closing = lines.find((line) => line.startsWith(')')) ?? '';
  const tableCollation = /COLLATE=(\w+)/.exec(closing)?.[1];
  const columns: ColumnInfo[] = [];
  for (const line of lines.slice(1)) {
    const match = /^\s+`((?:[^`]|``)+)` (.*)$/.exec(line);
    if (!match) continue;
    // The column's own collation (only printed when it differs from the table's).
    const own = /\bCOLLATE (\w+)/.exec(match[2].replace(/'(?:[^'\\]|\\.|'')*'/g, "''"))?.[1];
    columns.push({ name: unquoteIdentifier(match[1]), collation: own ?? tableCollation });
  }
  if (columns.length === 0) throw new Error(`table ${unquoteIdentifier(header[1])}: found no column definitions in its CREATE TABLE`);
  return { table: unquoteIdentifier(header[1]), columns };
}
