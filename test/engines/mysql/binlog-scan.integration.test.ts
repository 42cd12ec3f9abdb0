/**
 * Start coordinates by Server_id scan versus the stop-the-replica method, on real MariaDB servers.
 * The target stands in for an instance restored from a snapshot of the source: a copy of the
 * source's datadir, binlogs included (taken while the source was stopped), started under its own
 * server_id, which then writes its own events (and a binlog file whose NAME the source also uses
 * after its restart, with other contents).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariadbInstance } from '../../../lib/platforms/local/mariadb-instance';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from '../../../lib/platforms/local/debian-packages';
import { ProcessGroup } from '../../../lib/util/process-group';
import { silentLogger } from '../../../lib/util/log';
import { generatePassword } from '../../../lib/util/secrets';
import { connect, row, rows, type Connection } from '../../../lib/engines/mysql/connection';
import { dialectFor } from '../../../lib/engines/mysql/dialect';
import { primaryPosition, replicaStatus, startReplicationFrom, waitForPosition } from '../../../lib/engines/mysql/server';
import { confirmOnSource, startCoordinatesByServerIdScan } from '../../../lib/engines/mysql/binlog-scan';

const dialect = dialectFor('10.11.6-MariaDB');

describe('start coordinates of a snapshot-restored server by scanning its binlogs for the source\'s Server_id', () => {
  const group = new ProcessGroup();
  const baseDir = mkdtempSync(join(tmpdir(), 'rc-binlog-scan-'));
  const rootPassword = generatePassword();
  const replicationPassword = generatePassword();
  const open: Connection[] = [];
  const server = (name: string, serverId: number, logBasename?: string) => new MariadbInstance({ name, baseDir, serverId, rootPassword, group, log: silentLogger, logBasename });
  const connectTo = async (instance: MariadbInstance) => {
    const connection = await connect(instance.endpoint());
    open.push(connection);
    return connection;
  };
  const count = async (connection: Connection) => Number((await row<{ n: string }>(connection, 'SELECT COUNT(*) AS n FROM app.orders'))!.n);

  afterAll(async () => {
    for (const connection of open) await connection.end().catch(() => connection.destroy());
    await group.stopAll();
    rmSync(baseDir, { recursive: true, force: true });
  });

  test('GIVEN a target restored from a copy of the source carrying its binlogs, which then wrote its own events THEN the scan gives exactly the coordinates the stopped replica executed, and replicating from them loses and repeats nothing', async () => {
    ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
    const source = server('source', 11);
    await source.initialise();
    let admin = await connectTo(source);
    await admin.query('CREATE DATABASE app');
    await admin.query('CREATE TABLE app.orders (id INT PRIMARY KEY, note VARCHAR(40))');
    await admin.query(`CREATE USER repl@'127.0.0.1' IDENTIFIED BY ${admin.escape(replicationPassword)}`);
    await admin.query(`GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.1'`);
    for (let i = 1; i <= 20; i += 1) await admin.query('INSERT INTO app.orders VALUES (?, ?)', [i, `before the replica ${i}`]);

    // The stop-the-replica method: a replica of the source, caught up, stopped; its executed coordinates.
    const backup = await source.backup(join(baseDir, 'backup-replica'));
    const replica = server('replica', 12);
    await replica.restoreFrom(backup.dir);
    const replicaAdmin = await connectTo(replica);
    await startReplicationFrom(replicaAdmin, dialect, { host: '127.0.0.1', port: source.port, user: 'repl', password: replicationPassword, logFile: backup.binlogFile!, logPosition: backup.binlogPosition!, ssl: false });
    for (let i = 21; i <= 40; i += 1) await admin.query('INSERT INTO app.orders VALUES (?, ?)', [i, `while replicating ${i}`]);
    await admin.query('FLUSH BINARY LOGS'); // the source's last transactions sit in a later file than the first ones
    await admin.query('ALTER TABLE app.orders ADD COLUMN amount INT NULL');
    for (let i = 41; i <= 60; i += 1) await admin.query('INSERT INTO app.orders (id, note, amount) VALUES (?, ?, ?)', [i, `after the flush ${i}`, i]);
    const end = await primaryPosition(admin, dialect);
    expect(await waitForPosition(replicaAdmin, dialect, end, 60000)).toBe('reached');
    await replicaAdmin.query(dialect.stopReplication());
    const stopped = (await replicaStatus(replicaAdmin, dialect))!;
    const replicaStop = { file: stopped.executedFile, position: stopped.executedPosition };
    expect(replicaStop).toEqual(end);

    // The "snapshot": the source's datadir with its binlogs, copied while it is stopped.
    await admin.end();
    await source.stop();
    const copy = join(baseDir, 'snapshot-of-source');
    cpSync(source.datadir, copy, { recursive: true });
    await source.start();
    admin = await connectTo(source);
    const target = server('target', 13, 'source'); // the restored instance keeps the source's binlog file names
    await target.restoreFrom(copy);
    const targetAdmin = await connectTo(target);
    // The restored server's own events, under its own server_id, in files named like the source's.
    await targetAdmin.query('CREATE TABLE app.restored_only (id INT PRIMARY KEY)');
    await targetAdmin.query('INSERT INTO app.restored_only VALUES (1), (2)');
    await targetAdmin.query('FLUSH BINARY LOGS');
    await targetAdmin.query('INSERT INTO app.restored_only VALUES (3)');
    // The source goes on taking writes after the snapshot.
    for (let i = 61; i <= 80; i += 1) await admin.query('INSERT INTO app.orders (id, note, amount) VALUES (?, ?, ?)', [i, `after the snapshot ${i}`, i]);
    await admin.query('UPDATE app.orders SET amount = 0 WHERE id <= 10');

    // WHEN: paged 7 events at a time, so the files are read across many pages.
    const scan = await startCoordinatesByServerIdScan(targetAdmin, 11, { pageSize: 7 });

    // THEN: the same coordinates as the stopped replica; the newer files it read first are the target's own.
    expect({ file: scan.file, position: scan.position }).toEqual(replicaStop);
    expect(scan.scannedFiles.length).toBeGreaterThanOrEqual(3);
    expect(scan.trailingSourceEvents).toBe(0);
    await expect(confirmOnSource(admin, scan)).resolves.toBeUndefined();
    // The replica also logged the source's transactions (log_slave_updates), at ITS positions:
    // a scan of it finds them, and the check on the source refuses them.
    const replicaScan = await startCoordinatesByServerIdScan(replicaAdmin, 11);
    expect(replicaScan.file).toMatch(/^replica-bin\./);
    await expect(confirmOnSource(admin, replicaScan)).rejects.toThrow(/The source has no binlog replica-bin\.\d+/);
    await expect(confirmOnSource(admin, { ...replicaScan, file: scan.file })).rejects.toThrow(/not the source's own files/);
    const targetFiles = (await rows<{ Log_name: string }>(targetAdmin, 'SHOW BINARY LOGS')).map((r) => r.Log_name);
    expect(scan.scannedFiles.slice(0, 2)).toEqual(targetFiles.slice(-2).reverse());

    // And replication from there reproduces the source: nothing lost, nothing applied twice (a
    // duplicate INSERT would stop the SQL thread with error 1062).
    await startReplicationFrom(targetAdmin, dialect, { host: '127.0.0.1', port: source.port, user: 'repl', password: replicationPassword, logFile: scan.file, logPosition: scan.position, ssl: false });
    expect(await waitForPosition(targetAdmin, dialect, await primaryPosition(admin, dialect), 60000)).toBe('reached');
    const status = (await replicaStatus(targetAdmin, dialect))!;
    expect(status.lastError).toBe('');
    expect(await count(targetAdmin)).toBe(80);
    const sum = 'SELECT SUM(id), SUM(COALESCE(amount, -1)), GROUP_CONCAT(note ORDER BY id) AS notes FROM app.orders';
    expect(await rows(targetAdmin, sum)).toEqual(await rows(admin, sum));
  }, 240000);

  test('a server whose binlogs hold no source transaction is refused with the way out', async () => {
    const lonely = server('lonely', 14);
    await lonely.initialise();
    const connection = await connectTo(lonely);
    await connection.query('CREATE DATABASE other');
    await expect(startCoordinatesByServerIdScan(connection, 11)).rejects.toThrow(/No transaction of the source \(server_id 11\).*replica-stop/);
    await expect(startCoordinatesByServerIdScan(connection, 14)).rejects.toThrow(/server_id is the source's \(14\)/);
  }, 120000);
});
