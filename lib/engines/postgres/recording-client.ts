import type { PgClient } from './connection';
import { POSTGRES_QUOTING, splitSqlStatements, type RuntimeValues, type SqlEffect } from '../recorded-sql';

/**
 * The dry-run half of the PostgreSQL connection (the MySQL side's recording-connection.ts,
 * Vitess' switcher_dry_run.go idea): the flow's own code runs unchanged, every statement it
 * sends is recorded in order, and nothing reaches a server. Reads are answered as a healthy
 * pair of servers in the expected state would answer them (one stand-in table, one stand-in
 * sequence, replication streaming and caught up), so every loop ends at its first round and
 * every branch `--execute` takes on a fresh run is the branch the plan shows. Values only the
 * run can know come back as named run-time values (`<source WAL position>`).
 *
 * Client tools (pg_dump, pg_restore, psql) are recorded as their command lines instead of
 * started (`process`); their passwords travel in PGPASSWORD, never on the line.
 */

/** What a statement does, for the plan: only `change` statements alter a server. */
export type PgEffect = SqlEffect;

export interface RecordedPgCall {
  /** The server's role as the flow named its endpoint: source, target. */
  server: string;
  channel: 'sql' | 'process';
  /** The statement (parameters written in as literals), or the tool's command line. */
  text: string;
  effect: PgEffect;
  /** Sent once per row of an earlier read (each table), which a dry run cannot have. */
  forEach?: string;
}

/** Stand-ins for values only a run can know (the plan's PlanTimeline). */
export interface PgRuntimeValues extends RuntimeValues {
  /** A valid LSN that stands for `name` (`pastEveryOther`: not behind any other stand-in). */
  lsn(name: string, options?: { pastEveryOther?: boolean }): string;
}

export interface PgRecorderOptions {
  record(call: RecordedPgCall): void;
  values: PgRuntimeValues;
  /** server_version_num the servers answer (the source's major where known, else the target's). */
  versionNum: number;
  /**
   * The server-wide value of a setting where something outside SQL changed it (RDS: the
   * parameter group the freeze modified, as recorded): the freeze's poll ends at once.
   * @default - as the statements recorded so far left it (ALTER SYSTEM), else the server default
   */
  settingOf?(server: string, name: string): string | undefined;
}

interface Subscription {
  enabled: boolean;
}

/** One recorder per plan: remembers what the flow did to each server (slots, subscriptions, settings). */
export class PgRecorder {
  private readonly slots = new Map<string, Set<string>>();
  private readonly subscriptions = new Map<string, Map<string, Subscription>>();
  private readonly publications = new Map<string, Set<string>>();
  private readonly settings = new Map<string, Map<string, string>>();
  /** Servers that hold the database's tables: the source from the start, the target once something restored into it. */
  private readonly filled = new Set<string>(['source']);

  constructor(readonly options: PgRecorderOptions) {}

  /** A client of `server` that records instead of sending (`connectPg` returns it for a recording endpoint). */
  client(server: string, options: { replication?: 'database'; writable?: boolean } = {}): PgClient {
    const client = new RecordingPgClient(server, this, options.replication === 'database');
    if (options.writable) client.record('SET default_transaction_read_only = off');
    return client as unknown as PgClient;
  }

  /** A client tool's run: its command line recorded (no password: it travels in the environment). */
  process(server: string, tool: string, args: string[], effect: PgEffect): true {
    if (tool === 'pg_restore' || (tool === 'psql' && effect === 'change')) this.filled.add(server);
    this.options.record({ server, channel: 'process', text: [tool, ...args.map((arg) => shellWord(arg.replace(/[^\s=]*\/pg-(dump|copy)-[A-Za-z0-9]{6}/g, '<temp folder>')))].join(' '), effect, ...(/\bCOPY\b/.test(args.join(' ')) ? { forEach: 'table the column list above names (up to --copy-jobs at once)' } : {}) });
    return true;
  }

  /** A plan makes no folder: a name the rendered plan shows as `<temp folder>` (process() maps it). */
  temporaryFolder(parent: string, prefix: string): string {
    return `${parent}/${prefix}planXX`;
  }

  /**
   * What earlier runs left on the servers, for a plan that starts where they ended (the way
   * back: `switch-back`/`complete` find the way back streaming target -> source, `switch-forth`
   * the forward way): the publication and slot on the publisher, the subscription on the
   * subscriber, and both servers holding the tables.
   */
  assumeWay(way: { publisher: string; subscriber: string; publication: string; slot: string; subscription: string; enabled: boolean }): void {
    this.state(way.publisher).publications.add(way.publication);
    this.state(way.publisher).slots.add(way.slot);
    this.state(way.subscriber).subscriptions.set(way.subscription, { enabled: way.enabled });
    this.filled.add(way.publisher);
    this.filled.add(way.subscriber);
  }

  /** Whether the server holds the database's tables (an empty target lists none). */
  hasTables(server: string): boolean {
    return this.filled.has(server);
  }

  /** Whether any server holds a subscription of this name (its walsender streams on the other side). */
  hasSubscription(subscription: string): boolean {
    return [...this.subscriptions.values()].some((subscriptions) => subscriptions.has(subscription));
  }

  /** State the answers read (`state(server).slots` …). */
  state(server: string) {
    const of = <T>(map: Map<string, T>, make: () => T): T => {
      if (!map.has(server)) map.set(server, make());
      return map.get(server)!;
    };
    return { slots: of(this.slots, () => new Set<string>()), subscriptions: of(this.subscriptions, () => new Map<string, Subscription>()), publications: of(this.publications, () => new Set<string>()), settings: of(this.settings, () => new Map<string, string>()) };
  }
}

/** A word of a command line as a person would type it (quoted when it holds spaces or quotes). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./<>-]+$/.test(word) && !/^</.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A parameter written into the statement as PostgreSQL would read it. */
export function pgLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (Array.isArray(value)) return `ARRAY[${value.map(pgLiteral).join(', ')}]`;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return `'${String(value).replace(/'/g, "''")}'`;
}

/** `$1 … $n` replaced by their values (as literals). */
export function inlineParameters(sql: string, values: unknown[] = []): string {
  if (values.length === 0) return sql;
  return sql.replace(/\$(\d+)/g, (whole, n: string) => (Number(n) >= 1 && Number(n) <= values.length ? pgLiteral(values[Number(n) - 1]) : whole));
}

/** Split a multi-statement batch at `;` outside quotes and dollar quotes. */
export function splitPgStatements(text: string): string[] {
  return splitSqlStatements(text, POSTGRES_QUOTING);
}

/** What a statement does: reads and session settings change nothing on the server. */
export function pgEffectOf(statement: string): PgEffect {
  const sql = statement.trim();
  if (/^(BEGIN|START TRANSACTION|COMMIT|ROLLBACK|SET(?! TRANSACTION SNAPSHOT)|RESET)\b/i.test(sql) && !/^SET\s+ROLE\b/i.test(sql)) return 'session';
  if (/^SET TRANSACTION SNAPSHOT/i.test(sql)) return 'session';
  if (/FROM pg_stat_(replication|subscription)\b/i.test(sql)) return 'wait';
  if (/^SELECT\b/i.test(sql) && /\b(pg_terminate_backend|setval|pg_create_logical_replication_slot|pg_drop_replication_slot|pg_replication_origin_advance|pg_reload_conf)\s*\(/i.test(sql)) return 'change';
  if (/^(SELECT|SHOW|TABLE|VALUES)\b/i.test(sql)) return 'read';
  return 'change';
}

/** The stand-in table and sequence every read lists (one, so the plan shows what each real one gets). */
const TABLE = { schema: '<schema>', name: '<each table>' };
const COLUMNS = '<its columns>';

/** Just enough of pg's Client for the flows: query, on, end. */
class RecordingPgClient {
  constructor(
    private readonly server: string,
    private readonly recorder: PgRecorder,
    private readonly replication: boolean,
  ) {}

  on(): this {
    return this;
  }

  async connect(): Promise<void> {}

  async end(): Promise<void> {}

  async query(sql: string | { text: string; values?: unknown[] }, values?: unknown[]): Promise<unknown> {
    const text = typeof sql === 'string' ? inlineParameters(sql, values) : inlineParameters(sql.text, sql.values);
    // A kept connection's liveness probe is not part of the plan.
    if (text.trim() === 'SELECT 1') return result([{ '?column?': 1 }]);
    const statements = splitPgStatements(text);
    const results = statements.map((statement) => this.record(statement));
    return statements.length === 1 ? results[0] : results;
  }

  /** Record one statement and answer it. */
  record(statement: string): { rows: unknown[]; rowCount: number } {
    const checksum = /^SELECT count\(\*\) AS n, md5\(/i.test(statement);
    this.recorder.options.record({ server: this.server, channel: 'sql', text: statement, effect: pgEffectOf(statement), ...(checksum ? { forEach: 'table the list above names (each side its own list)' } : {}) });
    const rows = this.answer(statement.replace(/\s+/g, ' ').trim());
    return result(rows);
  }

  /** What a healthy server in the expected state answers (rows). */
  private answer(sql: string): unknown[] {
    const { values, versionNum } = this.recorder.options;
    const state = this.recorder.state(this.server);
    const name = (pattern: RegExp) => pattern.exec(sql)?.[1]?.replace(/^"|"$/g, '').replace(/""/g, '"') ?? '';
    const setting = (key: string) => this.recorder.options.settingOf?.(this.server, key) ?? state.settings.get(key);

    if (this.replication) {
      const slot = name(/^CREATE_REPLICATION_SLOT (\S+)/i);
      if (slot) {
        state.slots.add(slot);
        return [{ slot_name: slot, consistent_point: values.lsn(`${slot} consistent point`), snapshot_name: values.text(`snapshot exported by ${slot}`), output_plugin: 'pgoutput' }];
      }
      return [];
    }
    // ---- server facts and catalogs ----
    if (/current_setting\('server_version_num'\) AS v/i.test(sql)) {
      return [{ v: String(versionNum), wal: 'logical', enc: 'UTF8', slots: '10', senders: '10', used: String(state.slots.size) }];
    }
    if (/FROM pg_roles WHERE rolname = ANY\(/i.test(sql)) return [...sql.matchAll(/'((?:[^']|'')*)'/g)].map((m) => ({ rolname: m[1].replace(/''/g, "'") }));
    if (/FROM pg_largeobject_metadata/i.test(sql)) return [{ n: '0' }];
    if (/FROM pg_extension/i.test(sql) || /FROM pg_available_extensions/i.test(sql)) return [];
    const tables = this.recorder.hasTables(this.server);
    if (/FROM pg_class c JOIN pg_namespace n ON n\.oid = c\.relnamespace WHERE c\.relkind IN \('r', 'p'\)/i.test(sql) && /AS ident/i.test(sql)) {
      return tables ? [{ schema: TABLE.schema, name: TABLE.name, ident: 'd', pk: true, persistence: 'p' }] : [];
    }
    if (/string_agg\(a\.attname/i.test(sql)) return tables ? [{ ...TABLE, columns: COLUMNS }] : [];
    if (/FROM pg_publication_tables/i.test(sql)) return [TABLE];
    if (/FROM pg_subscription_rel/i.test(sql)) return [];
    if (/array_agg\(a\.attname::text/i.test(sql)) return [{ ...TABLE, pages: 0, columns: [values.text('its columns')], builtin: true }];
    if (/FROM pg_sequences ORDER BY/i.test(sql)) return [{ schema: '<schema>', name: '<each sequence>', lastValue: String(values.number(`${this.server} sequence value`)), increment: '1' }];
    if (/^SELECT count\(setval\(/i.test(sql)) return [{ n: '1' }];
    if (/FROM pg_database WHERE datname = /i.test(sql)) return [];
    if (/FROM pg_roles WHERE rolname = /i.test(sql)) return [];
    if (/FROM pg_publication WHERE pubname = /i.test(sql)) return state.publications.has(name(/pubname = '([^']*)'/i)) ? [{ x: 1 }] : [];
    // ---- replication: slots, subscriptions, walsenders ----
    if (/FROM pg_replication_slots WHERE slot_name = /i.test(sql) && /^SELECT active/i.test(sql)) {
      return state.slots.has(name(/slot_name = '([^']*)'/i)) ? [{ active: false, confirmed_flush_lsn: values.lsn('slot confirmed position') }] : [];
    }
    if (/FROM pg_subscription WHERE subname = /i.test(sql)) {
      const subscription = state.subscriptions.get(name(/subname = '([^']*)'/i));
      if (!subscription) return [];
      return [{ subenabled: subscription.enabled, x: 1, ...(/AS origin/i.test(sql) ? { origin: values.text(`replication origin of ${name(/subname = '([^']*)'/i)}`) } : {}) }];
    }
    if (/FROM pg_stat_subscription_stats/i.test(sql)) return [{ n: '0' }];
    if (/FROM pg_stat_replication WHERE application_name = /i.test(sql)) {
      // The subscriber has applied everything: a position past every stand-in LSN.
      const streaming = this.recorder.hasSubscription(name(/application_name = '([^']*)'/i));
      const reported = values.lsn('position the walsender reports', { pastEveryOther: true });
      return streaming ? [{ state: 'streaming', write_lsn: reported, flush_lsn: reported, replay_lsn: reported }] : [];
    }
    if (/FROM pg_stat_subscription WHERE subname = /i.test(sql)) {
      // The receiving side processed the stream past every stand-in LSN (as the walsender above reports).
      const subscription = name(/subname = '([^']*)'/i);
      return [{ lsn: state.subscriptions.has(subscription) ? values.lsn('position the subscriber processed', { pastEveryOther: true }) : null }];
    }
    if (/pg_current_wal_insert_lsn\(\)/i.test(sql)) return [{ lsn: values.lsn(`${this.server} WAL insert position`) }];
    if (/pg_current_wal_lsn\(\)/i.test(sql)) return [{ lsn: values.lsn(`${this.server} WAL position`) }];
    if (/pg_replication_origin_progress/i.test(sql)) return [{ lsn: values.lsn('pinned position') }];
    if (/pg_create_logical_replication_slot\(/i.test(sql)) state.slots.add(name(/pg_create_logical_replication_slot\('([^']*)'/i));
    if (/pg_drop_replication_slot\(/i.test(sql)) state.slots.delete(name(/pg_drop_replication_slot\('([^']*)'/i));
    if (/^CREATE PUBLICATION (\S+)/i.test(sql)) state.publications.add(name(/^CREATE PUBLICATION (\S+)/i));
    if (/^DROP PUBLICATION IF EXISTS (\S+)/i.test(sql)) state.publications.delete(name(/^DROP PUBLICATION IF EXISTS (\S+)/i));
    if (/^CREATE SUBSCRIPTION (\S+)/i.test(sql)) state.subscriptions.set(name(/^CREATE SUBSCRIPTION (\S+)/i), { enabled: !/enabled = false/i.test(sql) });
    if (/^ALTER SUBSCRIPTION (\S+) (ENABLE|DISABLE)$/i.test(sql)) {
      const sub = state.subscriptions.get(name(/^ALTER SUBSCRIPTION (\S+)/i));
      if (sub) sub.enabled = /ENABLE$/i.test(sql);
    }
    if (/^DROP SUBSCRIPTION (\S+)/i.test(sql)) state.subscriptions.delete(name(/^DROP SUBSCRIPTION (?:IF EXISTS )?(\S+)/i));
    // ---- the freeze ----
    if (/^ALTER SYSTEM SET default_transaction_read_only = on/i.test(sql)) state.settings.set('default_transaction_read_only', 'on');
    if (/^ALTER SYSTEM RESET default_transaction_read_only/i.test(sql)) state.settings.set('default_transaction_read_only', 'off');
    if (/SELECT reset_val FROM pg_settings WHERE name = 'default_transaction_read_only'/i.test(sql)) return [{ reset_val: setting('default_transaction_read_only') ?? 'off' }];
    if (/FROM pg_file_settings WHERE name = 'default_transaction_read_only'/i.test(sql)) return setting('default_transaction_read_only') === 'on' ? [{ setting: 'on' }] : [];
    // ---- sessions, checksums, copies ----
    if (/pg_terminate_backend\(pid\)\) AS n/i.test(sql)) return [{ n: '0' }];
    if (/^SELECT count\(\*\) AS n FROM pg_stat_activity/i.test(sql)) return [{ n: '0' }];
    // After the switch, as in a healthy run: the application is back on the new side.
    if (/^SELECT EXISTS \(SELECT 1 FROM pg_stat_activity WHERE usename/i.test(sql)) return [{ connected: true }];
    if (/^SELECT count\(\*\) AS n, md5\(/i.test(sql)) return [{ n: String(values.number('row count')), h: values.text('row hash') }];
    if (/pg_export_snapshot\(\)/i.test(sql)) return [{ s: values.text('exported snapshot') }];
    return [];
  }
}

function result(rows: unknown[]): { rows: unknown[]; rowCount: number } {
  return { rows, rowCount: rows.length };
}
