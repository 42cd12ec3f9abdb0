import { ResourceKey } from './resources';
import type { StepContext } from './step';

/** The key of a connection kept for the run under `namespace` for one role (`source`, `target`, …). */
export function keptConnectionKey<T>(namespace: string, role: string): ResourceKey<T> {
  return new ResourceKey<T>(`${namespace}.${role}`);
}

/**
 * Connections a flow keeps open across its steps, one per role, registered in the run's
 * resources with their disposer (closed when the run ends): reused while they answer `probe`,
 * reopened when they broke.
 */
export async function keptConnection<T>(context: StepContext, key: ResourceKey<T>, connection: { open: () => Promise<T>; probe: (connection: T) => Promise<unknown>; close: (connection: T) => Promise<void> }): Promise<T> {
  const existing = context.resources.get(key);
  if (existing !== undefined) {
    try {
      await connection.probe(existing);
      return existing;
    } catch {
      // Broken (the server restarted, the session was killed): dropped as it is, a new one replaces it.
      context.resources.forget(key);
    }
  }
  return context.resources.register(key, await connection.open(), connection.close);
}
