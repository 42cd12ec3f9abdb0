import type { Tag } from '@aws-sdk/client-rds';
import { LOCK_TAG } from './run-lock';

/** Run id shown in plans, where no run exists yet. */
export const PLANNED_RUN_ID = '<run-id>';

/** Tag on everything a run creates: how a resumed run recognises its own resources. */
export const RUN_ID_TAG = 'rds-cutover:run-id';

/** A resource this run may reuse carries its run id; anything else with the name is refused. */
export function ownedBy(tags: Tag[] | undefined, runId: string): boolean {
  return (tags ?? []).some((t) => t.Key === RUN_ID_TAG && t.Value === runId);
}

export function notOurs(environment: string, kind: string, id: string, setting: string): Error {
  return new Error(`${kind} ${id} already exists and was not created by this run (no ${RUN_ID_TAG} tag with this run id): delete it, or choose another name with ${setting} in config/cutover/${environment}.ts`);
}

/** The configured tags plus the run id. */
export function runTags(tags: Record<string, string>, runId: string): Tag[] {
  return [...Object.entries(tags).map(([Key, Value]) => ({ Key, Value })), { Key: RUN_ID_TAG, Value: runId }];
}

/**
 * The source's own tags (not AWS-reserved ones, not another run's id, not the run lock this run
 * put on the source: a restored target would otherwise carry the lock for good), then the run's.
 */
export function carriedTags(sourceTags: Tag[], runTagList: Tag[]): Tag[] {
  return [...sourceTags.filter((t) => !t.Key?.startsWith('aws:') && t.Key !== RUN_ID_TAG && t.Key !== LOCK_TAG && !runTagList.some((r) => r.Key === t.Key)), ...runTagList];
}

/**
 * A resource name scoped to the run (so a resumed run finds it again); the planned run id stays
 * readable. A valid RDS identifier: letters, digits and hyphens, never two hyphens in a row nor
 * one at the end (RDS refuses both; a base ending in `-` or `_` gave `orders--…`).
 */
export function runScopedId(base: string, runId: string): string {
  if (runId === PLANNED_RUN_ID) return `${base}-${runId}`;
  return `${base}-${runId}`.replace(/[^a-zA-Z0-9-]/g, '-').replace(/-{2,}/g, '-').replace(/-+$/, '');
}

/** Drop undefined fields so inputs (and the plan) show only what is sent. */
export function defined<T extends object>(input: T): T {
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as T;
}
