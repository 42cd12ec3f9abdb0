/**
 * In-process things a run shares between its steps (kept connections, the switch-time
 * snapshots, a phase clock), each under a typed key. What needs closing is registered with
 * its own disposer; the engine disposes everything once, in reverse order of registration,
 * when the run ends — done, failed, aborted or interrupted. None of it survives the process:
 * a resumed run starts with an empty registry and reads where it stood from the journal.
 *
 * Why not a `Map<string, unknown>` closed by looking for `end`/`query` on its values: the
 * clean-up then depends on guessing what a value is, a value nobody recognised stays open,
 * and the order (a snapshot before the connection pool it came from) is an accident.
 */

/**
 * A typed key: `get(key)` returns what `register(key, …)`/`set(key, …)` stored, without a cast.
 * The name is the identity (two keys with one name are one slot) and shows up in errors.
 */
export class ResourceKey<T> {
  /** Only carries `T` for the type checker. */
  declare readonly type?: T;
  constructor(readonly name: string) {}
}

type Disposer<T> = (value: T) => Promise<void> | void;

interface Entry {
  key: ResourceKey<unknown>;
  value: unknown;
  dispose?: Disposer<unknown>;
}

export class RunResources {
  private readonly entries = new Map<string, Entry>();

  /** Keep `value` for later steps; `dispose` runs once, when the run ends (or on `release`). */
  register<T>(key: ResourceKey<T>, value: T, dispose: Disposer<T>): T {
    this.refuseTaken(key);
    this.entries.set(key.name, { key, value, dispose: dispose as Disposer<unknown> });
    return value;
  }

  /** Keep a plain in-process value (a cache, a clock, a flag, a test probe): nothing to dispose. */
  set<T>(key: ResourceKey<T>, value: T): T {
    const existing = this.entries.get(key.name);
    if (existing?.dispose) throw new Error(`resource ${key.name} holds something to dispose: release it before replacing it`);
    this.entries.delete(key.name);
    this.entries.set(key.name, { key, value });
    return value;
  }

  get<T>(key: ResourceKey<T>): T | undefined {
    return this.entries.get(key.name)?.value as T | undefined;
  }

  has(key: ResourceKey<unknown>): boolean {
    return this.entries.has(key.name);
  }

  /** Dispose one resource now (a step is done with it); nothing happens if it is not there. */
  async release(key: ResourceKey<unknown>): Promise<void> {
    const entry = this.entries.get(key.name);
    if (!entry) return;
    this.entries.delete(key.name);
    await entry.dispose?.(entry.value);
  }

  /**
   * Drop a resource without disposing it (it broke and is being replaced, or a plain value is
   * no longer true); returns what was stored.
   */
  forget<T>(key: ResourceKey<T>): T | undefined {
    const value = this.get(key);
    this.entries.delete(key.name);
    return value;
  }

  /** Names registered, in registration order (tests, debugging). */
  names(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Dispose everything, last registered first, each exactly once (the registry is empty
   * afterwards and can be used again). A disposer that fails does not stop the others: the
   * failures are returned (the run's result does not change because a close failed).
   */
  async disposeAll(): Promise<Error[]> {
    const failures: Error[] = [];
    const entries = [...this.entries.values()].reverse();
    this.entries.clear();
    for (const entry of entries) {
      if (!entry.dispose) continue;
      try {
        await entry.dispose(entry.value);
      } catch (failure) {
        failures.push(new Error(`disposing ${entry.key.name}: ${failure instanceof Error ? failure.message : String(failure)}`));
      }
    }
    return failures;
  }

  private refuseTaken(key: ResourceKey<unknown>): void {
    if (this.entries.has(key.name)) throw new Error(`resource ${key.name} is already registered: release or forget it first`);
  }
}
