import type { EndpointTls } from '../tls';

/** How to reach a MySQL-family server as an administrator (or any named user). */
export interface MysqlEndpoint {
  /** A name for messages and reports: `source`, `replica`, `target`, `endpoint`. */
  name: string;
  host: string;
  port: number;
  user: string;
  /** Never logged: registered as a secret by whoever created it. */
  password: string;
  /** TLS for this connection. @default - no TLS (the local sandbox on loopback) */
  tls?: EndpointTls;
  /**
   * Plan mode: `connect` returns a connection that records statements into this recorder and
   * sends nothing (see recording-connection.ts). @default - a real connection
   */
  recorder?: ConnectionRecorder;
}

/** What `connect` needs of a plan's SQL recorder (recording-connection.ts's SqlRecorder). */
export interface ConnectionRecorder {
  /** A connection to the server in this role that records statements instead of sending them. */
  connection(server: string): unknown;
}
