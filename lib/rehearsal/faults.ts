/**
 * Faults a rehearsal can inject (`--fault NAME`) to exercise the abort path. Each engine's
 * rehearsal implements every name here.
 * - `replication-stall`: right after the lag gate (MySQL: the switch's last one, as the freeze
 *   begins; a stall before it makes the switch refuse to freeze), a lock on the target stops it applying
 *   changes while its replication still looks healthy; the switch must time out, reopen the
 *   source and leave traffic where it was.
 * - `replication-stopped`: right after the lag gate, replication to the target is stopped; the
 *   switch must refuse to start (nothing frozen) and say why.
 */
export const REHEARSAL_FAULTS = ['replication-stall', 'replication-stopped'] as const;
export type RehearsalFault = (typeof REHEARSAL_FAULTS)[number];
