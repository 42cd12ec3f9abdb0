import type { StepContext } from './step';

/**
 * Connections a flow keeps open across its steps, one per role (`source`, `target`, …), in the
 * run's runtime map: reused while they answer `probe`, reopened when they broke.
 */
export async function keptConnection<T>(context: StepContext, namespace: string, key: string, open: () => Promise<T>, probe: (connection: T) => Promise<unknown>): Promise<T> {
  const pool = (context.runtime.get(namespace) as Map<string, T> | undefined) ?? new Map<string, T>();
  context.runtime.set(namespace, pool);
  const existing = pool.get(key);
  if (existing !== undefined) {
    try {
      await probe(existing);
      return existing;
    } catch {
      pool.delete(key);
    }
  }
  const connection = await open();
  pool.set(key, connection);
  return connection;
}

/** Every kept connection of a namespace (to close them at the end of a run). */
export function keptConnections<T>(runtime: Map<string, unknown>, namespace: string): T[] {
  return [...((runtime.get(namespace) as Map<string, T> | undefined)?.values() ?? [])];
}
