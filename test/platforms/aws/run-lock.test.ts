import { AddTagsToResourceCommand, ListTagsForResourceCommand } from '@aws-sdk/client-rds';
import { AwsGateway } from '../../../lib/platforms/aws/gateway';
import { LOCK_TAG, lockTagValue, parseLockTag, RdsTagRunLock } from '../../../lib/platforms/aws/run-lock';
import { RunLockHeld, type RunLockHolder } from '../../../lib/runbook/lock';
import { mockedAws, recordingLogger, statefulTags } from './helpers';

const ARN = 'arn:aws:rds:eu-west-1:111111111111:db:orders';
const holder = (runId: string, host = 'laptop-anna'): RunLockHolder => ({ runId, environment: 'prod', host, pid: 4242, startedAt: '2026-12-01T01:00:00.000Z' });

function lockOn(aws: ReturnType<typeof mockedAws>) {
  const gateway = new AwsGateway({ mode: 'live', clients: aws.clients, log: recordingLogger(), waits: { pollSeconds: 0.01 } });
  return new RdsTagRunLock(gateway, async () => ARN, 'source instance orders', { settleMs: 1 });
}

describe('AWS run lock: a tag on the source both operators can see', () => {
  test('the holder survives the round trip through an RDS tag value (allowed characters only)', () => {
    const value = lockTagValue(holder('20261201-010000-abc123'));
    expect(value).toMatch(/^[\p{L}\p{N}_.:/=+\-@ ]+$/u);
    expect(parseLockTag(value)).toEqual(holder('20261201-010000-abc123'));
  });

  test("a way-back run's resume command survives the round trip (the refusal names it: switch-back RUN_ID, complete RUN_ID --delete-old)", () => {
    const withCommand = { ...holder('20261201-020000-def456'), command: 'complete 20261201-010000-abc123 --delete-old' };
    const value = lockTagValue(withCommand);
    expect(value).toMatch(/^[\p{L}\p{N}_.:/=+\-@ ]+$/u);
    expect(parseLockTag(value)).toEqual(withCommand);
  });

  test('GIVEN no lock WHEN a run acquires THEN it tags the source, reads the tag back, and releases it at the end', async () => {
    const aws = mockedAws();
    const tags = statefulTags(aws);
    const lock = lockOn(aws);
    await lock.acquire(holder('run-1'));
    expect(tags.get(ARN)).toEqual([{ Key: LOCK_TAG, Value: lockTagValue(holder('run-1')) }]);
    expect(aws.rds.commandCalls(ListTagsForResourceCommand).length).toBe(2); // before and after the write
    await lock.release('run-1');
    expect(tags.get(ARN)).toEqual([]);
  });

  test("GIVEN another operator's run holds the tag WHEN a run starts THEN it refuses, naming run id, host, pid, start time and --break-lock, and writes nothing", async () => {
    const aws = mockedAws();
    const tags = statefulTags(aws);
    tags.set(ARN, [{ Key: LOCK_TAG, Value: lockTagValue(holder('run-of-anna')) }]);
    const refusal = await lockOn(aws).acquire(holder('run-of-ben', 'laptop-ben')).catch((e: Error) => e);
    expect(refusal).toBeInstanceOf(RunLockHeld);
    expect((refusal as Error).message).toMatch(/locked by run run-of-anna \(host laptop-anna, pid 4242, started 2026-12-01T01:00:00.000Z; lock: tag rds-cutover:lock on source instance orders\).*--break-lock run-of-anna/);
    expect(aws.rds.commandCalls(AddTagsToResourceCommand)).toHaveLength(0);
  });

  test('GIVEN two runs tagging at the same moment THEN the one whose value did not stay refuses', async () => {
    const aws = mockedAws();
    const tags = statefulTags(aws);
    // the other operator's write lands right after ours
    aws.rds.on(AddTagsToResourceCommand).callsFake(() => {
      tags.set(ARN, [{ Key: LOCK_TAG, Value: lockTagValue(holder('run-of-anna')) }]);
      return {};
    });
    await expect(lockOn(aws).acquire(holder('run-of-ben', 'laptop-ben'))).rejects.toThrow(/locked by run run-of-anna .*at the same moment/);
  });

  test('--break-lock removes the tag only for the named holder', async () => {
    const aws = mockedAws();
    const tags = statefulTags(aws);
    tags.set(ARN, [{ Key: 'team', Value: 'orders' }, { Key: LOCK_TAG, Value: lockTagValue(holder('killed-run')) }]);
    const lock = lockOn(aws);
    await expect(lock.breakLock('other')).rejects.toThrow('held by run killed-run');
    expect((await lock.breakLock('killed-run')).host).toBe('laptop-anna');
    expect(tags.get(ARN)).toEqual([{ Key: 'team', Value: 'orders' }]);
  });
});
