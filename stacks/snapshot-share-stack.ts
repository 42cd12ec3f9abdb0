/** Seed 004: the key that encrypts snapshots shared with other accounts. */
import type { Construct } from './aws';
import { SnapshotShareKey } from './constructs/customer-managed-key';
import { EnvironmentStack, type EnvironmentStackProps } from './environment-stack';
import { exportOutputs } from './outputs';

export class SnapshotShareStack extends EnvironmentStack {
  readonly key: SnapshotShareKey;

  constructor(scope: Construct, props: EnvironmentStackProps) {
    super(scope, 'snapshot-share', props);
    const { name, accountId, region, keyAdministratorArns, snapshotShare } = this.environment;
    if (!snapshotShare) throw new Error(`${this.node.path}: the environment "${name}" has no snapshotShare section; main.ts creates this stack only when it has one`);
    this.key = new SnapshotShareKey(this, 'key', {
      accountId,
      region,
      alias: `rds-cutover/${name}/snapshot-share`,
      administratorArns: keyAdministratorArns,
      targetAccountIds: snapshotShare.targetAccountIds,
    });
    exportOutputs(this, 'snapshotShare', { keyArn: this.key.key.arn, keyId: this.key.key.keyId, targetAccountIds: snapshotShare.targetAccountIds });
  }
}
