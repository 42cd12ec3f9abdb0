import { execFileSync } from 'node:child_process';
import { sleep } from '../../lib/util/time';

/** Pids of live (non-zombie) processes whose whole command line is exactly `programLine`. */
export function runningProgram(programLine: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, stat, ...args]) => stat !== undefined && !stat.startsWith('Z') && args.join(' ') === programLine)
    .map(([pid]) => pid);
}

/** Poll (on a busy machine, generously) until the condition holds. */
export async function eventually(condition: () => boolean, what: string, attempts = 600): Promise<void> {
  for (let i = 0; i < attempts; i += 1) {
    if (condition()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}
