import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { connect, quoteIdentifier, rows, type Connection } from '../engines/mysql/connection';
import type { Logger } from '../util/log';
import { buildPatternsFromBytes, type OriginalsPlan, type OriginalsReader } from './originals';
import { PatternSet, type TransferablePatterns } from './leak-patterns';
import type { MysqlTarget } from './mysql-client';


/**
 * The statements that hold and release commits on the source, by dialect: MariaDB's backup
 * lock stops commits only (running statements and reads go on; what mariadb-backup itself
 * uses: https://mariadb.com/kb/en/backup-stage/), MySQL has no such stage and takes the
 * global read lock instead. Both need the RELOAD privilege.
 */
export function commitHoldStatements(version: string): { hold: string[]; release: string } {
  return hasBackupStage(version) ? { hold: ['BACKUP STAGE START', 'BACKUP STAGE BLOCK_COMMIT'], release: 'BACKUP STAGE END' } : { hold: ['FLUSH TABLES WITH READ LOCK'], release: 'UNLOCK TABLES' };
}

/** MariaDB 10.4.1 and later know BACKUP STAGE; older MariaDB answers it with a syntax error (it has FTWRL, as MySQL). */
function hasBackupStage(version: string): boolean {
  if (!/mariadb/i.test(version)) return false;
  const [major, minor, patch] = (version.match(/^(\d+)\.(\d+)\.(\d+)/) ?? []).slice(1).map(Number);
  if (major === undefined || Number.isNaN(major)) return true; // unknown form: the current statements, refused loudly if wrong
  return major > 10 || (major === 10 && (minor > 4 || (minor === 4 && patch >= 1)));
}

/** Where an environment sets it (config/masking/environments.ts `holdCommitsWith`), named by the refusal messages. */
export const HOLD_SETTING = "holdCommitsWith: 'table-locks'";

/**
 * The fallback where the dialect's statements are refused: a read lock on every base table of
 * the dumped database (`LOCK TABLES … READ`, the LOCK TABLES privilege on that database). It
 * waits for transactions that wrote those tables to commit and stops new writes to them until
 * released, so no commit to them lands between the snapshots either.
 *
 * Why a fallback: Amazon RDS refuses FLUSH TABLES WITH READ LOCK to every user, the master
 * user included (RDS for MariaDB documents its RELOAD as not granting FTWRL; RDS for MySQL
 * disallows BACKUP_ADMIN from 8.0.36 and tools report FTWRL refused there:
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/MariaDB.Concepts.UsersAndPrivileges.html,
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.MySQL.CommonDBATasks.dynamic-privileges.html).
 * The master user does have LOCK TABLES. Whether RDS for MariaDB allows BACKUP STAGE is not
 * documented: if it refuses it, the same fallback applies.
 */
export function tableLockStatement(tables: string[]): { hold: string[]; release: string } {
  return { hold: [`LOCK TABLES ${tables.map((t) => `${quoteIdentifier(t)} READ`).join(', ')}`], release: 'UNLOCK TABLES' };
}

/** MySQL/MariaDB "access denied" errors (a missing privilege, or one RDS withholds). */
const isAccessDenied = (error: unknown) => ['ER_ACCESS_DENIED_ERROR', 'ER_SPECIFIC_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_TABLEACCESS_DENIED_ERROR'].includes((error as { code?: string }).code ?? '');

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

  private reader?: BackgroundReader;
  /** The statements that held commits (the dialect's, or LOCK TABLES … READ where those were refused). */
  holdStatements: string[] = [];

  private constructor(
    private readonly lock: Connection,
    private readonly session: Connection,
    private readonly release: string,
    private readonly log: Logger,
    private readonly holdLimitMs: number,
  ) {}

  /**
   * @param options.holdWith `table-locks` skips the dialect's statements (an environment's
   * `holdCommitsWith`, for a server that refuses them other than with "access denied"; the
   * fallback is taken by itself when they are refused with it). @default 'dialect'
   * @param options.readInBackground the leak check's originals plan: a worker thread starts its
   * own snapshot while commits are held (so it equals the dump's too) and reads every original
   * while the dump runs; `originalPatterns` then hands the result to the check.
   */
  static async open(source: MysqlTarget, log: Logger, options: { holdLimitMs?: number; readInBackground?: OriginalsPlan; holdWith?: 'dialect' | 'table-locks' } = {}): Promise<DumpSnapshot> {
    const lock = await connect(source, { database: source.database });
    let session: Connection | undefined;
    try {
      const [{ version }] = await rows<{ version: string }>(lock, 'SELECT VERSION() AS version');
      let statements = options.holdWith === 'table-locks' ? undefined : commitHoldStatements(version);
      session = await connect(source, { database: source.database });
      await session.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      let refused = '';
      if (statements) {
        try {
          for (const statement of statements.hold) await lock.query(statement);
        } catch (error) {
          if (!isAccessDenied(error)) {
            await lock.query(statements.release).catch(() => undefined);
            throw new Error(
              `could not hold commits to align the leak check's snapshot with the dump's: ${statements.hold.join('; ')} failed (${(error as Error).message}). Nothing was dumped. ` +
                `If this server does not allow that hold or cannot take it now (another backup holds it; a managed server such as Amazon RDS may refuse it in its own way), set ${HOLD_SETTING} for this environment in config/masking/environments.ts ` +
                `(LOCK TABLES … READ on the database's tables instead; the masking user needs LOCK TABLES on \`${source.database}\`), or run again once the other backup has finished.`,
            );
          }
          await lock.query(statements.release).catch(() => undefined); // e.g. BACKUP STAGE START taken, BLOCK_COMMIT refused
          refused = `${statements.hold.join('; ')} was refused (${(error as Error).message}); `;
          statements = undefined;
        }
      }
      if (!statements) {
        const tables = await rows<{ name: string }>(lock, "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME");
        statements = tableLockStatement(tables.map((t) => t.name));
        try {
          if (tables.length > 0) for (const statement of statements.hold) await lock.query(statement);
        } catch (error) {
          throw new Error(
            `could not hold commits to align the leak check's snapshot with the dump's: ${refused}LOCK TABLES … READ on the ${tables.length} tables of ${source.database} was refused too (${(error as Error).message}). ` +
              `Grant the masking user LOCK TABLES on the database (GRANT SELECT, LOCK TABLES ON \`${source.database}\`.* TO …; on Amazon RDS the only way), or RELOAD (GRANT RELOAD ON *.* TO …; self-managed servers). Nothing was dumped.`,
          );
        }
        log.info(`leak check snapshot: ${refused ? `${refused}` : ''}holding commits with LOCK TABLES … READ on the ${tables.length} tables of ${source.database} until the dump's snapshot has started`);
      }
      const snapshot = new DumpSnapshot(lock, session, statements.release, log, options.holdLimitMs ?? 60000);
      snapshot.holdStatements = statements.hold;
      try {
        await session.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
        if (options.readInBackground) snapshot.reader = await BackgroundReader.start(source, options.readInBackground);
      } catch (error) {
        await snapshot.close();
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

  /** The originals the worker thread read in this snapshot (only with `readInBackground`, and the same plan). */
  async originalPatterns(plan: OriginalsPlan): Promise<{ patterns: PatternSet; skippedOrdinary: number; readSeconds: number; readCpuSeconds: number }> {
    if (!this.aligned) throw new Error("the leak check's snapshot was not aligned with a dump (no dump ran through watch()): refusing to read originals from it");
    if (!this.reader) throw new Error('originalPatterns: the snapshot was opened without readInBackground');
    if (JSON.stringify(plan) !== JSON.stringify(this.reader.plan)) throw new Error('originalPatterns: the leak check asks for other columns than the background read was started with');
    return this.reader.result;
  }

  /** CPU seconds the background read has used so far (its thread's own; 0 without one). */
  readerCpuSeconds(): number {
    return this.reader?.cpuSeconds() ?? 0;
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
    await this.reader?.stop();
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

/**
 * Every non-NULL value of the columns as utf8mb4 bytes, straight from the protocol's row
 * packets: `onValue(column, packet, start, end)` with a view of mysql2's packet buffer, valid
 * only during the call. No string and no row object per value (the leak check reads millions);
 * mysql2 still handles the connection, the column definitions, the end of the result and
 * errors. One table scan, read at the speed `onValue` consumes it (it runs in the socket's
 * data handler). An error thrown by `onValue` stops reading values and rejects at the end.
 */
export async function streamColumnBytes(connection: Connection, table: string, columns: string[], onValue: (column: number, bytes: Buffer, start: number, end: number) => void): Promise<void> {
  const select = columns.map((c) => `CAST(${quoteIdentifier(c)} AS CHAR CHARACTER SET utf8mb4)`).join(', ');
  const core = (connection as unknown as { connection: { query(options: object): RawQuery } }).connection;
  const count = columns.length;
  let failure: Error | undefined;
  await new Promise<void>((resolve, reject) => {
    const query = core.query({ sql: `SELECT ${select} FROM ${quoteIdentifier(table)}`, rowsAsArray: true });
    const mysql2Row = Object.getPrototypeOf(query).row as RawQuery['row'];
    // mysql2's Query moves to `this.row` once the column definitions are read, then to whatever
    // each row handler returns: this one reads the row's length-encoded values in place.
    query.row = function rawRow(this: RawQuery, packet, connectionState) {
      if (packet.isEOF()) return mysql2Row.call(this, packet, connectionState);
      if (failure) return rawRow;
      const bytes = packet.buffer;
      let at = packet.offset;
      try {
        for (let column = 0; column < count; column++) {
          const first = bytes[at++];
          let length: number;
          if (first < 0xfb) length = first;
          else if (first === 0xfb) continue; // NULL
          else if (first === 0xfc) {
            length = bytes[at] | (bytes[at + 1] << 8);
            at += 2;
          } else if (first === 0xfd) {
            length = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
            at += 3;
          } else {
            length = bytes.readUInt32LE(at) + bytes.readUInt32LE(at + 4) * 2 ** 32;
            at += 8;
          }
          if (at + length > packet.end) throw new Error(`a row of ${table} is shorter than its values say (protocol error)`);
          onValue(column, bytes, at, at + length);
          at += length;
        }
      } catch (error) {
        failure = error as Error;
      }
      return rawRow;
    };
    query.once('error', reject);
    query.once('end', () => (failure ? reject(failure) : resolve()));
  });
}

/** The part of mysql2's Query command streamColumnBytes uses (a state machine: each handler returns the next). */
interface RawQuery {
  row(this: RawQuery, packet: { buffer: Buffer; offset: number; end: number; isEOF(): boolean }, connection: unknown): unknown;
  once(event: 'error', listener: (error: Error) => void): void;
  once(event: 'end', listener: () => void): void;
}

/**
 * Every original of the plan, read from `session` (in whatever snapshot it holds) as bytes
 * into a pattern set sized from the tables' row estimates (about half of rows x columns
 * become distinct patterns: repeated cities and emails, skipped short values).
 */
export async function readOriginalPatterns(session: Connection, plan: OriginalsPlan): Promise<{ patterns: PatternSet; skippedOrdinary: number }> {
  const estimates = await rows<{ name: string; estimate: number | string | null }>(session, 'SELECT TABLE_NAME AS name, TABLE_ROWS AS estimate FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()');
  const rowsOf = new Map(estimates.map((t) => [t.name, Number(t.estimate ?? 0)]));
  const expectedPatterns = plan.reduce((sum, p) => sum + (rowsOf.get(p.table) ?? 0) * p.columns.length, 0) / 2;
  return buildPatternsFromBytes(plan, (table, columns, onValue) => streamColumnBytes(session, table, columns, onValue), { expectedPatterns });
}

/** The worker thread that reads the originals (originals-worker.ts). */
class BackgroundReader {
  readonly result: Promise<{ patterns: PatternSet; skippedOrdinary: number; readSeconds: number; readCpuSeconds: number }>;
  private thread = '';
  private finalCpu: number | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly plan: OriginalsPlan,
    ready: (thread: string) => void,
    failedEarly: (error: Error) => void,
  ) {
    this.result = new Promise((resolve, reject) => {
      worker.on('message', (message: { kind: string; thread?: string; message?: string; patterns?: TransferablePatterns; skippedOrdinary?: number; readSeconds?: number; readCpuSeconds?: number }) => {
        if (message.kind === 'ready') {
          this.thread = message.thread!;
          ready(this.thread);
        } else if (message.kind === 'done') {
          this.finalCpu = message.readCpuSeconds!;
          resolve({ patterns: PatternSet.fromTransferable(message.patterns!), skippedOrdinary: message.skippedOrdinary!, readSeconds: message.readSeconds!, readCpuSeconds: message.readCpuSeconds! });
        } else if (message.kind === 'failed') {
          const error = new Error(`reading the originals in the dump's snapshot failed: ${message.message}`);
          failedEarly(error);
          reject(error);
        }
      });
      worker.once('error', (error) => {
        failedEarly(error);
        reject(error);
      });
      worker.once('exit', (code) => {
        const error = new Error(`the originals' reader thread exited (${code}) before it finished`);
        failedEarly(error);
        reject(error);
      });
    });
    this.result.catch(() => undefined); // observed by the check; no unhandled rejection before that
  }

  static async start(source: MysqlTarget, plan: OriginalsPlan): Promise<BackgroundReader> {
    // Under ts-jest or tsx the worker is TypeScript too: it loads through tsx's require hook.
    const typescript = extname(__filename) === '.ts';
    const worker = new Worker(join(__dirname, `originals-worker${extname(__filename)}`), {
      workerData: { source, plan },
      execArgv: typescript ? ['--require', require.resolve('tsx/cjs')] : [],
    });
    let reader: BackgroundReader | undefined;
    await new Promise<void>((resolve, reject) => {
      reader = new BackgroundReader(worker, plan, () => resolve(), reject);
    });
    return reader!;
  }

  cpuSeconds(): number {
    if (this.finalCpu !== undefined) return this.finalCpu;
    try {
      return threadCpuSeconds(`/proc/${this.thread}/stat`);
    } catch {
      return 0;
    }
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

/** CPU seconds (user + sys) of a thread, from its /proc stat file (clock ticks of 10 ms); the calling thread by default. */
export function threadCpuSeconds(statPath = '/proc/thread-self/stat'): number {
  const stat = readFileSync(statPath, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
