import type { EndpointState, MysqlPlatform, ReverseReplication, TemporaryReplicaSeeding } from '../mysql-platform';
import type { Facts, StepContext } from '../../runbook/step';
import type { MysqlEndpoint } from '../../engines/mysql/endpoint';
import { connect } from '../../engines/mysql/connection';
import { detectDialect, replicaStatus, startReplicationFrom } from '../../engines/mysql/server';
import type { HaproxySlot } from './haproxy';

/** One server of the local world, as the platform uses it. */
export interface LocalMysqlServer {
  readonly port: number;
  endpoint(): MysqlEndpoint;
  /** A prepared mariadb-backup copy in `targetDir`, with the binlog coordinates it corresponds to. */
  backup(targetDir: string): Promise<{ dir: string; binlogFile?: string; binlogPosition?: number }>;
  /** Become a copy of a prepared backup folder and start. */
  restoreFrom(preparedBackupDir: string): Promise<void>;
  setReadOnlyAtStartup(readOnly: boolean): Promise<void>;
}

/**
 * What the local platform needs of the world it runs in: the running sandbox (mysql-sandbox.ts)
 * for a run, the recording stand-in (planned-mysql-sandbox.ts) for the dry-run plan, where
 * mariadb-backup, the server starts and HAProxy's runtime commands are recorded, not done.
 */
export interface LocalMysqlServers {
  readonly rootPassword: string;
  readonly instances: { has(name: string): boolean };
  instance(name: string): LocalMysqlServer;
  newInstance(name: string, serverId: number, options?: { readOnlyAtStartup?: boolean }): LocalMysqlServer;
  removeInstance(name: string): Promise<void>;
  /** An empty folder for a backup (a run killed while copying leaves a partial one: mariadb-backup refuses it). */
  freshFolder(name: string): string;
  readonly haproxy: {
    command(commands: string | string[]): Promise<string>;
    servers(): Promise<Record<HaproxySlot, { address: string; port: number; enabled: boolean }>>;
    park(slot: HaproxySlot, server: { host: string; port: number }): Promise<void>;
    switchTo(to: HaproxySlot): Promise<void>;
  };
}

/**
 * The MySQL platform on the local sandbox. Where AWS creates a read replica, snapshots it,
 * copies the snapshot with a KMS key and restores it, this takes mariadb-backup copies of
 * real servers; where AWS flips a Route 53 record or RDS Proxy target, this flips HAProxy.
 */
export class LocalMysqlPlatform implements MysqlPlatform {
  readonly kind = 'local' as const;
  readonly rdsProcedures = false;

  /** On the running sandbox for a run, on its recording stand-in for the dry-run plan. */
  constructor(private readonly sandbox: LocalMysqlServers) {}

  async source(): Promise<MysqlEndpoint> {
    return this.sandbox.instance('source').endpoint();
  }
  async target(): Promise<MysqlEndpoint> {
    return this.sandbox.instance('target').endpoint();
  }
  sourceAddressForReplication() {
    return { host: '127.0.0.1', port: this.sandbox.instance('source').port };
  }
  replicationAccountHost(): string {
    return '127.0.0.1';
  }
  replicationTls(): boolean {
    return false;
  }

  readonly describe = {
    readOnly: (on: boolean) => `, read_only ${on ? 'ON' : 'OFF'}`,
    killSessions: () => '',
    targetKeptOff: () => 'The target stays read_only until the switch.',
    source: () => 'local MariaDB "source" (sandbox)',
    cloneTarget: () => ['Clone the stopped replica into the new target: mariadb-backup copy of its datadir into a new server (server_id 3)', '(AWS: CreateDBSnapshot → CopyDBSnapshot with the KMS key → RestoreDBInstanceFromDBSnapshot).'],
    switchEndpoint: () => ['move the application endpoint: HAProxy slot blue (source) to maintenance, its sessions shut, slot green (target) ready (one runtime-API round trip);'],
    fence: () => ['Fence the old source: confirm HAProxy keeps it in maintenance; its app accounts stay locked (AWS: deny-all security group).'],
  };

  /** A temporary replica: a mariadb-backup copy of the live source, replicating from it (AWS: a read replica). */
  readonly seeding: TemporaryReplicaSeeding = {
    strategy: 'temporary-replica',
    describe: {
      createReplica: () => ['Create the temporary replica: mariadb-backup copy of the live source into a new server (server_id 2),', 'replicating from the coordinates of the copy (AWS: CreateDBInstanceReadReplica).'],
      removeReplica: () => ['Stop and delete the temporary replica server.'],
    },
    createReplica: (context) => this.createReplica(context),
    replica: async () => this.sandbox.instance('replica').endpoint(),
    removeReplica: () => this.removeReplica(),
  };

  private async createReplica(context: StepContext): Promise<Facts> {
    if (this.sandbox.instances.has('replica')) {
      const status = await this.withConnection('replica', (c, d) => replicaStatus(c, d));
      if (status) return { replicaId: 'replica' };
      await this.sandbox.removeInstance('replica');
    }
    const backupDir = this.sandbox.freshFolder(`backup-replica-${context.runId}`);
    const backup = await this.sandbox.instance('source').backup(backupDir);
    if (!backup.binlogFile) throw new Error('mariadb-backup did not record the source binlog position');
    // read_only from its first start: the application must never write to a copy (issue 9).
    const replica = this.sandbox.newInstance('replica', 2, { readOnlyAtStartup: true });
    await replica.restoreFrom(backup.dir);
    const source = this.sandbox.instance('source');
    await this.withConnection('replica', (connection, dialect) =>
      startReplicationFrom(connection, dialect, { host: '127.0.0.1', port: source.port, user: 'root', password: this.sandbox.rootPassword, logFile: backup.binlogFile!, logPosition: backup.binlogPosition!, ssl: false }),
    );
    return { replicaId: 'replica', replicaSeededAt: `${backup.binlogFile}:${backup.binlogPosition}` };
  }

  async cloneTarget(context: StepContext): Promise<Facts> {
    if (this.sandbox.instances.has('target')) return { targetId: 'target' };
    const backupDir = this.sandbox.freshFolder(`backup-target-${context.runId}`);
    const backup = await this.sandbox.instance('replica').backup(backupDir);
    // read_only from its first start until the switch opens it (the app account is unlocked in the copy).
    const target = this.sandbox.newInstance('target', 3, { readOnlyAtStartup: true });
    await target.restoreFrom(backup.dir);
    return { targetId: 'target' };
  }

  async prepareSwitch(): Promise<void> {
    const target = this.sandbox.instance('target');
    await this.sandbox.haproxy.park('green', { host: '127.0.0.1', port: target.port });
    await this.sandbox.haproxy.command('show info'); // warm the admin socket path
  }

  async switchEndpoint(): Promise<void> {
    await this.sandbox.haproxy.switchTo('green');
  }

  async switchPointAnswers(): Promise<void> {
    await this.sandbox.haproxy.command('show info');
  }

  /** From HAProxy's runtime state: which slot takes connections, and which server it dials. */
  async endpointTarget(): Promise<EndpointState> {
    const servers = await this.sandbox.haproxy.servers();
    const portOf = (name: string) => (this.sandbox.instances.has(name) ? this.sandbox.instance(name).port : undefined);
    const enabled = (['blue', 'green'] as const).filter((slot) => servers[slot].enabled);
    const detail = (['blue', 'green'] as const).map((slot) => `${slot} ${servers[slot].address}:${servers[slot].port} ${servers[slot].enabled ? 'ready' : 'maint'}`).join(', ');
    if (enabled.length === 0) return { pointsTo: 'none', detail: `HAProxy: ${detail}` };
    if (enabled.length > 1) return { pointsTo: 'unknown', detail: `HAProxy sends traffic to both slots: ${detail}` };
    const live = servers[enabled[0]];
    if (live.port === portOf('target')) return { pointsTo: 'target', detail: `HAProxy: ${detail}` };
    if (live.port === portOf('source')) return { pointsTo: 'source', detail: `HAProxy: ${detail}` };
    return { pointsTo: 'unknown', detail: `HAProxy points at neither the source nor the target: ${detail}` };
  }

  async fenceSource(): Promise<Facts> {
    const servers = await this.sandbox.haproxy.servers();
    if (servers.blue.enabled) throw new Error('fence failed: the old source is still enabled in HAProxy');
    return { fence: 'haproxy:blue:maint' };
  }

  async recycleClients(context?: StepContext): Promise<void> {
    // `shutdown sessions server` in the switch already cut every client of the old side.
    // The switch set read_only with SET GLOBAL; the target's my.cnf follows, so a restart keeps
    // it as the switch left it: open after a switch forward (a clone starts closed), closed
    // after a switch back (the target is the frozen side again; never both writable).
    await this.sandbox.instance('target').setReadOnlyAtStartup(context?.facts.switchDirection === 'back');
  }

  /** HAProxy is the switch point both ways: slot blue keeps the old source's address, green the target's. */
  readonly reverseReplication: ReverseReplication = {
    targetAddressForReplication: () => ({ host: '127.0.0.1', port: this.sandbox.instance('target').port }),
    prepareSwitchBack: async () => {
      const source = this.sandbox.instance('source');
      await this.sandbox.haproxy.park('blue', { host: '127.0.0.1', port: source.port });
      await this.sandbox.haproxy.command('show info');
    },
    switchEndpointBack: async () => {
      await this.sandbox.haproxy.switchTo('blue');
    },
    deleteSource: async (context) => {
      const servers = await this.sandbox.haproxy.servers();
      if (servers.blue.enabled) throw new Error('refusing to delete the old source: HAProxy still sends traffic to it (slot blue ready)');
      // Irreversible: a Ctrl-C that arrived before this point stops the run here, nothing deleted.
      await context.checkpoint?.('deleting the old source');
      await this.sandbox.removeInstance('source');
      return { sourceDeleted: true };
    },
    describe: {
      switchEndpointBack: () => ['move the application endpoint back: HAProxy slot green (target) to maintenance, its sessions shut, slot blue (old source) ready (one runtime-API round trip);'],
      deleteSource: () => ['Stop and delete the old source server and its files (AWS: delete the old instance).'],
    },
  };

  private async removeReplica(): Promise<Facts> {
    await this.sandbox.removeInstance('replica');
    return { replicaRemoved: true };
  }

  private async withConnection<T>(name: string, use: (connection: import('../../engines/mysql/connection').Connection, dialect: import('../../engines/mysql/dialect').MysqlDialect) => Promise<T>): Promise<T> {
    const connection = await connect(this.sandbox.instance(name).endpoint());
    try {
      return await use(connection, await detectDialect(connection));
    } finally {
      await connection.end();
    }
  }
}
