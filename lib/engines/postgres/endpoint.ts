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
}
