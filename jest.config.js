/**
 * Two projects: `unit` needs nothing but Node; `integration` starts real servers
 * (MariaDB, HAProxy, PostgreSQL, pgbouncer) on loopback and takes minutes.
 * `npm test` runs both, one file at a time (2-core CI machine, real servers).
 */
const tsJest = ['ts-jest', { isolatedModules: true, tsconfig: 'tsconfig.json' }];
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['\\.integration\\.test\\.ts$', '/node_modules/'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.integration.test.ts'],
      testTimeout: 300000,
    },
  ],
};
