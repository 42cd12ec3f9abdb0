/**
 * The poll that declares a proxy switch done: through a local proxy (HAProxy, in the role RDS
 * Proxy has on AWS) in front of two real MariaDB servers, it returns only once a new connection
 * answers from the new server, as that server answers directly; bounded by its timeout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariadbInstance } from '../../../lib/platforms/local/mariadb-instance';
import { Haproxy } from '../../../lib/platforms/local/haproxy';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from '../../../lib/platforms/local/debian-packages';
import { ProcessGroup } from '../../../lib/util/process-group';
import { silentLogger } from '../../../lib/util/log';
import { generatePassword } from '../../../lib/util/secrets';
import { connect } from '../../../lib/engines/mysql/connection';
import { sameServer, serverIdentity, waitUntilEndpointAnswersFrom, type ServerIdentity } from '../../../lib/engines/mysql/server-identity';

describe('polling a proxy until it answers from the new server', () => {
  const group = new ProcessGroup();
  const baseDir = mkdtempSync(join(tmpdir(), 'rc-identity-'));
  const rootPassword = generatePassword();
  let old: MariadbInstance;
  let fresh: MariadbInstance;
  let proxy: Haproxy;
  let oldIdentity: ServerIdentity;
  let newIdentity: ServerIdentity;
  const throughProxy = async () => ({ name: 'proxy', host: '127.0.0.1', port: proxy.port, user: 'root', password: rootPassword });
  const asked = async (server: MariadbInstance) => {
    const connection = await connect(server.endpoint());
    try {
      return await serverIdentity(connection);
    } finally {
      await connection.end();
    }
  };

  beforeAll(async () => {
    ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
    old = new MariadbInstance({ name: 'old', baseDir, serverId: 31, rootPassword, group, log: silentLogger });
    fresh = new MariadbInstance({ name: 'new', baseDir, serverId: 32, rootPassword, group, log: silentLogger });
    await old.initialise();
    await fresh.initialise();
    proxy = new Haproxy({ baseDir, group, log: silentLogger });
    await proxy.start({ host: '127.0.0.1', port: old.port });
    await proxy.park('green', { host: '127.0.0.1', port: fresh.port });
    oldIdentity = await asked(old);
    newIdentity = await asked(fresh);
  }, 120000);

  afterAll(async () => {
    await group.stopAll();
    rmSync(baseDir, { recursive: true, force: true });
  });

  test('the two servers are told apart although they share the host name (server_id, port)', () => {
    expect(oldIdentity.hostname).toBe(newIdentity.hostname);
    expect(sameServer(oldIdentity, newIdentity)).toBe(false);
  });

  test('GIVEN the proxy still on the old server WHEN it moves after a few polls THEN the poll returns only after it answered from the new one', async () => {
    const answers: string[] = [];
    const result = await waitUntilEndpointAnswersFrom(throughProxy, newIdentity, {
      timeoutMs: 60000,
      intervalMs: 20,
      onAnswer: async (answer, attempt) => {
        answers.push(answer instanceof Error ? 'error' : sameServer(answer, oldIdentity) ? 'old' : sameServer(answer, newIdentity) ? 'new' : 'other');
        if (attempt === 3) await proxy.switchTo('green'); // the proxy moves while we poll
      },
    });
    expect(answers.slice(0, 3)).toEqual(['old', 'old', 'old']);
    expect(answers.at(-1)).toBe('new');
    expect(answers.filter((a) => a === 'new')).toHaveLength(1);
    expect(result.polls).toBe(answers.length);
  }, 120000);

  test('GIVEN a proxy that never moves THEN the poll gives up at its bound and names the last answer', async () => {
    await proxy.switchTo('blue');
    await expect(waitUntilEndpointAnswersFrom(throughProxy, newIdentity, { timeoutMs: 1500, intervalMs: 50 })).rejects.toThrow(/did not answer from .*server_id 32.* within 1500 ms .*last answer: .*server_id 31/);
  }, 60000);
});
