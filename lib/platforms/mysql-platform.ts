import type { Facts, StepContext } from '../runbook/step';
import type { MysqlEndpoint } from '../engines/mysql/endpoint';
import type { MysqlDialect } from '../engines/mysql/dialect';

/**
 * Where the application's endpoint sends traffic, as read from the switch point itself (HAProxy's
 * runtime state, the Route 53 record), not from the journal: a resumed switch decides from it
 * whether traffic moved. `none`: no server takes traffic (a switch cut between its commands);
 * `unknown`: it points somewhere else, or cannot be read (`detail` says which).
 */
export interface EndpointState {
  pointsTo: 'source' | 'target' | 'none' | 'unknown';
  detail: string;
}

/**
 * What the MySQL-family flow needs from the place the databases live. The runbook is the same
 * for the local rehearsal and for AWS; only implementations of this interface know where
 * servers come from (mariadb-backup copies vs. snapshots and KMS copies) and what the switch
 * point is (HAProxy vs. Route 53 / RDS Proxy).
 *
 * Every operation is idempotent: it looks at actual state (or facts journaled by an earlier
 * attempt) before changing anything, so a resumed run can call it again.
 */
export interface MysqlPlatform {
  readonly kind: 'local' | 'aws';
  /** Replication is configured through RDS's mysql.rds_* procedures. */
  readonly rdsProcedures: boolean;
  /**
   * How the target is seeded: the strategy contributes its own, honestly named steps to the flow
   * (a temporary replica's, or a snapshot's of the source itself); see MysqlSeeding.
   */
  readonly seeding: MysqlSeeding;
  /**
   * Whether account changes (CREATE USER, ALTER USER … IDENTIFIED BY) reach the replica through
   * replication. @default true. Aurora MySQL 3 replicates no change of the `mysql` schema: the
   * switch then sets the way back's replication account on both sides itself.
   */
  readonly accountChangesReplicate?: boolean;
  /** Adjust the dialect detected from SELECT VERSION() (Aurora MySQL 3 reports 8.0 but has 8.4's procedure names). */
  dialect?(detected: MysqlDialect): MysqlDialect;

  /** Administrator endpoint of the source (writable primary). */
  source(): Promise<MysqlEndpoint>;
  /** Administrator endpoint of the new target, once cloned. */
  target(facts: Facts): Promise<MysqlEndpoint>;
  /** The source's address as the target must dial it for replication. */
  sourceAddressForReplication(): { host: string; port: number };
  /** Host pattern the replication account is limited to (`127.0.0.1`, a VPC range). */
  replicationAccountHost(): string;
  /** Require TLS for replication between source and target. */
  replicationTls(): boolean;

  /** Plan lines for each operation (deterministic, no secrets). */
  describe: {
    source(): string;
    cloneTarget(): string[];
    switchEndpoint(): string[];
    fence(): string[];
    /**
     * The clause the freeze and the promotion add after "lock/unlock the app accounts": how this
     * platform's servers refuse writes (`, read_only ON`), or nothing where read_only is not the
     * flow's to set (RDS: a parameter-group setting).
     */
    readOnly(on: boolean): string;
    /** How the app's sessions are ended, as a clause (RDS: ` (mysql.rds_kill)`; a plain server: nothing). */
    killSessions(): string;
    /** What keeps the application off the target until the switch, when its write grants are not revoked. */
    targetKeptOff(): string;
  };

  /**
   * Make the new target from what the seeding made (the stopped replica: snapshot → encrypted
   * copy → restore; the source's snapshot: an encrypting restore).
   */
  cloneTarget(context: StepContext): Promise<Facts>;
  /** Get the switch ready ahead of time (park the target, warm connections, lower TTLs). */
  prepareSwitch(context: StepContext): Promise<void>;
  /** Move the application's endpoint to the target. Must be quick: writes are frozen. */
  switchEndpoint(context: StepContext): Promise<void>;
  /** Read (never change) where the application's endpoint points now. */
  endpointTarget(context: StepContext): Promise<EndpointState>;
  /**
   * Throws when the switch point itself stopped answering (a local proxy that died). Asked
   * inside the switch, alongside the target's catch-up (no added wait), so that a dead switch
   * point is seen while undoing the freeze is still possible. None where the endpoint is a
   * managed service (a Route 53 record cannot die mid-switch; its calls fail on their own).
   */
  switchPointAnswers?(context: StepContext): Promise<void>;
  /** Make the old source unreachable for the application (deny-all security group). */
  fenceSource(context: StepContext): Promise<Facts>;
  /** End client connections still open to the old side (pool recycle). */
  recycleClients(context: StepContext): Promise<void>;

  /**
   * Capability: the way back. With it, the switch starts replication new → old before traffic
   * opens on the new side (the switch is not done until it runs), and `switch-back` /
   * `complete` work. Without it (a platform that has not built it yet) the switch moves
   * traffic one way only, as before, and switch-back refuses naming the platform.
   */
  readonly reverseReplication?: ReverseReplication;
}

/**
 * How the target is seeded, chosen by the platform; each strategy has its own steps in the flow
 * (lib/flows/mysql-encrypt.ts `seedingSteps`), so none of them fakes another's:
 * - TemporaryReplicaSeeding (RDS instance: CreateDBInstanceReadReplica; local: a mariadb-backup
 *   copy): mysql.replica.create, mysql.replica.catch-up, mysql.replica.stop (the start coordinates
 *   are what the stopped replica executed), the clone of the stopped replica, mysql.replica.remove;
 * - SourceSnapshotSeeding (Aurora MySQL: a cluster snapshot, consistent by itself):
 *   mysql.snapshot.create, the clone (an encrypting restore) which then reads the start
 *   coordinates from the restored target, mysql.snapshot.remove.
 */
export type MysqlSeeding = TemporaryReplicaSeeding | SourceSnapshotSeeding;

/** A temporary replica of the source, stopped to give the start coordinates, then cloned. */
export interface TemporaryReplicaSeeding {
  readonly strategy: 'temporary-replica';
  /** Plan lines (deterministic, no secrets). */
  readonly describe: {
    createReplica(): string[];
    removeReplica(): string[];
  };
  /** Create a replica of the source that replicates from it; returns facts naming it. */
  createReplica(context: StepContext): Promise<Facts>;
  /** Administrator endpoint of the temporary replica, once created. */
  replica(facts: Facts): Promise<MysqlEndpoint>;
  /** Remove the temporary replica (AWS: only with --cleanup; otherwise say what to delete). */
  removeReplica(context: StepContext): Promise<Facts>;
}

/**
 * A snapshot of the source itself, consistent without a replica, restored into the target; the
 * restored target says which source binlog coordinates it ends at (Aurora MySQL: the "Binlog
 * position from crash recovery" event).
 */
export interface SourceSnapshotSeeding {
  readonly strategy: 'source-snapshot';
  /** Plan lines (deterministic, no secrets). */
  readonly describe: {
    createSnapshot(): string[];
    removeSnapshot(): string[];
  };
  /** Take the source's snapshot (a resumed run reuses it); returns facts naming it. */
  createSnapshot(context: StepContext): Promise<Facts>;
  /** The source binlog coordinates the cloned target ends at, read at the end of mysql.target.clone. */
  startCoordinates(context: StepContext): Promise<{ file: string; position: number }>;
  /** Remove the source's snapshot (AWS: only with --cleanup; otherwise say what to delete). */
  removeSnapshot(context: StepContext): Promise<Facts>;
}

/** What a platform adds so that traffic can go back to the old side (issue 12). */
export interface ReverseReplication {
  /** The target's address as the old source must dial it to replicate new → old. */
  targetAddressForReplication(facts: Facts): { host: string; port: number };
  /** Get the switch back ready ahead of time (park the old source in the switch point). */
  prepareSwitchBack(context: StepContext): Promise<void>;
  /** Move the application's endpoint back to the old source. Must be quick: writes are frozen. */
  switchEndpointBack(context: StepContext): Promise<void>;
  /** `complete --delete-old`: delete the old source for good. */
  deleteSource(context: StepContext): Promise<Facts>;
  describe: {
    switchEndpointBack(): string[];
    deleteSource(): string[];
  };
}
