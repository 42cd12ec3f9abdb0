/**
 * Masked refresh environments (`zx scripts/mask-refresh.mjs --env NAME`).
 * Validated on load by lib/masking/environment.ts; secrets are references, never values.
 */
export const maskingEnvironments: Record<string, unknown> = {
  /** The whole pipeline on this machine: sandbox MariaDB servers and a local S3-compatible server. */
  local: {
    rulesFile: 'config/masking/app.rules.json',
    sandbox: { customers: 2000 },
    notify: { slackWebhookEnv: 'MASK_REFRESH_SLACK_WEBHOOK' },
  },
  /** Weekly on CodeBuild in the production account (stacks/constructs/masking-pipeline.ts). */
  prod: {
    rulesFile: 'config/masking/app.rules.json',
    compression: 'zstd',
    hmacKey: { env: 'MASKING_HMAC_KEY', secretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds-cutover/masking-hmac-key-AbCdEf' },
    source: {
      name: 'prod read replica',
      host: 'app-replica.prod.internal',
      port: 3306,
      // GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES ON app.* (LOCK TABLES: the leak check's snapshot on Amazon RDS, lib/masking/README.md)
      user: 'masking_reader',
      password: { env: 'MASKING_SOURCE_PASSWORD', secretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds-cutover/masking-reader-AbCdEf', jsonKey: 'password' },
      database: 'app',
    },
    staging: {
      name: 'staging',
      host: 'app.stg.internal',
      port: 3306,
      user: 'masking_restore',
      password: { env: 'MASKING_STAGING_PASSWORD', secretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds-cutover/masking-staging-AbCdEf', jsonKey: 'password' },
      database: 'app',
    },
    s3: { bucketEnv: 'MASKED_DUMP_BUCKET', prefix: 'app/' },
    // No Slack: the CodeBuild build has no internet egress (stacks/README.md); the stack's SNS
    // topic (maskingNotificationTopicArn) carries the build's result.
  },
  /** Weekly on CodeBuild in the dev account (its own copy of the app database; no staging restore). */
  dev: {
    rulesFile: 'config/masking/app.rules.json',
    compression: 'zstd',
    hmacKey: { env: 'MASKING_HMAC_KEY', secretArn: 'arn:aws:secretsmanager:eu-west-1:333333333333:secret:rds-cutover/masking-hmac-key-YzAbCd' },
    source: {
      name: 'dev read replica',
      host: 'app-replica.dev.internal',
      port: 3306,
      user: 'masking_reader',
      password: { env: 'MASKING_SOURCE_PASSWORD', secretArn: 'arn:aws:secretsmanager:eu-west-1:333333333333:secret:rds-cutover/masking-reader-YzAbCd', jsonKey: 'password' },
      database: 'app',
    },
    s3: { bucketEnv: 'MASKED_DUMP_BUCKET', prefix: 'app/' },
    // No Slack: the CodeBuild build has no internet egress (stacks/README.md); the stack's SNS
    // topic (maskingNotificationTopicArn) carries the build's result.
  },
};
