/** Seed 003: the masked refresh pipeline of one environment (the one holding the source). */
import type { Construct } from './aws';
import { MaskingPipeline } from './constructs/masking-pipeline';
import { EnvironmentStack, type EnvironmentStackProps } from './environment-stack';
import { exportOutputs } from './outputs';

export class MaskingStack extends EnvironmentStack {
  readonly pipeline: MaskingPipeline;

  constructor(scope: Construct, props: EnvironmentStackProps) {
    super(scope, 'masking', props);
    const { name, accountId, region, network, keyAdministratorArns, masking } = this.environment;
    if (!masking) throw new Error(`${this.node.path}: the environment "${name}" has no masking section; main.ts creates this stack only when it has one`);
    this.pipeline = new MaskingPipeline(this, 'pipeline', {
      ...masking,
      namePrefix: `rds-cutover-${name}`,
      environmentName: name,
      accountId,
      region,
      keyAdministratorArns,
      vpcId: network.vpcId,
      vpcCidr: network.vpcCidr,
      subnetIds: network.subnetIds,
    });
    exportOutputs(this, 'masking', {
      bucketName: this.pipeline.bucket.bucket,
      bucketArn: this.pipeline.bucket.arn,
      keyArn: this.pipeline.key.key.arn,
      repositoryUrl: this.pipeline.repository.repositoryUrl,
      projectName: this.pipeline.project.name,
      scheduleRuleName: this.pipeline.scheduleRule.name,
    });
  }
}
