import { execFileSync } from 'node:child_process';

/** Processes whose command line mentions a folder (sandbox servers, HAProxy, pgbouncer). */
export function processesUsing(folder: string): string[] {
  return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(folder) && !line.includes('ps -eo'));
}
