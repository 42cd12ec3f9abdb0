import { quoteString, type MysqlDialect, type ReplicationSource } from '../../engines/mysql/dialect';

/**
 * Aurora MySQL 3 answers `SELECT VERSION()` with its MySQL version (8.0.x), so the dialect chosen
 * from it is MySQL 8.0's; but its replication procedures carry the 8.4 names:
 * `mysql.rds_set_external_source` and `mysql.rds_reset_external_source` ("Aurora MySQL
 * version 3"), where Aurora MySQL 2 and RDS for MySQL 8.0 had `…_external_master`. Start/stop
 * (`mysql.rds_start_replication`, `mysql.rds_stop_replication`) and `mysql.rds_kill` are the same.
 * https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/mysql-stored-proc-replicating.html
 *
 * Everything else is the detected dialect's.
 */
export function auroraMysql3Dialect(detected: MysqlDialect): MysqlDialect {
  if (!detected.rdsProcedures) throw new Error('Aurora MySQL is configured through the mysql.rds_* procedures: detect the dialect with rdsProcedures');
  if (detected.name !== 'mysql80' && detected.name !== 'mysql84') throw new Error(`Aurora MySQL 3 reports a MySQL 8.0 version; the server answered as ${detected.name}: is this an Aurora MySQL 3 cluster?`);
  return Object.assign(Object.create(detected) as MysqlDialect, {
    configureReplication(source: ReplicationSource): string[] {
      const args = [quoteString(source.host), source.port, quoteString(source.user), quoteString(source.password), quoteString(source.logFile), source.logPosition, source.ssl ? 1 : 0];
      return [`CALL mysql.rds_set_external_source(${args.join(', ')})`];
    },
    resetReplication(): string {
      return 'CALL mysql.rds_reset_external_source';
    },
  });
}
