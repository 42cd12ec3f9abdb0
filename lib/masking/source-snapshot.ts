import { Transform, type Readable } from 'node:stream';
import { connect, quoteIdentifier, rows, type Connection } from '../engines/mysql/connection';
import type { Logger } from '../util/log';
import type { MysqlTarget } from './mysql-client';

/** Where the leak check reads the originals: any source of a table's column values. */
export interface OriginalsReader {
  /** Every non-NULL value of the columns, as text, row by row. */
  readValues(table: string, columns: string[], onValue: (column: number, value: string) => void): Promise<void>;
  /** For the report: "in the dump's snapshot" or "after the dump". */
  readonly describe: string;
}

/**
 * The statements that hold and release commits on the source, by dialect: MariaDB's backup
 * lock stops commits only (running statements and reads go on; what mariadb-backup itself
 * uses: https://mariadb.com/kb/en/backup-stage/), MySQL has no such stage and takes the
 * global read lock instead. Both need the RELOAD privilege.
 */
export function commitHoldStatements(version: string): { hold: string[]; release: string } {
  return /mariadb/i.test(version) ? { hold: ['BACKUP STAGE START', 'BACKUP STAGE BLOCK_COMMIT'], release: 'BACKUP STAGE END' } : { hold: ['FLUSH TABLES WITH READ LOCK'], release: 'UNLOCK TABLES' };
}

/** Bytes the dump client writes only after its --single-transaction snapshot has started (mariadb-dump/mysqldump: main() starts the transaction, then dumps the first table). */
const AFTER_SNAPSHOT = Buffer.from('CREATE TABLE');

/**
 * The leak check's originals, read in the same snapshot as the dump (MySQL family).
 *
 * Why: the check compares the masked dump with the source's original values; read at another
 * moment, a value changed in between is checked in its new form (a leak of the old one hidden,
 * or a false hit). MariaDB and MySQL cannot hand a snapshot to another session (PostgreSQL can:
 * pg_export_snapshot), so the two snapshots are made equal by holding commits while both start.
 *
 * Ordering (why):
 * 1. `open`: a lock session holds commits (BACKUP STAGE BLOCK_COMMIT / FLUSH TABLES WITH READ LOCK);
 * 2. `open`: this session starts its snapshot (REPEATABLE READ, WITH CONSISTENT SNAPSHOT, read only);
 * 3. the caller starts the dump client and passes its output through `watch()`; the client
 *    starts its own consistent snapshot before it writes its first CREATE TABLE;
 * 4. at those bytes (or at the dump's end) `watch()` releases commits.
 * No commit can land between the snapshots of 2 and 3. Writers wait (nothing is refused) from
 * 1 to 4, about as long as the dump client takes to connect: the source is a read replica,
 * whose replication applier waits as well. If the dump shows no table within `holdLimitMs`,
 * commits are released and the dump fails: the check could not prove its snapshot.
 *
 * The snapshot stays open (as the dump's own does while it runs) until `close()`, after the check.
 */
export class DumpSnapshot implements OriginalsReader {
  readonly describe = "in the dump's snapshot";
  private released = false;
  private aligned = false;

  private constructor(
    private readonly lock: Connection,
    private readonly session: Connection,
    private readonly release: string,
    private readonly log: Logger,
    private readonly holdLimitMs: number,
  ) {}

  static async open(source: MysqlTarget, log: Logger, options: { holdLimitMs?: number } = {}): Promise<DumpSnapshot> {
    const lock = await connect(source, { database: source.database });
    let session: Connection | undefined;
    try {
      const [{ version }] = await rows<{ version: string }>(lock, 'SELECT VERSION() AS version');
      const statements = commitHoldStatements(version);
      session = await connect(source, { database: source.database });
      await session.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      try {
        for (const statement of statements.hold) await lock.query(statement);
      } catch (error) {
        throw new Error(`could not hold commits to align the leak check's snapshot with the dump's (${statements.hold.join('; ')}): ${(error as Error).message}. Grant the masking user RELOAD on the source (GRANT RELOAD ON *.* TO …)`);
      }
      const snapshot = new DumpSnapshot(lock, session, statements.release, log, options.holdLimitMs ?? 60000);
      try {
        await session.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      } catch (error) {
        await snapshot.releaseCommits();
        throw error;
      }
      return snapshot;
    } catch (error) {
      await session?.end().catch(() => undefined);
      await lock.end().catch(() => undefined);
      throw error;
    }
  }

  /**
   * A pass-through for the dump client's output: releases commits at the first CREATE TABLE
   * (the client's snapshot has started by then), or when the output ends. Past `holdLimitMs`
   * without one it releases them and fails the stream.
   */
  watch(): Transform {
    let tail: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      if (this.aligned) return;
      void this.releaseCommits();
      watcher.destroy(new Error(`the dump client wrote no table within ${this.holdLimitMs} ms while commits were held; released them: the leak check's snapshot cannot be proven to equal the dump's`));
    }, this.holdLimitMs);
    const self = this;
    const watcher = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        if (self.aligned) return callback(null, chunk);
        const window = tail.length ? Buffer.concat([tail, chunk]) : chunk;
        if (window.includes(AFTER_SNAPSHOT)) {
          clearTimeout(timer);
          self.aligned = true;
          // The chunk goes on only once commits are released: nothing is held longer than needed.
          self.releaseCommits().then(() => callback(null, chunk), callback);
          return;
        }
        tail = window.subarray(Math.max(0, window.length - AFTER_SNAPSHOT.length + 1));
        callback(null, chunk);
      },
      flush(callback) {
        clearTimeout(timer);
        // A dump with no table at all: nothing was read in either snapshot.
        self.aligned = true;
        self.releaseCommits().then(() => callback(), callback);
      },
      destroy(error, callback) {
        clearTimeout(timer);
        self.releaseCommits().then(() => callback(error), () => callback(error));
      },
    });
    return watcher;
  }

  /** Whether the dump's snapshot is known to have started while commits were held. */
  get alignedWithDump(): boolean {
    return this.aligned;
  }

  async releaseCommits(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.lock.query(this.release);
    } catch (error) {
      this.log.warn(`could not release the commit hold (${this.release}): ${(error as Error).message}; closing its session releases it`);
    } finally {
      await this.lock.end().catch(() => undefined);
    }
  }

  async readValues(table: string, columns: string[], onValue: (column: number, value: string) => void): Promise<void> {
    if (!this.aligned) throw new Error("the leak check's snapshot was not aligned with a dump (no dump ran through watch()): refusing to read originals from it");
    await streamColumnValues(this.session, table, columns, onValue);
  }

  private closed = false;
  /** Release everything (idempotent): after the check, or on any failure. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.releaseCommits();
    await this.session.query('ROLLBACK').catch(() => undefined);
    await this.session.end().catch(() => undefined);
  }
}

/** Every non-NULL value of the columns as utf8mb4 text, streamed (one table scan; mysql2/promise would buffer the whole result). */
export async function streamColumnValues(connection: Connection, table: string, columns: string[], onValue: (column: number, value: string) => void): Promise<void> {
  const select = columns.map((c) => `CAST(${quoteIdentifier(c)} AS CHAR CHARACTER SET utf8mb4)`).join(', ');
  const core = (connection as unknown as { connection: { query(options: object): { stream(options?: object): Readable } } }).connection;
  const stream = core.query({ sql: `SELECT ${select} FROM ${quoteIdentifier(table)}`, rowsAsArray: true }).stream({ highWaterMark: 2000 });
  for await (const row of stream as AsyncIterable<(string | null)[]>) {
    for (let i = 0; i < row.length; i++) if (row[i] !== null) onValue(i, row[i]!);
  }
}
