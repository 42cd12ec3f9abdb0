import type { CutoverEnvironmentInput } from './schema';

/**
 * The rehearsal environment: every server is started on this machine by the project
 * (MariaDB 10.11 + HAProxy from Debian's packages) and thrown away afterwards.
 */
const local: CutoverEnvironmentInput = {
  name: 'local',
  platform: 'local',
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

export default local;
