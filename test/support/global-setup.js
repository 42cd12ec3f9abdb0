/**
 * Every test run gets one temp root, and TMPDIR points into it for the tests, the library and
 * every process they start (os.tmpdir() reads TMPDIR). The teardown then knows exactly what the
 * tests left behind and removes it. RDS_CUTOVER_STATE_DIR keeps journals out of the
 * checkout's own .rds-cutover/.
 */
const { chmodSync, mkdirSync, mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async () => {
  const root = mkdtempSync(join(tmpdir(), 'rds-cutover-tests-'));
  // The postgres account runs sandbox servers under it: it must be able to traverse the root.
  chmodSync(root, 0o755);
  process.env.RDS_CUTOVER_TEST_ROOT = root;
  // Tools that cache themselves in the temp dir across runs (the shared moto copy) keep using the machine's.
  process.env.RDS_CUTOVER_OUTER_TMPDIR = tmpdir();
  process.env.TMPDIR = root;
  process.env.RDS_CUTOVER_STATE_DIR = join(root, 'state');
  mkdirSync(process.env.RDS_CUTOVER_STATE_DIR, { mode: 0o700 });
};
