/**
 * MySQL-family XA (two-phase commit): the freeze ends the application's sessions, and a
 * transaction its session had prepared (XA PREPARE) but not committed stays prepared on the
 * servers, holding its locks, until its coordinator resolves it. Nothing is lost (its COMMIT was
 * never acknowledged), but an operator must know: the report counts the prepared XA
 * transactions on the side traffic moved to and says how to resolve them (trial5 F2).
 * Real MariaDB servers and HAProxy, a real --load-command workload.
 */
import { rehearseMysqlWithWorkload } from '../support/mysql-workload-rehearsal';
import { summaryText } from '../../lib/report';

jest.setTimeout(300000);

test('GIVEN a session that prepared an XA transaction and waits WHEN the move is rehearsed THEN the report names the prepared XA transaction left on the new primary', async () => {
  // Prepared, then the session waits (its coordinator would send XA COMMIT later): the freeze ends it.
  const workload = [
    'export MYSQL_PWD="$CUTOVER_DB_PASSWORD"',
    'sleep 2',
    `mariadb --protocol=tcp -h "$CUTOVER_DB_HOST" -P "$CUTOVER_DB_PORT" -u "$CUTOVER_DB_USER" "$CUTOVER_DB_NAME" -e "CREATE TABLE IF NOT EXISTS xa_items (id INT PRIMARY KEY); XA START 'rc-xa-1'; INSERT INTO xa_items VALUES (1); XA END 'rc-xa-1'; XA PREPARE 'rc-xa-1'; SELECT SLEEP(600)" || true`,
  ].join('; ');
  const report = await rehearseMysqlWithWorkload(workload, { seedRows: 500, connections: 2, ratePerSecond: 100, tailMs: 500 });
  expect(report.error).toBeUndefined();
  expect(report.writes!.lost).toBe(0);
  expect(report.facts.xaPreparedOnNewPrimary).toEqual(['rc-xa-1']);
  expect(summaryText(report).join('\n')).toContain('XA: 1 transaction(s) prepared before the freeze are still prepared on the target (rc-xa-1)');
});
