import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnvironment } from '../../config/cutover';
import { rehearseMysql } from '../../lib/rehearsal/mysql-rehearsal';
import type { CutoverReport } from '../../lib/report';
import { silentLogger } from '../../lib/util/log';

/**
 * A local MySQL rehearsal on real servers (the `local` environment, a 60 s catch-up) with a
 * `--load-command` workload beside the built-in load, in a state folder of its own that is
 * removed after (`switchBack`: forward and back, as `npm run rehearse -- --switch-back`). Returns the report.
 */
export async function rehearseMysqlWithWorkload(workload: string, load: { seedRows: number; connections: number; ratePerSecond: number; tailMs: number }, options: { switchBack?: boolean } = {}): Promise<CutoverReport> {
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-mysql-workload-'));
  try {
    const environment = loadEnvironment('local');
    return await rehearseMysql({
      environment: 'local',
      settings: { ...environment.mysql!, catchUpTimeoutMs: 60000 },
      stateDir,
      log: silentLogger,
      seedRows: load.seedRows,
      load: { connections: load.connections, ratePerSecond: load.ratePerSecond, tailMs: load.tailMs, command: workload },
      switchBack: options.switchBack,
    });
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}
