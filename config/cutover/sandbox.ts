import type { CutoverEnvironmentInput } from './schema';

/**
 * Servers that `npm run sandbox -- up [--engine mysql|postgres]` started on this machine and
 * that outlive every command: `zx scripts/cutover.mjs --env sandbox --execute` runs the real
 * flow against them as against AWS (journal in .rds-cutover/runs, --resume after a kill, no
 * built-in load: point your own workload at the endpoint `npm run sandbox -- status` prints).
 */
const sandbox: CutoverEnvironmentInput = {
  name: 'sandbox',
  platform: 'sandbox',
  mysql: {
    databases: ['app'],
    appUsers: ['app'],
    lagThresholdMs: 1000,
    switchTimeoutMs: 10000,
    catchUpTimeoutMs: 120000,
  },
  postgres: {
    databases: ['app'],
    appUsers: ['app'],
    lagThresholdMs: 1000,
    switchTimeoutMs: 10000,
    catchUpTimeoutMs: 120000,
    copyJobs: 2,
  },
  rehearsal: {
    loadConnections: 8,
    loadRatePerSecond: 400,
    loadTailMs: 3000,
    seedRows: 20000,
  },
};

export default sandbox;
