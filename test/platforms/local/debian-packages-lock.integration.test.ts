import { spawn, type ChildProcess } from 'node:child_process';
import { ensureDebianPackages } from '../../../lib/platforms/local/debian-packages';
import { silentLogger } from '../../../lib/util/log';

/**
 * Rule: installing the sandbox's Debian packages waits for another apt/dpkg (unattended
 * upgrades on a fresh machine, a second run installing at the same moment) instead of failing
 * with "Could not get lock /var/lib/dpkg/lock-frontend".
 *
 * A python process holds the lock the way apt does (fcntl on lock-frontend) until an
 * `apt-get install` has started (update does not take that lock), then 3 s more. The requirement
 * names a binary that does not exist from a package that is installed, so apt-get runs, finds
 * nothing to do, and the function then reports the binary as still missing: the error says
 * whether apt-get got through (waited) or failed on the lock.
 */
const HOLD_UNTIL_INSTALL_STARTS = `
import fcntl, os, sys, time
f = open('/var/lib/dpkg/lock-frontend', 'w')
fcntl.lockf(f, fcntl.LOCK_EX)
print('held', flush=True)
def installing():
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            argv = open('/proc/%s/cmdline' % pid, 'rb').read().split(b'\\0')
        except OSError:
            continue
        if argv and argv[0].endswith(b'apt-get') and b'install' in argv:
            return True
    return False
deadline = time.time() + 600
while not installing() and time.time() < deadline:
    time.sleep(0.05)
time.sleep(3)
`;

const isRoot = process.getuid?.() === 0;

(isRoot ? describe : describe.skip)('ensureDebianPackages and a held dpkg lock', () => {
  let holder: ChildProcess | undefined;

  afterEach(() => {
    holder?.kill('SIGKILL');
  });

  it('waits for the lock and then runs apt-get, instead of failing on it', async () => {
    holder = spawn('python3', ['-c', HOLD_UNTIL_INSTALL_STARTS], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      holder!.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve());
      holder!.on('exit', (code) => reject(new Error(`lock holder exited ${code} before holding the lock`)));
    });
    expect(() => ensureDebianPackages([{ binary: '/nonexistent/rds-cutover-lock-test', packageName: 'socat' }], silentLogger)).toThrow(
      /apt-get finished but these are still missing: \/nonexistent\/rds-cutover-lock-test/,
    );
  });
});
