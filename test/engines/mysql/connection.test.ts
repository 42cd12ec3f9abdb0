/**
 * TLS of administrator connections (RDS): the mapping from an endpoint's `tls` to mysql2's
 * `ssl`, and on the wire that `connect` asks for TLS exactly when the endpoint says so
 * (a mysql2 protocol server on loopback that offers no TLS; no certificate needed).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as net from 'node:net';
// mysql2's own handshake packet (not exported: loaded by path), so the fake server speaks the real protocol.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Handshake = require(join(dirname(require.resolve('mysql2')), 'lib', 'packets', 'handshake.js')) as new (args: object) => { toPacket(sequenceId: number): { buffer: Buffer; writeHeader(sequenceId: number): void } };
import { connect, mysqlSslOptions } from '../../../lib/engines/mysql/connection';
import type { MysqlEndpoint } from '../../../lib/engines/mysql/endpoint';

const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-mysql-tls-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('mysqlSslOptions', () => {
  test('GIVEN no tls (local sandbox) THEN no ssl option at all', () => {
    expect(mysqlSslOptions({ host: '127.0.0.1' })).toBeUndefined();
  });

  test('GIVEN tls without a CA file THEN verification is on with Node\'s CAs and the RDS host name is checked', () => {
    expect(mysqlSslOptions({ host: 'orders.abc.eu-west-1.rds.amazonaws.com', tls: {} })).toEqual({ rejectUnauthorized: true, verifyIdentity: true });
  });

  test('GIVEN a CA file THEN its PEM is the trusted CA list', () => {
    const file = join(scratch, 'bundle.pem');
    writeFileSync(file, PEM);
    expect(mysqlSslOptions({ host: 'db.example.com', tls: { caFile: file } })).toEqual({ ca: PEM, rejectUnauthorized: true, verifyIdentity: true });
  });

  test('GIVEN a tunnel address THEN the chain is verified but not the name (mysql2 can only check the address it dialled)', () => {
    expect(mysqlSslOptions({ host: '127.0.0.1', tls: { serverName: 'orders.abc.eu-west-1.rds.amazonaws.com' } })).toEqual({ rejectUnauthorized: true, verifyIdentity: false });
  });

  test('GIVEN rejectUnauthorized false THEN neither chain nor name is verified', () => {
    expect(mysqlSslOptions({ host: 'db.example.com', tls: { rejectUnauthorized: false } })).toEqual({ rejectUnauthorized: false, verifyIdentity: false });
  });

  test('GIVEN a CA file that does not exist THEN the error names it and the RDS bundle download', () => {
    expect(() => mysqlSslOptions({ host: 'db.example.com', tls: { caFile: join(scratch, 'missing.pem') } })).toThrow(/missing\.pem cannot be read \(ENOENT\).*truststore\.pki\.rds\.amazonaws\.com\/global\/global-bundle\.pem.*aws\.tlsCaFile/);
  });
});

describe('connect on the wire', () => {
  const CLIENT_SSL = 0x800;
  // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH: what every MySQL 8 / MariaDB server offers.
  const BASE_CAPABILITIES = 0x200 | 0x8000 | 0x80000;

  /**
   * A server that sends a real handshake (mysql2's own packet class), records the capability
   * flags of the client's first answer (SSLRequest or HandshakeResponse), then hangs up.
   */
  async function firstAnswerFlags(capabilities: number, endpointTls: MysqlEndpoint['tls']): Promise<{ flags?: number; error: { code?: string } }> {
    let flags: number | undefined;
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      const handshake = new Handshake({ protocolVersion: 10, serverVersion: '8.0.39-fake', connectionId: 1, statusFlags: 2, characterSet: 8, capabilityFlags: capabilities, authPluginData1: Buffer.alloc(8, 1), authPluginData2: Buffer.alloc(12, 2) });
      const packet = handshake.toPacket(0);
      packet.writeHeader(0);
      socket.write(packet.buffer);
      socket.once('data', (chunk: Buffer) => {
        flags = chunk.readUInt32LE(4); // after the 4-byte packet header
        socket.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const error = await connect({ name: 'source', host: '127.0.0.1', port, user: 'admin', password: 'x', tls: endpointTls }).then(
        (c) => (c.destroy(), { code: 'connected' }),
        (e: { code?: string }) => e,
      );
      return { flags, error };
    } finally {
      server.close();
    }
  }

  test('GIVEN no tls THEN the client answers the handshake without asking for TLS (local sandbox unchanged)', async () => {
    const { flags } = await firstAnswerFlags(BASE_CAPABILITIES | CLIENT_SSL, undefined);
    expect(flags).toBeDefined();
    expect(flags! & CLIENT_SSL).toBe(0);
  });

  test('GIVEN tls THEN the first answer is an SSLRequest', async () => {
    const { flags, error } = await firstAnswerFlags(BASE_CAPABILITIES | CLIENT_SSL, {});
    expect(flags! & CLIENT_SSL).toBe(CLIENT_SSL);
    expect(error.code).not.toBe('connected');
  });

  test('GIVEN tls and a server that offers none THEN connect refuses before sending the login', async () => {
    const { flags, error } = await firstAnswerFlags(BASE_CAPABILITIES, {});
    expect(error.code).toBe('HANDSHAKE_NO_SSL_SUPPORT');
    expect(flags).toBeUndefined();
  });
});
