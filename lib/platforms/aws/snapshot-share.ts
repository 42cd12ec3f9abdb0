/**
 * Seed 004: a database's snapshot moves to another AWS account.
 *
 *   snapshot (or a given one) → CopyDB(Cluster)Snapshot under the share key → share it with the
 *   target account (restore attribute) → in the target account, CopyDB(Cluster)Snapshot of the
 *   shared ARN under the target's own key → restore there → remove the share → (--cleanup) delete
 *   the temporary copies.
 *
 * The share key copy, the share, the target's copy and the unshare are the shared path in
 * cross-account-copy.ts (the encrypt flow's cross-account clone takes it too), which says why two
 * copies: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/share-encrypted-snapshot.html
 *
 * Every step looks up what it would create by its deterministic identifier first (run-scoped
 * names, the run-id tag) and reuses it when this run created it, so a resume after kill -9 at any
 * point creates no second copy; a resource with that name that this run did not create stops
 * the run (a name clash) instead of being reused or overwritten.
 */
import { CreateDBInstanceCommand, RestoreDBClusterFromSnapshotCommand, RestoreDBInstanceFromDBSnapshotCommand } from '@aws-sdk/client-rds';
import { DescribeKeyCommand, GetKeyPolicyCommand, type DescribeKeyCommandOutput, type GetKeyPolicyCommandOutput } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand, type GetCallerIdentityCommandOutput } from '@aws-sdk/client-sts';
import type { ShareSnapshotSettings } from '../../../config/cutover/schemas/share-snapshot';
import { z } from 'zod';
import type { FactsSchema } from '../../runbook/facts-schema';
import { PreconditionFailed, type Facts, type Runbook, type Step, type StepContext } from '../../runbook/step';
import type { AwsGateway } from './gateway';
import { RdsReader } from './rds-reader';
import { CrossAccountCopy, snapshotArn } from './cross-account-copy';
import type { DatabaseRef } from './settings';
import { shareKeyPolicyProblems } from './key-policy';
import { ownedBy, runScopedId, runTags, RUN_ID_TAG } from './run-tags';

export const SHARE_FLOW = 'aws.share-snapshot';

/** The share flow's step ids: its steps' definitions and its facts schema (the engine's current step labels the AWS calls). */
export const SHARE_STEP = {
  preflight: 'share.preflight',
  snapshot: 'share.snapshot.create',
  copy: 'share.snapshot.copy-to-share-key',
  share: 'share.snapshot.share',
  targetCopy: 'share.target.copy',
  restore: 'share.target.restore',
  unshare: 'share.snapshot.unshare',
  cleanup: 'share.cleanup',
} as const;

/**
 * The facts a resumed share decides on: the source account (the share copy's ARN is built in
 * it), the share copy's ARN (what the target account copies: a missing one would be rebuilt
 * with a placeholder account), the engine the cluster restore names. Each is journaled by the
 * step that learns it: a journal where that step is done without it was edited.
 */
export const SHARE_FACTS: FactsSchema = {
  shape: {
    sourceAccount: z.string().regex(/^\d{12}$/, 'not a 12-digit AWS account id').nullable(),
    targetAccount: z.string().regex(/^\d{12}$/, 'not a 12-digit AWS account id').nullable(),
    sourceEngine: z.string().min(1).nullable(),
    sourceSnapshotId: z.string().min(1),
    shareCopyId: z.string().min(1),
    shareCopyArn: z.string().startsWith('arn:', 'not an ARN'),
    targetCopyId: z.string().min(1),
    targetEngine: z.string().min(1).nullable(),
    shareCopyPercent: z.number(),
    targetCopyPercent: z.number(),
  },
  requiredAfter: {
    [SHARE_STEP.preflight]: ['sourceAccount', 'sourceEngine'],
    [SHARE_STEP.copy]: ['shareCopyArn'],
    [SHARE_STEP.targetCopy]: ['targetEngine'],
  },
};

/** Everything the flow needs, resolved from the environment config and the stacks' outputs. */
export interface ShareSnapshotResolved {
  environment: string;
  region: string;
  source: DatabaseRef;
  givenSnapshotId?: string;
  shareKeyArn: string;
  shareCopyId?: string;
  target: ShareSnapshotSettings['target'] & { region: string };
  restore: DatabaseRef & { writerInstanceId?: string };
  tags: Record<string, string>;
  cleanup: boolean;
  waits: { snapshotSeconds: number; instanceSeconds: number };
}

/** The two identities of one run: the source account's and the target account's. */
export interface ShareGateways {
  source: AwsGateway;
  target: AwsGateway;
}

/** The names a run uses: deterministic from the config and the run id, so a resume finds them. */
export function shareNames(s: ShareSnapshotResolved, runId: string) {
  return {
    sourceSnapshotId: s.givenSnapshotId ?? runScopedId(`${s.source.id}-share-source`, runId),
    shareCopyId: s.shareCopyId ?? runScopedId(`${s.source.id}-share`, runId),
    targetCopyId: s.target.copyId ?? runScopedId(`${s.restore.id}-seed`, runId),
    writerInstanceId: s.restore.writerInstanceId ?? `${s.restore.id}-writer`,
  };
}

function refuseForeign(environment: string, what: string, id: string, field: string): PreconditionFailed {
  return new PreconditionFailed(`${what} ${id} already exists and was not created by this run (no ${RUN_ID_TAG} tag with this run id): delete it, or name another with ${field} in config/cutover/${environment}.ts`);
}

/**
 * The share-snapshot runbook on two gateways (source account, target account). In a dry run
 * or a plan the same steps run against recording gateways: the plan lists what they would send.
 */
export function shareSnapshotRunbook(s: ShareSnapshotResolved, gateways: ShareGateways): Runbook {
  const { source: src, target: tgt } = gateways;
  const kindWord = s.source.kind === 'instance' ? 'DB snapshot' : 'DB cluster snapshot';
  const copier = new CrossAccountCopy({
    kind: s.source.kind,
    gateways,
    region: s.region,
    targetAccountId: s.target.accountId,
    shareKeyArn: s.shareKeyArn,
    targetKeyArn: s.target.kmsKeyArn,
    snapshotSeconds: s.waits.snapshotSeconds,
    notOurs: (copy, id) => refuseForeign(s.environment, kindWord, id, copy === 'share copy' ? 'aws.shareSnapshot.shareCopyId' : 'aws.shareSnapshot.target.copyId'),
  });
  const snapshots = copier.snapshots;
  const sourceRds = new RdsReader(src);
  const targetRds = new RdsReader(tgt);
  const names = (context: Pick<StepContext, 'runId'>) => shareNames(s, context.runId);
  const tags = (context: Pick<StepContext, 'runId'>) => runTags(s.tags, context.runId);

  const preflight: Step = {
    id: SHARE_STEP.preflight,
    kind: 'check',
    describe: () => [
      `source account: the ${s.source.kind} ${s.source.id}${s.givenSnapshotId ? ` and the ${kindWord} ${s.givenSnapshotId}` : ''} exist; the share key ${s.shareKeyArn} is enabled, customer-managed, and its policy (GetKeyPolicy) lets account ${s.target.accountId} use it through RDS and create grants`,
      `target account ${s.target.accountId}: the identity is in that account; its key ${s.target.kmsKeyArn} is enabled and usable (DescribeKey); no ${s.restore.kind} ${s.restore.id} and no snapshot with this run's names exist`,
    ],
    async apply(context) {
      const n = names(context);
      const problems: string[] = [];
      const sourceIdentity = await src.read<GetCallerIdentityCommandOutput>('sts', new GetCallerIdentityCommand({}));
      const targetIdentity = await tgt.read<GetCallerIdentityCommandOutput>('sts', new GetCallerIdentityCommand({}));
      const database = s.source.kind === 'instance' ? await sourceRds.instance(s.source.id) : await sourceRds.cluster(s.source.id);
      const given = s.givenSnapshotId ? await snapshots.find(src, s.givenSnapshotId) : undefined;
      let shareKey: DescribeKeyCommandOutput | undefined;
      let policy: GetKeyPolicyCommandOutput | undefined;
      try {
        shareKey = await src.read<DescribeKeyCommandOutput>('kms', new DescribeKeyCommand({ KeyId: s.shareKeyArn }));
        policy = await src.read<GetKeyPolicyCommandOutput>('kms', new GetKeyPolicyCommand({ KeyId: s.shareKeyArn, PolicyName: 'default' }));
      } catch (error) {
        problems.push(`share key ${s.shareKeyArn}: the source identity cannot read it or its policy (${(error as Error).name}: ${(error as Error).message.split('\n')[0]}): deploy the snapshot-share stack (snapshotShareKeyArn output) or fix aws.shareSnapshot.shareKeyArn, and let the operator role DescribeKey and GetKeyPolicy`);
      }
      let targetKey: DescribeKeyCommandOutput | undefined;
      try {
        targetKey = await tgt.read<DescribeKeyCommandOutput>('kms', new DescribeKeyCommand({ KeyId: s.target.kmsKeyArn }));
      } catch (error) {
        problems.push(`target key ${s.target.kmsKeyArn}: the target identity (${targetIdentity?.Arn ?? 'unknown'}) cannot use it (${(error as Error).name}: ${(error as Error).message.split('\n')[0]}): create the key in account ${s.target.accountId} or fix aws.shareSnapshot.target.kmsKeyArn, and let the target identity use it in the key policy`);
      }
      const existingTarget = s.restore.kind === 'instance' ? await targetRds.instance(s.restore.id) : await targetRds.cluster(s.restore.id);
      const existingShareCopy = await snapshots.find(src, n.shareCopyId);
      const existingTargetCopy = await snapshots.find(tgt, n.targetCopyId);
      if (!src.canRead) return {};

      if (sourceIdentity?.Account === s.target.accountId) {
        problems.push(
          targetIdentity?.Account === s.target.accountId
            ? // Both identities in one account: the config's target is most likely the source account itself.
              `aws.shareSnapshot.target.accountId ${s.target.accountId} is the source account itself: a snapshot is shared with another account; name that account (with its role or profile and its key) in aws.shareSnapshot.target — or, if the source credentials (${sourceIdentity.Arn}) are the target's by mistake, point aws.profile/aws.assumeRole at the source account`
            : `the source credentials (${sourceIdentity.Arn}) are already in the target account ${s.target.accountId}: aws.profile/aws.assumeRole must name the source account`,
        );
      }
      if (targetIdentity && targetIdentity.Account !== s.target.accountId) {
        problems.push(`the target identity is ${targetIdentity.Arn} in account ${targetIdentity.Account}, not in aws.shareSnapshot.target.accountId ${s.target.accountId}: fix target.assumeRole.roleArn or target.profile`);
      }
      if (!database) problems.push(`source ${s.source.kind} ${s.source.id} not found in ${s.region} for ${sourceIdentity?.Arn ?? 'these credentials'}: fix aws.source`);
      if (s.givenSnapshotId) {
        if (!given) problems.push(`${kindWord} ${s.givenSnapshotId} (aws.shareSnapshot.snapshotId) not found in the source account: name an existing snapshot of ${s.source.id}, or leave it out to take a new one`);
        else if (given.status !== 'available') problems.push(`${kindWord} ${s.givenSnapshotId} is ${given.status}, not available: wait, then run again`);
      }
      const meta = shareKey?.KeyMetadata;
      if (meta && meta.KeyState !== 'Enabled') problems.push(`share key ${s.shareKeyArn} is ${meta.KeyState}: enable it (or deploy the snapshot-share stack)`);
      if (meta && meta.KeyManager && meta.KeyManager !== 'CUSTOMER') problems.push(`share key ${s.shareKeyArn} is AWS-managed: snapshots encrypted with an AWS-managed key (aws/rds) cannot be shared; use the snapshot-share stack's key (snapshotShareKeyArn)`);
      if (policy?.Policy) problems.push(...shareKeyPolicyProblems(policy.Policy, s.target.accountId, s.region, s.shareKeyArn));
      else if (policy) problems.push(`share key ${s.shareKeyArn} returned no key policy`);
      const targetMeta = targetKey?.KeyMetadata;
      if (targetMeta && targetMeta.KeyState !== 'Enabled') problems.push(`target key ${s.target.kmsKeyArn} is ${targetMeta.KeyState}: enable it`);
      if (targetMeta?.Arn && targetMeta.Arn.split(':')[4] !== s.target.accountId) problems.push(`target key ${targetMeta.Arn} belongs to account ${targetMeta.Arn.split(':')[4]}, not ${s.target.accountId}`);
      if (existingTarget) problems.push(`the target account already has a ${s.restore.kind} ${s.restore.id}: choose another name with aws.shareSnapshot.target.restore, or delete it`);
      if (existingShareCopy && !ownedBy(existingShareCopy.tags, context.runId)) problems.push(`${kindWord} ${n.shareCopyId} already exists in the source account: name another with aws.shareSnapshot.shareCopyId, or delete it`);
      if (existingTargetCopy && !ownedBy(existingTargetCopy.tags, context.runId)) problems.push(`${kindWord} ${n.targetCopyId} already exists in the target account: name another with aws.shareSnapshot.target.copyId, or delete it`);
      if (problems.length > 0) throw new PreconditionFailed(problems.join('\n'));
      context.log.info(`share preflight passed: source ${sourceIdentity?.Arn}, target ${targetIdentity?.Arn}`);
      return { sourceAccount: sourceIdentity?.Account ?? null, targetAccount: targetIdentity?.Account ?? null, sourceEngine: database?.Engine ?? null };
    },
  };

  const snapshot: Step = {
    id: SHARE_STEP.snapshot,
    kind: 'action',
    describe: (facts) =>
      s.givenSnapshotId
        ? [`use the given ${kindWord} ${s.givenSnapshotId} of ${s.source.id} (nothing is created)`]
        : [`Create${s.source.kind === 'instance' ? 'DBSnapshot' : 'DBClusterSnapshot'} ${String(facts.sourceSnapshotId ?? `${s.source.id}-share-source-<run id>`)} of the ${s.source.kind} ${s.source.id} (source account), tagged with the run id; wait until available`],
    async apply(context) {
      const n = names(context);
      if (!s.givenSnapshotId) {
        const existing = await snapshots.find(src, n.sourceSnapshotId);
        if (existing && !ownedBy(existing.tags, context.runId)) throw refuseForeign(s.environment, kindWord, n.sourceSnapshotId, 'aws.shareSnapshot.snapshotId');
        if (!existing) {
          await snapshots.create(src, s.source.id, n.sourceSnapshotId, tags(context));
          await context.record({ sourceSnapshotRequested: n.sourceSnapshotId });
        } else context.log.info(`${kindWord} ${n.sourceSnapshotId} exists from this run: not created again`);
      }
      await copier.untilAvailable(src, n.sourceSnapshotId, 'source snapshot', context);
      return { sourceSnapshotId: n.sourceSnapshotId, sourceSnapshotCreatedByRun: !s.givenSnapshotId };
    },
  };

  const copy: Step = {
    id: SHARE_STEP.copy,
    kind: 'action',
    describe: (facts) => [
      `Copy${s.source.kind === 'instance' ? 'DBSnapshot' : 'DBClusterSnapshot'} ${String(facts.sourceSnapshotId ?? shareNames(s, '<run-id>').sourceSnapshotId)} → ${String(facts.shareCopyId ?? shareNames(s, '<run-id>').shareCopyId)} with KmsKeyId ${s.shareKeyArn} (the share key), tagged; wait until available, journaling PercentProgress`,
    ],
    async apply(context) {
      const n = names(context);
      const copied = await copier.copyUnderShareKey(context, { from: n.sourceSnapshotId, id: n.shareCopyId, tags: tags(context), sourceAccount: String(context.facts.sourceAccount ?? '<source-account>'), progressFact: 'shareCopyPercent' });
      return { shareCopyId: n.shareCopyId, shareCopyArn: copied.arn };
    },
  };

  const share: Step = {
    id: SHARE_STEP.share,
    kind: 'action',
    describe: (facts) => [`Modify${s.source.kind === 'instance' ? 'DBSnapshotAttribute' : 'DBClusterSnapshotAttribute'} ${String(facts.shareCopyId ?? shareNames(s, '<run-id>').shareCopyId)} restore +${s.target.accountId} (the target account may now copy it)`],
    async apply(context) {
      await copier.share(names(context).shareCopyId);
      return { sharedWith: s.target.accountId };
    },
    async verify(context) {
      if (context.dryRun) return;
      const accounts = await copier.sharedWith(names(context).shareCopyId);
      if (accounts && !accounts.includes(s.target.accountId)) throw new Error(`${names(context).shareCopyId} is not shared with ${s.target.accountId} after ModifyDBSnapshotAttribute (restore attribute: ${accounts.join(', ') || 'empty'})`);
    },
  };

  const targetCopy: Step = {
    id: SHARE_STEP.targetCopy,
    kind: 'action',
    describe: (facts) => [
      `target account ${s.target.accountId}: Copy${s.source.kind === 'instance' ? 'DBSnapshot' : 'DBClusterSnapshot'} of the shared ${String(facts.shareCopyArn ?? 'share copy ARN')} → ${String(facts.targetCopyId ?? shareNames(s, '<run-id>').targetCopyId)} with KmsKeyId ${s.target.kmsKeyArn} (the target's own key), tagged; wait until available, journaling PercentProgress`,
    ],
    async apply(context) {
      const n = names(context);
      const shareArn = String(context.facts.shareCopyArn ?? snapshotArn(s.source.kind, s.region, '<source-account>', n.shareCopyId));
      const done = await copier.copyInTarget(context, { shareArn, id: n.targetCopyId, tags: tags(context), progressFact: 'targetCopyPercent', beforeCopy: () => copier.refuseUnlessVisible(shareArn) });
      return { targetCopyId: n.targetCopyId, targetCopyKmsKeyId: done?.kmsKeyId ?? null, targetEngine: done?.engine ?? null };
    },
  };

  const restore: Step = {
    id: SHARE_STEP.restore,
    kind: 'action',
    describe: () =>
      s.restore.kind === 'instance'
        ? [`target account: RestoreDBInstanceFromDBSnapshot ${s.restore.id} from the target copy (encrypted with ${s.target.kmsKeyArn}), ${s.target.instanceClass}, subnet group ${s.target.dbSubnetGroupName}, security groups ${s.target.vpcSecurityGroupIds.join(', ')}, parameter group ${s.target.parameterGroupName}, not public; wait until available`]
        : [
            `target account: RestoreDBClusterFromSnapshot ${s.restore.id} from the target copy with KmsKeyId ${s.target.kmsKeyArn}, subnet group ${s.target.dbSubnetGroupName}, security groups ${s.target.vpcSecurityGroupIds.join(', ')}, cluster parameter group ${s.target.parameterGroupName}`,
            `then CreateDBInstance ${shareNames(s, '<run-id>').writerInstanceId} (${s.target.instanceClass}) as its writer; wait until both are available`,
          ],
    async apply(context) {
      const n = names(context);
      const runTagList = tags(context);
      const waitAvailable = async (kind: 'instance' | 'cluster', id: string) => {
        await tgt.poll({ service: 'rds', command: kind === 'instance' ? 'DescribeDBInstances' : 'DescribeDBClusters', input: kind === 'instance' ? { DBInstanceIdentifier: id } : { DBClusterIdentifier: id }, resource: `restored ${kind} ${id}`, state: 'available', timeoutSeconds: s.waits.instanceSeconds }, async () => {
          const current = kind === 'instance' ? (await targetRds.instance(id, { fresh: true }))?.DBInstanceStatus : (await targetRds.cluster(id, { fresh: true }))?.Status;
          return current === 'available' ? { done: true } : { done: false, progress: current ?? 'not visible yet' };
        });
      };
      if (s.restore.kind === 'instance') {
        const existing = await targetRds.instance(s.restore.id, { fresh: true });
        if (existing && !ownedBy(existing.TagList, context.runId)) throw refuseForeign(s.environment, 'RDS instance', s.restore.id, 'aws.shareSnapshot.target.restore.instanceId');
        if (!existing) {
          await tgt.write('rds', new RestoreDBInstanceFromDBSnapshotCommand({
            DBInstanceIdentifier: s.restore.id,
            DBSnapshotIdentifier: n.targetCopyId,
            DBInstanceClass: s.target.instanceClass,
            DBSubnetGroupName: s.target.dbSubnetGroupName,
            VpcSecurityGroupIds: s.target.vpcSecurityGroupIds,
            DBParameterGroupName: s.target.parameterGroupName,
            ...(s.target.optionGroupName ? { OptionGroupName: s.target.optionGroupName } : {}),
            MultiAZ: s.target.multiAz,
            PubliclyAccessible: false,
            DeletionProtection: s.target.deletionProtection,
            CopyTagsToSnapshot: true,
            Tags: runTagList,
          }));
          await context.record({ restoreRequested: s.restore.id });
        }
        await waitAvailable('instance', s.restore.id);
        const restored = await targetRds.instance(s.restore.id, { fresh: true });
        return verifyEncryptedWithTargetKey(restored?.KmsKeyId, restored?.StorageEncrypted, s, tgt.planning);
      }
      const existing = await targetRds.cluster(s.restore.id, { fresh: true });
      if (existing && !ownedBy(existing.TagList, context.runId)) throw refuseForeign(s.environment, 'DB cluster', s.restore.id, 'aws.shareSnapshot.target.restore.clusterId');
      if (!existing) {
        await tgt.write('rds', new RestoreDBClusterFromSnapshotCommand({
          DBClusterIdentifier: s.restore.id,
          SnapshotIdentifier: n.targetCopyId,
          Engine: String(context.facts.targetEngine ?? context.facts.sourceEngine ?? 'aurora-mysql'),
          KmsKeyId: s.target.kmsKeyArn,
          DBSubnetGroupName: s.target.dbSubnetGroupName,
          VpcSecurityGroupIds: s.target.vpcSecurityGroupIds,
          DBClusterParameterGroupName: s.target.parameterGroupName,
          DeletionProtection: s.target.deletionProtection,
          CopyTagsToSnapshot: true,
          Tags: runTagList,
        }));
        await context.record({ restoreRequested: s.restore.id });
      }
      await waitAvailable('cluster', s.restore.id);
      const writer = await targetRds.instance(n.writerInstanceId, { fresh: true });
      if (writer && !ownedBy(writer.TagList, context.runId)) throw refuseForeign(s.environment, 'RDS instance', n.writerInstanceId, 'aws.shareSnapshot.target.restore.writerInstanceId');
      if (!writer) {
        await tgt.write('rds', new CreateDBInstanceCommand({ DBInstanceIdentifier: n.writerInstanceId, DBClusterIdentifier: s.restore.id, Engine: String(context.facts.targetEngine ?? context.facts.sourceEngine ?? 'aurora-mysql'), DBInstanceClass: s.target.instanceClass, PubliclyAccessible: false, Tags: runTagList }));
        await context.record({ writerRequested: n.writerInstanceId });
      }
      await waitAvailable('instance', n.writerInstanceId);
      const cluster = await targetRds.cluster(s.restore.id, { fresh: true });
      return { ...verifyEncryptedWithTargetKey(cluster?.KmsKeyId, cluster?.StorageEncrypted, s, tgt.planning), writerInstanceId: n.writerInstanceId };
    },
  };

  const unshare: Step = {
    id: SHARE_STEP.unshare,
    kind: 'action',
    describe: (facts) => [`Modify${s.source.kind === 'instance' ? 'DBSnapshotAttribute' : 'DBClusterSnapshotAttribute'} ${String(facts.shareCopyId ?? shareNames(s, '<run-id>').shareCopyId)} restore -${s.target.accountId} (the share is removed; the target's copy and database no longer need the source account's key)`],
    async apply(context) {
      await copier.unshare(names(context).shareCopyId);
      return { sharedWith: null };
    },
    async verify(context) {
      if (context.dryRun) return;
      const accounts = await copier.sharedWith(names(context).shareCopyId);
      if (accounts?.includes(s.target.accountId)) throw new Error(`${names(context).shareCopyId} is still shared with ${s.target.accountId}`);
    },
  };

  const cleanup: Step = {
    id: SHARE_STEP.cleanup,
    kind: 'action',
    describe: () =>
      s.cleanup
        ? [`--cleanup: delete the share copy (source account), the target copy (target account)${s.givenSnapshotId ? '' : ' and the source snapshot this run took'}; only those tagged with this run id`]
        : ['nothing is deleted without --cleanup: the delete commands for the temporary copies are printed'],
    async apply(context) {
      const n = names(context);
      const temporary: Array<{ aws: AwsGateway; id: string; where: string; region: string }> = [
        { aws: src, id: n.shareCopyId, where: 'source account', region: s.region },
        { aws: tgt, id: n.targetCopyId, where: `target account ${s.target.accountId}`, region: s.target.region },
        ...(s.givenSnapshotId ? [] : [{ aws: src, id: n.sourceSnapshotId, where: 'source account', region: s.region }]),
      ];
      const deleted: string[] = [];
      const kept: string[] = [];
      for (const item of temporary) {
        if (!s.cleanup) {
          kept.push(item.id);
          context.log.info(`kept (${item.where}); delete it with: ${snapshots.deleteCommandLine(item.id, item.region)}`);
          continue;
        }
        const found = await snapshots.find(item.aws, item.id);
        if (item.aws.canRead && !found) continue;
        if (found && !ownedBy(found.tags, context.runId)) {
          kept.push(item.id);
          context.log.warn(`${item.id} (${item.where}) is not tagged with this run id: left alone`);
          continue;
        }
        await snapshots.delete(item.aws, item.id);
        deleted.push(item.id);
      }
      return { deletedSnapshots: deleted, keptSnapshots: kept };
    },
  };

  return {
    flow: SHARE_FLOW,
    summary: [
      `${s.source.kind} ${s.source.id} (${s.region}, source account) → ${s.restore.kind} ${s.restore.id} in account ${s.target.accountId} (${s.target.region}), encrypted with the target's key`,
      `share key ${s.shareKeyArn}; target key ${s.target.kmsKeyArn}`,
    ],
    facts: SHARE_FACTS,
    steps: [preflight, snapshot, copy, share, targetCopy, restore, unshare, cleanup],
  };
}

function verifyEncryptedWithTargetKey(kmsKeyId: string | undefined, encrypted: boolean | undefined, s: ShareSnapshotResolved, planning: boolean): Facts {
  if (planning) return { restoredKmsKeyId: s.target.kmsKeyArn };
  if (!encrypted || (kmsKeyId !== s.target.kmsKeyArn && !s.target.kmsKeyArn.endsWith(`/${kmsKeyId ?? ''}`))) {
    throw new Error(`the restored ${s.restore.kind} ${s.restore.id} is ${encrypted ? `encrypted with ${kmsKeyId}` : 'not encrypted'}, not with the target key ${s.target.kmsKeyArn}: do not use it; delete it and check the target copy's key`);
  }
  return { restoredKmsKeyId: kmsKeyId };
}
