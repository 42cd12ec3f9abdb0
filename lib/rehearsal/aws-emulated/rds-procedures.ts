import type { Connection } from '../../engines/mysql/connection';

/**
 * Stand-ins for the stored procedures Amazon RDS for MySQL/MariaDB installs in the `mysql`
 * schema, so the RDS dialect (`rdsProcedures: true`) runs against a real local MariaDB.
 * Names, parameters and result shapes follow the RDS documentation:
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/mysql-stored-proc-replicating.html
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/mysql-stored-proc-configuring.html
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/mysql-stored-proc-ending.html
 *
 * The shapes are what matters for the code under test: the replication procedures answer with a
 * one-row `Message` result set (mysql2 then returns `[[rows], ResultSetHeader]` for the CALL),
 * `rds_show_configuration` with `name, value, description` rows, and `rds_kill`/`rds_kill_query`
 * with no result set at all (a bare ResultSetHeader). `binlog retention hours` starts NULL, as
 * on a new RDS instance.
 *
 * One addition RDS does not need: inside a VPC the target reaches the source by its endpoint
 * name; locally that name resolves nowhere, so `mysql.rds_stand_in_address` maps an endpoint
 * name to the loopback address of the server standing in for it (see `mapEndpoint`).
 * The procedures are defined by root (SQL SECURITY DEFINER), as RDS's are by `rdsadmin`: the
 * master user calls them without SUPER.
 */
export const RDS_PROCEDURES = [
  'rds_set_external_master',
  'rds_set_external_source',
  'rds_reset_external_master',
  'rds_reset_external_source',
  'rds_start_replication',
  'rds_stop_replication',
  'rds_kill',
  'rds_kill_query',
  'rds_show_configuration',
  'rds_set_configuration',
] as const;

const CONFIGURATION_ROWS: Array<[string, string | null, string]> = [
  ['binlog retention hours', null, 'binlog retention hours specifies the duration in hours before binary logs are automatically deleted.'],
  ['source delay', '0', 'source delay specifies replication delay in seconds between current instance and its master.'],
  ['target delay', '0', 'target delay specifies replication delay in seconds between current instance and its future read-replica.'],
];

/** `CHANGE MASTER TO` from the procedure's arguments, with the endpoint name mapped to its stand-in. */
function setExternalSource(name: string): string {
  return `CREATE PROCEDURE mysql.${name}(IN host_name VARCHAR(255), IN host_port INT, IN replication_user_name VARCHAR(80), IN replication_user_password VARCHAR(255),
    IN binlog_file_name VARCHAR(255), IN binlog_file_location BIGINT, IN ssl_encryption INT)
  SQL SECURITY DEFINER
  BEGIN
    DECLARE mapped_host VARCHAR(255) DEFAULT COALESCE((SELECT host FROM mysql.rds_stand_in_address WHERE endpoint = host_name), host_name);
    DECLARE mapped_port INT DEFAULT COALESCE((SELECT port FROM mysql.rds_stand_in_address WHERE endpoint = host_name), host_port);
    SET @rds_stand_in_statement = CONCAT('CHANGE MASTER TO MASTER_HOST=', QUOTE(mapped_host), ', MASTER_PORT=', mapped_port,
      ', MASTER_USER=', QUOTE(replication_user_name), ', MASTER_PASSWORD=', QUOTE(replication_user_password),
      ', MASTER_LOG_FILE=', QUOTE(binlog_file_name), ', MASTER_LOG_POS=', binlog_file_location,
      ', MASTER_USE_GTID=no, MASTER_SSL=', IF(ssl_encryption = 1, 1, 0));
    PREPARE rds_stand_in FROM @rds_stand_in_statement;
    SET @rds_stand_in_statement = NULL; -- holds the password
    EXECUTE rds_stand_in;
    DEALLOCATE PREPARE rds_stand_in;
    SELECT 'Master settings have been updated' AS Message;
  END`;
}

function resetExternalSource(name: string): string {
  return `CREATE PROCEDURE mysql.${name}() SQL SECURITY DEFINER
  BEGIN
    STOP SLAVE;
    RESET SLAVE ALL;
    SELECT 'Slave has been reset' AS Message;
  END`;
}

const STATEMENTS = [
  `CREATE TABLE IF NOT EXISTS mysql.rds_configuration (name VARCHAR(100) NOT NULL PRIMARY KEY, value VARCHAR(100) NULL, description VARCHAR(300) NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS mysql.rds_stand_in_address (endpoint VARCHAR(255) NOT NULL PRIMARY KEY, host VARCHAR(255) NOT NULL, port INT NOT NULL)`,
  ...RDS_PROCEDURES.map((name) => `DROP PROCEDURE IF EXISTS mysql.${name}`),
  setExternalSource('rds_set_external_master'),
  setExternalSource('rds_set_external_source'),
  resetExternalSource('rds_reset_external_master'),
  resetExternalSource('rds_reset_external_source'),
  `CREATE PROCEDURE mysql.rds_start_replication() SQL SECURITY DEFINER
  BEGIN
    START SLAVE;
    SELECT 'Slave running normally.' AS Message;
  END`,
  `CREATE PROCEDURE mysql.rds_stop_replication() SQL SECURITY DEFINER
  BEGIN
    STOP SLAVE;
    SELECT 'Slave is down or disabled' AS Message;
  END`,
  `CREATE PROCEDURE mysql.rds_kill(IN thread BIGINT) SQL SECURITY DEFINER KILL CONNECTION thread`,
  `CREATE PROCEDURE mysql.rds_kill_query(IN thread BIGINT) SQL SECURITY DEFINER KILL QUERY thread`,
  `CREATE PROCEDURE mysql.rds_show_configuration() SQL SECURITY DEFINER
    SELECT name, value, description FROM mysql.rds_configuration ORDER BY name`,
  `CREATE PROCEDURE mysql.rds_set_configuration(IN setting_name VARCHAR(100), IN setting_value INT) SQL SECURITY DEFINER
  BEGIN
    IF NOT EXISTS (SELECT 1 FROM mysql.rds_configuration WHERE name = setting_name) THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'Invalid configuration name';
    END IF;
    IF setting_name = 'binlog retention hours' AND (setting_value < 1 OR setting_value > 168) THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'binlog retention hours must be between 1 and 168';
    END IF;
    UPDATE mysql.rds_configuration SET value = setting_value WHERE name = setting_name;
  END`,
];

/**
 * Install the stand-ins on a server, connected as root. Binary logging is off for this session
 * (SQL_LOG_BIN=0), so the procedures are not replicated: each server gets its own, like RDS.
 */
export async function installRdsProcedures(root: Connection): Promise<void> {
  await root.query('SET SESSION sql_log_bin = 0');
  try {
    for (const statement of STATEMENTS) await root.query(statement);
    for (const [name, value, description] of CONFIGURATION_ROWS) {
      await root.query('INSERT IGNORE INTO mysql.rds_configuration (name, value, description) VALUES (?, ?, ?)', [name, value, description]);
    }
  } finally {
    await root.query('SET SESSION sql_log_bin = 1');
  }
}

/**
 * The stand-in for VPC name resolution: replication set up with `endpoint` as the source's host
 * dials `address` instead.
 */
export async function mapEndpoint(root: Connection, endpoint: string, address: { host: string; port: number }): Promise<void> {
  await root.query('SET SESSION sql_log_bin = 0');
  try {
    await root.query('REPLACE INTO mysql.rds_stand_in_address (endpoint, host, port) VALUES (?, ?, ?)', [endpoint, address.host, address.port]);
  } finally {
    await root.query('SET SESSION sql_log_bin = 1');
  }
}
