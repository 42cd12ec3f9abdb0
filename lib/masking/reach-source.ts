/**
 * The first contact with the source, before any commit is held or dump started: a server that
 * cannot be reached stops the run with which server, at what address, and where to fix it,
 * instead of a bare "getaddrinfo ENOTFOUND" from whichever client met it first.
 */
import { connect } from '../engines/mysql/connection';
import { closePg, connectPg } from '../engines/postgres/connection';
import type { MysqlTarget } from './mysql-client';

/** Connection errors that mean the server was not reached (not a refused login or a missing database: those name themselves). */
const HINTS: Record<string, (where: string) => string> = {
  ENOTFOUND: (where) => `The host name does not resolve from this machine: check source.host ${where} and this machine's DNS.`,
  EAI_AGAIN: (where) => `The host name could not be resolved now (DNS did not answer): check source.host ${where} and this machine's DNS, then run again.`,
  ECONNREFUSED: (where) => `Nothing listens there: check source.host and source.port ${where}, and that the server runs.`,
  ETIMEDOUT: () => "No answer: check the network path (on CodeBuild, the project's VPC subnets and the database's security group, which must let the build's security group in on that port).",
  EHOSTUNREACH: () => 'No route to the host: check the network path (VPC, subnets, security groups) from this machine to the server.',
  ENETUNREACH: () => 'No route to the host: check the network path (VPC, subnets, security groups) from this machine to the server.',
};

export class UnreachableSourceError extends Error {}

/**
 * Connect to the source and leave (MySQL family, or PostgreSQL with `engine: 'postgres'`).
 * @param where where the user finds the source's settings, e.g. `of environment "prod" in config/masking/environments.ts`
 */
export async function reachSource(source: MysqlTarget, engine: 'mysql' | 'postgres', where: string): Promise<void> {
  try {
    if (engine === 'postgres') await closePg(await connectPg({ ...source, database: source.database }));
    else await (await connect(source, { database: source.database })).end();
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    const hint = HINTS[code];
    if (!hint) throw error;
    throw new UnreachableSourceError(
      `could not connect to the source "${source.name}" (${source.host}:${source.port}, user ${source.user}, database ${source.database}): ${(error as Error).message}. ` +
        `${hint(where)} Nothing was dumped.`,
    );
  }
}
