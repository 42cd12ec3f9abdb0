import { environmentNames, loadEnvironment } from '../../config/cutover';
import { EMULATED_ENVIRONMENT } from '../../lib/rehearsal/aws-emulated/rehearse';

/**
 * The emulated account's servers are plain local MariaDB servers with a throwaway CA: that CA is
 * the one place TLS trusts something other than RDS's. It is made at run time for
 * `--env aws-emulated`, never a config file; the AWS example environments trust the RDS bundle.
 */
describe('TLS of the AWS example environments', () => {
  const aws = environmentNames().map(loadEnvironment).filter((environment) => environment.platform === 'aws');

  test('every AWS example environment verifies against the RDS global bundle, never a local CA', () => {
    expect(aws.length).toBeGreaterThanOrEqual(3);
    for (const environment of aws) expect({ name: environment.name, tlsCaFile: environment.aws?.tlsCaFile }).toEqual({ name: environment.name, tlsCaFile: '.rds-cutover/rds-global-bundle.pem' });
  });

  test('aws-emulated is not a config file (its account, tunnels and CA exist only while it runs)', () => {
    expect(environmentNames()).not.toContain(EMULATED_ENVIRONMENT);
  });
});
