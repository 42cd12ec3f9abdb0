import type { CutoverEnvironmentInput } from './schema';
import local from './local';

/**
 * Servers that `npm run sandbox -- up [--engine mysql|postgres]` started on this machine and
 * that outlive every command: `zx scripts/cutover.mjs --env sandbox --execute` runs the real
 * flow against them as against AWS (journal in .rds-cutover/runs, --resume after a kill, no
 * built-in load: point your own workload at the endpoint `npm run sandbox -- status` prints).
 */
const sandbox: CutoverEnvironmentInput = {
  name: 'sandbox',
  platform: 'sandbox',
  // The same databases, accounts and gates as the rehearsal: the sandbox runs the same servers.
  mysql: local.mysql,
  postgres: local.postgres,
  rehearsal: local.rehearsal,
};

export default sandbox;
