/**
 * Engine-neutral verification: per-table checksums of the frozen source and of the target,
 * compared, and turned into the step outcome every flow reports the same way.
 *
 * The rule it guards: every table is accounted for. Each side's list of tables (and
 * PostgreSQL's sequences) is read from that side's own snapshot, never from what preflight
 * saw, so a table created, dropped or altered during the move shows up as a difference
 * instead of silently falling out of the comparison.
 */
import type { Facts } from '../runbook/step';

export interface TableChecksum {
  table: string;
  rows: number;
  hash: string;
  /**
   * The table's columns in order, as `name type` joined by `, ` (the engine's own type
   * spelling). Compared when both sides give it: same rows under a different shape is a
   * difference too (a column added on one side only loses that column's data).
   */
  columns?: string;
  /**
   * Why this side's switch-time snapshot cannot read the table (then `rows` is -1 and `hash`
   * 'unreadable'): MySQL refuses to read a table created or rebuilt after the snapshot began.
   * Such a table is reported as not compared, never left out.
   */
  unreadable?: string;
}

/** A sequence's position on one side; `lastValue` null = never used. */
export interface SequenceState {
  sequence: string;
  lastValue: string | null;
  /** Direction the sequence moves in (+1 / -1), to tell "ahead" from "behind". */
  increment?: number;
}

/** A table a switch-time snapshot could not read (see TableChecksum.unreadable): not compared, never left out. */
export const NOT_READ_IN_SNAPSHOT = 'not readable in the switch-time snapshot';

export type TableDifference = 'only on the source' | 'only on the target' | 'columns differ' | 'rows differ' | typeof NOT_READ_IN_SNAPSHOT;

export interface TableComparison {
  table: string;
  sourceRows: number;
  targetRows: number;
  sourceHash: string;
  targetHash: string;
  match: boolean;
  /** Why it does not match (absent when it does). */
  difference?: TableDifference;
  sourceColumns?: string;
  targetColumns?: string;
  /** Why it could not be compared (difference NOT_READ_IN_SNAPSHOT). */
  unreadable?: string;
}

export interface SequenceComparison {
  sequence: string;
  sourceValue: string | null | 'missing';
  targetValue: string | null | 'missing';
  /** Present on both sides and the target not behind the source (it may be ahead: it took writes). */
  match: boolean;
}

export interface ChecksumComparison {
  match: boolean;
  tables: TableComparison[];
  sequences?: SequenceComparison[];
}

export function compareChecksums(source: TableChecksum[], target: TableChecksum[]): ChecksumComparison {
  const sourceByTable = new Map(source.map((t) => [t.table, t]));
  const targetByTable = new Map(target.map((t) => [t.table, t]));
  const names = [...new Set([...sourceByTable.keys(), ...targetByTable.keys()])].sort();
  const tables = names.map((table): TableComparison => {
    const s = sourceByTable.get(table);
    const t = targetByTable.get(table);
    const unreadable = s?.unreadable ?? t?.unreadable;
    const difference: TableDifference | undefined =
      unreadable !== undefined ? NOT_READ_IN_SNAPSHOT
      : s === undefined ? 'only on the target'
      : t === undefined ? 'only on the source'
      : s.columns !== undefined && t.columns !== undefined && s.columns !== t.columns ? 'columns differ'
      : s.rows !== t.rows || s.hash !== t.hash ? 'rows differ'
      : undefined;
    return {
      table,
      sourceRows: s?.rows ?? -1,
      targetRows: t?.rows ?? -1,
      sourceHash: s?.hash ?? 'missing',
      targetHash: t?.hash ?? 'missing',
      match: difference === undefined,
      ...(difference ? { difference } : {}),
      ...(difference === 'columns differ' ? { sourceColumns: s!.columns, targetColumns: t!.columns } : {}),
      ...(unreadable !== undefined ? { unreadable: `${s?.unreadable ? 'source' : 'target'}: ${unreadable}` } : {}),
    };
  });
  return { match: tables.every((t) => t.match), tables };
}

/**
 * Sequences after a switch: every sequence of the source exists on the target, and the
 * target's is not behind the source's final value (else the next insert on the target
 * reuses a key). Ahead is fine: the target has handed out values since it opened.
 */
export function compareSequences(source: SequenceState[], target: SequenceState[]): SequenceComparison[] {
  const targetBySequence = new Map(target.map((s) => [s.sequence, s]));
  const sourceBySequence = new Map(source.map((s) => [s.sequence, s]));
  const names = [...new Set([...sourceBySequence.keys(), ...targetBySequence.keys()])].sort();
  return names.map((sequence) => {
    const s = sourceBySequence.get(sequence);
    const t = targetBySequence.get(sequence);
    if (!s || !t) return { sequence, sourceValue: s ? s.lastValue : 'missing', targetValue: t ? t.lastValue : 'missing', match: false };
    return { sequence, sourceValue: s.lastValue, targetValue: t.lastValue, match: notBehind(s, t) };
  });
}

function notBehind(source: SequenceState, target: SequenceState): boolean {
  if (source.lastValue === null) return true;
  if (target.lastValue === null) return false;
  const direction = (source.increment ?? 1) < 0 ? -1n : 1n;
  return (BigInt(target.lastValue) - BigInt(source.lastValue)) * direction >= 0n;
}

/**
 * A real difference: `match` is false and not only because of tables a switch-time snapshot
 * could not read (those alone make the run NOT VERIFIED, exit 4, not FAILED).
 */
export function checksumsDiffer(comparison: { match: boolean; tables: unknown[]; sequences?: SequenceComparison[] }): boolean {
  if (comparison.match) return false;
  const tables = comparison.tables as TableComparison[];
  const onlyNotRead =
    tables.some((t) => !t.match) &&
    tables.every((t) => t.match || t.difference === NOT_READ_IN_SNAPSHOT) &&
    (comparison.sequences ?? []).every((s) => s.match);
  return !onlyNotRead;
}

/** One plain sentence per differing table / sequence, naming it and what differs. */
export function describeDifferences(comparison: ChecksumComparison): string[] {
  const lines = comparison.tables.filter((t) => !t.match).map((t) => {
    switch (t.difference) {
      case 'only on the source':
        return `${t.table}: only on the source (${t.sourceRows} rows), missing on the target`;
      case 'only on the target':
        return `${t.table}: only on the target (${t.targetRows} rows), missing on the source`;
      case NOT_READ_IN_SNAPSHOT:
        return `${t.table}: not compared (${t.unreadable})`;
      case 'columns differ':
        return `${t.table}: columns differ (source: ${t.sourceColumns}; target: ${t.targetColumns})`;
      default:
        return `${t.table} (source ${t.sourceRows} rows, target ${t.targetRows})`;
    }
  });
  for (const s of comparison.sequences ?? []) {
    if (s.match) continue;
    if (s.sourceValue === 'missing') lines.push(`sequence ${s.sequence}: only on the target`);
    else if (s.targetValue === 'missing') lines.push(`sequence ${s.sequence}: only on the source, missing on the target`);
    else lines.push(`sequence ${s.sequence}: the target (${s.targetValue ?? 'unused'}) is behind the source (${s.sourceValue})`);
  }
  return lines;
}

/** The verification found a difference (its details are in the run's `checksums` fact). */
export class ChecksumsDiffer extends Error {
  override name = 'ChecksumsDiffer';
}

/**
 * The verify step's result: `{ checksums, checksumsVerified: true }` when every table (and
 * sequence) is on both sides with the same columns and rows. A difference is recorded in the
 * facts (for the report) and fails the step, naming each table and what differs. A table a
 * switch-time snapshot cannot read (and no other difference) is neither: the comparison is
 * kept and the run is NOT VERIFIED (exit 4), naming the tables and how to compare them.
 */
export function checksumOutcome(
  source: TableChecksum[],
  target: TableChecksum[],
  facts: Facts,
  sequences?: { source: SequenceState[]; target: SequenceState[] },
): { checksums: ChecksumComparison; checksumsVerified: boolean; checksumsNotVerifiedReason?: string } {
  const comparison = compareChecksums(source, target);
  const checksums: ChecksumComparison = { match: comparison.match, tables: comparison.tables };
  if (sequences) {
    checksums.sequences = compareSequences(sequences.source, sequences.target);
    checksums.match = checksums.match && checksums.sequences.every((s) => s.match);
  }
  if (checksums.match) return { checksums, checksumsVerified: true };
  const notRead = checksums.tables.filter((t) => t.difference === NOT_READ_IN_SNAPSHOT);
  if (checksumsDiffer(checksums)) {
    facts.checksums = checksums;
    throw new ChecksumsDiffer(`Checksums differ for ${describeDifferences(checksums).join(', ')}: do not remove the old source; investigate before anything else`);
  }
  const names = notRead.map((t) => t.table).join(', ');
  return {
    checksums,
    checksumsVerified: false,
    checksumsNotVerifiedReason:
      `${notRead.length} table(s) not compared: ${names}: created or rebuilt (ALTER TABLE, OPTIMIZE, TRUNCATE) after the switch, so the switch-time snapshot cannot read them; every other table matched. ` +
      `A table created after the switch needs nothing; one that existed before it must be compared by hand (row count and content of the frozen old side against the new side at the switch) before the old side is removed`,
  };
}
