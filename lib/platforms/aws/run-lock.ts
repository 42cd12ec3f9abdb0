import { AddTagsToResourceCommand, ListTagsForResourceCommand, RemoveTagsFromResourceCommand, type ListTagsForResourceCommandOutput } from '@aws-sdk/client-rds';
import { RunLockHeld, type RunLock, type RunLockHolder } from '../../runbook/lock';
import { sleep } from '../../util/time';
import type { AwsGateway } from './gateway';

/** The tag on the source instance/cluster that holds an environment's run lock. */
export const LOCK_TAG = 'rds-cutover:lock';

/**
 * RDS tag values allow letters, digits, spaces and `_ . : / = + - @` only (no JSON): the holder
 * is written as `run=ID host=HOST pid=PID started=ISO env=NAME[ cmd=COMMAND]`, the resume
 * command of a way-back run (`switch-back RUN_ID`) with its spaces written as `+`.
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Tagging.html
 */
export function lockTagValue(holder: RunLockHolder): string {
  const clean = (value: string) => value.replace(/[^\p{L}\p{N}_.:/=+\-@]/gu, '_');
  const command = holder.command ? ` cmd=${clean(holder.command.replace(/ /g, '+'))}` : '';
  return `run=${clean(holder.runId)} host=${clean(holder.host)} pid=${holder.pid} started=${clean(holder.startedAt)} env=${clean(holder.environment)}${command}`.slice(0, 256);
}

export function parseLockTag(value: string): RunLockHolder {
  const fields = Object.fromEntries(value.split(' ').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
  return {
    runId: fields.run ?? 'unknown',
    host: fields.host ?? 'unknown',
    pid: Number(fields.pid ?? 0),
    startedAt: fields.started ?? 'unknown',
    environment: fields.env ?? 'unknown',
    ...(fields.cmd ? { command: fields.cmd.replace(/\+/g, ' ') } : {}),
  };
}

/** The resource carrying the tag is gone (e.g. the old source deleted by `complete --delete-old`). */
function resourceGone(error: unknown): boolean {
  return error instanceof Error && /NotFound/.test(`${error.name} ${(error as { Code?: string }).Code ?? ''}`);
}

/**
 * The run lock on AWS: a tag on the source (AddTagsToResource), which every operator of the
 * environment can read whatever machine they run from. Tags have no compare-and-swap, so after
 * writing the lock waits `settleMs` and reads it back: of two runs that tagged at the same
 * moment, the one whose value is not there refuses. A killed run's tag stays until released
 * explicitly (--break-lock RUN_ID).
 */
export class RdsTagRunLock implements RunLock {
  readonly where: string;

  constructor(
    private readonly aws: AwsGateway,
    /** The source's ARN (DescribeDBInstances/Clusters), read when the lock is first needed. */
    private readonly resourceArn: () => Promise<string>,
    resourceLabel: string,
    private readonly options: { settleMs?: number } = {},
  ) {
    this.where = `tag ${LOCK_TAG} on ${resourceLabel}`;
  }

  async holder(): Promise<RunLockHolder | undefined> {
    const output = await this.aws.read<ListTagsForResourceCommandOutput>('rds', new ListTagsForResourceCommand({ ResourceName: await this.resourceArn() }));
    const tag = output?.TagList?.find((t) => t.Key === LOCK_TAG);
    return tag?.Value ? parseLockTag(tag.Value) : undefined;
  }

  async acquire(holder: RunLockHolder): Promise<void> {
    const current = await this.holder();
    if (current && current.runId !== holder.runId) throw new RunLockHeld(current, this.where);
    const value = lockTagValue(holder);
    await this.aws.write('rds', new AddTagsToResourceCommand({ ResourceName: await this.resourceArn(), Tags: [{ Key: LOCK_TAG, Value: value }] }));
    await sleep(this.options.settleMs ?? 2000);
    const after = await this.holder();
    if (!after || lockTagValue(after) !== value) {
      if (after) throw new RunLockHeld(after, this.where, ' — it tagged the source at the same moment as this run');
      throw new Error(`The lock tag ${LOCK_TAG} did not stay on the source after AddTagsToResource: check the tags of the source and the IAM permissions rds:AddTagsToResource / rds:ListTagsForResource`);
    }
  }

  async release(runId: string): Promise<void> {
    // A source deleted by the run that held the lock (complete --delete-old) took its tag with it.
    const current = await this.holder().catch((error: unknown) => {
      if (resourceGone(error)) return undefined;
      throw error;
    });
    if (current?.runId !== runId) return;
    await this.aws.write('rds', new RemoveTagsFromResourceCommand({ ResourceName: await this.resourceArn(), TagKeys: [LOCK_TAG] }));
  }

  async breakLock(runId: string): Promise<RunLockHolder> {
    const current = await this.holder();
    if (!current) throw new Error(`No run lock (${this.where}): nothing to release`);
    if (current.runId !== runId) throw new Error(`The lock (${this.where}) is held by run ${current.runId}, not ${runId}: pass the holder's run id to --break-lock`);
    await this.aws.write('rds', new RemoveTagsFromResourceCommand({ ResourceName: await this.resourceArn(), TagKeys: [LOCK_TAG] }));
    return current;
  }
}
