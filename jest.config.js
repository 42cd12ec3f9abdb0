/**
 * Two projects: `unit` needs nothing but Node; `integration` starts real servers
 * (MariaDB, HAProxy, PostgreSQL, pgbouncer) on loopback and takes minutes.
 * `npm test` runs both, one file at a time (2-core CI machine, real servers).
 */
// isolatedModules (tsconfig.json): transpile per file, no type-check in Jest (tsc does that: npm run typecheck).
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json' }];
// Jest's transform cache (~170 MB) lives with the dependencies, not in the temp dir: a test run
// leaves nothing there (issue 9: "npm test leaves < 10 MB in the temp dir").
const cacheDirectory = '<rootDir>/node_modules/.cache/jest';
module.exports = {
  // Per-project timeouts are not a Jest 29 option; integration tests start real servers.
  testTimeout: 300000,
  cacheDirectory,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  // One temp root per run (TMPDIR), checked and removed at the end: test/support/global-*.js.
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
  projects: [
    {
      displayName: 'unit',
      cacheDirectory,
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['\\.integration\\.test\\.ts$', '/node_modules/'],
    },
    {
      displayName: 'integration',
      cacheDirectory,
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.integration.test.ts'],
    },
  ],
};
