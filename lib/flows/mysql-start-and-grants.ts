/**
 * Two optional behaviours of the MySQL-family flow, kept out of mysql-encrypt.ts so that its
 * steps only call them (one line each):
 * - start coordinates by Server_id scan of the cloned target's binlogs (`startCoordinatesMethod:
 *   'binlog-scan'`), confirmed on the source, instead of the stopped replica's;
 * - the target read-only for the application accounts by grants while it replicates
 *   (`readOnlyByGrants`), restored exactly at the promotion.
 * Both journal what they did (`startCoordinatesMethod`, `targetAppGrantsRevoked`); secrets never.
 */
import type { Connection } from '../engines/mysql/connection';
import type { MysqlDialect } from '../engines/mysql/dialect';
import { accountsOf } from '../engines/mysql/server';
import { confirmOnSource, startCoordinatesByServerIdScan } from '../engines/mysql/binlog-scan';
import { appWriteGrants, applyRestores, applyRevokes, restoreStatements, type RevokedGrant } from '../engines/mysql/app-write-grants';
import { PreconditionFailed, type Facts, type StepContext } from '../runbook/step';

export type StartCoordinatesMethod = 'replica-stop' | 'binlog-scan';

/** Plan line of the clone step when the coordinates come from the binlog scan. */
export function binlogScanPlanLines(): string[] {
  return [
    "Start coordinates by Server_id scan: SHOW BINARY LOGS and SHOW BINLOG EVENTS (paged) on the target, newest file first, for the end of the last complete transaction of the source's server_id;",
    'confirmed on the source (the same event at that file and position), else the run stops (a target restored from a replica has the replica\'s positions).',
  ];
}

/** After the clone: the coordinates from the target's binlogs, confirmed on the source, journaled with the method. */
export async function scanStartCoordinates(context: StepContext, source: Connection, target: Connection): Promise<Facts> {
  const sourceServerId = Number(context.facts.sourceServerId);
  if (!sourceServerId) throw new PreconditionFailed("No recorded source server_id: mysql.preflight must run first (it records sourceServerId)");
  const scan = await startCoordinatesByServerIdScan(target, sourceServerId);
  await confirmOnSource(source, scan);
  if (scan.trailingSourceEvents > 0) context.log.warn(`binlog scan: ${scan.trailingSourceEvents} source event(s) after the last complete transaction (a transaction the snapshot cut) are replicated again from the source`);
  context.log.info(`start coordinates by Server_id scan: ${scan.file}:${scan.position} (${scan.scannedFiles.length} file(s), ${scan.scannedEvents} events read), confirmed on the source`);
  return { startBinlogFile: scan.file, startBinlogPosition: scan.position, startCoordinatesMethod: 'binlog-scan', binlogScanFiles: scan.scannedFiles.length, binlogScanEvents: scan.scannedEvents };
}

/** The revoked grants journaled by this run (empty when none). */
export function revokedGrantsOf(facts: Facts): RevokedGrant[] {
  return Array.isArray(facts.targetAppGrantsRevoked) ? (facts.targetAppGrantsRevoked as RevokedGrant[]) : [];
}

/**
 * Before replication starts: REVOKE the app accounts' write privileges on the target. What is
 * revoked is journaled BEFORE the REVOKEs run: a resumed run revokes the journaled set again
 * (idempotent) and never re-reads SHOW GRANTS, which would then show nothing to give back.
 */
export async function revokeAppWritesOnTarget(context: StepContext, target: Connection, dialect: MysqlDialect, appUsers: string[]): Promise<void> {
  let grants = revokedGrantsOf(context.facts);
  if (context.facts.targetAppGrantsRevoked === undefined) {
    const found = await appWriteGrants(target, dialect, await accountsOf(target, appUsers));
    if (found.problems.length > 0) throw new PreconditionFailed(found.problems.join('\n'));
    grants = found.grants;
    await context.record({ targetAppGrantsRevoked: grants });
  }
  await applyRevokes(target, dialect, grants, appUsers);
  context.log.info(`target read-only for ${appUsers.join(', ')} by grants: ${grants.length} grant(s) revoked (journaled), their sessions ended`);
}

/** The GRANTs that give the target's app accounts their writes back (batched into the promotion). */
export function restoreAppWritesStatements(facts: Facts): string[] {
  return restoreStatements(revokedGrantsOf(facts));
}

/** Give the writes back outside the promotion batch (a resumed switch finishing forward). */
export async function restoreAppWritesOnTarget(context: StepContext, target: Connection): Promise<void> {
  const grants = revokedGrantsOf(context.facts);
  if (grants.length === 0) return;
  await applyRestores(target, grants);
  await context.record({ targetAppGrantsRestoredAt: new Date().toISOString() });
}

/** Take them away again (a promotion undone: the target replicates again). */
export async function reRevokeAppWritesOnTarget(context: StepContext, target: Connection, dialect: MysqlDialect, appUsers: string[]): Promise<void> {
  const grants = revokedGrantsOf(context.facts);
  if (grants.length > 0) await applyRevokes(target, dialect, grants, appUsers);
}
