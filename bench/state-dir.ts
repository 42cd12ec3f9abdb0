import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Run one rehearsal of a benchmark with its own run-state folder (journal, lock), removed
 * afterwards whatever the outcome: a benchmark of N runs leaves nothing in the temp dir.
 */
export async function withBenchStateDir<T>(prefix: string, run: (stateDir: string) => Promise<T>): Promise<T> {
  const stateDir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await run(stateDir);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}
