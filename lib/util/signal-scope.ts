import { deliverPendingSignals } from './pending-signals';
import { deferProcessGroupSignals, ProcessGroup } from './process-group';

/**
 * A stretch of code that handles SIGINT/SIGTERM itself: a runbook run (the engine stops at the
 * next step boundary), a rehearsal between and after its runs (the switch back does not start,
 * the load stops in order, the report is written). While a scope is open:
 * - `onSignal` runs for every SIGINT/SIGTERM that reaches this process;
 * - the sandbox's processes stay up on the first signal (ProcessGroup defers to the scope; a
 *   second one still stops them at once, and `onHardStop` runs right before);
 * - `settle()` lets signals that already reached the process run `onSignal` first: Node runs a
 *   signal listener only in the event loop's poll phase, which code going from one promise to
 *   the next never reaches (lib/util/pending-signals.ts).
 * `close()` ends it (idempotent). A scope that is not `enabled` does nothing at all.
 */
export interface SignalScope {
  /** False for a scope that does nothing (signals not handled here). */
  readonly enabled: boolean;
  settle(): Promise<void>;
  close(): void;
}

export function openSignalScope(onSignal: (signal: NodeJS.Signals) => void, options: { enabled: boolean; onHardStop?: (signal: NodeJS.Signals) => void }): SignalScope {
  if (!options.enabled) return { enabled: false, settle: () => Promise.resolve(), close: () => undefined };
  const releaseDeferral = deferProcessGroupSignals();
  const unregisterHardStop = options.onHardStop ? ProcessGroup.onHardStop(options.onHardStop) : undefined;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let closed = false;
  return {
    enabled: true,
    settle: () => deliverPendingSignals(),
    close() {
      if (closed) return;
      closed = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      releaseDeferral();
      unregisterHardStop?.();
    },
  };
}
