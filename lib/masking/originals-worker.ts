/**
 * Worker thread of DumpSnapshot (source-snapshot.ts): opens its own session, starts a consistent
 * snapshot while the parent holds commits (so it equals the dump's), then reads every original of
 * the plan into a PatternSet and hands the pattern tables back without copying them. It runs
 * while the dump streams: the read costs the check no wall time of its own on a second core.
 *
 * Messages to the parent: { kind: 'ready', thread } once the snapshot exists; { kind: 'done', … }
 * with the patterns (arrays transferred); { kind: 'failed', message } on any error.
 * The parent uses the patterns only once the dump's snapshot is known to have started while
 * commits were held (DumpSnapshot.alignedWithDump), and terminates the thread on any failure.
 */
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { connect, type Connection } from '../engines/mysql/connection';
import type { OriginalsPlan } from './originals';
import type { MysqlTarget } from './mysql-client';
import { isShared } from './leak-patterns';
import { readOriginalPatterns, threadCpuSeconds } from './source-snapshot';

async function run(): Promise<void> {
  const { source, plan } = workerData as { source: MysqlTarget; plan: OriginalsPlan };
  const port = parentPort!;
  let session: Connection | undefined;
  try {
    session = await connect(source, { database: source.database });
    await session.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await session.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    port.postMessage({ kind: 'ready', thread: readlinkSync('/proc/thread-self') });
    const started = Date.now();
    const built = await readOriginalPatterns(session, plan);
    const patterns = built.patterns.toTransferable();
    // The tables are in shared memory (shared with the parent, not copied); anything else is transferred.
    const transfer = [patterns.slots.buffer, patterns.lastWords.buffer].filter((buffer): buffer is ArrayBuffer => !isShared(buffer));
    port.postMessage({ kind: 'done', patterns, skippedOrdinary: built.skippedOrdinary, readSeconds: (Date.now() - started) / 1000, readCpuSeconds: threadCpuSeconds() }, transfer);
  } catch (error) {
    port.postMessage({ kind: 'failed', message: (error as Error).message });
  } finally {
    await session?.query('ROLLBACK').catch(() => undefined);
    await session?.end().catch(() => undefined);
  }
}

void run();
