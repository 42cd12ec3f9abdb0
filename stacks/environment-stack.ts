/**
 * Base of every stack: one environment's AWS provider (region, assume-role, endpoints, skip
 * flags, default tags) and state backend (local, or S3 with locking). Stacks receive the
 * validated environment as a property; none reads `process.env`.
 */
import { isAbsolute, join } from 'node:path';
import { environmentTags, type InfraEnvironment } from '../config/infra';
import { AwsProvider, LocalBackend, S3Backend, TerraformStack, type Construct } from './aws';
import { stackName, type StackPart } from '../lib/infra/outputs';

export interface EnvironmentStackProps {
  readonly environment: InfraEnvironment;
  /** Absolute path of the project; a relative local state directory resolves against it. */
  readonly projectRoot: string;
}

export abstract class EnvironmentStack extends TerraformStack {
  readonly environment: InfraEnvironment;
  /** The provider's default tags: every resource of the stack gets them (tags_all). */
  readonly defaultTags: Readonly<Record<string, string>>;

  protected constructor(scope: Construct, part: StackPart, props: EnvironmentStackProps) {
    const name = stackName(props.environment.name, part);
    super(scope, name);
    const { environment, projectRoot } = props;
    this.environment = environment;
    const { provider, backend } = environment;
    this.defaultTags = { ...environmentTags(environment), 'rds-cutover:stack': part };

    new AwsProvider(this, 'aws', {
      region: environment.region,
      // Refuse to touch any other account (needs the account id, so not when it is skipped).
      allowedAccountIds: provider.skipRequestingAccountId ? undefined : [environment.accountId],
      assumeRole: provider.assumeRole ? [{ ...provider.assumeRole }] : undefined,
      endpoints: Object.keys(provider.endpoints).length > 0 ? [{ ...provider.endpoints }] : undefined,
      skipCredentialsValidation: provider.skipCredentialsValidation,
      skipRequestingAccountId: provider.skipRequestingAccountId,
      skipMetadataApiCheck: String(provider.skipMetadataApiCheck),
      skipRegionValidation: provider.skipRegionValidation,
      s3UsePathStyle: provider.s3UsePathStyle,
      defaultTags: [{ tags: this.defaultTags }],
    });

    if (backend.type === 'local') {
      const directory = isAbsolute(backend.directory) ? backend.directory : join(projectRoot, backend.directory);
      new LocalBackend(this, { path: join(directory, `${name}.tfstate`) });
    } else {
      const s3 = new S3Backend(this, {
        bucket: backend.bucket,
        key: `${backend.keyPrefix}/${name}.tfstate`,
        region: backend.region ?? environment.region,
        encrypt: true,
        kmsKeyId: backend.kmsKeyId,
        dynamodbTable: backend.locking.type === 'dynamodb' ? backend.locking.table : undefined,
        assumeRole: backend.roleArn ? { roleArn: backend.roleArn } : undefined,
      });
      // S3-native locking (Terraform >= 1.10); cdktf 0.21's S3Backend has no property for it.
      if (backend.locking.type === 'lockfile') s3.addOverride('use_lockfile', true);
    }
  }
}
