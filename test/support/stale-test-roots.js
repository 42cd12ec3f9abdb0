/**
 * A test run that was killed (SIGKILL, a CI timeout, Ctrl-C twice) never reaches its global
 * teardown: its temp root stays, and so may servers it started. The next run removes such a
 * root (issue 9, item 8: what a crashed run left is removed by the next one). A root is stale
 * when the run that owns it is gone: its `owner` file names a process that no longer exists (or
 * one that started at another time: a reused pid); a root without an owner file (an older run)
 * counts as stale once no process mentions it (command line or environment) and it is older than
 * `minAgeMs`. Processes that still name a stale root (the killed run's servers) are killed first. A root
 * whose owner is alive — another test run on this machine — is never touched.
 */
const { readFileSync, readdirSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const PREFIX = 'rds-cutover-tests-';

/** When a process started, in clock ticks since boot (field 22 of /proc/PID/stat); undefined if it is gone. */
function startTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Marks `root` as owned by this process (pid and its start time). */
function claimRoot(root, pid = process.pid) {
  writeFileSync(join(root, 'owner'), `${pid} ${startTicks(pid)}\n`);
}

function processesMentioning(folder, self) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === self) continue;
    try {
      // Its command line (a server's --defaults-file, a data folder) or its environment (TMPDIR: a jest run and what it started).
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      const environment = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (args.includes(folder) || environment.some((variable) => variable.includes(folder))) found.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return found;
}

function ownerAlive(root) {
  let owner;
  try {
    owner = readFileSync(join(root, 'owner'), 'utf8').trim().split(' ');
  } catch {
    return undefined; // no owner file
  }
  const [pid, ticks] = owner;
  return startTicks(Number(pid)) === ticks;
}

/**
 * Removes the stale test roots in `tmp` (see above); returns what it removed and the processes
 * it killed. `minAgeMs` applies to roots without an owner file only.
 */
function removeStaleTestRoots(tmp, options = {}) {
  const minAgeMs = options.minAgeMs ?? 10 * 60 * 1000;
  const self = options.self ?? process.pid;
  const removed = [];
  const killed = [];
  for (const name of readdirSync(tmp)) {
    if (!name.startsWith(PREFIX)) continue;
    const root = join(tmp, name);
    let stat;
    try {
      stat = statSync(root);
    } catch {
      continue;
    }
    if (!stat.isDirectory()) continue;
    const alive = ownerAlive(root);
    if (alive === true) continue;
    const users = processesMentioning(root, self);
    if (alive === undefined && (users.length > 0 || Date.now() - stat.mtimeMs < minAgeMs)) continue;
    for (const pid of users) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      } catch {
        /* gone */
      }
    }
    rmSync(root, { recursive: true, force: true });
    removed.push(root);
  }
  return { removed, killed };
}

module.exports = { claimRoot, removeStaleTestRoots, startTicks };
