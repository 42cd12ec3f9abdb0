import type { Facts, StepContext } from '../runbook/step';
import type { PostgresEndpoint } from '../engines/postgres/endpoint';
import type { PgClient } from '../engines/postgres/connection';
import { ResourceKey } from '../runbook/resources';

/** How the data moves: logical replication (seconds of downtime) or dump/restore (the copy is the downtime). */
export type PostgresMethod = 'logical' | 'dump';

export interface PostgresFlowSettings {
  /** The database to move (one per run: a publication, slot and subscription are per database). */
  database: string;
  /** Application roles: their sessions are ended at the freeze, their logins fenced on the old source. */
  appUsers: string[];
  /** Role the target's subscription logs in with (REPLICATION, created with a fresh password). */
  replicationUser: string;
  /** Prefix of the publication, slot and subscription names (`<name>_pub`, `_slot`, `_sub`). */
  workflow: string;
  lagThresholdMs: number;
  switchTimeoutMs: number;
  catchUpTimeoutMs: number;
  /** Tables without a primary key or identity index get REPLICA IDENTITY FULL (slow UPDATE/DELETE apply). */
  allowReplicaIdentityFull: boolean;
  /** pg_dump / pg_restore workers. */
  copyJobs: number;
  /** Upper bound for the copy (dump: the downtime); past it the copy stops and the source reopens. */
  copyTimeoutMs: number;
  /** Major version of the new server; default: the source's. */
  targetVersion?: number;
  /** Folder for the directory-format dump (a fresh temp folder is made inside). */
  workDir: string;
}


/** A platform's writable administrator session on one side, kept for the run (closed when it ends). */
export const POSTGRES_ADMIN = { source: new ResourceKey<PgClient>('postgres.platform.sourceAdmin'), target: new ResourceKey<PgClient>('postgres.platform.targetAdmin') } as const;

/**
 * What the PostgreSQL flows need from the place the databases live. The runbooks are the
 * same for the local rehearsal and for AWS; only implementations of this interface know
 * where the target comes from (initdb of a local server vs. the stack's new cluster), how
 * the source is frozen (ALTER SYSTEM vs. a parameter group) and what the switch point is
 * (pgbouncer vs. RDS Proxy / DNS).
 *
 * Every operation is idempotent: it looks at actual state (or journaled facts) first.
 */
export interface PostgresPlatform {
  readonly kind: 'local' | 'aws';

  /** Administrator endpoint of the source, in the database being moved. */
  source(database: string): Promise<PostgresEndpoint>;
  /** Administrator endpoint of the target, once it exists. */
  target(facts: Facts, database: string): Promise<PostgresEndpoint>;
  /** How the target's subscription dials the source (address as seen from the target, TLS). */
  sourceForSubscription(database: string): Promise<{ host: string; port: number; sslmode: string }>;

  /**
   * The statements that make `role` a login able to open logical replication connections to
   * this platform's servers, with `password` (`exists`: the role is there already, ALTER it).
   * The right is the platform's business: a plain server gives the REPLICATION attribute; RDS
   * gives nobody that attribute and grants membership of its `rds_replication` role instead.
   * Run on the sending side of a way (the source forward, the target for the way back).
   */
  replicationRoleSql(role: string, password: string, exists: boolean): string[];

  /** Plan lines for each operation (deterministic, no secrets). */
  describe: {
    source(): string;
    /** How the replication role gets its right here (one clause: `LOGIN REPLICATION`, `GRANT rds_replication`). */
    replicationRole(role: string): string;
    target(): string;
    createTarget(): string[];
    freeze(): string[];
    /** What holding clients at the switch point means here (a pooler PAUSE, or nothing to hold). */
    pause(): string[];
    switchEndpoint(): string[];
    /** What releasing them means (RESUME, or clients following the DNS change). */
    /** Releasing the clients, onto `to` (the side traffic moves to; default the target). */
    resume(to?: string): string[];
    fence(): string[];
  };

  /**
   * Make the new server exist and be reachable: an empty server of the target version with
   * the application's roles, and the database created empty. Returns facts naming it.
   */
  createTarget(context: StepContext, options: { database: string; version?: number }): Promise<Facts>;

  /**
   * Stop application writes on the source, or allow them again (reversible). `staged`: the
   * read-only default was written by stageSourceReadOnly; only put it into effect.
   */
  setSourceReadOnly(context: StepContext, readOnly: boolean, options?: { staged?: boolean }): Promise<void>;
  /**
   * Optional: the slow half of the freeze, written but not yet in effect (local: ALTER SYSTEM,
   * which writes and fsyncs postgresql.auto.conf; in effect only at the reload). The switch
   * runs it beside the pooler's pause, so the freeze inside the window is the reload alone.
   * Undone by setSourceReadOnly(context, false). A platform whose freeze is one act (AWS: the
   * parameter group) has none.
   */
  stageSourceReadOnly?(context: StepContext): Promise<void>;

  /** Get the switch ready ahead of time (open the pooler's admin connection, pre-write config). */
  prepareSwitch(context: StepContext, database: string): Promise<void>;
  /** Hold application transactions at the switch point (clients queue, do not fail). False on timeout. */
  pauseClients(context: StepContext, timeoutMs: number): Promise<boolean>;
  /** Point the switch point at the target (while paused). */
  switchEndpoint(context: StepContext, database: string): Promise<void>;
  /** Release the queued clients (to wherever the switch point points now). */
  resumeClients(context: StepContext): Promise<void>;
  /**
   * Where the switch point sends the application now, read from the switch point itself
   * (a resumed switch decides from this whether traffic moved). Optional: without it a
   * resumed switch goes by the journal (once the endpoint move began, only forward).
   */
  switchPointState?(context: StepContext, database: string): Promise<{ pointsAt: 'source' | 'target' | 'unknown'; paused: boolean | null }>;
  /** Make the old source unreachable for the application. */
  fenceSource(context: StepContext): Promise<Facts>;
  /**
   * The recent lines of the target's server log, where PostgreSQL writes what its apply worker
   * failed on (table, key): pg_stat_subscription_stats only counts the errors. Optional: a
   * platform without it gets a message that names the log to read instead of the key.
   */
  targetServerLog?(context: StepContext): Promise<string | undefined>;
  /**
   * The way back (issue 12): what a platform needs so that the switch builds replication
   * target -> source and `switch-back` can move traffic back. Without it the forward switch
   * builds no way back and switch-back refuses.
   */
  readonly wayBack?: PostgresWayBack;
}

/** The platform's half of the way back: the same operations as forward, on the other side. */
export interface PostgresWayBack {
  /** How the old source's subscription dials the target (address as seen from the source, TLS). */
  targetForSubscription(database: string): Promise<{ host: string; port: number; sslmode: string }>;
  describe: {
    /** What prepareSwitchBack does before the window (nothing on a platform without it). */
    prepareSwitchBack?(): string[];
    freezeTarget(): string[];
    reopenSource(): string[];
    switchEndpointBack(): string[];
    fenceTarget(): string[];
    deleteSource(): string[];
  };
  /**
   * Before the switch-back's window: what takes minutes and must not be inside it (on AWS: the
   * security-group fence lifted from the old source, which stays frozen and NOLOGIN for the
   * application). Idempotent; optional.
   */
  prepareSwitchBack?(context: StepContext): Promise<void>;
  /** Stop application writes on the target (the side traffic leaves), or allow them again (`staged`: as setSourceReadOnly's). */
  setTargetReadOnly(context: StepContext, readOnly: boolean, options?: { staged?: boolean }): Promise<void>;
  /** Optional: as stageSourceReadOnly, on the target (the side a switch back freezes). */
  stageTargetReadOnly?(context: StepContext): Promise<void>;
  /** Let the application roles log in to the old source again (the fence undone; the server may still be frozen). */
  unfenceSource(context: StepContext): Promise<void>;
  /** Point the switch point back at the source (while paused). */
  switchEndpointBack(context: StepContext, database: string): Promise<void>;
  /** Make the target unreachable for the application (after traffic moved back). */
  fenceTarget(context: StepContext): Promise<Facts>;
  /**
   * `complete --delete-old`: delete the old source (its server and files locally). Refuses while
   * the switch point sends traffic to it; nothing to do when it is gone already (a resumed complete).
   */
  deleteSource(context: StepContext): Promise<Facts>;
}
