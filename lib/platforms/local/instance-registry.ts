import { rmSync } from 'node:fs';

/** A sandbox server: something with its own folder that can be stopped. */
export interface SandboxServer {
  readonly dir: string;
  stop(): Promise<void>;
}

/** The named servers of a sandbox (`source`, `replica`, `target`). */
export class InstanceRegistry<T extends SandboxServer> {
  private readonly servers = new Map<string, T>();

  has(name: string): boolean {
    return this.servers.has(name);
  }

  add(name: string, server: T): T {
    if (this.servers.has(name)) throw new Error(`sandbox already has an instance called ${name}`);
    this.servers.set(name, server);
    return server;
  }

  /** The server, or undefined when it does not exist (yet). */
  find(name: string): T | undefined {
    return this.servers.get(name);
  }

  /** In creation order. */
  values(): T[] {
    return [...this.servers.values()];
  }

  get(name: string): T {
    const server = this.servers.get(name);
    if (!server) throw new Error(`sandbox has no ${name} server (was the step that creates it run in this process?)`);
    return server;
  }

  /** Stop a server and delete its files; nothing if it does not exist. */
  async remove(name: string): Promise<void> {
    const server = this.servers.get(name);
    if (!server) return;
    await server.stop();
    rmSync(server.dir, { recursive: true, force: true });
    this.servers.delete(name);
  }
}
