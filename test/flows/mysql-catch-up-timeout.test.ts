/**
 * A catch-up that gives up says how far behind the replica last was and what to change: a new
 * user's rehearsal under a heavy third-party workload (mariadb-slap, 4 writers) ended with only
 * "did not get within 1000 ms … resume later with --resume", though the lag had stayed at
 * 8–10 s for two minutes (the source writing faster than the replica applied).
 */
import { catchUpTimedOut } from '../../lib/flows/mysql-encrypt';
import { withRehearsalWayForward, REHEARSAL_NOT_RESUMABLE } from '../../lib/rehearsal/rehearsal-load';

const settings = { lagThresholdMs: 1000, catchUpTimeoutMs: 120000 };

test('the message names the last lag measured, that nothing was frozen, what to change and the resume', () => {
  const message = catchUpTimedOut('replica', settings, 9251);
  expect(message).toMatch(/^The replica did not get within 1000 ms of the source in 120000 ms \(last lag measured: 9\.3 s\); the source was never frozen\./);
  expect(message).toMatch(/lower the write load .* or raise catchUpTimeoutMs in the environment's config; then resume later with --resume$/);
});

test('a lag too large to measure within one wait is said as such', () => {
  expect(catchUpTimedOut('target', settings, undefined)).toMatch(/\(last lag measured: over 10 s \(not measurable within one wait\)\)/);
});

test('in a rehearsal the resume advice is followed by the note that a rehearsal cannot be resumed', () => {
  expect(withRehearsalWayForward({ error: catchUpTimedOut('replica', settings, 9251) }).error).toMatch(new RegExp(`--resume ${REHEARSAL_NOT_RESUMABLE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
});
