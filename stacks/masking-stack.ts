/** Seed 003: the masked refresh pipeline of one environment (the one holding the source). */
import type { Construct } from './aws';
import { MaskingPipeline, sourceLabel, sourceObjectKey } from './constructs/masking-pipeline';
import { EnvironmentStack, type EnvironmentStackProps } from './environment-stack';
import { exportOutputs } from './outputs';
import { maskingEnvironments } from '../config/masking/environments';

/** The Slack webhook variable config/masking/environments.ts names for an environment, if any. */
export function maskingSlackWebhookEnv(environmentName: string): string | undefined {
  const environment = maskingEnvironments[environmentName] as { notify?: { slackWebhookEnv?: string } } | undefined;
  return environment?.notify?.slackWebhookEnv;
}

/**
 * The Secrets Manager ARNs config/masking/environments.ts names for an environment (HMAC
 * key, source and staging passwords): the secrets the masking run will read, so exactly
 * the ones its build role may read.
 */
export function maskingSecretArns(environmentName: string): string[] {
  const environment = maskingEnvironments[environmentName] as Record<string, { secretArn?: string; password?: { secretArn?: string } } | undefined> | undefined;
  if (environment === undefined) return [];
  const arns = [environment.hmacKey?.secretArn, environment.source?.password?.secretArn, environment.staging?.password?.secretArn];
  return arns.filter((arn): arn is string => typeof arn === 'string');
}

export class MaskingStack extends EnvironmentStack {
  readonly pipeline: MaskingPipeline;

  constructor(scope: Construct, props: EnvironmentStackProps) {
    super(scope, 'masking', props);
    const { name, accountId, region, network, keyAdministratorArns, masking } = this.environment;
    if (!masking) throw new Error(`${this.node.path}: the environment "${name}" has no masking section; main.ts creates this stack only when it has one`);
    // The run reads the secrets config/masking names; a role allowed others would fail closed at run time.
    const named = maskingSecretArns(name);
    if (named.length === 0) throw new Error(`${this.node.path}: config/masking/environments.ts has no environment "${name}" with secrets; the build runs \`mask-refresh --env ${name}\`, so add it there`);
    const configured = [...masking.secretArns].sort();
    if (JSON.stringify(configured) !== JSON.stringify([...named].sort())) {
      throw new Error(`${this.node.path}: masking.secretArns (${configured.join(', ')}) differ from the secrets config/masking/environments.ts names for "${name}" (${[...named].sort().join(', ')}); list exactly those`);
    }
    // Slack is on the internet: no VPC endpoint reaches hooks.slack.com, and a security group
    // cannot allow a host name. Without the open egress the webhook would time out every week.
    const slack = maskingSlackWebhookEnv(name);
    if (slack !== undefined && !masking.dangerouslyAllowHttpsToInternet) {
      throw new Error(
        `${this.node.path}: config/masking/environments.ts "${name}" notifies Slack (notify.slackWebhookEnv ${slack}), which the build cannot reach: ` +
          `its egress goes to S3 and the VPC endpoints only. Remove notify from "${name}" and subscribe to the build's SNS topic ` +
          `(output maskingNotificationTopicArn: e-mail, or AWS Chatbot for Slack), or accept HTTPS to any address from a build that reads personal data ` +
          `with masking.dangerouslyAllowHttpsToInternet: true in config/infra/${name}.ts`,
      );
    }
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
      sourceBucketName: this.pipeline.sourceBucket.bucket,
      sourceObjectKey: sourceObjectKey(masking.sourceVersion),
      buildImageUrl: `${this.pipeline.buildImageRepository.repositoryUrl}:${masking.buildImageTag ?? sourceLabel(masking.sourceVersion)}`,
      baseImageUrl: `${this.pipeline.baseImageRepository.repositoryUrl}:${masking.devImageBaseTag}`,
      notificationTopicArn: this.pipeline.notificationTopic.arn,
    });
  }
}
