/**
 * The flow's read-only-by-grants hooks on a real MariaDB: what is revoked is journaled BEFORE the
 * REVOKEs run; a resumed run (the journal says revoked, SHOW GRANTS no longer shows the writes)
 * revokes the journaled set again instead of recording an empty one; the promotion's statements
 * give back exactly the grants of before. And the binlog-scan hook refuses a target whose
 * binlogs are not the source's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { RunResources } from '../../lib/runbook/resources';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariadbInstance } from '../../lib/platforms/local/mariadb-instance';
import { ensureDebianPackages, MARIADB_REQUIREMENTS } from '../../lib/platforms/local/debian-packages';
import { ProcessGroup } from '../../lib/util/process-group';
import { silentLogger } from '../../lib/util/log';
import { generatePassword } from '../../lib/util/secrets';
import { connect, rows, type Connection } from '../../lib/engines/mysql/connection';
import { dialectFor } from '../../lib/engines/mysql/dialect';
import { detachedContext, type Facts } from '../../lib/runbook/step';
import { restoreAppWritesStatements, revokeAppWritesOnTarget, scanStartCoordinates } from '../../lib/flows/mysql-start-and-grants';

const dialect = dialectFor('10.11.6-MariaDB');

describe('MySQL flow hooks: read-only by grants, start coordinates by scan', () => {
  const group = new ProcessGroup();
  const baseDir = mkdtempSync(join(tmpdir(), 'rc-flow-grants-'));
  const rootPassword = generatePassword();
  let target: MariadbInstance;
  let other: MariadbInstance;
  let admin: Connection;
  let otherAdmin: Connection;
  const grantsOf = async () => (await rows<Record<string, string>>(admin, "SHOW GRANTS FOR 'app'@'127.0.0.1'")).map((r) => Object.values(r)[0]).sort();

  beforeAll(async () => {
    ensureDebianPackages(MARIADB_REQUIREMENTS, silentLogger);
    target = new MariadbInstance({ name: 'target', baseDir, serverId: 41, rootPassword, group, log: silentLogger });
    other = new MariadbInstance({ name: 'other', baseDir, serverId: 42, rootPassword, group, log: silentLogger });
    await target.initialise();
    await other.initialise();
    admin = await connect(target.endpoint());
    otherAdmin = await connect(other.endpoint());
    await admin.query('CREATE DATABASE app');
    await admin.query(`CREATE USER app@'127.0.0.1' IDENTIFIED BY ${admin.escape(generatePassword())}`);
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO app@'127.0.0.1'`);
  }, 120000);

  afterAll(async () => {
    await admin?.end();
    await otherAdmin?.end();
    await group.stopAll();
    rmSync(baseDir, { recursive: true, force: true });
  });

  test('GIVEN the revoke journaled by a killed run WHEN the resumed run revokes again THEN it uses the journal (not the now-empty SHOW GRANTS) and the promotion restores exactly', async () => {
    const before = await grantsOf();
    const facts: Facts = {};
    const recorded: Facts[] = [];
    const context = () => ({ ...detachedContext({ runId: 'r', dryRun: false, log: silentLogger, facts, resources: new RunResources() }), record: async (learned: Facts) => void (recorded.push(learned), Object.assign(facts, learned)) });
    await revokeAppWritesOnTarget(context(), admin, dialect, ['app']);
    expect(recorded).toEqual([{ targetAppGrantsRevoked: [{ account: "'app'@'127.0.0.1'", on: '`app`.*', privileges: ['INSERT', 'UPDATE', 'DELETE'] }] }]);
    expect(await grantsOf()).toEqual(["GRANT SELECT ON `app`.* TO `app`@`127.0.0.1`", expect.stringMatching(/^GRANT USAGE ON \*\.\* TO `app`@`127\.0\.0\.1`/)].sort());

    // The resumed process: same journal, nothing recorded again, no error.
    await revokeAppWritesOnTarget(context(), admin, dialect, ['app']);
    expect(recorded).toHaveLength(1);

    for (const statement of restoreAppWritesStatements(facts)) await admin.query(statement);
    expect(await grantsOf()).toEqual(before);
  }, 60000);

  test('the scan hook refuses a target whose binlogs hold no transaction of the source, before anything is configured', async () => {
    const context = detachedContext({ runId: 'r', dryRun: false, log: silentLogger, facts: { sourceServerId: 42 }, resources: new RunResources() });
    await otherAdmin.query('CREATE DATABASE source_only');
    await expect(scanStartCoordinates(context, otherAdmin, admin)).rejects.toThrow(/No transaction of the source \(server_id 42\)/);
    await expect(scanStartCoordinates({ ...context, facts: {} }, otherAdmin, admin)).rejects.toThrow(/mysql.preflight must run first/);
  }, 60000);
});
