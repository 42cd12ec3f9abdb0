import { dialectFor, parseReplicaStatus, replicationStopped, type ReplicationSource } from '../../../lib/engines/mysql/dialect';

const source: ReplicationSource = { host: 'db.internal', port: 3306, user: 'cutover_repl', password: "pa'ss", logFile: 'mysql-bin.000042', logPosition: 1234, ssl: true };

describe('dialect chosen from SELECT VERSION()', () => {
  test.each([
    ['10.11.6-MariaDB-log', 'mariadb'],
    ['10.11.19-MariaDB-0+deb12u1-log', 'mariadb'],
    ['5.7.44-log', 'mysql57'],
    ['8.0.39', 'mysql80'],
    ['8.0.mysql_aurora.3.05.2', 'mysql80'],
    ['8.4.2', 'mysql84'],
    ['9.1.0', 'mysql84'],
  ])('%s → %s', (version, name) => {
    expect(dialectFor(version).name).toBe(name);
  });

  test('an unparseable version names the expected forms', () => {
    expect(() => dialectFor('PostgreSQL 15')).toThrow(/expected e.g. 8.0.39, 8.4.2 or 10.11.6-MariaDB/);
  });
});

describe('MySQL 8.0 statements (new replication syntax)', () => {
  const d = dialectFor('8.0.39');
  test('configure, start, stop, reset, status, wait', () => {
    expect(d.configureReplication(source)).toEqual([
      "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db.internal', SOURCE_PORT=3306, SOURCE_USER='cutover_repl', SOURCE_PASSWORD='pa\\'ss', SOURCE_LOG_FILE='mysql-bin.000042', SOURCE_LOG_POS=1234, SOURCE_AUTO_POSITION=0, SOURCE_SSL=1, GET_SOURCE_PUBLIC_KEY=1",
    ]);
    expect(d.startReplication()).toBe('START REPLICA');
    expect(d.stopReplication()).toBe('STOP REPLICA');
    expect(d.resetReplication()).toBe('RESET REPLICA ALL');
    expect(d.showReplicaStatus()).toBe('SHOW REPLICA STATUS');
    expect(d.showPrimaryStatus()).toBe('SHOW MASTER STATUS');
    expect(d.waitForPosition('mysql-bin.000042', 99, 2.5)).toBe("SELECT SOURCE_POS_WAIT('mysql-bin.000042', 99, 3) AS result");
    expect(d.killQuery(42)).toBe('KILL QUERY 42');
    expect(d.killSession(42)).toBe('KILL CONNECTION 42');
    expect(d.killUserSessions('app')).toBeUndefined();
    expect(d.setReadOnly(true)).toBe('SET GLOBAL read_only = ON');
  });
});

describe('MySQL 8.0 before 8.0.26 (Aurora MySQL 3.01–3.02 are 8.0.23): SOURCE_POS_WAIT does not exist yet', () => {
  // https://dev.mysql.com/doc/refman/8.0/en/replication-functions-synchronization.html:
  // "In releases before MySQL 8.0.26, use MASTER_POS_WAIT()".
  test.each([
    ['8.0.23', "SELECT MASTER_POS_WAIT('f', 7, 2) AS result"],
    ['8.0.25-log', "SELECT MASTER_POS_WAIT('f', 7, 2) AS result"],
    ['8.0.26', "SELECT SOURCE_POS_WAIT('f', 7, 2) AS result"],
    ['8.0.mysql_aurora.3.05.2', "SELECT SOURCE_POS_WAIT('f', 7, 2) AS result"],
  ])('%s waits with %s', (version, statement) => {
    const d = dialectFor(version, { rdsProcedures: true });
    expect(d.name).toBe('mysql80');
    expect(d.waitForPosition('f', 7, 2)).toBe(statement);
  });
});

describe('MySQL 8.4 statements (MASTER words removed)', () => {
  const d = dialectFor('8.4.2');
  test('binary log status and no MASTER keyword anywhere', () => {
    expect(d.showPrimaryStatus()).toBe('SHOW BINARY LOG STATUS');
    const all = [...d.configureReplication(source), d.startReplication(), d.stopReplication(), d.resetReplication(), d.showReplicaStatus(), d.showPrimaryStatus(), d.waitForPosition('f', 1, 1)].join('\n');
    expect(all).not.toMatch(/MASTER|SLAVE/);
  });
});

describe('MariaDB statements', () => {
  const d = dialectFor('10.11.6-MariaDB');
  test('CHANGE MASTER with explicit coordinates and no GTID; KILL USER', () => {
    expect(d.configureReplication({ ...source, ssl: false })[0]).toBe(
      "CHANGE MASTER TO MASTER_HOST='db.internal', MASTER_PORT=3306, MASTER_USER='cutover_repl', MASTER_PASSWORD='pa\\'ss', MASTER_LOG_FILE='mysql-bin.000042', MASTER_LOG_POS=1234, MASTER_USE_GTID=no, MASTER_SSL=0",
    );
    expect(d.showReplicaStatus()).toBe('SHOW SLAVE STATUS');
    // The server rounds to whole seconds and 0 means "wait forever": never send less than 1.
    expect(d.waitForPosition('f', 7, 0.25)).toBe("SELECT MASTER_POS_WAIT('f', 7, 1) AS result");
    expect(d.waitForPosition('f', 7, 0)).toBe("SELECT MASTER_POS_WAIT('f', 7, 1) AS result");
    expect(d.killUserSessions("o'brien")).toBe("KILL CONNECTION USER 'o\\'brien'");
  });
});

describe('RDS stored procedures', () => {
  test('MySQL 8.0 and MariaDB on RDS use rds_set_external_master with the SSL flag', () => {
    for (const version of ['8.0.39', '10.11.6-MariaDB-log']) {
      const d = dialectFor(version, { rdsProcedures: true });
      expect(d.configureReplication(source)).toEqual(["CALL mysql.rds_set_external_master('db.internal', 3306, 'cutover_repl', 'pa\\'ss', 'mysql-bin.000042', 1234, 1)"]);
      expect(d.startReplication()).toBe('CALL mysql.rds_start_replication');
      expect(d.stopReplication()).toBe('CALL mysql.rds_stop_replication');
      expect(d.resetReplication()).toBe('CALL mysql.rds_reset_external_master');
      expect(d.killSession(9)).toBe('CALL mysql.rds_kill(9)');
      expect(d.killQuery(9)).toBe('CALL mysql.rds_kill_query(9)');
      expect(d.killUserSessions('app')).toBeUndefined();
      // read_only is a parameter-group setting on RDS, not SET GLOBAL.
      expect(d.setReadOnly(true)).toBeUndefined();
    }
  });

  test('MySQL 8.4 on RDS uses rds_set_external_source / rds_reset_external_source', () => {
    const d = dialectFor('8.4.2', { rdsProcedures: true });
    expect(d.configureReplication(source)[0]).toMatch(/^CALL mysql\.rds_set_external_source\(/);
    expect(d.resetReplication()).toBe('CALL mysql.rds_reset_external_source');
  });

  test('a session id that is not an integer is refused (no SQL injection through KILL)', () => {
    expect(() => dialectFor('8.0.39').killSession(Number('1; DROP TABLE x'))).toThrow(/integer/);
  });
});

describe('parseReplicaStatus', () => {
  test('reads MariaDB/MySQL 5.7 column names', () => {
    expect(parseReplicaStatus({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'No', Seconds_Behind_Master: null, Relay_Master_Log_File: 'b.000003', Exec_Master_Log_Pos: '4711', Last_IO_Error: '', Last_SQL_Error: 'Duplicate entry' })).toEqual({
      ioRunning: true,
      ioStopped: false,
      sqlRunning: false,
      secondsBehind: null,
      executedFile: 'b.000003',
      executedPosition: 4711,
      lastError: 'Duplicate entry',
    });
  });
  test('reads MySQL 8 Source/Replica column names', () => {
    const status = parseReplicaStatus({ Replica_IO_Running: 'Yes', Replica_SQL_Running: 'Yes', Seconds_Behind_Source: 3, Relay_Source_Log_File: 'binlog.000010', Exec_Source_Log_Pos: 99, Last_IO_Error: '', Last_SQL_Error: '' });
    expect(status).toMatchObject({ ioRunning: true, sqlRunning: true, secondsBehind: 3, executedFile: 'binlog.000010', executedPosition: 99, lastError: '' });
  });
  test('an IO thread still connecting is not a stopped one (the catch-up restarted a replica that was only connecting, a START SLAVE its plan did not have)', () => {
    const status = parseReplicaStatus({ Slave_IO_Running: 'Connecting', Slave_SQL_Running: 'Yes', Seconds_Behind_Master: null, Relay_Master_Log_File: 'b.000003', Exec_Master_Log_Pos: '4', Last_IO_Error: '', Last_SQL_Error: '' })!;
    expect({ ioRunning: status.ioRunning, stopped: replicationStopped(status) }).toEqual({ ioRunning: false, stopped: false });
    expect(replicationStopped(parseReplicaStatus({ Slave_IO_Running: 'No', Slave_SQL_Running: 'Yes', Last_IO_Error: '', Last_SQL_Error: '' })!)).toBe(true);
    expect(replicationStopped(parseReplicaStatus({ Slave_IO_Running: 'Yes', Slave_SQL_Running: 'No', Last_IO_Error: '', Last_SQL_Error: '' })!)).toBe(true);
    expect(replicationStopped(parseReplicaStatus({ Replica_IO_Running: 'Yes', Replica_SQL_Running: 'Yes', Last_IO_Error: '', Last_SQL_Error: '' })!)).toBe(false);
  });
  test('no row means not a replica', () => {
    expect(parseReplicaStatus(undefined)).toBeUndefined();
  });
});
