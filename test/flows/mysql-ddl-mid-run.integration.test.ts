/**
 * MySQL-family: binlog replication carries DDL, so a table the application creates during the
 * move reaches the target, and verification (which lists each side's tables at the switch,
 * not preflight's) checksums it. Real MariaDB servers and HAProxy, a real --load-command workload.
 */
import { rehearseMysqlWithWorkload } from '../support/mysql-workload-rehearsal';

jest.setTimeout(300000);

test('GIVEN a workload that creates a table and writes 1000 rows after the run started WHEN the move is rehearsed THEN that table is on the target and in the matching checksums', async () => {
  const workload = [
    'export MYSQL_PWD="$CUTOVER_DB_PASSWORD"',
    'sleep 3',
    `mariadb --protocol=tcp -h "$CUTOVER_DB_HOST" -P "$CUTOVER_DB_PORT" -u "$CUTOVER_DB_USER" "$CUTOVER_DB_NAME" -e "CREATE TABLE created_mid_run (id INT PRIMARY KEY, note VARCHAR(20)); INSERT INTO created_mid_run WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) SELECT i, CONCAT('row ', i) FROM n"`,
  ].join('; ');
  const report = await rehearseMysqlWithWorkload(workload, { seedRows: 2000, connections: 4, ratePerSecond: 200, tailMs: 1000 });
  expect(report.load?.command?.exitCode).toBe(0);
  expect(report.error).toBeUndefined();
  expect(report.result).toBe('success');
  const tables = report.checksums!.tables as Array<{ table: string; sourceRows: number; targetRows: number; match: boolean }>;
  expect(tables.find((t) => t.table === 'app.created_mid_run')).toMatchObject({ sourceRows: 1000, targetRows: 1000, match: true });
  expect(report.checksums!.match).toBe(true);
  expect(report.writes!.lost).toBe(0);
});
