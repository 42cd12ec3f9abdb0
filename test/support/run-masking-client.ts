/**
 * Runs one masking step that starts a database command-line client, in its own process, for
 * tests that SIGKILL it while the client runs: `node --require tsx/cjs run-masking-client.ts
 * dump|restore OUTPUT_DIR [mysql|postgres]` (engine: mysql by default). The database target (with
 * its password) comes in the environment variable MASKING_TEST_TARGET as JSON, never on this
 * process's argv.
 * - dump: `maskedDump` of the target with config/masking/app.rules.json to OUTPUT_DIR/dump.sql.zst
 *   (mariadb-dump, or pg_dump);
 * - restore: `restoreDump` of a one-statement dump into the target (mariadb, or psql; DROP DATABASE first);
 * - snapshot-dump (mysql): as `npm run mask` dumps with its leak check: `DumpSnapshot.open` (commits
 *   held, the originals read by a worker thread), then the dump through its `watch()`; the dump
 *   client is MASKING_TEST_DUMP_COMMAND when set.
 */
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { maskedDump } from '../../lib/masking/pipeline';
import { restoreDump } from '../../lib/masking/restore';
import { loadRules } from '../../lib/masking/rules';
import type { Engine } from '../../lib/masking/engines';
import type { MysqlTarget } from '../../lib/masking/mysql-client';
import { createLogger } from '../../lib/util/log';
import { TEST_KEY } from '../masking/helpers';
import { DumpSnapshot } from '../../lib/masking/source-snapshot';
import { originalsPlan } from '../../lib/masking/leak-check';

const [mode, outputDir, engineArgument = 'mysql'] = process.argv.slice(2);
const target = JSON.parse(process.env.MASKING_TEST_TARGET ?? '{}') as MysqlTarget;
const log = createLogger({ write: (line) => process.stderr.write(line + '\n') });

async function run(): Promise<void> {
  if (engineArgument !== 'mysql' && engineArgument !== 'postgres') throw new Error(`engine ${engineArgument}: expected mysql or postgres`);
  const engine: Engine = engineArgument;
  if (mode === 'dump') {
    const rules = loadRules(join(__dirname, '../../config/masking/app.rules.json'));
    await maskedDump({ source: target, rules, key: TEST_KEY, compression: 'zstd', destination: { kind: 'file', path: join(outputDir, 'dump.sql.zst') }, log, engine });
  } else if (mode === 'snapshot-dump') {
    const rules = loadRules(join(__dirname, '../../config/masking/app.rules.json'));
    const snapshot = await DumpSnapshot.open(target, log, { readInBackground: originalsPlan(rules) });
    try {
      await maskedDump({ source: target, rules, key: TEST_KEY, compression: 'zstd', destination: { kind: 'file', path: join(outputDir, 'dump.sql.zst') }, log, snapshot, dumpCommand: process.env.MASKING_TEST_DUMP_COMMAND });
    } finally {
      await snapshot.close();
    }
  } else if (mode === 'restore') {
    await restoreDump({ target, dump: Readable.from(['CREATE TABLE restored (id int);\n']), log, engine });
  } else {
    throw new Error(`mode ${mode}: expected dump, snapshot-dump or restore`);
  }
}

run().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
