/**
 * The first contact with the source, before any commit is held or dump started: a server that
 * cannot be reached, or will not serve the run (a refused login, a missing database, a server
 * of the other engine), stops the run with which server, at what address, and where to fix it,
 * instead of a bare "getaddrinfo ENOTFOUND" or "Access denied" from whichever client met it first.
 */
import { Socket } from 'node:net';
import { connect } from '../engines/mysql/connection';
import { closePg, connectPg } from '../engines/postgres/connection';
import type { MysqlTarget } from './mysql-client';

/** Connection errors that mean the server was not reached (`role`: the section of the environment, source or staging). */
const NOT_REACHED: Record<string, (where: string, role: string) => string> = {
  ENOTFOUND: (where, role) => `The host name does not resolve from this machine: check ${role}.host ${where} and this machine's DNS.`,
  EAI_AGAIN: (where, role) => `The host name could not be resolved now (DNS did not answer): check ${role}.host ${where} and this machine's DNS, then run again.`,
  ECONNREFUSED: (where, role) => `Nothing listens there: check ${role}.host and ${role}.port ${where}, and that the server runs.`,
  EHOSTUNREACH: () => 'No route to the host: check the network path (VPC, subnets, security groups) from this machine to the server.',
  ENETUNREACH: () => 'No route to the host: check the network path (VPC, subnets, security groups) from this machine to the server.',
};
const NO_ANSWER = "No answer: check the network path (on CodeBuild, the project's VPC subnets and the database's security group, which must let the build's security group in on that port).";
/** The server answered and refused the user (MySQL family: errors 1045 and 1130; PostgreSQL: SQLSTATE 28P01, 28000). */
const LOGIN_REFUSED = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_HOST_NOT_PRIVILEGED', '28P01', '28000']);
/** The server answered and has no such database for this user (MySQL family: 1049, 1044; PostgreSQL: SQLSTATE 3D000). */
const NO_DATABASE = new Set(['ER_BAD_DB_ERROR', 'ER_DBACCESS_DENIED_ERROR', '3D000']);

export class UnreachableSourceError extends Error {}

/**
 * Connect to the source (or, with `role: 'staging'`, the staging server) and leave (MySQL
 * family, or PostgreSQL with `engine: 'postgres'`).
 * @param where where the user finds the settings, e.g. `of environment "prod" in config/masking/environments.ts`
 * @param passwordFrom where the password was read, e.g. `environment variable SOURCE_PASSWORD`
 * @param options.database the database to open, @default - the target's (staging: the server only,
 *   as its restore does: the database may not exist yet)
 */
export async function reachSource(
  source: MysqlTarget,
  engine: 'mysql' | 'postgres',
  where: string,
  passwordFrom = 'its secret',
  options: { role?: 'source' | 'staging'; database?: string } = {},
): Promise<void> {
  const role = options.role ?? 'source';
  const database = 'database' in options ? options.database : source.database;
  try {
    if (engine === 'postgres') await closePg(await connectPg({ ...source, database: database ?? 'postgres' }));
    else await (await connect(source, { database })).end();
  } catch (error) {
    const code = String((error as { code?: string }).code ?? '');
    const message = (error as Error).message;
    let hint: string | undefined;
    if (NOT_REACHED[code]) hint = NOT_REACHED[code](where, role);
    else if (LOGIN_REFUSED.has(code)) hint = `The server refused the login: check ${role}.user and ${role}.password (${passwordFrom}) ${where}, and that this user may connect from this machine.`;
    else if (NO_DATABASE.has(code)) hint = `The database is not there (or this user may not use it): check ${role}.database ${where}.`;
    // No answer in time (mysql2: ETIMEDOUT; pg: 'timeout expired', no code), or an answer pg
    // cannot read ('received invalid response', a MySQL server's greeting): a server of the
    // other engine, or a network path that drops the packets. A bare TCP connection tells which.
    else if (code === 'ETIMEDOUT' || message === 'timeout expired' || message.startsWith('received invalid response')) {
      hint = (await acceptsConnections(source.host, source.port))
        ? `Something accepts connections there but did not answer as ${engine === 'postgres' ? 'a PostgreSQL' : 'a MySQL-family'} server: check engine ${where} ` +
          `(postgres for PostgreSQL; mysql, the default, for MySQL, MariaDB and Aurora MySQL) and ${role}.port.`
        : NO_ANSWER;
    }
    if (!hint) throw error;
    throw new UnreachableSourceError(
      `could not connect to the ${role} "${source.name}" (${source.host}:${source.port}, user ${source.user}${database === undefined ? '' : `, database ${database}`}): ${message}. ` + `${hint} Nothing was dumped.`,
    );
  }
}

/** Whether a TCP connection to host:port opens within `timeoutMs` (no protocol spoken). */
function acceptsConnections(host: string, port: number, timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}
