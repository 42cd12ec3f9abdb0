import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { ProcessGroup } from '../../util/process-group';
import { freePort } from '../../util/ports';
import { waitFor } from '../../util/time';
import type { Logger } from '../../util/log';

/** A backend slot in the HAProxy config. The sandbox has two: the old and the new server. */
export type HaproxySlot = 'blue' | 'green';

/** The sandbox's backend name (HAProxy's `backend` section). */
export const HAPROXY_BACKEND = 'db';

/** Runtime API commands that park a slot on a server, in maintenance (one round trip; the plan records the same). */
export function parkCommands(backend: string, slot: HaproxySlot, server: { host: string; port: number }): string[] {
  return [`set server ${backend}/${slot} state maint`, `set server ${backend}/${slot} addr ${server.host} port ${server.port}`];
}

/** Runtime API commands that move traffic to a slot: the other one to maintenance, its sessions cut, this one ready. */
export function switchCommands(backend: string, to: HaproxySlot): string[] {
  const from: HaproxySlot = to === 'blue' ? 'green' : 'blue';
  return [`set server ${backend}/${from} state maint`, `shutdown sessions server ${backend}/${from}`, `set server ${backend}/${to} state ready`];
}

/** The read `servers()` sends. */
export const serversStateCommand = (backend: string) => `show servers state ${backend}`;

/**
 * HAProxy in TCP mode as the application's endpoint: the local stand-in for the Route 53
 * record or RDS Proxy that a real cutover moves. Switching uses the runtime API on the stats
 * socket, written to directly (spawning socat per command costs ~12 ms here).
 * Note: never hold clients with `set maxconn frontend … 0` — raising it again deadlocks
 * HAProxy 2.6 (upstream issue 2726).
 */
export class Haproxy {
  readonly dir: string;
  readonly socketPath: string;
  port = 0;
  private process: ChildProcess | undefined;
  /** HAProxy started by another process (a persistent sandbox), known by its pid only. */
  private adoptedPid: number | undefined;

  constructor(private readonly options: { baseDir: string; group: ProcessGroup; log: Logger; backendName?: string }) {
    this.dir = join(options.baseDir, 'haproxy');
    this.socketPath = join(this.dir, 'admin.sock');
  }

  get backend(): string {
    return this.options.backendName ?? HAPROXY_BACKEND;
  }

  /** Start with `blue` pointing at the given server and `green` parked (maintenance). */
  async start(blue: { host: string; port: number }): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.port = await freePort();
    this.slots = { blue: { ...blue, enabled: true }, green: { host: '127.0.0.1', port: 9, enabled: false } };
    this.writeConfig();
    await this.run();
  }

  /**
   * Start it again after it died or was stopped: from its config file, on its port, as an
   * operator's `systemctl start haproxy` would. The file follows every park and switch, so a
   * restarted HAProxy sends clients where the last switch pointed them, not back to the old side.
   */
  async restart(): Promise<void> {
    if (this.port === 0) throw new Error('HAProxy was never started here: nothing to restart');
    await this.run();
  }

  private async run(): Promise<void> {
    this.process = this.options.group.start('haproxy', '/usr/sbin/haproxy', ['-db', '-f', this.configFile]);
    await waitFor('HAProxy admin socket', async () => ((await this.command('show info').catch(() => '')).includes('Pid:') ? true : undefined), { timeoutMs: 15000, intervalMs: 50 });
    this.options.log.debug(`haproxy listening on 127.0.0.1:${this.port}`);
  }

  private get configFile(): string {
    return join(this.dir, 'haproxy.cfg');
  }

  /** The slots as the runtime API last set them, written where a restart reads them. */
  private slots: Record<HaproxySlot, { host: string; port: number; enabled: boolean }> | undefined;

  private writeConfig(): void {
    const slot = (name: HaproxySlot) => `    server ${name} ${this.slots![name].host}:${this.slots![name].port}${this.slots![name].enabled ? '' : ' disabled'}`;
    const config = `global
    stats socket ${this.socketPath} mode 600 level admin
    maxconn 4000

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h

frontend app
    bind 127.0.0.1:${this.port}
    default_backend ${this.backend}

backend ${this.backend}
${slot('blue')}
${slot('green')}
`;
    writeFileSync(this.configFile, config);
  }

  /**
   * After a runtime change: the config file follows (best effort: the runtime state is what
   * serves clients and what a switch reads back; a file that cannot be written — a full disk —
   * only means a restart would come back on the old slots, which a resume reads and corrects).
   */
  private persist(change: (slots: Record<HaproxySlot, { host: string; port: number; enabled: boolean }>) => void): void {
    if (!this.slots) return; // adopted from another process: its file is that process's
    change(this.slots);
    try {
      this.writeConfig();
    } catch (failure) {
      this.options.log.warn(`HAProxy config ${this.configFile} not updated (${(failure as Error).message}): a restart would come back on the slots it had before`);
    }
  }

  /** Take over an HAProxy another process started (recorded in a persistent sandbox's state). */
  adopt(port: number, pid: number): void {
    this.port = port;
    this.adoptedPid = pid;
  }

  get pid(): number | undefined {
    return this.process?.pid ?? this.adoptedPid;
  }

  /** Send one or more runtime API commands (joined with `;`) and return the reply. */
  command(commands: string | string[]): Promise<string> {
    const line = (Array.isArray(commands) ? commands.join('; ') : commands) + '\n';
    return new Promise((resolve, reject) => {
      const socket = createConnection(this.socketPath);
      let reply = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (reply += chunk));
      // Named: this error ends up in a switch's stop message ("the application endpoint stopped answering").
      socket.on('error', (error) => reject(new Error(`HAProxy's admin socket ${this.socketPath}: ${error.message}`)));
      socket.on('end', () => resolve(reply));
      socket.on('connect', () => socket.write(line));
    });
  }

  /** Current address and state of each slot, read from `show servers state`. */
  async servers(): Promise<Record<HaproxySlot, { address: string; port: number; enabled: boolean }>> {
    const reply = await this.command(serversStateCommand(this.backend));
    const result: Partial<Record<HaproxySlot, { address: string; port: number; enabled: boolean }>> = {};
    for (const line of reply.split('\n')) {
      const fields = line.trim().split(/\s+/);
      // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ... srv_port at 18
      if (fields.length < 19 || fields[1] !== this.backend) continue;
      const slot = fields[3] as HaproxySlot;
      const adminState = Number(fields[6]);
      result[slot] = { address: fields[4], port: Number(fields[18]), enabled: (adminState & 0x01) === 0 && (adminState & 0x02) === 0 && (adminState & 0x20) === 0 };
    }
    if (!result.blue || !result.green) throw new Error(`unexpected HAProxy server state reply:\n${reply}`);
    return result as Record<HaproxySlot, { address: string; port: number; enabled: boolean }>;
  }

  /** Point a parked slot at a server, still in maintenance (done ahead of the switch). */
  async park(slot: HaproxySlot, server: { host: string; port: number }): Promise<void> {
    const reply = await this.command(parkCommands(this.backend, slot, server));
    if (/No such|Require|error/i.test(reply)) throw new Error(`HAProxy refused to park ${slot}: ${reply.trim()}`);
    this.persist((slots) => (slots[slot] = { host: server.host, port: server.port, enabled: false }));
  }

  /**
   * Move traffic from one slot to the other in a single runtime API round trip: the old
   * slot goes to maintenance, its open sessions are cut, the new slot takes connections.
   */
  async switchTo(to: HaproxySlot): Promise<void> {
    const from: HaproxySlot = to === 'blue' ? 'green' : 'blue';
    const reply = await this.command(switchCommands(this.backend, to));
    if (/No such|Require|error/i.test(reply)) throw new Error(`HAProxy refused the switch to ${to}: ${reply.trim()}`);
    this.persist((slots) => {
      slots[from].enabled = false;
      slots[to].enabled = true;
    });
  }

  async stop(): Promise<void> {
    if (this.process) await this.options.group.stopProcess(this.process, 5000);
    else if (this.adoptedPid !== undefined) await ProcessGroup.stopPid(this.adoptedPid, this.dir, 5000);
    this.process = undefined;
    this.adoptedPid = undefined;
  }
}
