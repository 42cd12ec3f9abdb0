/**
 * Rule: a rehearsal's report never sends the user to `--resume` without saying that a rehearsal
 * cannot be resumed. The flows' messages end in "then --resume this run" (right for a real run);
 * a rehearsal's sandbox is thrown away with it, and `--resume` of it is refused (a new user's trial
 * followed the advice and got "its sandbox is gone").
 */
import { REHEARSAL_NOT_RESUMABLE, withRehearsalWayForward } from '../../lib/rehearsal/rehearsal-load';

test('a message that advises --resume gets the rehearsal note, once', () => {
  const run = { error: 'Switch not started: the tables changed after the copy: … wait until every table is ready, then --resume this run.' };
  const advised = withRehearsalWayForward(run);
  expect(advised.error).toBe(`${run.error} ${REHEARSAL_NOT_RESUMABLE}`);
  expect(withRehearsalWayForward(advised).error).toBe(advised.error);
});

test('a message without --resume, or no message, is left as it is', () => {
  expect(withRehearsalWayForward({ error: 'Switch aborted: the target did not catch up. The source was reopened.' }).error).toBe('Switch aborted: the target did not catch up. The source was reopened.');
  expect(withRehearsalWayForward<{ error?: string }>({}).error).toBeUndefined();
});
