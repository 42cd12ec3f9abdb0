/**
 * What a subscription's apply worker failed on. PostgreSQL counts apply errors in
 * pg_stat_subscription_stats but writes the error itself (table, key) only to the server log:
 *
 *   ERROR:  duplicate key value violates unique constraint "cutover_load_pkey"
 *   DETAIL:  Key (id)=(987654321) already exists.
 *   CONTEXT:  processing remote data for replication origin "pg_16390" during message type "INSERT"
 *             for replication target relation "public.cutover_load" in transaction 750, finished at 0/1E2F3A8
 *
 * (PostgreSQL 15+: https://www.postgresql.org/docs/15/logical-replication-conflicts.html). The
 * worker exits and is started again every wal_retrieve_retry_interval (5 s), failing the same way
 * each time: the target never catches up, which is not lag.
 */

export interface ApplyError {
  /** The ERROR line's text, e.g. `duplicate key value violates unique constraint "cutover_load_pkey"`. */
  error: string;
  /** The DETAIL line's text, e.g. `Key (id)=(987654321) already exists.` */
  detail?: string;
  /** `schema.table` the change was for (the CONTEXT line). */
  table?: string;
  /** The key columns and values of a duplicate key, e.g. `{ columns: ['id'], values: ['987654321'] }`. */
  key?: { columns: string[]; values: string[] };
  /** The source transaction's end position, for ALTER SUBSCRIPTION … SKIP (lsn = …). */
  finishedAt?: string;
}

const SEVERITY = /\b(ERROR|DETAIL|CONTEXT):\s+(.*)$/;

/**
 * The last apply-worker error in a server log's text (lines with any log_line_prefix), or
 * undefined when there is none. Only errors whose CONTEXT names a replication target relation
 * count: other sessions' errors are not the apply worker's.
 */
export function lastApplyError(logText: string): ApplyError | undefined {
  const lines = logText.split('\n');
  let found: ApplyError | undefined;
  let current: ApplyError | undefined;
  for (const line of lines) {
    const match = SEVERITY.exec(line);
    if (!match) continue;
    const [, severity, text] = match;
    if (severity === 'ERROR') current = { error: text.trim() };
    else if (severity === 'DETAIL' && current) current.detail = text.trim();
    else if (severity === 'CONTEXT' && current) {
      const relation = /replication target relation "([^"]+)"/.exec(text);
      if (!relation) {
        current = undefined;
        continue;
      }
      current.table = relation[1];
      const finished = /finished at ([0-9A-F]+\/[0-9A-F]+)/i.exec(text);
      if (finished) current.finishedAt = finished[1];
      const key = current.detail ? /^Key \((.+)\)=\((.*)\) already exists\.?$/.exec(current.detail) : null;
      if (key) current.key = { columns: splitList(key[1]), values: splitList(key[2]) };
      found = current;
      current = undefined;
    }
  }
  return found;
}

/** `a, b` → ['a', 'b'] (PostgreSQL prints composite keys comma-separated). */
function splitList(text: string): string[] {
  return text.split(', ').map((part) => part.trim());
}

/** `col = value AND …` for a duplicate key, values quoted as literals unless numeric. */
export function keyPredicate(key: { columns: string[]; values: string[] }): string {
  return key.columns
    .map((column, index) => {
      const value = key.values[index] ?? '';
      return `${column} = ${/^-?\d+(\.\d+)?$/.test(value) ? value : `'${value.replace(/'/g, "''")}'`}`;
    })
    .join(' AND ');
}
