// The direction of a PostgreSQL switch-back / switch-forth and the facts it journals (the flow is
// lib/flows/postgres-switch-back.ts): data only,
// no database client, so that `status` can read a journal without loading the flows (the CLI
// loads nothing heavy before its arguments are checked: test/cli/bad-input.test.ts).

/**
 * A switch between the two sides of a finished logical run, as its own run: `switch-back`
 * (traffic from the target to the old source) and, after it, `switch-forth` (to the target
 * again). One code path, the direction a parameter: `from` is the side traffic leaves (frozen),
 * `to` the side it moves to; `along` is the way `to` receives on before the switch, `next` the
 * way made inside the window from `to` back to `from`, so that the opposite switch works again.
 */
export interface PostgresSwitchDirection {
  name: 'back' | 'forth';
  from: Side;
  to: Side;
  /** forward: source -> target; back: target -> source (lib/flows/postgres-replication-way.ts). */
  along: 'forward' | 'back';
  next: 'forward' | 'back';
  /** Prefix of this run's journaled sub-phase facts (`switchBackFrozenAt`, `switchForthFrozenAt`, …). */
  facts: 'switchBack' | 'switchForth';
}
export type Side = 'source' | 'target';

export const SWITCH_BACK: PostgresSwitchDirection = { name: 'back', from: 'target', to: 'source', along: 'back', next: 'forward', facts: 'switchBack' };
export const SWITCH_FORTH: PostgresSwitchDirection = { name: 'forth', from: 'source', to: 'target', along: 'forward', next: 'back', facts: 'switchForth' };

/** The journaled facts of a switch in `direction`: the sub-phases, and what it built for the opposite switch. */
export function switchAgainFacts(direction: PostgresSwitchDirection) {
  const From = direction.from === 'source' ? 'Source' : 'Target';
  const back = direction.name === 'back';
  return {
    startedAt: `${direction.facts}StartedAt`,
    frozenAt: `${direction.facts}FrozenAt`,
    /** The side traffic left reopened by an abort (or a resume that switches again). */
    reopenedAt: `${direction.facts}${From}ReopenedAt`,
    endpointMoveStartedAt: `${direction.facts}EndpointMoveStartedAt`,
    caughtUpLsn: `${direction.to}CaughtUpLsn`,
    /** Where the way for the opposite switch starts (the forward switch names the way back's `backStartLsn` too). */
    nextStartLsn: back ? 'forwardStartLsn' : 'backStartLsn',
    nextRunningAt: back ? 'forwardRunningAt' : 'wayBackRunningAt',
    /** The fact that says the way for the opposite switch runs (the forward switch's `wayBack` for forth). */
    nextState: back ? 'forwardReplication' : 'wayBack',
    oppositeCommand: back ? 'switch forth' : 'switch back',
  };
}

