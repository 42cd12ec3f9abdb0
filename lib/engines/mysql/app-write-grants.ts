import type { Connection } from './connection';
import { rows } from './connection';
import type { MysqlDialect } from './dialect';
import { accountName, killSessionsOf, type Account } from './server';

/**
 * Read-only for the application accounts by grants: REVOKE their write privileges, keep SELECT.
 * On RDS `read_only` belongs to the parameter group (the master user cannot `SET GLOBAL` it), so
 * a server that replicates, or an old side that must not take writes any more, is kept
 * read-only for the application this way. What is revoked is returned as data (account, the
 * level exactly as SHOW GRANTS names it, the privileges exactly as listed there) to be journaled,
 * and granted back from that record, never from a second reading of SHOW GRANTS (which, after
 * the revoke, no longer holds them).
 *
 * Never journal SHOW GRANTS lines themselves: MariaDB prints `IDENTIFIED BY PASSWORD '*hash'`.
 *
 * Privilege changes reach open sessions only partly (table privileges at the next statement,
 * database privileges at the next USE, global ones at the next login:
 * https://dev.mysql.com/doc/refman/8.0/en/privilege-changes.html), so the accounts' sessions
 * are killed after the revoke.
 */
export interface RevokedGrant {
  /** `'user'@'host'`, quoted as the statements use it. */
  account: string;
  /** The level as SHOW GRANTS prints it: `*.*`, `` `app`.* ``, `` `app`.`orders` ``, `` PROCEDURE `app`.`p` ``. */
  on: string;
  /** As SHOW GRANTS lists them, column lists included: `INSERT`, `UPDATE (\`note\`)`. */
  privileges: string[];
}

/** Privileges that let an account change data or schema (or stall replication: LOCK TABLES). SELECT, SHOW VIEW, CREATE TEMPORARY TABLES (session-private) are kept. */
const WRITE_PRIVILEGES = new Set([
  'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'INDEX', 'REFERENCES', 'LOCK TABLES', 'EXECUTE', 'CREATE VIEW', 'CREATE ROUTINE', 'ALTER ROUTINE',
  'EVENT', 'TRIGGER', 'DELETE HISTORY', 'CREATE USER', 'CREATE TABLESPACE', 'FILE', 'SUPER',
]);

/** What `ALL PRIVILEGES` stands for, per level, among the write privileges (what a REVOKE of ALL's writes must name). */
function allWritesAt(on: string, dialect: MysqlDialect): string[] {
  const mariadb = dialect.name === 'mariadb';
  const history = mariadb ? ['DELETE HISTORY'] : [];
  if (/^(PROCEDURE|FUNCTION|PACKAGE)\b/i.test(on)) return ['EXECUTE', 'ALTER ROUTINE'];
  if (on === '*.*') return ['INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'INDEX', 'REFERENCES', 'LOCK TABLES', 'EXECUTE', 'CREATE VIEW', 'CREATE ROUTINE', 'ALTER ROUTINE', 'EVENT', 'TRIGGER', 'CREATE USER', 'FILE', 'SUPER', ...(mariadb ? [] : ['CREATE TABLESPACE']), ...history];
  if (/\.\*$/.test(on)) return ['INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'INDEX', 'REFERENCES', 'LOCK TABLES', 'EXECUTE', 'CREATE VIEW', 'CREATE ROUTINE', 'ALTER ROUTINE', 'EVENT', 'TRIGGER', ...history];
  return ['INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'INDEX', 'REFERENCES', 'CREATE VIEW', 'TRIGGER', ...history];
}

/** Split `SELECT, INSERT (\`a\`, \`b\`), UPDATE` at the commas outside parentheses. */
export function splitPrivileges(list: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const character of list) {
    if (character === '(') depth += 1;
    if (character === ')') depth -= 1;
    if (character === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else current += character;
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

const privilegeName = (privilege: string) => privilege.replace(/\s*\(.*$/, '').trim().toUpperCase();

/**
 * The write privileges in SHOW GRANTS lines of one account. Lines without `ON` grant roles (or
 * PROXY): their privileges would survive a revoke on the account, so they are problems.
 */
export function writeGrantsIn(lines: string[], account: string, dialect: MysqlDialect): { grants: RevokedGrant[]; problems: string[] } {
  const grants: RevokedGrant[] = [];
  const problems: string[] = [];
  for (const line of lines) {
    const match = /^GRANT (.+?) ON ((?:(?:PROCEDURE|FUNCTION|PACKAGE BODY|PACKAGE|TABLE) )?\S+) TO /i.exec(line);
    if (!match) {
      if (/^GRANT PROXY ON/i.test(line)) continue;
      if (/^GRANT /i.test(line)) problems.push(`${account} has a role granted (${line.replace(/ IDENTIFIED .*/i, '').slice(0, 120)}): its privileges are not revoked by a revoke on the account; grant the account its privileges directly, or use read_only`);
      continue;
    }
    const on = match[2];
    const privileges = splitPrivileges(match[1]);
    const writes = privileges.some((p) => /^ALL( PRIVILEGES)?$/i.test(p)) ? allWritesAt(on, dialect) : privileges.filter((p) => WRITE_PRIVILEGES.has(privilegeName(p)));
    if (writes.length > 0) grants.push({ account, on, privileges: writes });
  }
  return { grants, problems };
}

async function showGrants(connection: Connection, account: Account): Promise<string[]> {
  return (await rows<Record<string, string>>(connection, `SHOW GRANTS FOR ${accountName(account)}`)).map((row) => String(Object.values(row)[0]));
}

/** The write privileges the accounts hold now (read only; nothing changes). */
export async function appWriteGrants(connection: Connection, dialect: MysqlDialect, accounts: Account[]): Promise<{ grants: RevokedGrant[]; problems: string[] }> {
  const grants: RevokedGrant[] = [];
  const problems: string[] = [];
  for (const account of accounts) {
    const found = writeGrantsIn(await showGrants(connection, account), accountName(account), dialect);
    grants.push(...found.grants);
    problems.push(...found.problems);
  }
  return { grants, problems };
}

export function revokeStatements(grants: RevokedGrant[]): string[] {
  return grants.map((grant) => `REVOKE ${grant.privileges.join(', ')} ON ${grant.on} FROM ${grant.account}`);
}

export function restoreStatements(grants: RevokedGrant[]): string[] {
  return grants.map((grant) => `GRANT ${grant.privileges.join(', ')} ON ${grant.on} TO ${grant.account}`);
}

/** 1141/1147/1403: "there is no such grant" (global or db / table / routine): already revoked (a resumed run revoking again). */
const ALREADY_REVOKED = new Set([1141, 1147, 1403]);

/**
 * Apply revokes (idempotent: a privilege already gone is not an error) and end the accounts'
 * sessions so that no session keeps a privilege it had at login.
 */
export async function applyRevokes(connection: Connection, dialect: MysqlDialect, grants: RevokedGrant[], users: string[], killTimeoutMs = 10000): Promise<void> {
  for (const statement of revokeStatements(grants)) {
    try {
      await connection.query(statement);
    } catch (error) {
      if (!ALREADY_REVOKED.has((error as { errno?: number }).errno ?? 0)) throw error;
    }
  }
  await killSessionsOf(connection, dialect, users, killTimeoutMs);
}

/** Grant back exactly what was revoked (GRANT of a privilege already held is a no-op: idempotent). */
export async function applyRestores(connection: Connection, grants: RevokedGrant[]): Promise<void> {
  for (const statement of restoreStatements(grants)) await connection.query(statement);
}
