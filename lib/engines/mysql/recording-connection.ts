import mysql from 'mysql2/promise';
import type { Connection } from './connection';
import { MYSQL_QUOTING, splitSqlStatements, type RuntimeValues, type SqlEffect } from '../recorded-sql';

/**
 * The dry-run half of the SQL connection (Vitess' switcher_dry_run.go idea): the flow's own
 * code runs unchanged, every statement it sends is recorded in order, and nothing reaches a
 * server. Reads are answered as a healthy server in the expected state would answer them;
 * values only the run can know come back as named run-time values (`<binlog position>`), so
 * the plan shows where they are used instead of inventing them.
 */

export type { SqlEffect, RuntimeValues };

export interface RecordedStatement {
  /** The server's role as the flow named its endpoint: source, replica, target. */
  server: string;
  statement: string;
  effect: SqlEffect;
  /** Set where the statement is sent once per row of an earlier read (each session to kill). */
  forEach?: string;
}

export interface SqlRecorderOptions {
  /** Where each statement goes, as it is sent. */
  record(statement: RecordedStatement): void;
  values: RuntimeValues;
  /** What `SELECT VERSION()` answers (decides the dialect): the source's EngineVersion where it was read, else an assumption the plan states. */
  version: string;
  /** Binlog retention the preflight reads (hours): enough for the check to pass. */
  binlogRetentionHours: number;
  /**
   * What the schema list (information_schema.SCHEMATA) answers: the databases the settings name,
   * so the preflight goes on to its later reads as on a healthy source.
   * @default - none (the preflight's check of the databases then stops the plan's view of that step early)
   */
  databases?: string[];
}

type ReplicationState = 'none' | 'configured' | 'running';

/** One recorder for a plan: remembers what the flow did to each server (replication started, stopped). */
export class SqlRecorder {
  private readonly replication = new Map<string, ReplicationState>([
    ['source', 'none'],
    ['replica', 'running'], // a read replica replicates from its creation
    ['target', 'none'],
  ]);

  readonly options: SqlRecorderOptions;
  private readonly binlogFiles = new Set<string>();

  constructor(options: SqlRecorderOptions) {
    // Every binlog file the plan names (a copy's, the replica's executed one, a crash-recovery
    // event's) is one a healthy source still has: SHOW BINARY LOGS lists them.
    const values: RuntimeValues = {
      number: (name) => options.values.number(name),
      text: (name) => {
        const value = options.values.text(name);
        if (/binlog file/.test(name)) this.binlogFiles.add(value);
        return value;
      },
    };
    this.options = { ...options, values };
  }

  /** The binlog files the plan has named so far, in order (what the source's SHOW BINARY LOGS lists). */
  binlogFilesNamed(): string[] {
    return [...this.binlogFiles];
  }

  /** A connection to `server` that records instead of sending. */
  connection(server: string): Connection {
    return new RecordingConnection(server, this) as unknown as Connection;
  }

  replicationOf(server: string): ReplicationState {
    return this.replication.get(server) ?? 'none';
  }

  setReplication(server: string, state: ReplicationState): void {
    this.replication.set(server, state);
  }
}

let threadIds = 0;

/** Just enough of mysql2's Connection for the flows: query, escape, threadId, end, destroy. */
class RecordingConnection {
  readonly threadId = 900000 + (threadIds += 1);
  private lastStatement = '';

  constructor(
    private readonly server: string,
    private readonly recorder: SqlRecorder,
  ) {}

  escape(value: unknown): string {
    return mysql.escape(value as never);
  }

  async end(): Promise<void> {}

  destroy(): void {}

  async query(sql: string | { sql: string }, values?: unknown[]): Promise<[unknown, unknown[]]> {
    const text = mysql.format(typeof sql === 'string' ? sql : sql.sql, (values ?? []) as never);
    const statements = splitStatements(text);
    const results = statements.map((statement) => this.one(statement));
    return [statements.length === 1 ? results[0] : results, []];
  }

  private one(statement: string): unknown {
    // A kept connection's liveness probe is not part of the plan.
    if (statement === 'SELECT 1') return [{ 1: 1 }];
    const effect = effectOf(statement);
    const killsSession = /^KILL\s+(CONNECTION\s+)?\d|^CALL mysql\.rds_kill\(/i.test(statement);
    const checksumsTable = /^SELECT COUNT\(\*\) AS n, SUM\(/i.test(statement);
    const forEach = killsSession ? 'session the processlist read above lists (repeated until none is left)' : checksumsTable ? 'table the column list above names, with its columns' : undefined;
    this.recorder.options.record({ server: this.server, statement, effect, ...(forEach ? { forEach } : {}) });
    const answer = this.answer(statement);
    this.lastStatement = statement;
    return answer;
  }

  /** What a healthy server in the expected state answers. */
  private answer(statement: string): unknown {
    const { values, version, binlogRetentionHours } = this.recorder.options;
    const sql = statement.replace(/\s+/g, ' ').trim();
    const replication = this.recorder.replicationOf(this.server);
    if (/^SELECT VERSION\(\)/i.test(sql)) return [{ version }];
    if (/^SHOW GLOBAL VARIABLES/i.test(sql)) {
      return [
        { Variable_name: 'log_bin', Value: 'ON' },
        { Variable_name: 'binlog_format', Value: 'ROW' },
        { Variable_name: 'server_id', Value: String(values.number(`${this.server} server_id`)) },
        { Variable_name: 'binlog_expire_logs_seconds', Value: '0' },
        { Variable_name: 'version', Value: version },
      ];
    }
    if (/^CALL mysql\.rds_show_configuration/i.test(sql)) return [[{ name: 'binlog retention hours', value: String(binlogRetentionHours) }], { affectedRows: 0 }];
    if (/^SHOW GRANTS/i.test(sql)) return [{ Grants: 'GRANT ALL PRIVILEGES ON *.* TO <admin> WITH GRANT OPTION' }];
    if (/FROM mysql\.user WHERE User IN \(/i.test(sql)) {
      const users = [...(/User IN \(([^)]*)\)/i.exec(sql)?.[1] ?? '').matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]);
      return users.map((user) => ({ user, host: values.text(`host of ${user}`) }));
    }
    if (/information_schema\.PROCESSLIST/i.test(sql)) {
      // One stand-in session, so the plan shows the statement that ends each real one; none
      // once it was killed, as the loop expects.
      if (/^KILL|rds_kill/i.test(this.lastStatement)) return [];
      const user = /USER IN \('((?:[^'\\]|\\.)*)'/i.exec(sql)?.[1] ?? 'app';
      return [{ id: values.number('session id'), user, command: 'Query', info: null }];
    }
    if (/FROM information_schema\.SCHEMATA/i.test(sql)) return (this.recorder.options.databases ?? []).map((name) => ({ name }));
    if (/^SHOW (BINARY|MASTER) LOGS/i.test(sql)) return this.recorder.binlogFilesNamed().map((file) => ({ Log_name: file }));
    if (/^SHOW (MASTER|BINARY LOG) STATUS/i.test(sql)) return [{ File: values.text('binlog file'), Position: values.number('binlog position') }];
    if (/^SHOW (SLAVE|REPLICA) STATUS/i.test(sql)) {
      if (replication === 'none') return [];
      const running = replication === 'running' ? 'Yes' : 'No';
      return [
        {
          Slave_IO_Running: running,
          Slave_SQL_Running: running,
          Seconds_Behind_Master: 0,
          Relay_Master_Log_File: values.text('executed binlog file'),
          Exec_Master_Log_Pos: values.number('executed binlog position'),
          Last_IO_Error: '',
          Last_SQL_Error: '',
        },
      ];
    }
    if (/^SELECT (MASTER|SOURCE)_POS_WAIT/i.test(sql)) return [{ result: replication === 'running' ? 0 : null }];
    if (/^(STOP (SLAVE|REPLICA)|CALL mysql\.rds_stop_replication)/i.test(sql)) {
      if (replication !== 'none') this.recorder.setReplication(this.server, 'configured');
    } else if (/^(START (SLAVE|REPLICA)|CALL mysql\.rds_start_replication)/i.test(sql)) {
      this.recorder.setReplication(this.server, 'running');
    } else if (/^(CHANGE (MASTER|REPLICATION SOURCE) TO|CALL mysql\.rds_set_external_(master|source))/i.test(sql)) {
      this.recorder.setReplication(this.server, 'configured');
    } else if (/^(RESET (SLAVE|REPLICA) ALL|CALL mysql\.rds_reset_external_(master|source))/i.test(sql)) {
      this.recorder.setReplication(this.server, 'none');
    }
    if (/^SELECT @@GLOBAL\.read_only/i.test(sql)) return [{ ro: 0 }];
    if (/^SELECT COUNT\(\*\) AS n, SUM\(/i.test(sql)) return [{ n: values.number('row count'), s: values.text('checksum'), x: values.text('checksum') }];
    if (/FROM information_schema\.COLUMNS c JOIN information_schema\.TABLES/i.test(sql)) {
      // One stand-in table per database, so the plan shows the checksum query each real table gets.
      const databases = [...(/TABLE_SCHEMA IN \(([^)]*)\)/i.exec(sql)?.[1] ?? '').matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]);
      return databases.map((db) => ({ db, tbl: values.text('each table'), col: values.text('its columns'), type: 'varchar', columnType: 'varchar' }));
    }
    if (/^(SELECT|SHOW|XA RECOVER)\b/i.test(sql)) return [];
    return { affectedRows: 0, insertId: 0, warningStatus: 0 };
  }
}

/** What a statement does: reads and session settings change nothing on the server. */
export function effectOf(statement: string): SqlEffect {
  const sql = statement.trim();
  if (/^SELECT\s+(MASTER|SOURCE)_POS_WAIT/i.test(sql)) return 'wait';
  if (/^(SELECT|SHOW|XA RECOVER)\b|^CALL mysql\.rds_show_configuration\b/i.test(sql)) return 'read';
  if (/^(SET SESSION|SET @@SESSION|START TRANSACTION|COMMIT|ROLLBACK)\b/i.test(sql)) return 'session';
  return 'change';
}

/** Split a multi-statement batch at `;` outside quotes (the switch sends its freeze as one). */
export function splitStatements(text: string): string[] {
  return splitSqlStatements(text, MYSQL_QUOTING);
}
