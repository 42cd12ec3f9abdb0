/**
 * The masked refresh's first contact with the source (lib/masking/reach-source.ts) against a
 * server that is there but will not serve the run: a refused login, a database that does not
 * exist, a server of the other engine, a port that accepts connections and says nothing. Each
 * stops the run (exit 1) before any commit is held or dump started, naming the source, the
 * setting to check and 'Nothing was dumped', with no secret in the output. Real MariaDB server;
 * the CLI's main() in this process with environments described here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../lib/engines/mysql/connection';
import { main } from '../../lib/masking/cli';
import { reachSource } from '../../lib/masking/reach-source';
import { MariadbInstance } from '../../lib/platforms/local/mariadb-instance';
import { openForPostgres, PostgresInstance } from '../../lib/platforms/local/postgres-instance';
import { silentLogger } from '../../lib/util/log';
import { ProcessGroup } from '../../lib/util/process-group';
import { generatePassword } from '../../lib/util/secrets';

jest.setTimeout(120000);

const baseDir = mkdtempSync(join(tmpdir(), 'rc-reach-source-'));
const group = new ProcessGroup();
let server: MariadbInstance;
/** A real PostgreSQL server: the source a MySQL-family engine setting points at by mistake. */
let postgres: PostgresInstance;
/** Accepts connections and never answers (a server of another protocol that waits for the client to speak first, or a hung one). */
let silent: Server;
const sockets: Socket[] = [];

beforeAll(async () => {
  server = new MariadbInstance({ baseDir, rootPassword: generatePassword(), group, log: silentLogger, name: 'reach-source', serverId: 1 });
  await server.initialise();
  const db = await connect(server.endpoint());
  await db.query('CREATE DATABASE app');
  await db.end();
  openForPostgres(baseDir);
  postgres = new PostgresInstance({ name: 'reach-source-pg', baseDir, version: 15, superuserPassword: generatePassword(), group, log: silentLogger });
  await postgres.initialise();
  silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent?.close(resolve));
  await group.stopAll();
  rmSync(baseDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

afterEach(() => {
  for (const name of ['MASKING_TEST_HMAC', 'MASKING_TEST_SOURCE_PASSWORD', 'MASKING_TEST_STAGING_PASSWORD']) delete process.env[name];
});

const WHERE = 'of environment "refused" in config/masking/environments.ts';

async function run(source: { port?: number; password?: string; database?: string; engine?: 'postgres'; stagingPassword?: string }, argv: string[] = []) {
  const endpoint = server.endpoint();
  const environments = {
    refused: {
      rulesFile: 'config/masking/app.rules.json',
      ...(source.engine ? { engine: source.engine } : {}),
      hmacKey: { env: 'MASKING_TEST_HMAC' },
      source: { name: 'prod replica', host: '127.0.0.1', port: source.port ?? endpoint.port, user: endpoint.user, password: { env: 'MASKING_TEST_SOURCE_PASSWORD' }, database: source.database ?? 'app' },
      staging: { name: 'test staging', host: '127.0.0.1', port: endpoint.port, user: endpoint.user, password: { env: 'MASKING_TEST_STAGING_PASSWORD' }, database: 'staging_app' },
      s3: { bucket: 'masked-dumps', prefix: 'dumps/' },
    },
  };
  Object.assign(process.env, { MASKING_TEST_HMAC: 'b'.repeat(64), MASKING_TEST_SOURCE_PASSWORD: source.password ?? endpoint.password, MASKING_TEST_STAGING_PASSWORD: source.stagingPassword ?? endpoint.password });
  const lines: string[] = [];
  const log = { debug: () => undefined, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  const code = await main(['--env', 'refused', ...argv], log, environments);
  return { code, output: lines.join('\n'), password: process.env.MASKING_TEST_SOURCE_PASSWORD! };
}

const named = (port: number, database = 'app') => `could not connect to the source "prod replica" (127.0.0.1:${port}, user root, database ${database}): `;

test('GIVEN a source that refuses the login (wrong password) THEN the run names the source and the user and password settings (with the variable it read), says nothing was dumped, exits 1, and prints no password', async () => {
  const result = await run({ password: 'the-wrong-password-42' });
  expect(result.code).toBe(1);
  expect(result.output).toContain(named(server.endpoint().port));
  expect(result.output).toMatch(/Access denied for user 'root'/);
  expect(result.output).toContain(`The server refused the login: check source.user and source.password (environment variable MASKING_TEST_SOURCE_PASSWORD) ${WHERE}, and that this user may connect from this machine. Nothing was dumped.`);
  expect(result.output).not.toMatch(/the-wrong-password-42|b{64}/);
});

test('GIVEN a source database that does not exist THEN the run names the source and source.database, says nothing was dumped and exits 1', async () => {
  const result = await run({ database: 'no_such_database' });
  expect(result.code).toBe(1);
  expect(result.output).toContain(named(server.endpoint().port, 'no_such_database'));
  expect(result.output).toContain(`The database is not there (or this user may not use it): check source.database ${WHERE}. Nothing was dumped.`);
  expect(result.output).not.toContain(result.password);
});

test("GIVEN engine 'postgres' against a MariaDB source THEN the run says the server did not answer as PostgreSQL and names the engine setting (not pg's 'received invalid response'), exits 1", async () => {
  const result = await run({ engine: 'postgres' });
  expect(result.code).toBe(1);
  expect(result.output).toContain(named(server.endpoint().port));
  expect(result.output).toContain(
    `Something accepts connections there but did not answer as a PostgreSQL server: check engine ${WHERE} (postgres for PostgreSQL; mysql, the default, for MySQL, MariaDB and Aurora MySQL) and source.port. Nothing was dumped.`,
  );
  expect(result.output).not.toContain(result.password);
});

// A port that accepts connections and never answers is a hung or overloaded server as often as a
// server of another protocol: the message must not send the user to the engine setting alone
// (before: "did not answer as a PostgreSQL server: check engine", also for a hung PostgreSQL).
test.each([
  ['the MySQL family (the default)', undefined],
  ['PostgreSQL', 'postgres' as const],
])('GIVEN a port that accepts connections and never answers, engine %s THEN the run says the server may be hung or overloaded, or speak another protocol (not only "check engine", not the network path, not pg\'s bare "timeout expired"), exits 1', async (_engine, engine) => {
  const port = (silent.address() as { port: number }).port;
  const result = await run({ port, engine });
  expect(result.code).toBe(1);
  expect(result.output).toContain(named(port));
  expect(result.output).toContain(
    `Something accepts connections there but did not answer: the server may be hung or overloaded (check that it runs and answers from this machine), or it speaks another protocol: check engine ${WHERE} and source.port. Nothing was dumped.`,
  );
  expect(result.output).not.toMatch(/network path/);
});

// A MySQL client waits for the server to speak first, and a PostgreSQL server for the client:
// the run asks the server the one question every PostgreSQL server answers (an SSL request).
test('GIVEN the default engine (MySQL family) and a source port where a PostgreSQL server listens THEN the run says a PostgreSQL server answers there and names the engine setting, exits 1', async () => {
  const result = await run({ port: postgres.endpoint().port });
  expect(result.code).toBe(1);
  expect(result.output).toContain(named(postgres.endpoint().port));
  expect(result.output).toContain(`A PostgreSQL server answers there: set engine: 'postgres' ${WHERE}, or source.port to the MySQL-family server's port. Nothing was dumped.`);
  expect(result.output).not.toContain(result.password);
});

test('GIVEN --restore-staging and a staging server that refuses the login THEN the run stops before the dump (not after an hour of dump, check and publishing), naming the staging server and its user and password settings; exit 1, no password', async () => {
  const result = await run({ stagingPassword: 'the-wrong-staging-password-7' }, ['--restore-staging']);
  expect(result.code).toBe(1);
  expect(result.output).toContain(`could not connect to the staging "test staging" (127.0.0.1:${server.endpoint().port}, user root): Access denied for user 'root'`);
  expect(result.output).toContain(
    `The server refused the login: check staging.user and staging.password (environment variable MASKING_TEST_STAGING_PASSWORD) ${WHERE}, and that this user may connect from this machine. Nothing was dumped.`,
  );
  expect(result.output).not.toMatch(/masked dump of|the-wrong-staging-password-7/);
});

test('GIVEN a staging server without the database yet (its restore creates it) THEN the first contact with staging passes: it opens the server only', async () => {
  const endpoint = server.endpoint();
  const staging = { ...endpoint, name: 'test staging', database: 'not_created_yet' };
  await expect(reachSource(staging, 'mysql', WHERE, 'its secret', { role: 'staging', database: undefined })).resolves.toBeUndefined();
});
