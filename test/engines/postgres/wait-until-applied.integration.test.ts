/**
 * On a real PostgreSQL 15 server (two databases stand for the two sides, a logical subscription
 * between them with the subscription's default synchronous_commit off): the switch's wait for the
 * final position (waitUntilApplied) returns only once the receiver has applied everything up to
 * it, also when it ends as soon as the receiver's apply worker has processed the stream there
 * rather than when the walsender reports it written (which lags by the receiver's WAL writer).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closePg, conninfo, connectPg, pgRow, type PgClient } from '../../../lib/engines/postgres/connection';
import { currentLsn, lsnValue, subscriptionProcessedLsn, waitUntilApplied, walsenderPosition } from '../../../lib/engines/postgres/server';
import { ensureDebianPackages, POSTGRES_REQUIREMENTS } from '../../../lib/platforms/local/debian-packages';
import { openForPostgres, PostgresInstance } from '../../../lib/platforms/local/postgres-instance';
import { ProcessGroup } from '../../../lib/util/process-group';
import { generatePassword } from '../../../lib/util/secrets';
import { silentLogger } from '../../../lib/util/log';
import { sleep } from '../../../lib/util/time';

jest.setTimeout(120000);

const SUBSCRIPTION = 'applied_sub';
let group: ProcessGroup;
let baseDir = '';
let server: PostgresInstance;
let sender: PgClient;
let receiver: PgClient;
let blocker: PgClient;

beforeAll(async () => {
  ensureDebianPackages(POSTGRES_REQUIREMENTS, silentLogger);
  baseDir = mkdtempSync(join(tmpdir(), 'rc-pg-applied-'));
  openForPostgres(baseDir);
  group = new ProcessGroup();
  server = new PostgresInstance({ name: 'applied', baseDir, version: 15, superuserPassword: generatePassword(), group, log: silentLogger });
  await server.initialise();
  const admin = await connectPg(server.endpoint());
  await admin.query('CREATE DATABASE side_sender');
  await admin.query('CREATE DATABASE side_receiver');
  await closePg(admin);
  sender = await connectPg(server.endpoint('side_sender'));
  receiver = await connectPg(server.endpoint('side_receiver'));
  blocker = await connectPg(server.endpoint('side_receiver'));
  for (const side of [sender, receiver]) await side.query('CREATE TABLE rows_moved (id int PRIMARY KEY)');
  await sender.query('CREATE PUBLICATION applied_pub FOR TABLE rows_moved');
  // Same cluster: the slot is made beforehand (CREATE SUBSCRIPTION would wait on itself).
  await sender.query("SELECT pg_create_logical_replication_slot('applied_slot', 'pgoutput')");
  await receiver.query(
    `CREATE SUBSCRIPTION ${SUBSCRIPTION} CONNECTION '${conninfo(server.endpoint('side_sender'), { application_name: SUBSCRIPTION }).replace(/'/g, "''")}' PUBLICATION applied_pub WITH (create_slot = false, slot_name = 'applied_slot', copy_data = false)`,
  );
  for (let waited = 0; (await walsenderPosition(sender, SUBSCRIPTION))?.state !== 'streaming'; waited += 50) {
    if (waited > 30000) throw new Error('the subscription did not start streaming');
    await sleep(50);
  }
});

afterAll(async () => {
  await receiver?.query(`DROP SUBSCRIPTION IF EXISTS ${SUBSCRIPTION}`).catch(() => undefined);
  for (const client of [sender, receiver, blocker]) await closePg(client);
  await server?.stop();
  await group?.stopAll();
  if (baseDir) rmSync(baseDir, { recursive: true, force: true });
});

const present = async (id: number) => Boolean(await pgRow(receiver, 'SELECT 1 AS x FROM rows_moved WHERE id = $1', [id]));

test('GIVEN a final position past the last replicated commit (the freeze\'s ALTER ROLE) WHEN the switch waits for it THEN it returns with the last row applied on the receiver', async () => {
  await sender.query('INSERT INTO rows_moved VALUES (1)');
  await sender.query('CREATE ROLE nothing_to_replicate NOLOGIN');
  const finalLsn = await currentLsn(sender);
  expect(await waitUntilApplied(sender, receiver, SUBSCRIPTION, finalLsn, 30000)).toBe(true);
  expect(await present(1)).toBe(true);
});

test('the receiver has read a change it cannot apply yet (its table locked): the wait does not end, and ends once the change is applied', async () => {
  // GIVEN the receiver's table locked, so its apply worker stops on the next change it receives
  await blocker.query('BEGIN');
  await blocker.query('LOCK TABLE rows_moved IN ACCESS EXCLUSIVE MODE');
  try {
    await sender.query('INSERT INTO rows_moved VALUES (2)');
    const finalLsn = await currentLsn(sender);
    // WHEN the switch waits for the final position THEN it times out: received is not applied
    expect(await waitUntilApplied(sender, receiver, SUBSCRIPTION, finalLsn, 1500)).toBe(false);
    // (read in the session that holds the lock: any other would wait for it)
    expect((await blocker.query('SELECT 1 FROM rows_moved WHERE id = 2')).rowCount).toBe(0);
    const processed = await subscriptionProcessedLsn(receiver, SUBSCRIPTION);
    // (the position its apply worker processed stays before the change it is stuck on)
    expect(processed === null || lsnValue(processed) < lsnValue(finalLsn)).toBe(true);
  } finally {
    await blocker.query('ROLLBACK');
  }
  // and once the lock is gone the change applies and the wait ends
  const finalLsn = await currentLsn(sender);
  expect(await waitUntilApplied(sender, receiver, SUBSCRIPTION, finalLsn, 30000)).toBe(true);
  expect(await present(2)).toBe(true);
});
