import type { Connection } from './connection';
import { quoteString } from './dialect';
import { rows } from './connection';
import type { BinlogPosition } from './server';

/**
 * Start coordinates of a snapshot-restored server, read from its own binary logs.
 *
 * An RDS MySQL instance restored from a snapshot of the source carries the source's binlog files
 * (they live on the data volume) up to the instant of the snapshot; from its first start on, it
 * opens a new file and writes its own events under its own `server_id` (RDS's heartbeat
 * table, anything an operator does). So the newest event in those files that carries the
 * SOURCE's `server_id` marks how far the snapshot's data goes, and the coordinates to replicate
 * from the source are the end of the last source transaction: the `End_log_pos` of its final
 * event (`Xid`, or the `Query` of a DDL / a non-transactional `COMMIT`), in the same file name —
 * the source keeps appending to that file, so the name and offset are valid on the source.
 *
 * Why transaction ends and not simply the last source event: a crash-consistent snapshot can cut
 * a transaction mid-write (its events without the `Xid`; InnoDB rolls it back on recovery), and a
 * copy taken from a cleanly stopped source ends with the source's `Stop` event — starting after
 * either would skip or split a transaction. Format descriptions, rotations, GTID lists and
 * checkpoints carry the writer's id too but mark no data.
 * (MySQL manual, "Obtaining the Replication Source Binary Log Coordinates": a snapshot of a
 * stopped source starts at the next file; same point as the end of the last transaction.)
 *
 * Must run BEFORE replication from the source starts on this server: with log_slave_updates
 * (default on RDS and MySQL 8) replicated events are logged again with the source's id.
 */
export interface BinlogEvent {
  Log_name: string;
  Pos: number | string;
  Event_type: string;
  Server_id: number | string;
  End_log_pos: number | string;
  Info: string | null;
}

export interface ServerIdScanResult extends BinlogPosition {
  /** Files read, newest first, before the source's last transaction was found. */
  scannedFiles: string[];
  scannedEvents: number;
  /** Source events after the last complete source transaction (a transaction the snapshot cut): skipped. */
  trailingSourceEvents: number;
  /** The event that ends the last source transaction, as the restored server lists it (see confirmOnSource). */
  lastSourceEvent: BinlogEvent;
}

/** A source event that ends a transaction (after it the data is consistent). */
export function endsTransaction(event: Pick<BinlogEvent, 'Event_type' | 'Info'>): boolean {
  if (event.Event_type === 'Xid' || event.Event_type === 'XA_prepare') return true;
  if (event.Event_type !== 'Query') return false;
  // `BEGIN` opens a transaction; every other Query event (DDL, COMMIT of a non-transactional
  // engine, a statement-logged autocommit statement) is complete in itself.
  return !/^\s*BEGIN\b/i.test(event.Info ?? '') && !/^\s*XA\s+(START|BEGIN|END)\b/i.test(event.Info ?? '');
}

/**
 * The end of the last complete transaction written by `sourceServerId` among the events of ONE
 * file (in file order), or undefined when the file holds none.
 */
export function lastSourceTransactionEnd(events: BinlogEvent[], sourceServerId: number): { position: number; trailingSourceEvents: number; event: BinlogEvent } | undefined {
  let position: number | undefined;
  let last: BinlogEvent | undefined;
  let trailing = 0;
  for (const event of events) {
    if (Number(event.Server_id) !== sourceServerId) continue;
    if (endsTransaction(event)) {
      position = Number(event.End_log_pos);
      last = event;
      trailing = 0;
    } else if (!isFileBookkeeping(event)) {
      trailing += 1;
    }
  }
  return position === undefined ? undefined : { position, trailingSourceEvents: trailing, event: last! };
}

/** Events every file starts or ends with, whoever wrote them: no data. */
function isFileBookkeeping(event: Pick<BinlogEvent, 'Event_type'>): boolean {
  return ['Format_desc', 'Rotate', 'Stop', 'Gtid_list', 'Binlog_checkpoint', 'Previous_gtids', 'Start_encryption'].includes(event.Event_type);
}

/**
 * Scan the server's binary logs, newest file first, for the last complete transaction the
 * source (`sourceServerId`) wrote; each file is read forwards in pages of `pageSize` events
 * (`SHOW BINLOG EVENTS IN f FROM pos LIMIT n`: each page starts where the last one ended, so a
 * large file is read once, never re-skipped with an offset).
 */
export async function startCoordinatesByServerIdScan(connection: Connection, sourceServerId: number, options: { pageSize?: number } = {}): Promise<ServerIdScanResult> {
  const pageSize = options.pageSize ?? 10000;
  if (!Number.isInteger(sourceServerId) || sourceServerId <= 0) throw new Error(`The source's server_id must be a positive integer (read by mysql.preflight), got ${sourceServerId}`);
  const own = Number((await rows<{ id: string | number }>(connection, 'SELECT @@server_id AS id'))[0]?.id);
  if (own === sourceServerId) throw new Error(`This server's server_id is the source's (${own}): its own events cannot be told from the source's; the restored instance must have another server_id`);
  const logs = await rows<{ Log_name: string }>(connection, 'SHOW BINARY LOGS').catch((error: Error) => {
    throw new Error(`Cannot list the binary logs of the restored server (${error.message}): binary logging must be on (RDS: backups enabled)`);
  });
  const scannedFiles: string[] = [];
  let scannedEvents = 0;
  for (const { Log_name: file } of [...logs].reverse()) {
    scannedFiles.push(file);
    const events: BinlogEvent[] = [];
    let from: number | undefined;
    for (;;) {
      const page = await rows<BinlogEvent>(connection, `SHOW BINLOG EVENTS IN ${quoteString(file)}${from === undefined ? '' : ` FROM ${from}`} LIMIT ${pageSize}`);
      events.push(...page);
      scannedEvents += page.length;
      if (page.length < pageSize) break;
      from = Number(page[page.length - 1].End_log_pos);
    }
    const found = lastSourceTransactionEnd(events, sourceServerId);
    if (found) return { file, position: found.position, scannedFiles, scannedEvents, trailingSourceEvents: found.trailingSourceEvents, lastSourceEvent: found.event };
  }
  throw new Error(
    `No transaction of the source (server_id ${sourceServerId}) in the binary logs of the restored server (${scannedFiles.length} file(s): ${scannedFiles.join(', ') || 'none'}): ` +
      'it was not restored from a snapshot of the source, or the source binlogs were purged; use the replica-stop start coordinates (mysql.startCoordinatesMethod "replica-stop")',
  );
}

/**
 * Prove the scanned coordinates are the SOURCE's: the source lists the very same event (type,
 * server id, end position, text) at that position of that file. A server restored from a
 * replica's snapshot also holds events with the source's server_id (log_slave_updates), but at
 * the replica's own file positions: starting the source from those would skip or replay
 * transactions. Also fails when the source has purged the file (too late to replicate).
 */
export async function confirmOnSource(source: Connection, scan: Pick<ServerIdScanResult, 'file' | 'position' | 'lastSourceEvent'>): Promise<void> {
  const expected = scan.lastSourceEvent;
  const listed = await rows<{ Log_name: string }>(source, 'SHOW BINARY LOGS');
  if (!listed.some((log) => log.Log_name === scan.file)) {
    throw new Error(`The source has no binlog ${scan.file} (it has ${listed.map((l) => l.Log_name).join(', ') || 'none'}): the restored server's binlogs are not the source's, or the source purged them; use the replica-stop start coordinates, or raise the source's binlog retention and start again`);
  }
  const [event] = await rows<BinlogEvent>(source, `SHOW BINLOG EVENTS IN ${quoteString(scan.file)} FROM ${Number(expected.Pos)} LIMIT 1`).catch(() => [] as BinlogEvent[]);
  const same = event && event.Event_type === expected.Event_type && Number(event.Server_id) === Number(expected.Server_id) && Number(event.End_log_pos) === Number(expected.End_log_pos) && (event.Info ?? '') === (expected.Info ?? '');
  if (!same) {
    throw new Error(
      `The source's ${scan.file} does not hold the restored server's last source event at ${expected.Pos} (restored: ${expected.Event_type} ending at ${expected.End_log_pos}; source: ${event ? `${event.Event_type} ending at ${event.End_log_pos}` : 'no event there'}): ` +
        "the restored server's binlogs are not the source's own files (restored from a replica's snapshot?); use the replica-stop start coordinates",
    );
  }
}
