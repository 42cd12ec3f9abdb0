/**
 * Wiring: one set of stacks per environment, from its validated config. `main.ts` calls this
 * for every environment; the offline plan and the tests call it for one.
 */
import type { InfraEnvironment } from '../config/infra';
import type { Construct } from './aws';
import { CutoverStack } from './cutover-stack';
import type { EnvironmentStack } from './environment-stack';
import { MaskingStack } from './masking-stack';
import { SnapshotShareStack } from './snapshot-share-stack';
import { TargetAccountStack } from './target-account-stack';

export interface EnvironmentStacksOptions {
  /** Absolute path of the project; relative local state directories resolve against it. */
  readonly projectRoot: string;
  /**
   * Plan without AWS: local state under this directory whatever the configured backend, no
   * assume-role, and the provider's credential, account-id and metadata checks skipped.
   * @default - the environment as configured
   */
  readonly offlineStateDirectory?: string;
}

export interface EnvironmentStacks {
  readonly cutover: CutoverStack;
  readonly masking?: MaskingStack;
  readonly snapshotShare?: SnapshotShareStack;
  readonly targetAccount?: TargetAccountStack;
  readonly all: readonly EnvironmentStack[];
}

/** The environment as the offline plan uses it (see `offlineStateDirectory`). */
export function offlineEnvironment(environment: InfraEnvironment, stateDirectory: string): InfraEnvironment {
  const { assumeRole: _notOffline, ...provider } = environment.provider;
  return {
    ...environment,
    provider: { ...provider, skipCredentialsValidation: true, skipRequestingAccountId: true, skipMetadataApiCheck: true },
    backend: { type: 'local', directory: stateDirectory },
  };
}

export function addEnvironmentStacks(scope: Construct, configured: InfraEnvironment, options: EnvironmentStacksOptions): EnvironmentStacks {
  const environment = options.offlineStateDirectory === undefined ? configured : offlineEnvironment(configured, options.offlineStateDirectory);
  const props = { environment, projectRoot: options.projectRoot };
  const cutover = new CutoverStack(scope, props);
  const masking = environment.masking ? new MaskingStack(scope, props) : undefined;
  const snapshotShare = environment.snapshotShare ? new SnapshotShareStack(scope, props) : undefined;
  const targetAccount = environment.targetAccount ? new TargetAccountStack(scope, props) : undefined;
  const all: EnvironmentStack[] = [cutover];
  if (masking) all.push(masking);
  if (snapshotShare) all.push(snapshotShare);
  if (targetAccount) all.push(targetAccount);
  return { cutover, masking, snapshotShare, targetAccount, all };
}
