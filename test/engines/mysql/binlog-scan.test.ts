import { endsTransaction, lastSourceTransactionEnd, type BinlogEvent } from '../../../lib/engines/mysql/binlog-scan';

const event = (Pos: number, End_log_pos: number, Event_type: string, Server_id: number, Info: string | null = null): BinlogEvent => ({ Log_name: 'binlog.000003', Pos, End_log_pos, Event_type, Server_id, Info });

describe('the last complete source transaction in one binlog file', () => {
  test('GIVEN source transactions then the restored server\'s own THEN the end of the last source Xid is the start point', () => {
    const events = [
      event(4, 256, 'Format_desc', 1),
      event(256, 300, 'Gtid', 1, 'BEGIN GTID 0-1-7'),
      event(300, 350, 'Table_map', 1),
      event(350, 400, 'Write_rows_v1', 1),
      event(400, 431, 'Xid', 1, 'COMMIT /* xid=9 */'),
      event(431, 470, 'Gtid', 2, 'BEGIN GTID 0-2-8'),
      event(470, 520, 'Write_rows_v1', 2),
      event(520, 551, 'Xid', 2, 'COMMIT /* xid=10 */'),
    ];
    expect(lastSourceTransactionEnd(events, 1)).toMatchObject({ position: 431, trailingSourceEvents: 0 });
  });

  test('GIVEN a source transaction the snapshot cut (no Xid) THEN it is not a start point: the previous transaction end is, and the cut events are counted', () => {
    const events = [event(256, 300, 'Gtid', 1, 'GTID 0-1-5'), event(300, 400, 'Query', 1, 'CREATE TABLE t (id INT)'), event(400, 440, 'Gtid', 1, 'BEGIN GTID 0-1-6'), event(440, 500, 'Table_map', 1), event(500, 560, 'Write_rows_v1', 1)];
    expect(lastSourceTransactionEnd(events, 1)).toMatchObject({ position: 400, trailingSourceEvents: 3 });
  });

  test('GIVEN a copy of a cleanly stopped source THEN its Stop event is not taken as data', () => {
    const events = [event(256, 431, 'Xid', 1, 'COMMIT'), event(431, 450, 'Stop', 1)];
    expect(lastSourceTransactionEnd(events, 1)).toMatchObject({ position: 431, trailingSourceEvents: 0 });
  });

  test('GIVEN a file with only the restored server\'s events THEN it holds no start point', () => {
    expect(lastSourceTransactionEnd([event(4, 256, 'Format_desc', 2), event(256, 300, 'Query', 2, 'CREATE TABLE x (id INT)')], 1)).toBeUndefined();
  });

  test('a transaction ends at Xid or at a Query that is not BEGIN (DDL, MyISAM COMMIT), never at BEGIN', () => {
    expect(endsTransaction({ Event_type: 'Xid', Info: 'COMMIT /* xid=1 */' })).toBe(true);
    expect(endsTransaction({ Event_type: 'Query', Info: 'COMMIT' })).toBe(true);
    expect(endsTransaction({ Event_type: 'Query', Info: 'ALTER TABLE t ADD c INT' })).toBe(true);
    expect(endsTransaction({ Event_type: 'Query', Info: 'BEGIN' })).toBe(false);
    expect(endsTransaction({ Event_type: 'Gtid', Info: 'BEGIN GTID 0-1-1' })).toBe(false);
    expect(endsTransaction({ Event_type: 'Write_rows_v1', Info: null })).toBe(false);
  });
});
