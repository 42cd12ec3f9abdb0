import { ensureDebianPackages } from '../../../lib/platforms/local/debian-packages';
import { silentLogger } from '../../../lib/util/log';

describe('Debian packages for the sandbox', () => {
  test('without root, a missing server stops the run with the exact command to install it', () => {
    expect(() =>
      ensureDebianPackages([{ binary: '/nonexistent/rds-cutover-test-binary', packageName: 'rds-cutover-test-package' }], silentLogger, { isRoot: false }),
    ).toThrow("The local sandbox needs Debian packages that are not installed: rds-cutover-test-package. Run as root: sudo sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rds-cutover-test-package'");
  });

  test('nothing is installed when every binary is there', () => {
    expect(() => ensureDebianPackages([{ binary: process.execPath, packageName: 'nodejs' }], silentLogger, { isRoot: false })).not.toThrow();
  });
});
