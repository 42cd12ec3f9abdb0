/**
 * SQL dialects of the MySQL family. The differences that matter for a cutover:
 * - MariaDB (all versions) and MySQL 5.7 use MASTER/SLAVE words; MySQL 8.0.23+ accepts
 *   `CHANGE REPLICATION SOURCE TO`, and 8.4 removed the old words entirely
 *   (`SHOW MASTER STATUS` became `SHOW BINARY LOG STATUS`, MASTER_POS_WAIT became
 *   SOURCE_POS_WAIT). https://dev.mysql.com/doc/refman/8.4/en/replication-statements.html
 * - On RDS the administrator has no SUPER: replication is configured through the
 *   `mysql.rds_*` procedures, sessions are ended with `mysql.rds_kill`, and `read_only` is a
 *   parameter-group setting, not `SET GLOBAL`.
 *   https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/mysql-stored-proc-replicating.html
 */
export type DialectName = 'mariadb' | 'mysql57' | 'mysql80' | 'mysql84';

export interface ReplicationSource {
  host: string;
  port: number;
  user: string;
  password: string;
  logFile: string;
  logPosition: number;
  /** Require TLS on the replication connection (always on for RDS across networks). */
  ssl: boolean;
}

/** Executed coordinates and health read from SHOW SLAVE/REPLICA STATUS. */
export interface ReplicaStatus {
  /** The IO thread is connected (`Yes`); `Connecting` (still or again connecting) is neither this nor stopped. */
  ioRunning: boolean;
  /** The IO thread is stopped (`No`): not merely connecting. */
  ioStopped: boolean;
  sqlRunning: boolean;
  secondsBehind: number | null;
  /** The source binlog file/position up to which events have been executed. */
  executedFile: string;
  executedPosition: number;
  lastError: string;
  /** The account and address this server replicates from (Master_User/Host/Port; MySQL 8.4: Source_*). */
  sourceUser?: string;
  sourceHost?: string;
  sourcePort?: number;
}

export interface MysqlDialect {
  readonly name: DialectName;
  /** True when replication is driven through RDS's stored procedures. */
  readonly rdsProcedures: boolean;
  showPrimaryStatus(): string;
  showReplicaStatus(): string;
  /** Statements that point this server at a source, from explicit coordinates. */
  configureReplication(source: ReplicationSource): string[];
  startReplication(): string;
  stopReplication(): string;
  /** Forget the source entirely (after promotion). */
  resetReplication(): string;
  /**
   * A query returning one column `result`: events waited for, -1 on timeout, NULL if not
   * replicating. The server rounds the timeout to whole seconds and treats 0 as "wait forever"
   * (MariaDB 10.11, measured), so it is always a whole number >= 1 here; callers that need a
   * finer bound cancel the query themselves (see `killQuery`).
   */
  waitForPosition(file: string, position: number, timeoutSeconds: number): string;
  /** Statement that cancels the running query of a session (keeps the session). */
  killQuery(id: number): string;
  /** Statement that ends a session, or undefined where the caller cannot. */
  killSession(id: number): string;
  /** One statement ending every session of a user (MariaDB `KILL USER`), where there is one. */
  killUserSessions(user: string): string | undefined;
  /** `SET GLOBAL read_only`, or undefined where it is a parameter-group setting (RDS). */
  setReadOnly(on: boolean): string | undefined;
}

/** A wait timeout the server cannot mistake for "forever": whole seconds, at least 1. */
function wholeSeconds(seconds: number): number {
  return Math.max(1, Math.ceil(seconds));
}

export function quoteString(value: string): string {
  return "'" + value.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

/**
 * Choose the dialect from `SELECT VERSION()`. MariaDB reports e.g. `10.11.6-MariaDB-log`
 * (RDS: `10.11.6-MariaDB-log`); MySQL `8.0.39`, `8.4.2`, Aurora MySQL 3 `8.0.mysql_aurora.3.05.2`.
 */
export function dialectFor(version: string, options: { rdsProcedures?: boolean } = {}): MysqlDialect {
  const rds = options.rdsProcedures ?? false;
  if (/mariadb/i.test(version)) return new MariadbDialect(rds);
  const match = /^(\d+)\.(\d+)/.exec(version);
  if (!match) throw new Error(`Cannot tell the MySQL-family dialect from version string "${version}"; expected e.g. 8.0.39, 8.4.2 or 10.11.6-MariaDB`);
  const major = Number(match[1]);
  const minor = Number(match[2]);
  if (major === 5 && minor === 7) return new Mysql57Dialect(rds);
  if (major === 8 && minor < 4) {
    // SOURCE_POS_WAIT exists from 8.0.26; Aurora MySQL 3.01/3.02 report 8.0.23 (numeric patch only:
    // `8.0.mysql_aurora.3.05.2` is an engine version, not a server's VERSION()).
    const patch = /^8\.0\.(\d+)/.exec(version);
    return new Mysql80Dialect(rds, patch !== null && minor === 0 && Number(patch[1]) < 26);
  }
  if ((major === 8 && minor >= 4) || major >= 9) return new Mysql84Dialect(rds);
  throw new Error(`MySQL ${major}.${minor} is not supported (need MySQL 5.7, 8.0, 8.4 or MariaDB 10.x/11.x)`);
}

/** Replication stopped (a thread `No`), not a connecting IO thread: only then does it need a START. */
export function replicationStopped(status: ReplicaStatus): boolean {
  return status.ioStopped || !status.sqlRunning;
}

/** Read SHOW SLAVE STATUS (Master_* columns) or SHOW REPLICA STATUS (Source_* columns). */
export function parseReplicaStatus(row: Record<string, unknown> | undefined): ReplicaStatus | undefined {
  if (!row) return undefined;
  const pick = (...names: string[]) => {
    for (const name of names) if (row[name] !== undefined) return row[name];
    return undefined;
  };
  const seconds = pick('Seconds_Behind_Master', 'Seconds_Behind_Source');
  return {
    ioRunning: String(pick('Slave_IO_Running', 'Replica_IO_Running')) === 'Yes',
    ioStopped: String(pick('Slave_IO_Running', 'Replica_IO_Running')) === 'No',
    sqlRunning: String(pick('Slave_SQL_Running', 'Replica_SQL_Running')) === 'Yes',
    secondsBehind: seconds === null || seconds === undefined ? null : Number(seconds),
    executedFile: String(pick('Relay_Master_Log_File', 'Relay_Source_Log_File') ?? ''),
    executedPosition: Number(pick('Exec_Master_Log_Pos', 'Exec_Source_Log_Pos') ?? 0),
    lastError: [pick('Last_IO_Error'), pick('Last_SQL_Error')].filter((e) => typeof e === 'string' && e !== '').join('; '),
    sourceUser: pick('Master_User', 'Source_User') === undefined ? undefined : String(pick('Master_User', 'Source_User')),
    sourceHost: pick('Master_Host', 'Source_Host') === undefined ? undefined : String(pick('Master_Host', 'Source_Host')),
    sourcePort: pick('Master_Port', 'Source_Port') === undefined ? undefined : Number(pick('Master_Port', 'Source_Port')),
  };
}

abstract class BaseDialect implements MysqlDialect {
  abstract readonly name: DialectName;
  constructor(readonly rdsProcedures: boolean) {}

  abstract showPrimaryStatus(): string;
  abstract showReplicaStatus(): string;
  protected abstract plainConfigure(source: ReplicationSource): string[];
  protected abstract plainStart(): string;
  protected abstract plainStop(): string;
  protected abstract plainReset(): string;
  abstract waitForPosition(file: string, position: number, timeoutSeconds: number): string;
  /** RDS procedure that sets the external source (8.4 renamed it). */
  protected rdsSetSourceProcedure(): string {
    return 'mysql.rds_set_external_master';
  }
  protected rdsResetSourceProcedure(): string {
    return 'mysql.rds_reset_external_master';
  }

  configureReplication(source: ReplicationSource): string[] {
    if (!this.rdsProcedures) return this.plainConfigure(source);
    const args = [quoteString(source.host), source.port, quoteString(source.user), quoteString(source.password), quoteString(source.logFile), source.logPosition, source.ssl ? 1 : 0];
    return [`CALL ${this.rdsSetSourceProcedure()}(${args.join(', ')})`];
  }
  startReplication(): string {
    return this.rdsProcedures ? 'CALL mysql.rds_start_replication' : this.plainStart();
  }
  stopReplication(): string {
    return this.rdsProcedures ? 'CALL mysql.rds_stop_replication' : this.plainStop();
  }
  resetReplication(): string {
    return this.rdsProcedures ? `CALL ${this.rdsResetSourceProcedure()}` : this.plainReset();
  }
  killSession(id: number): string {
    if (!Number.isInteger(id)) throw new Error(`session id must be an integer, got ${id}`);
    return this.rdsProcedures ? `CALL mysql.rds_kill(${id})` : `KILL CONNECTION ${id}`;
  }
  killQuery(id: number): string {
    if (!Number.isInteger(id)) throw new Error(`session id must be an integer, got ${id}`);
    return this.rdsProcedures ? `CALL mysql.rds_kill_query(${id})` : `KILL QUERY ${id}`;
  }
  setReadOnly(on: boolean): string | undefined {
    return this.rdsProcedures ? undefined : `SET GLOBAL read_only = ${on ? 'ON' : 'OFF'}`;
  }
  killUserSessions(_user: string): string | undefined {
    return undefined;
  }
}

class MariadbDialect extends BaseDialect {
  readonly name: DialectName = 'mariadb';
  override killUserSessions(user: string): string | undefined {
    // RDS for MariaDB gives the master user no KILL on others' sessions: rds_kill per id there.
    return this.rdsProcedures ? undefined : `KILL CONNECTION USER ${quoteString(user)}`;
  }
  showPrimaryStatus() {
    return 'SHOW MASTER STATUS';
  }
  showReplicaStatus() {
    return 'SHOW SLAVE STATUS';
  }
  protected plainConfigure(s: ReplicationSource): string[] {
    // MASTER_USE_GTID=no: we start from explicit file/position coordinates.
    return [
      `CHANGE MASTER TO MASTER_HOST=${quoteString(s.host)}, MASTER_PORT=${s.port}, MASTER_USER=${quoteString(s.user)}, MASTER_PASSWORD=${quoteString(s.password)}, ` +
        `MASTER_LOG_FILE=${quoteString(s.logFile)}, MASTER_LOG_POS=${s.logPosition}, MASTER_USE_GTID=no, MASTER_SSL=${s.ssl ? 1 : 0}`,
    ];
  }
  protected plainStart() {
    return 'START SLAVE';
  }
  protected plainStop() {
    return 'STOP SLAVE';
  }
  protected plainReset() {
    return 'RESET SLAVE ALL';
  }
  waitForPosition(file: string, position: number, timeoutSeconds: number) {
    return `SELECT MASTER_POS_WAIT(${quoteString(file)}, ${position}, ${wholeSeconds(timeoutSeconds)}) AS result`;
  }
}

class Mysql57Dialect extends MariadbDialect {
  override readonly name: DialectName = 'mysql57';
  override killUserSessions(): string | undefined {
    return undefined;
  }
  protected override plainConfigure(s: ReplicationSource): string[] {
    return [
      `CHANGE MASTER TO MASTER_HOST=${quoteString(s.host)}, MASTER_PORT=${s.port}, MASTER_USER=${quoteString(s.user)}, MASTER_PASSWORD=${quoteString(s.password)}, ` +
        `MASTER_LOG_FILE=${quoteString(s.logFile)}, MASTER_LOG_POS=${s.logPosition}, MASTER_SSL=${s.ssl ? 1 : 0}`,
    ];
  }
}

class Mysql80Dialect extends BaseDialect {
  readonly name: DialectName = 'mysql80';
  /** @param beforeSourcePosWait 8.0.22–8.0.25: MASTER_POS_WAIT only (SOURCE_POS_WAIT came in 8.0.26) */
  constructor(
    rdsProcedures: boolean,
    private readonly beforeSourcePosWait = false,
  ) {
    super(rdsProcedures);
  }
  showPrimaryStatus() {
    return 'SHOW MASTER STATUS';
  }
  showReplicaStatus() {
    return 'SHOW REPLICA STATUS';
  }
  protected plainConfigure(s: ReplicationSource): string[] {
    // GET_SOURCE_PUBLIC_KEY lets caching_sha2_password work when TLS is off (rehearsals).
    return [
      `CHANGE REPLICATION SOURCE TO SOURCE_HOST=${quoteString(s.host)}, SOURCE_PORT=${s.port}, SOURCE_USER=${quoteString(s.user)}, SOURCE_PASSWORD=${quoteString(s.password)}, ` +
        `SOURCE_LOG_FILE=${quoteString(s.logFile)}, SOURCE_LOG_POS=${s.logPosition}, SOURCE_AUTO_POSITION=0, SOURCE_SSL=${s.ssl ? 1 : 0}, GET_SOURCE_PUBLIC_KEY=1`,
    ];
  }
  protected plainStart() {
    return 'START REPLICA';
  }
  protected plainStop() {
    return 'STOP REPLICA';
  }
  protected plainReset() {
    return 'RESET REPLICA ALL';
  }
  waitForPosition(file: string, position: number, timeoutSeconds: number) {
    const name = this.beforeSourcePosWait ? 'MASTER_POS_WAIT' : 'SOURCE_POS_WAIT';
    return `SELECT ${name}(${quoteString(file)}, ${position}, ${wholeSeconds(timeoutSeconds)}) AS result`;
  }
}

class Mysql84Dialect extends Mysql80Dialect {
  override readonly name: DialectName = 'mysql84';
  override showPrimaryStatus() {
    return 'SHOW BINARY LOG STATUS';
  }
  protected override rdsSetSourceProcedure() {
    return 'mysql.rds_set_external_source';
  }
  protected override rdsResetSourceProcedure() {
    return 'mysql.rds_reset_external_source';
  }
}
