import { createHash } from 'node:crypto';
import type { Connection } from './connection';
import type { MysqlDialect } from './dialect';
import { registerSecret } from '../../util/secrets';

/**
 * mysql_native_password's stored form of a password: `*` + SHA1(SHA1(password)) in upper-case hex
 * (what MariaDB's PASSWORD() returns). Sent instead of the password, it keeps the password out of
 * the binary log and the general log, which record `IDENTIFIED BY '<password>'` as typed on
 * MariaDB; the account still logs in with the password.
 */
export function nativePasswordHash(password: string): string {
  const once = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(once).digest('hex').toUpperCase()}`;
}

/**
 * Create (or keep) a replication account and set its password, with REPLICATION SLAVE. On MariaDB
 * the password travels as its hash (above). MySQL 5.7+ writes these statements to its binary log
 * with the password already hashed and masks it in the general log, and its default plugin
 * (caching_sha2_password) has no hash a client can compute, so the password is sent there.
 */
export async function setReplicationAccount(connection: Connection, dialect: MysqlDialect, account: string, password: string): Promise<void> {
  // The hash is as good as the password to anyone who tries passwords offline: masked like it in logs and reports.
  const secret = dialect.name === 'mariadb' ? `PASSWORD ${connection.escape(registerSecret(nativePasswordHash(password)))}` : connection.escape(password);
  await connection.query(`CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${secret}`);
  await connection.query(`ALTER USER ${account} IDENTIFIED BY ${secret}`);
  await connection.query(`GRANT REPLICATION SLAVE ON *.* TO ${account}`);
}
