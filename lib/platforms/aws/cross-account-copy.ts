/**
 * Share and copy across accounts: the one path by which a snapshot reaches another AWS account
 * encrypted under that account's own key. Two flows take it: `--flow share-snapshot`
 * (snapshot-share.ts, one step per phase) and the MySQL encrypt flow's clone step with
 * `aws.targetAccount` (cross-account-target.ts, all phases in one step).
 *
 *   1. copy the snapshot (source account) under the share key
 *   2. share it: restore attribute +target account
 *   3. in the target account, copy the shared ARN under the target's own key
 *   4. unshare: restore attribute −target account
 *
 * Why two copies: a snapshot encrypted with the default `aws/rds` key cannot be shared, so the
 * first copy re-encrypts it under a customer-managed key whose policy lets the target account use
 * it through RDS; the second, in the target account, re-encrypts it under the target's own key so
 * the restored database no longer depends on the source account's key and the share can go.
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/share-encrypted-snapshot.html
 *
 * Each copy is looked up by its run-scoped name first and reused when this run made it (the
 * run-id tag), so a resume after kill -9 anywhere creates no second copy; a snapshot with that
 * name that this run did not make is refused with the caller's own error (naming its setting).
 * Share and unshare read the restore attribute first, so they are idempotent too.
 */
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBSnapshotCommand,
  DeleteDBClusterSnapshotCommand,
  DeleteDBSnapshotCommand,
  DescribeDBClusterSnapshotAttributesCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotAttributesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBClusterSnapshotAttributeCommand,
  ModifyDBSnapshotAttributeCommand,
  type DBClusterSnapshot,
  type DBSnapshot,
  type DescribeDBClusterSnapshotAttributesCommandOutput,
  type DescribeDBClusterSnapshotsCommandOutput,
  type DescribeDBSnapshotAttributesCommandOutput,
  type DescribeDBSnapshotsCommandOutput,
  type Tag,
} from '@aws-sdk/client-rds';
import type { StepContext } from '../../runbook/step';
import type { AwsGateway } from './gateway';
import { isNotFound } from './rds-reader';
import { ownedBy } from './run-tags';

/** A DB snapshot or a DB cluster snapshot, as the steps need it. */
export interface Snapshot {
  id: string;
  arn?: string;
  status?: string;
  percent?: number;
  kmsKeyId?: string;
  encrypted?: boolean;
  engine?: string;
  tags: Tag[];
}

function fromDbSnapshot(s: DBSnapshot): Snapshot {
  return { id: s.DBSnapshotIdentifier!, arn: s.DBSnapshotArn, status: s.Status, percent: s.PercentProgress, kmsKeyId: s.KmsKeyId, encrypted: s.Encrypted, engine: s.Engine, tags: s.TagList ?? [] };
}
function fromClusterSnapshot(s: DBClusterSnapshot): Snapshot {
  return { id: s.DBClusterSnapshotIdentifier!, arn: s.DBClusterSnapshotArn, status: s.Status, percent: s.PercentProgress, kmsKeyId: s.KmsKeyId, encrypted: s.StorageEncrypted, engine: s.Engine, tags: s.TagList ?? [] };
}

/** DB snapshots for an instance source, DB cluster snapshots for a cluster source: one set of verbs. */
export class Snapshots {
  constructor(readonly kind: 'instance' | 'cluster') {}

  async find(aws: AwsGateway, id: string): Promise<Snapshot | undefined> {
    try {
      if (this.kind === 'instance') {
        const output = await aws.read<DescribeDBSnapshotsCommandOutput>('rds', new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }));
        const found = output?.DBSnapshots?.[0];
        return found ? fromDbSnapshot(found) : undefined;
      }
      const output = await aws.read<DescribeDBClusterSnapshotsCommandOutput>('rds', new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: id }));
      const found = output?.DBClusterSnapshots?.[0];
      return found ? fromClusterSnapshot(found) : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Snapshots other accounts share with the caller (DescribeDB(Cluster)Snapshots SnapshotType=shared). */
  async shared(aws: AwsGateway): Promise<Snapshot[] | undefined> {
    if (this.kind === 'instance') {
      const output = await aws.read<DescribeDBSnapshotsCommandOutput>('rds', new DescribeDBSnapshotsCommand({ SnapshotType: 'shared', IncludeShared: true }));
      return output ? (output.DBSnapshots ?? []).map(fromDbSnapshot) : undefined;
    }
    const output = await aws.read<DescribeDBClusterSnapshotsCommandOutput>('rds', new DescribeDBClusterSnapshotsCommand({ SnapshotType: 'shared', IncludeShared: true }));
    return output ? (output.DBClusterSnapshots ?? []).map(fromClusterSnapshot) : undefined;
  }

  async create(aws: AwsGateway, sourceId: string, id: string, tags: Tag[]): Promise<void> {
    if (this.kind === 'instance') await aws.write('rds', new CreateDBSnapshotCommand({ DBInstanceIdentifier: sourceId, DBSnapshotIdentifier: id, Tags: tags }));
    else await aws.write('rds', new CreateDBClusterSnapshotCommand({ DBClusterIdentifier: sourceId, DBClusterSnapshotIdentifier: id, Tags: tags }));
  }

  async copy(aws: AwsGateway, from: string, id: string, kmsKeyId: string, tags: Tag[]): Promise<void> {
    if (this.kind === 'instance') await aws.write('rds', new CopyDBSnapshotCommand({ SourceDBSnapshotIdentifier: from, TargetDBSnapshotIdentifier: id, KmsKeyId: kmsKeyId, CopyTags: false, Tags: tags }));
    else await aws.write('rds', new CopyDBClusterSnapshotCommand({ SourceDBClusterSnapshotIdentifier: from, TargetDBClusterSnapshotIdentifier: id, KmsKeyId: kmsKeyId, CopyTags: false, Tags: tags }));
  }

  /** The account ids in the snapshot's `restore` attribute (undefined offline). */
  async restoreAccounts(aws: AwsGateway, id: string): Promise<string[] | undefined> {
    if (this.kind === 'instance') {
      const output = await aws.read<DescribeDBSnapshotAttributesCommandOutput>('rds', new DescribeDBSnapshotAttributesCommand({ DBSnapshotIdentifier: id }));
      return output ? (output.DBSnapshotAttributesResult?.DBSnapshotAttributes ?? []).filter((a) => a.AttributeName === 'restore').flatMap((a) => a.AttributeValues ?? []) : undefined;
    }
    const output = await aws.read<DescribeDBClusterSnapshotAttributesCommandOutput>('rds', new DescribeDBClusterSnapshotAttributesCommand({ DBClusterSnapshotIdentifier: id }));
    return output ? (output.DBClusterSnapshotAttributesResult?.DBClusterSnapshotAttributes ?? []).filter((a) => a.AttributeName === 'restore').flatMap((a) => a.AttributeValues ?? []) : undefined;
  }

  async modifyRestore(aws: AwsGateway, id: string, change: { add: string } | { remove: string }): Promise<void> {
    const values = 'add' in change ? { ValuesToAdd: [change.add] } : { ValuesToRemove: [change.remove] };
    if (this.kind === 'instance') await aws.write('rds', new ModifyDBSnapshotAttributeCommand({ DBSnapshotIdentifier: id, AttributeName: 'restore', ...values }));
    else await aws.write('rds', new ModifyDBClusterSnapshotAttributeCommand({ DBClusterSnapshotIdentifier: id, AttributeName: 'restore', ...values }));
  }

  async delete(aws: AwsGateway, id: string): Promise<void> {
    if (this.kind === 'instance') await aws.write('rds', new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: id }));
    else await aws.write('rds', new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: id }));
  }

  describeCommand(id: string): { command: string; input: object } {
    return this.kind === 'instance' ? { command: 'DescribeDBSnapshots', input: { DBSnapshotIdentifier: id } } : { command: 'DescribeDBClusterSnapshots', input: { DBClusterSnapshotIdentifier: id } };
  }

  deleteCommandLine(id: string, region: string): string {
    return this.kind === 'instance' ? `aws rds delete-db-snapshot --region ${region} --db-snapshot-identifier ${id}` : `aws rds delete-db-cluster-snapshot --region ${region} --db-cluster-snapshot-identifier ${id}`;
  }
}

/** `arn:aws:rds:<region>:<account>:snapshot:<id>` (cluster: `cluster-snapshot`), for plans and the share lookup. */
export function snapshotArn(kind: 'instance' | 'cluster', region: string, accountId: string, id: string): string {
  return `arn:aws:rds:${region}:${accountId}:${kind === 'instance' ? 'snapshot' : 'cluster-snapshot'}:${id}`;
}

export interface CrossAccountCopySettings {
  kind: 'instance' | 'cluster';
  /** The source account's identity and the target account's. */
  gateways: { source: AwsGateway; target: AwsGateway };
  /** The source's region (the share copy's ARN). */
  region: string;
  targetAccountId: string;
  shareKeyArn: string;
  targetKeyArn: string;
  snapshotSeconds: number;
  /** The refusal of a snapshot with this run's name that this run did not make; each flow names its own setting. */
  notOurs: (copy: 'share copy' | 'target copy', id: string) => Error;
}

type CopyContext = Pick<StepContext, 'runId' | 'log' | 'record'>;

/** The four phases of share and copy across accounts; see the file's comment. */
export class CrossAccountCopy {
  readonly snapshots: Snapshots;

  constructor(private readonly s: CrossAccountCopySettings) {
    this.snapshots = new Snapshots(s.kind);
  }

  /** Poll a snapshot until available; a failed one stops the run; `progressFact` journals PercentProgress as it moves. */
  async untilAvailable(aws: AwsGateway, id: string, label: string, context: CopyContext, progressFact?: string): Promise<void> {
    let lastPercent = -1;
    await aws.poll({ service: 'rds', ...this.snapshots.describeCommand(id), resource: `${label} ${id}`, state: 'available', timeoutSeconds: this.s.snapshotSeconds }, async () => {
      const current = await this.snapshots.find(aws, id);
      if (current?.status === 'available') return { done: true };
      if (current?.status && /fail|error|deleted/.test(current.status)) throw new Error(`${label} ${id} is ${current.status}: see the RDS events of the account, delete it, then --resume`);
      const percent = current?.percent ?? 0;
      if (progressFact && percent !== lastPercent) {
        lastPercent = percent;
        await context.record({ [progressFact]: percent });
      }
      return { done: false, progress: `${current?.status ?? 'not visible yet'}, ${percent}%` };
    });
  }

  /**
   * 1. Copy `from` (source account) to `id` under the share key, or reuse this run's copy; wait
   * until available; a copy under another key stops the run. Journals `shareCopyRequested`.
   * The ARN falls back to the one built from `sourceAccount` when AWS gave none (plans).
   */
  async copyUnderShareKey(context: CopyContext, input: { from: string; id: string; tags: Tag[]; sourceAccount: string; progressFact?: string }): Promise<{ arn: string; kmsKeyId?: string }> {
    const { id } = input;
    const src = this.s.gateways.source;
    const existing = await this.snapshots.find(src, id);
    if (existing && !ownedBy(existing.tags, context.runId)) throw this.s.notOurs('share copy', id);
    if (!existing) {
      await this.snapshots.copy(src, input.from, id, this.s.shareKeyArn, input.tags);
      await context.record({ shareCopyRequested: id });
    } else context.log.info(`share copy ${id} exists from this run: not copied again`);
    await this.untilAvailable(src, id, 'share copy', context, input.progressFact);
    const done = await this.snapshots.find(src, id);
    if (done && done.kmsKeyId && done.kmsKeyId !== this.s.shareKeyArn && !this.s.shareKeyArn.endsWith(done.kmsKeyId)) throw new Error(`share copy ${id} is encrypted with ${done.kmsKeyId}, not the share key ${this.s.shareKeyArn}: delete it and --resume`);
    return { arn: done?.arn ?? snapshotArn(this.s.kind, this.s.region, input.sourceAccount, id), kmsKeyId: done?.kmsKeyId };
  }

  /** 2. The target account may copy the share copy (restore attribute +account); nothing sent when it already may. */
  async share(id: string): Promise<void> {
    const accounts = await this.sharedWith(id);
    if (!accounts?.includes(this.s.targetAccountId)) await this.snapshots.modifyRestore(this.s.gateways.source, id, { add: this.s.targetAccountId });
  }

  /** The accounts the share copy is shared with (undefined offline). */
  sharedWith(id: string): Promise<string[] | undefined> {
    return this.snapshots.restoreAccounts(this.s.gateways.source, id);
  }

  /**
   * 3. In the target account, copy the shared `shareArn` to `id` under the target's own key, or
   * reuse this run's copy; wait until available. `beforeCopy` runs only when a copy is still to
   * be made (the encrypt flow shares there; the share flow checks the share is visible).
   * Journals `targetCopyRequested`. Returns the copy as AWS shows it (undefined offline).
   */
  async copyInTarget(context: CopyContext, input: { shareArn: string; id: string; tags: Tag[]; progressFact?: string; beforeCopy?: () => Promise<void> }): Promise<Snapshot | undefined> {
    const { id } = input;
    const tgt = this.s.gateways.target;
    const existing = await this.snapshots.find(tgt, id);
    if (existing && !ownedBy(existing.tags, context.runId)) throw this.s.notOurs('target copy', id);
    if (!existing) {
      await input.beforeCopy?.();
      await this.snapshots.copy(tgt, input.shareArn, id, this.s.targetKeyArn, input.tags);
      await context.record({ targetCopyRequested: id });
    } else context.log.info(`target copy ${id} exists from this run: not copied again`);
    await this.untilAvailable(tgt, id, 'target copy', context, input.progressFact);
    return this.snapshots.find(tgt, id);
  }

  /** The target account does not see `shareArn` among the snapshots shared with it: the error says so (nothing checked offline). */
  async refuseUnlessVisible(shareArn: string): Promise<void> {
    const shared = await this.snapshots.shared(this.s.gateways.target);
    if (shared && !shared.some((candidate) => candidate.arn === shareArn)) {
      throw new Error(`the target account ${this.s.targetAccountId} does not see ${shareArn} among the snapshots shared with it (${shared.map((c) => c.arn).join(', ') || 'none'}): check the share step (restore attribute) and the region`);
    }
  }

  /** 4. Remove the share (restore attribute −account); offline it is always listed. */
  async unshare(id: string): Promise<void> {
    const accounts = await this.sharedWith(id);
    if (accounts === undefined || accounts.includes(this.s.targetAccountId)) await this.snapshots.modifyRestore(this.s.gateways.source, id, { remove: this.s.targetAccountId });
  }

  /**
   * All four phases in one step. The share is made only while the target copy is still to be
   * made: a resume after the unshare must not share again.
   */
  async run(context: CopyContext, input: { from: string; shareCopyId: string; targetCopyId: string; tags: Tag[]; sourceAccount: string }): Promise<{ targetCopy: Snapshot | undefined }> {
    const { tags } = input;
    const shareCopy = await this.copyUnderShareKey(context, { from: input.from, id: input.shareCopyId, tags, sourceAccount: input.sourceAccount });
    const targetCopy = await this.copyInTarget(context, { shareArn: shareCopy.arn, id: input.targetCopyId, tags, beforeCopy: () => this.share(input.shareCopyId) });
    // The share is no longer needed once the target holds its own copy: removed before any restore.
    await this.unshare(input.shareCopyId);
    return { targetCopy };
  }
}
