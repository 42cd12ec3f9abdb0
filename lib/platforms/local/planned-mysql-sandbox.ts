import type { SqlRecorder } from '../../engines/mysql/recording-connection';
import type { SqlEffect } from '../../engines/recorded-sql';
import type { MysqlEndpoint } from '../../engines/mysql/endpoint';
import type { LocalMysqlServer, LocalMysqlServers } from './local-mysql-platform';
import { HAPROXY_BACKEND, parkCommands, serversStateCommand, switchCommands, type HaproxySlot } from './haproxy';

/** A local operation the plan lists beside the SQL: a tool's command line, an HAProxy runtime command, a file rewrite. */
export type LocalOperation = { on: string; channel: 'sql' | 'process'; operation: string; effect: SqlEffect };

/**
 * The local world for the dry-run plan (`--env local` without --execute, and the sandbox's dry
 * runs): the same LocalMysqlPlatform code a rehearsal runs, on a stand-in of the sandbox that
 * records what would be done and does nothing. mariadb-backup and the server starts are
 * recorded as command lines, HAProxy's runtime API commands (the same texts haproxy.ts sends)
 * and its config rewrite as operations on `haproxy`; every server endpoint carries the plan's
 * SQL recorder, so the platform's SQL (CHANGE MASTER for the replica) and the flow's go
 * through recording connections. Nothing starts, nothing is read from or written to disk.
 *
 * The stand-in answers as a fresh sandbox would: a source behind HAProxy's slot blue, no
 * replica or target until the flow creates them; ports are named run-time values.
 */
export class PlannedMysqlSandbox implements LocalMysqlServers {
  readonly rootPassword: string;
  private readonly servers = new Map<string, LocalMysqlServer>();
  private readonly slots: Record<HaproxySlot, { address: string; port: number; enabled: boolean }>;

  constructor(
    private readonly recorder: SqlRecorder,
    private readonly record: (operation: LocalOperation) => void,
  ) {
    this.rootPassword = recorder.options.values.text('root password');
    this.servers.set('source', this.server('source', 1));
    this.slots = {
      blue: { address: '127.0.0.1', port: this.servers.get('source')!.port, enabled: true },
      green: { address: '127.0.0.1', port: 0, enabled: false },
    };
  }

  readonly instances = { has: (name: string) => this.servers.has(name) };

  instance(name: string): LocalMysqlServer {
    const server = this.servers.get(name);
    if (!server) throw new Error(`No server named ${name} in the sandbox`);
    return server;
  }

  newInstance(name: string, serverId: number, options: { readOnlyAtStartup?: boolean } = {}): LocalMysqlServer {
    const server = this.server(name, serverId, options.readOnlyAtStartup ?? false);
    this.servers.set(name, server);
    return server;
  }

  async removeInstance(name: string): Promise<void> {
    if (!this.servers.has(name)) return;
    this.process(name, `stop mariadbd --defaults-file=<${name} my.cnf>, then rm -rf <${name} server folder>`);
    this.servers.delete(name);
  }

  freshFolder(name: string): string {
    return `<sandbox folder>/${name}`;
  }

  readonly haproxy = {
    command: async (commands: string | string[]): Promise<string> => {
      const line = Array.isArray(commands) ? commands.join('; ') : commands;
      this.record({ on: 'haproxy', channel: 'process', operation: `runtime API: ${line}`, effect: /^(show|get)\b/i.test(line) ? 'read' : 'change' });
      return '';
    },
    servers: async (): Promise<Record<HaproxySlot, { address: string; port: number; enabled: boolean }>> => {
      await this.haproxy.command(serversStateCommand(HAPROXY_BACKEND));
      return { blue: { ...this.slots.blue }, green: { ...this.slots.green } };
    },
    park: async (slot: HaproxySlot, server: { host: string; port: number }): Promise<void> => {
      await this.haproxy.command(parkCommands(HAPROXY_BACKEND, slot, server));
      this.slots[slot] = { address: server.host, port: server.port, enabled: false };
      this.rewriteConfig();
    },
    switchTo: async (to: HaproxySlot): Promise<void> => {
      await this.haproxy.command(switchCommands(HAPROXY_BACKEND, to));
      this.slots[to === 'blue' ? 'green' : 'blue'].enabled = false;
      this.slots[to].enabled = true;
      this.rewriteConfig();
    },
  };

  /** haproxy.ts writes its config after each runtime change, so a restarted HAProxy comes back where the switch left it. */
  private rewriteConfig(): void {
    const slot = (name: HaproxySlot) => `${name} ${this.slots[name].address}:${this.slots[name].port}${this.slots[name].enabled ? '' : ' disabled'}`;
    this.process('haproxy', `rewrite haproxy.cfg: backend ${HAPROXY_BACKEND} ${slot('blue')}, ${slot('green')}`);
  }

  private process(on: string, operation: string): void {
    this.record({ on, channel: 'process', operation, effect: 'change' });
  }

  private server(name: string, serverId: number, readOnlyAtStartup = false): LocalMysqlServer {
    const { values } = this.recorder.options;
    const port = values.number(`${name} port`);
    const recorder = this.recorder;
    let readOnly = readOnlyAtStartup;
    return {
      port,
      // The password never leaves the platform: the recorder sends nothing, so it needs none.
      endpoint: (): MysqlEndpoint => ({ name, host: '127.0.0.1', port, user: 'root', password: '', recorder }),
      backup: async (targetDir: string) => {
        this.process(name, `mariadb-backup --defaults-file=<${name} my.cnf> --backup --target-dir=${targetDir}`);
        this.process(name, `mariadb-backup --prepare --target-dir=${targetDir}`);
        return { dir: targetDir, binlogFile: values.text(`binlog file of the ${name} copy`), binlogPosition: values.number(`binlog position of the ${name} copy`) };
      },
      restoreFrom: async (preparedBackupDir: string) => {
        this.process(name, `write <${name} my.cnf> (server_id ${serverId}, port ${port}${readOnly ? ', read_only=ON' : ''}), move ${preparedBackupDir} into place as its datadir`);
        this.process(name, `mariadbd --defaults-file=<${name} my.cnf>`);
      },
      setReadOnlyAtStartup: async (value: boolean) => {
        if (value === readOnly) return;
        readOnly = value;
        this.process(name, `rewrite <${name} my.cnf>: read_only=${value ? 'ON' : 'OFF'} at the next start`);
      },
    };
  }
}
