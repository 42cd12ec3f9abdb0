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
    // An answer pg cannot read ('received invalid response': a MySQL server's greeting) is a
    // server of the other engine.
    else if (message.startsWith('received invalid response')) hint = otherEngine(engine, where, role);
    // No answer in time (mysql2: ETIMEDOUT; pg: 'timeout expired', no code): a network path that
    // drops the packets, a PostgreSQL server a MySQL client waits on (each waits for the other to
    // speak first), or a server that is hung or overloaded. A probe tells which.
    else if (code === 'ETIMEDOUT' || message === 'timeout expired') {
      const found = await probe(source.host, source.port);
      if (found === 'closed') hint = NO_ANSWER;
      else if (found === 'postgres' && engine === 'mysql') hint = `A PostgreSQL server answers there: set engine: 'postgres' ${where}, or ${role}.port to the MySQL-family server's port.`;
      else
        hint =
          'Something accepts connections there but did not answer: the server may be hung or overloaded (check that it runs and answers from this machine), ' +
          `or it speaks another protocol: check engine ${where} and ${role}.port.`;
    }
    if (!hint) throw error;
    throw new UnreachableSourceError(
      `could not connect to the ${role} "${source.name}" (${source.host}:${source.port}, user ${source.user}${database === undefined ? '' : `, database ${database}`}): ${message}. ` + `${hint} Nothing was dumped.`,
    );
  }
}

function otherEngine(engine: 'mysql' | 'postgres', where: string, role: string): string {
  return (
    `Something accepts connections there but did not answer as ${engine === 'postgres' ? 'a PostgreSQL' : 'a MySQL-family'} server: check engine ${where} ` +
    `(postgres for PostgreSQL; mysql, the default, for MySQL, MariaDB and Aurora MySQL) and ${role}.port.`
  );
}

/** PostgreSQL's SSLRequest: length 8, code 80877103. Every PostgreSQL server answers it with one byte, 'S' or 'N'. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);

/**
 * What listens at host:port, within `timeoutMs`: nothing that accepts a TCP connection
 * ('closed'), a PostgreSQL server ('postgres': it answers an SSLRequest), or something that
 * accepts and does not answer it ('silent': a hung server, or one that speaks first and was
 * not heard in time). No login is attempted.
 */
function probe(host: string, port: number, timeoutMs = 5000): Promise<'closed' | 'postgres' | 'silent'> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let connected = false;
    const done = (found: 'closed' | 'postgres' | 'silent') => {
      socket.destroy();
      resolve(found);
    };
    socket.setTimeout(timeoutMs, () => done(connected ? 'silent' : 'closed'));
    socket.once('error', () => done(connected ? 'silent' : 'closed'));
    socket.once('data', (chunk: Buffer) => done(chunk.length === 1 && (chunk[0] === 0x53 || chunk[0] === 0x4e) ? 'postgres' : 'silent'));
    socket.connect(port, host, () => {
      connected = true;
      socket.write(SSL_REQUEST);
    });
  });
}
