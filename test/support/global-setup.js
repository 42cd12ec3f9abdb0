/**
 * Every test run gets one temp root, and TMPDIR points into it for the tests, the library and
 * every process they start (os.tmpdir() reads TMPDIR). The teardown then knows exactly what the
 * tests left behind and removes it. RDS_CUTOVER_STATE_DIR keeps journals out of the
 * checkout's own .rds-cutover/. The root names its owner (this process): a later run removes
 * it if this one was killed before its teardown (stale-test-roots.js).
 */
const { chmodSync, mkdirSync, mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { claimRoot, removeStaleTestRoots } = require('./stale-test-roots');

module.exports = async () => {
  // What a killed test run left (its root, its servers) goes first; other live runs' roots stay.
  const stale = removeStaleTestRoots(tmpdir());
  if (stale.removed.length > 0) process.stderr.write(`removed ${stale.removed.length} temp root(s) left by killed test runs${stale.killed.length > 0 ? `, and ${stale.killed.length} process(es) they had started` : ''}: ${stale.removed.join(', ')}\n`);
  const root = mkdtempSync(join(tmpdir(), 'rds-cutover-tests-'));
  claimRoot(root);
  // The postgres account runs sandbox servers under it: it must be able to traverse the root.
  chmodSync(root, 0o755);
  process.env.RDS_CUTOVER_TEST_ROOT = root;
  // Tools that cache themselves in the temp dir across runs (the shared moto copy) keep using the machine's.
  process.env.RDS_CUTOVER_OUTER_TMPDIR = tmpdir();
  process.env.TMPDIR = root;
  process.env.RDS_CUTOVER_STATE_DIR = join(root, 'state');
  mkdirSync(process.env.RDS_CUTOVER_STATE_DIR, { mode: 0o700 });
};
