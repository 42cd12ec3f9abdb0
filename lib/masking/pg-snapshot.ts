import { closePg, connectPg, pgRows, type PgClient } from '../engines/postgres/connection';
import { engineTools } from './engines';
import type { MysqlTarget } from './mysql-client';
import type { OriginalsReader } from './originals';

/**
 * The leak check's originals, read in the same snapshot as the dump (PostgreSQL).
 *
 * Why: the check compares the masked dump with the source's original values; read at another
 * moment, a value changed in between is checked in its new form (a leak of the old one hidden).
 * PostgreSQL can hand a snapshot to other sessions
 * (https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-SNAPSHOT-SYNCHRONIZATION):
 * this session exports one (`pg_export_snapshot()` in a REPEATABLE READ transaction), pg_dump
 * dumps exactly it (`--snapshot`), and every read of the originals imports it
 * (`SET TRANSACTION SNAPSHOT`). Nothing is held on the source: writers go on.
 *
 * The exporting transaction stays open until `close()`, after the check: an exported snapshot
 * can be imported only while it is open (a long-open transaction also holds back VACUUM for
 * as long as the dump and the check take, as pg_dump's own does).
 */
export class PgDumpSnapshot implements OriginalsReader {
  readonly describe = "in the dump's snapshot";
  private closed = false;

  private constructor(
    private readonly source: MysqlTarget,
    private readonly session: PgClient,
    /** The exported snapshot's identifier (for pg_dump --snapshot and SET TRANSACTION SNAPSHOT). */
    readonly id: string,
  ) {}

  static async open(source: MysqlTarget): Promise<PgDumpSnapshot> {
    const session = await connectPg({ ...source, database: source.database });
    try {
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const [{ id }] = await pgRows<{ id: string }>(session, 'SELECT pg_export_snapshot() AS id');
      return new PgDumpSnapshot(source, session, id);
    } catch (error) {
      await closePg(session);
      throw new Error(`could not export a snapshot for the dump and the leak check (pg_export_snapshot): ${(error as Error).message}`);
    }
  }

  async readValues(table: string, columns: string[], onValue: (column: number, value: string) => void): Promise<void> {
    if (this.closed) throw new Error('the exported snapshot was closed: its originals cannot be read any more');
    await engineTools('postgres').readValues(this.source, table, columns, onValue, { snapshot: this.id });
  }

  /** End the exporting transaction (idempotent): after the check, or on any failure. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.query('ROLLBACK').catch(() => undefined);
    await closePg(this.session);
  }
}
