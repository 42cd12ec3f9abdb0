/**
 * The way back is an executed run like any other:
 * - RULE: one run per environment. `switch-back` and `complete` take the environment's run lock
 *   (lib/runbook/lock.ts) like forward runs: while a switch-back holds it (here: one killed with
 *   kill -9 mid-switch), a second switch-back is refused with the holder's run id and the
 *   --break-lock command (which then releases it), exit 3 (like a forward run's lock refusal), and
 *   nothing is journaled.
 *   Before, the way back took no lock: two switch-backs could overlap.
 * - RULE: `status` names the sides as the switch back sees them: the side frozen is the one
 *   traffic was on (the forward run's target); before, it described the forward direction
 *   ("source frozen … endpoint on the source"). The same for the NOT VERIFIED hint after a
 *   resumed switch-back (the frozen side is the target, the side taking writes is the source).
 * - RULE: `status` of a killed run says whether the lock holder's process is alive.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxDown, sandboxUp } from '../../lib/cli/sandbox';
import { silentLogger } from '../../lib/util/log';
import { runCutoverCli } from '../support/cutover-cli';

const work = mkdtempSync(join(tmpdir(), 'rc-sbl-')); // short: HAProxy's socket path must fit in 108 bytes
const stateDir = join(work, '.rds-cutover');
let runId = '';
let backRunId = '';

beforeAll(async () => {
  // GIVEN a sandbox cut over to the target, and a switch-back killed (kill -9) right after "promoted"
  // (4th sub-phase): target frozen, source promoted, endpoint still on the target
  await sandboxUp(stateDir, 'mysql', silentLogger, 500);
  const forward = await runCutoverCli(['--env', 'sandbox', '--execute'], work);
  expect(forward.code).toBe(0);
  [runId] = readdirSync(join(stateDir, 'runs'));
  const killed = await runCutoverCli(['switch-back', runId, '--execute'], work, 'step-progress:mysql.switch-back:4');
  expect(killed.signal).toBe('SIGKILL');
  backRunId = readdirSync(join(stateDir, 'runs')).find((id) => id !== runId)!;
}, 1_200_000);

afterAll(async () => {
  await sandboxDown(stateDir, 'mysql').catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}, 300_000);

test('status of a killed switch-back names the sides as the switch back sees them (target frozen, source promoted, endpoint on the target), the holder as not running, and the exact resume command', async () => {
  const status = await runCutoverCli(['status', backRunId, '--env', 'sandbox'], work);
  expect(status.output).toMatch(/switch: target frozen; source PROMOTED \(replication stopped, writable\); endpoint NOT moved yet \(on the target\) \(last journaled sub-phase "promoted"/);
  expect(status.output).not.toMatch(/endpoint on the source/);
  expect(status.output).toMatch(/not running: the process is gone/);
  expect(status.output).toContain(`resume it with: npx zx scripts/cutover.mjs switch-back ${runId} --execute --resume ${backRunId}`);
}, 300_000);

test('a second switch-back while the killed one holds the lock is refused (exit 3) with the holder and how to release it; nothing is journaled', async () => {
  const second = await runCutoverCli(['switch-back', runId, '--execute'], work);
  expect(second.output).toContain(`locked by run ${backRunId}`);
  expect(second.output).toContain(`--break-lock ${backRunId}`);
  expect(second.output).toContain(`switch-back ${runId} --execute --resume ${backRunId}`);
  expect(second.code).toBe(3);
  expect(readdirSync(join(stateDir, 'runs')).sort()).toEqual([runId, backRunId].sort());
  // AND the release command the refusal names works on that lock
  const release = second.output.match(/npx zx scripts\/cutover\.mjs (--env \S+ --break-lock \S+)/)![1].split(' ');
  const released = await runCutoverCli(release, work);
  expect(released.output).toContain(`released the lock on sandbox held by run ${backRunId}`);
  expect(released.code).toBe(0);
}, 600_000);

test('--resume of the killed switch-back takes the lock again, finishes, releases it, and verifies: the endpoint had not moved, so the resume takes its checksum snapshots before moving it (no write reached the source yet)', async () => {
  const resumed = await runCutoverCli(['switch-back', runId, '--execute', '--resume', backRunId], work);
  expect(resumed.output).toMatch(/mysql\.switch-back on sandbox: SUCCESS/);
  expect(resumed.output).not.toMatch(/NOT VERIFIED/);
  expect(resumed.code).toBe(0);
  expect(existsSync(join(stateDir, 'locks', 'sandbox.lock'))).toBe(false);
}, 600_000);
