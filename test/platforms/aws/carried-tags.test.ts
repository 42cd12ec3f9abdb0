/**
 * Found by the plan == execute test (test/plan/plan-equals-execute.integration.test.ts): the
 * restored target copied the source's tags, including the run lock tag the run itself had put on
 * the source, so the new database carried "rds-cutover:lock run=… host=… pid=…" for good — a
 * change the plan never showed (the dry run takes no lock).
 */
import { carriedTags, runTags, RUN_ID_TAG } from '../../../lib/platforms/aws/run-tags';
import { LOCK_TAG } from '../../../lib/platforms/aws/run-lock';

test('the run lock tag on the source is never carried to a resource the run creates (nor another run\'s id or AWS-reserved tags)', () => {
  const source = [
    { Key: 'team', Value: 'orders' },
    { Key: LOCK_TAG, Value: 'run=20261201-050141-abc123 host=vm pid=1 started=2026-12-01T05:01:41Z env=prod' },
    { Key: RUN_ID_TAG, Value: 'an-earlier-run' },
    { Key: 'aws:cloudformation:stack-name', Value: 'x' },
  ];
  expect(carriedTags(source, runTags({ project: 'rds-cutover' }, 'this-run'))).toEqual([
    { Key: 'team', Value: 'orders' },
    { Key: 'project', Value: 'rds-cutover' },
    { Key: RUN_ID_TAG, Value: 'this-run' },
  ]);
});
