/**
 * Names a run gives the resources it creates (snapshots, final snapshots) must be valid RDS
 * identifiers: letters, digits and hyphens, no two consecutive hyphens, not ending with a
 * hyphen (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html#RDS_Limits.Constraints).
 */
import { PLANNED_RUN_ID, runScopedId } from '../../../lib/platforms/aws/run-tags';

const RDS_IDENTIFIER = /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]*[a-zA-Z0-9]$/;

describe('runScopedId: a valid RDS identifier whatever the base and the run id hold', () => {
  test.each([
    ['orders', '20261201-050955-8a2d35'],
    ['orders-', '20261201-050955-8a2d35'],
    ['orders_db', '20261201-050955-8a2d35'],
    ['orders_-cutover', '20261201-050955-8a2d35'],
    ['orders.cutover', '20261201_050955_8a2d35'],
    ['orders', '20261201-050955-8a2d35-'],
    ['orders', '-20261201--050955'],
  ])('GIVEN base %s and run id %s THEN no double hyphen, no trailing hyphen, only letters, digits and hyphens', (base, runId) => {
    expect(runScopedId(base, runId)).toMatch(RDS_IDENTIFIER);
  });

  test('the usual run id is kept as it is, after the base', () => {
    expect(runScopedId('orders-final', '20261201-050955-8a2d35')).toBe('orders-final-20261201-050955-8a2d35');
  });

  test('the planned run id stays readable in plans', () => {
    expect(runScopedId('orders-final', PLANNED_RUN_ID)).toBe('orders-final-<run-id>');
  });
});
