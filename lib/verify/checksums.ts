/**
 * Engine-neutral verification: per-table checksums of the frozen source and of the target,
 * compared, and turned into the step outcome every flow reports the same way.
 */
import type { Facts } from '../runbook/step';

export interface TableChecksum {
  table: string;
  rows: number;
  hash: string;
}

export interface ChecksumComparison {
  match: boolean;
  tables: Array<{ table: string; sourceRows: number; targetRows: number; sourceHash: string; targetHash: string; match: boolean }>;
}

export function compareChecksums(source: TableChecksum[], target: TableChecksum[]): ChecksumComparison {
  const targetByTable = new Map(target.map((t) => [t.table, t]));
  const names = [...new Set([...source.map((t) => t.table), ...target.map((t) => t.table)])].sort();
  const tables = names.map((table) => {
    const s = source.find((t) => t.table === table);
    const t = targetByTable.get(table);
    return {
      table,
      sourceRows: s?.rows ?? -1,
      targetRows: t?.rows ?? -1,
      sourceHash: s?.hash ?? 'missing',
      targetHash: t?.hash ?? 'missing',
      match: s !== undefined && t !== undefined && s.rows === t.rows && s.hash === t.hash,
    };
  });
  return { match: tables.every((t) => t.match), tables };
}

/**
 * The verify step's result: `{ checksums }` facts when every table matches; otherwise the
 * comparison is recorded in the facts (for the report) and the step fails, naming the tables.
 */
export function checksumOutcome(source: TableChecksum[], target: TableChecksum[], facts: Facts): { checksums: ChecksumComparison } {
  const comparison = compareChecksums(source, target);
  const checksums = { match: comparison.match, tables: comparison.tables };
  if (!comparison.match) {
    const bad = comparison.tables.filter((t) => !t.match).map((t) => `${t.table} (source ${t.sourceRows} rows, target ${t.targetRows})`);
    facts.checksums = checksums;
    throw new Error(`Checksums differ for ${bad.join(', ')}: do not remove the old source; investigate before anything else`);
  }
  return { checksums };
}
