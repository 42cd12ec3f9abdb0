import type { EndpointTls } from '../tls';

/** How to reach a PostgreSQL server (or pgbouncer) as a given role, in one database. */
export interface PostgresEndpoint {
  /** A name for messages and reports: `source`, `target`, `endpoint`. */
  name: string;
  host: string;
  port: number;
  user: string;
  /** Never logged: registered as a secret by whoever created it. */
  password: string;
  database: string;
  /** TLS for this connection (and the libpq tools). @default - no TLS (the local sandbox on loopback) */
  tls?: EndpointTls;
  /**
   * Plan mode: `connectPg` returns a client that records statements into this recorder and
   * sends nothing, and the client tools are recorded as command lines instead of started
   * (recording-client.ts). @default - a real connection
   */
  pgRecorder?: PgConnectionRecorder;
}

/** What `connectPg` and the tool runners need of a plan's recorder (recording-client.ts's PgRecorder). */
export interface PgConnectionRecorder {
  client(server: string, options: { replication?: 'database'; writable?: boolean }): unknown;
  /** Note a client tool's run; true: recorded instead of run (a plan), false: run it (a recording wrapper around a real run). */
  process(server: string, tool: string, args: string[], effect: 'read' | 'change'): boolean;
  /**
   * A plan's stand-in for a temp folder a run makes under `parent` (a plan does not touch the
   * disk: the tools that would use it are recorded, not run). @default - a real folder is made
   */
  temporaryFolder?(parent: string, prefix: string): string;
}
