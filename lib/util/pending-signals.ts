/**
 * Let the event loop deliver signals that already reached this process.
 *
 * Node runs a SIGINT/SIGTERM listener only in the event loop's poll phase (libuv's signal
 * handler writes to a pipe that the loop reads). Code that goes from one `await` to the next on
 * promises alone (a step that finished, the journal's synchronous fsync, the next step's first
 * statement) never reaches a poll phase, so a Ctrl-C that arrived at the end of a step was seen
 * only inside the next one: under load, one step too late (a `complete --delete-old` deleted the
 * old source although Ctrl-C was pressed before that step).
 *
 * Two turns of the check phase: the poll phase between them runs with a zero timeout (an
 * immediate is pending) and reads the signal pipe, so every signal delivered before this call
 * has run its listeners when it resolves. https://nodejs.org/en/learn/asynchronous-work/event-loop-timers-and-nexttick
 */
export async function deliverPendingSignals(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
}
