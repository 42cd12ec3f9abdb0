/**
 * TLS of administrator connections (RDS): an endpoint's `tls` mapped to pg's `ssl` and to
 * libpq's variables (pg_dump, pg_restore), and on the wire that connectPg sends an SSLRequest
 * exactly when the endpoint has `tls` (a loopback server that answers 'N'; no certificate).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectPg, libpqEnvironment, libpqTlsEnvironment, pgSslOptions } from '../../../lib/engines/postgres/connection';
import type { PostgresEndpoint } from '../../../lib/engines/postgres/endpoint';
import { SYSTEM_CA_BUNDLE } from '../../../lib/engines/tls';

const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-pg-tls-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const RDS_NAME = 'billing.cluster-abc.eu-west-1.rds.amazonaws.com';

describe('pgSslOptions', () => {
  test('GIVEN no tls THEN ssl is off', () => {
    expect(pgSslOptions({})).toBe(false);
  });

  test('GIVEN tls THEN verification is on by default, with the CA file\'s PEM when given', () => {
    const file = join(scratch, 'bundle.pem');
    writeFileSync(file, PEM);
    expect(pgSslOptions({ tls: {} })).toEqual({ rejectUnauthorized: true });
    expect(pgSslOptions({ tls: { caFile: file } })).toEqual({ ca: PEM, rejectUnauthorized: true });
  });

  test('GIVEN a tunnel THEN the certificate is checked against the RDS name, not the tunnel address', () => {
    expect(pgSslOptions({ tls: { serverName: RDS_NAME } })).toEqual({ rejectUnauthorized: true, servername: RDS_NAME });
  });

  test('GIVEN an unreadable CA file THEN the error names it and the fix', () => {
    expect(() => pgSslOptions({ tls: { caFile: join(scratch, 'nope.pem') } })).toThrow(/nope\.pem cannot be read.*global-bundle\.pem/);
  });
});

describe('libpq TLS variables (pg_dump, pg_restore)', () => {
  const endpoint = (extra: Partial<PostgresEndpoint>): PostgresEndpoint => ({ name: 'source', host: RDS_NAME, port: 5432, user: 'admin', password: 'secret', database: 'billing', ...extra });

  test('GIVEN no tls THEN no TLS variable is set (the local sandbox behaves as before)', () => {
    expect(libpqTlsEnvironment(endpoint({}))).toEqual({});
  });

  test('GIVEN tls THEN verify-full against the CA file, else the system bundle', () => {
    expect(libpqTlsEnvironment(endpoint({ tls: { caFile: '/etc/rds/global-bundle.pem' } }))).toEqual({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/etc/rds/global-bundle.pem' });
    expect(libpqTlsEnvironment(endpoint({ tls: {} }))).toEqual({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: SYSTEM_CA_BUNDLE });
  });

  test('GIVEN a tunnel on an IP address THEN libpq dials the tunnel (PGHOSTADDR) and verifies the RDS name (PGHOST)', () => {
    const env = libpqEnvironment(endpoint({ host: '127.0.0.1', port: 15432, tls: { serverName: RDS_NAME } }));
    expect(env).toMatchObject({ PGHOST: RDS_NAME, PGHOSTADDR: '127.0.0.1', PGPORT: '15432', PGSSLMODE: 'verify-full' });
  });

  test('GIVEN verification switched off THEN TLS is still required', () => {
    expect(libpqTlsEnvironment(endpoint({ tls: { rejectUnauthorized: false } }))).toEqual({ PGSSLMODE: 'require' });
  });
});

describe('connectPg on the wire', () => {
  const SSL_REQUEST_CODE = 80877103;

  /** The code of the client's first message (SSLRequest or the startup protocol version); the server answers 'N' and hangs up. */
  async function firstMessageCode(tls: PostgresEndpoint['tls']): Promise<{ code?: number; error: Error }> {
    let code: number | undefined;
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', (chunk: Buffer) => {
        code = chunk.readInt32BE(4);
        if (code === SSL_REQUEST_CODE) socket.end('N');
        else socket.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const error = await connectPg({ name: 'source', host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, user: 'admin', password: 'x', database: 'app', tls }, { connectTimeoutMs: 2000 }).then(
        () => new Error('connected'),
        (e: Error) => e,
      );
      return { code, error };
    } finally {
      server.close();
    }
  }

  test('GIVEN no tls THEN the first message is the startup message (no SSLRequest)', async () => {
    const { code } = await firstMessageCode(undefined);
    expect(code).toBe(196608); // protocol 3.0
  });

  test('GIVEN tls THEN an SSLRequest goes first and a server without TLS is refused', async () => {
    const { code, error } = await firstMessageCode({});
    expect(code).toBe(SSL_REQUEST_CODE);
    expect(error.message).toMatch(/does not support SSL/);
  });
});
