/**
 * The security-relevant properties of every stack, asserted on the synthesized Terraform
 * (Testing.synth + toHaveResourceWithProperties, or the parsed policy where a policy is a string).
 */
import { ACCOUNT_ROOT_MANAGEMENT_ACTIONS, KEY_ADMINISTRATION_ACTIONS, KEY_GRANT_ACTIONS, KEY_USE_ACTIONS } from '../../stacks/constructs/customer-managed-key';
import { shareKeyPolicyProblems } from '../../lib/platforms/aws/key-policy';
import {
  AwsProvider,
  CloudwatchEventTarget,
  CodebuildProject,
  DbInstance,
  DbParameterGroup,
  DbProxy,
  KmsKey,
  RdsCluster,
  RdsClusterParameterGroup,
  Route53Record,
  S3BucketPublicAccessBlock,
  S3BucketServerSideEncryption,
} from '../../stacks/aws';
import { maskingSecretArns } from '../../stacks/masking-stack';
import { asList, exampleWith, reference, resources, synthesizedOf, statements, synthesize, synthesizeExample, type Statement } from './helpers';

const dev = synthesizeExample('dev');
const prod = synthesizeExample('prod');
const stg = synthesizeExample('stg');
const devCutover = dev.json['rds-cutover-dev-cutover'];
const devMasking = dev.json['rds-cutover-dev-masking'];
const devShare = dev.json['rds-cutover-dev-snapshot-share'];
const prodCutover = prod.json['rds-cutover-prod-cutover'];
const stgCutover = stg.json['rds-cutover-stg-cutover'];

const bySid = (list: Statement[], sid: string): Statement => {
  const found = list.find((statement) => statement.Sid === sid);
  if (!found) throw new Error(`no statement ${sid} in ${JSON.stringify(list)}`);
  return found;
};

describe('fence security group', () => {
  test('is inbound-only: no ingress rule, egress only to the database ports inside the VPC (the way back replicates out of the fenced old source)', () => {
    const fence = synthesizedOf(dev.stacks.cutover.fence.securityGroup) as { ingress: unknown[]; egress: Array<Record<string, unknown>> };
    expect(fence.ingress).toEqual([]);
    expect(fence.egress.map((rule) => ({ protocol: rule.protocol, from: rule.from_port, to: rule.to_port, cidr: rule.cidr_blocks }))).toEqual([
      { protocol: 'tcp', from: 3306, to: 3306, cidr: [dev.stacks.cutover.environment.network.vpcCidr] },
      { protocol: 'tcp', from: 5432, to: 5432, cidr: [dev.stacks.cutover.environment.network.vpcCidr] },
    ]);
  });
});

/** Statements every customer-managed key has, asserted per synthesized stack. */
const everyKey: Array<[string, () => Statement[], string, string]> = [
  ['dev cutover storage key', () => statements(synthesizedOf(dev.stacks.cutover.storageKey.key).policy), '333333333333', 'eu-west-1'],
  ['prod cutover storage key', () => statements(synthesizedOf(prod.stacks.cutover.storageKey.key).policy), '111111111111', 'eu-west-1'],
  ['stg cutover storage key', () => statements(synthesizedOf(stg.stacks.cutover.storageKey.key).policy), '222222222222', stg.environment.region],
  ['dev snapshot-share key', () => statements(synthesizedOf(dev.stacks.snapshotShare!.key.key).policy), '333333333333', 'eu-west-1'],
  ['prod snapshot-share key', () => statements(synthesizedOf(prod.stacks.snapshotShare!.key.key).policy), '111111111111', 'eu-west-1'],
];

describe.each(everyKey)('%s', (_name, policyOf, account, region) => {
  const adminsOf = (accountId: string) => [dev, prod, stg].find((e) => e.environment.accountId === accountId)!.environment.keyAdministratorArns;

  test('administrators administer without use: every action listed, no Create*/Put* wildcard, no CreateGrant, PutKeyPolicy or crypto operation', () => {
    const administration = bySid(policyOf(), 'KeyAdministration');
    expect(asList(administration.Principal !== '*' ? administration.Principal?.AWS : undefined)).toEqual(adminsOf(account));
    expect(asList(administration.Action).sort()).toEqual([...KEY_ADMINISTRATION_ACTIONS].sort());
    for (const action of asList(administration.Action)) expect(action).not.toContain('*');
    for (const forbidden of ['kms:CreateGrant', 'kms:PutKeyPolicy', 'kms:Decrypt', 'kms:Encrypt', 'kms:ReEncryptFrom', 'kms:GenerateDataKey']) expect(asList(administration.Action)).not.toContain(forbidden);
    expect(administration.Condition).toBeUndefined();
  });

  test('the account root keeps management (PutKeyPolicy included), so deleting the admin roles cannot orphan the key, but no use and no grants', () => {
    const root = bySid(policyOf(), 'AccountRootManagesKey');
    expect(root.Principal).toEqual({ AWS: `arn:aws:iam::${account}:root` });
    expect(asList(root.Action).sort()).toEqual([...ACCOUNT_ROOT_MANAGEMENT_ACTIONS].sort());
    expect(asList(root.Action)).toContain('kms:PutKeyPolicy');
    for (const forbidden of ['kms:CreateGrant', 'kms:Decrypt', 'kms:Encrypt', 'kms:*']) expect(asList(root.Action)).not.toContain(forbidden);
  });

  test('the account uses it only through RDS in its region, and creates grants only for AWS resources', () => {
    for (const sid of ['UseThroughServices', 'GrantsForServices']) {
      const statement = bySid(policyOf(), sid);
      expect(statement.Principal).toEqual({ AWS: `arn:aws:iam::${account}:root` });
      expect(statement.Condition?.StringEquals).toEqual({ 'kms:ViaService': [`rds.${region}.amazonaws.com`], 'kms:CallerAccount': account });
    }
    expect(asList(bySid(policyOf(), 'UseThroughServices').Action).sort()).toEqual([...KEY_USE_ACTIONS].sort());
    expect(asList(bySid(policyOf(), 'GrantsForServices').Action).sort()).toEqual([...KEY_GRANT_ACTIONS].sort());
    expect(bySid(policyOf(), 'GrantsForServices').Condition?.Bool).toEqual({ 'kms:GrantIsForAWSResource': true });
  });

  test('gives nobody a wildcard action or principal, and only Allow statements', () => {
    for (const statement of policyOf()) {
      expect(statement.Principal).not.toBe('*');
      expect(asList(statement.Action)).not.toContain('kms:*');
      expect(statement.Effect).toBe('Allow');
    }
  });
});

describe('storage-encryption key', () => {
  test('rotates and keeps the longest deletion window', () => {
    expect(devCutover).toHaveResourceWithProperties(KmsKey, { enable_key_rotation: true, deletion_window_in_days: 30 });
  });

  test('has exactly the root, administration and RDS-use statements', () => {
    const policy = statements(synthesizedOf(dev.stacks.cutover.storageKey.key).policy);
    expect(policy.map((statement) => statement.Sid).sort()).toEqual(['AccountRootManagesKey', 'GrantsForServices', 'KeyAdministration', 'UseThroughServices']);
  });
});

describe('snapshot-share key', () => {
  const policy = statements(synthesizedOf(dev.stacks.snapshotShare!.key.key).policy);
  const target = 'arn:aws:iam::444444444444:root';
  const forTarget = policy.filter((statement) => statement.Principal !== '*' && asList(statement.Principal?.AWS).includes(target));

  test('lets target accounts use it only through RDS in its region (kms:ViaService)', () => {
    expect(forTarget.map((statement) => statement.Sid).sort()).toEqual(['TargetAccountsGrantsForRds', 'TargetAccountsUseThroughRds']);
    const use = bySid(forTarget, 'TargetAccountsUseThroughRds');
    expect(use.Principal).toEqual({ AWS: [target] });
    expect(asList(use.Action).sort()).toEqual([...KEY_USE_ACTIONS].sort());
    expect(use.Condition).toEqual({ StringEquals: { 'kms:ViaService': 'rds.eu-west-1.amazonaws.com' } });
  });

  test('lets target accounts create grants only through RDS and only for AWS resources (kms:GrantIsForAWSResource)', () => {
    const grants = bySid(forTarget, 'TargetAccountsGrantsForRds');
    expect(grants.Principal).toEqual({ AWS: [target] });
    expect(asList(grants.Action).sort()).toEqual([...KEY_GRANT_ACTIONS].sort());
    expect(grants.Condition).toEqual({ StringEquals: { 'kms:ViaService': 'rds.eu-west-1.amazonaws.com' }, Bool: { 'kms:GrantIsForAWSResource': true } });
  });

  test('is what the share-snapshot preflight accepts for the target account, and a policy without the grants statement is refused naming it', () => {
    const text = JSON.stringify({ Version: '2012-10-17', Statement: policy });
    expect(shareKeyPolicyProblems(text, '444444444444', 'eu-west-1', 'share-key')).toEqual([]);
    const withoutGrants = JSON.stringify({ Version: '2012-10-17', Statement: policy.filter((statement) => statement.Sid !== 'TargetAccountsGrantsForRds') });
    expect(shareKeyPolicyProblems(withoutGrants, '444444444444', 'eu-west-1', 'share-key').join('\n')).toContain('"TargetAccountsGrantsForRds" is missing');
    expect(shareKeyPolicyProblems(text, '555555555555', 'eu-west-1', 'share-key').join('\n')).toContain('"TargetAccountsUseThroughRds" is missing');
  });
});

describe('key administrators from another account', () => {
  test('are refused by config validation, naming the field and the account', () => {
    expect(() => exampleWith('dev', (input) => (input.keyAdministratorArns = ['arn:aws:iam::999999999999:role/Admin']))).toThrow(
      /keyAdministratorArns\.0: received "arn:aws:iam::999999999999:role\/Admin"; expected a principal of the environment's own account 333333333333/,
    );
  });
});

describe('cutover DNS record', () => {
  test('is a CNAME to the current endpoint with a 15 s TTL whose value deploys never revert', () => {
    expect(devCutover).toHaveResourceWithProperties(Route53Record, {
      name: 'catalog-db.dev.internal',
      type: 'CNAME',
      ttl: 15,
      records: ['catalog.abcdefghijkl.eu-west-1.rds.amazonaws.com'],
      lifecycle: { ignore_changes: ['records'] },
    });
  });

  test('uses an existing zone id when configured instead of creating a zone', () => {
    expect(prodCutover).toHaveResourceWithProperties(Route53Record, { zone_id: 'Z0123456789PRODZONE01', ttl: 15 });
    expect(resources(prodCutover, 'aws_route53_zone')).toEqual({});
  });
});

describe('RDS Proxy', () => {
  test('requires TLS and never logs SQL', () => {
    expect(devCutover).toHaveResourceWithProperties(DbProxy, { require_tls: true, debug_logging: false, engine_family: 'POSTGRESQL' });
  });

  test('leaves its target to the scripts, so a deploy cannot undo a switch', () => {
    expect(resources(devCutover, 'aws_db_proxy_target')).toEqual({});
    expect(JSON.parse(devCutover).output.proxyInitialTargetIdentifier.value).toBe('catalog');
  });

  test('its role may read the one configured secret', () => {
    const policy = statements(synthesizedOf(dev.stacks.cutover.proxy!.rolePolicy).policy);
    expect(bySid(policy, 'ReadTheOneSecret')).toMatchObject({ Action: 'secretsmanager:GetSecretValue', Resource: dev.environment.proxy!.secretArn });
    // The example's secret uses the AWS-managed key: no kms:Decrypt at all (never on key/*).
    expect(policy.map((statement) => statement.Sid)).toEqual(['ReadTheOneSecret']);
    const trust = statements(synthesizedOf(dev.stacks.cutover.proxy!.role).assume_role_policy);
    expect(trust).toEqual([expect.objectContaining({ Principal: { Service: 'rds.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': '333333333333' } } })]);
  });

  test('with a customer-managed secret key, its role may decrypt with that one key, only through Secrets Manager', () => {
    const key = 'arn:aws:kms:eu-west-1:333333333333:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0';
    const withKey = synthesize(exampleWith('dev', (input) => (input.proxy.secretKmsKeyArn = key)));
    const policy = statements(synthesizedOf(withKey.stacks.cutover.proxy!.rolePolicy).policy);
    expect(bySid(policy, 'DecryptTheSecret')).toEqual({ Sid: 'DecryptTheSecret', Effect: 'Allow', Action: 'kms:Decrypt', Resource: key, Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } } });
    for (const statement of policy) expect(asList(statement.Resource).some((resource) => resource.includes('key/*'))).toBe(false);
  });

  test('the target database admits the proxy security group', () => {
    const database = synthesizedOf(dev.stacks.cutover.database!.securityGroup);
    expect(database.ingress[0].security_groups).toEqual([reference(dev.stacks.cutover.proxy!.securityGroup, 'id')]);
  });
});

describe('target database', () => {
  test('prod before the run: the instance the cutover run restores is not declared (its snapshot does not exist yet); its groups are, and the outputs say how to restore it', () => {
    expect(prod.stacks.cutover.database!.instance).toBeUndefined();
    const synthesized = JSON.parse(prodCutover) as { resource: Record<string, unknown>; output: Record<string, { value: unknown }> };
    expect(synthesized.resource.aws_db_instance).toBeUndefined();
    const outputs = synthesized.output;
    expect(outputs.databaseRestoreSettings?.value).toMatchObject({ instanceClass: 'db.r6g.large', deletionProtection: true, publiclyAccessible: false, storageType: 'gp3', allocatedStorageGb: 200, subnetGroupName: reference(prod.stacks.cutover.database!.subnetGroup, 'name') });
  });

  test('prod after the run ("done"): the instance is encrypted with the storage key, private, backed up, protected from deletion, and imported (import block) with snapshot_identifier ignored', () => {
    const done = synthesize(exampleWith('prod', (input) => Object.assign(input.database, { restoredByCutover: 'done' })));
    const json = done.json['rds-cutover-prod-cutover'];
    expect(json).toHaveResourceWithProperties(DbInstance, {
      identifier: 'orders-encrypted',
      storage_encrypted: true,
      kms_key_id: reference(done.stacks.cutover.storageKey.key, 'arn'),
      publicly_accessible: false,
      deletion_protection: true,
      skip_final_snapshot: false,
      snapshot_identifier: 'orders-cutover-seed',
      lifecycle: { ignore_changes: ['snapshot_identifier'] },
    });
    const instance = synthesizedOf(done.stacks.cutover.database!.instance!);
    expect(instance.backup_retention_period).toBeGreaterThanOrEqual(1);
    const imports = (JSON.parse(json) as { import?: Array<{ id: string; to: string }> }).import ?? [];
    expect(imports).toEqual([{ id: 'orders-encrypted', to: expect.stringMatching(/^aws_db_instance\./) }]);
  });

  test('a new database gets an RDS-managed master password, never one from config', () => {
    expect(devCutover).toHaveResourceWithProperties(DbInstance, { manage_master_user_password: true, username: 'cutover_admin' });
    expect(synthesizedOf(dev.stacks.cutover.database!.instance!).password).toBeUndefined();
  });

  test('MySQL writes row-based binlogs and requires TLS (require_secure_transport)', () => {
    expect(prodCutover).toHaveResourceWithProperties(DbParameterGroup, {
      family: 'mysql8.0',
      parameter: [
        { name: 'binlog_format', value: 'ROW', apply_method: 'immediate' },
        { name: 'require_secure_transport', value: '1', apply_method: 'pending-reboot' },
      ],
    });
  });

  test('Aurora MySQL requires TLS in its cluster parameter group', () => {
    const aurora = synthesize(exampleWith('prod', (input) => Object.assign(input.database, { engine: 'aurora-mysql', engineVersion: '8.0.mysql_aurora.3.05.2', parameterGroupFamily: 'aurora-mysql8.0', restoredByCutover: undefined }))).json['rds-cutover-prod-cutover'];
    expect(aurora).toHaveResourceWithProperties(RdsClusterParameterGroup, {
      family: 'aurora-mysql8.0',
      parameter: expect.arrayContaining([{ name: 'require_secure_transport', value: '1', apply_method: 'pending-reboot' }]),
    });
  });

  test('PostgreSQL has logical replication and requires TLS (rds.force_ssl), and a frozen group that is read-only and keeps replication on', () => {
    expect(devCutover).toHaveResourceWithProperties(DbParameterGroup, {
      name: 'catalog-pg17-replication',
      family: 'postgres17',
      parameter: [
        { name: 'rds.logical_replication', value: '1', apply_method: 'pending-reboot' },
        { name: 'rds.force_ssl', value: '1', apply_method: 'pending-reboot' },
      ],
    });
    expect(stgCutover).toHaveResourceWithProperties(RdsClusterParameterGroup, { name: 'billing-pg16-replication', parameter: expect.arrayContaining([{ name: 'rds.force_ssl', value: '1', apply_method: 'pending-reboot' }]) });
    expect(devCutover).toHaveResourceWithProperties(DbParameterGroup, {
      name: 'catalog-pg17-frozen',
      family: 'postgres15',
      parameter: expect.arrayContaining([
        { name: 'default_transaction_read_only', value: '1', apply_method: 'immediate' },
        { name: 'rds.logical_replication', value: '1', apply_method: 'pending-reboot' },
      ]),
    });
  });

  test('Aurora gets an encrypted cluster with cluster-level parameter groups', () => {
    expect(stgCutover).toHaveResourceWithProperties(RdsCluster, { cluster_identifier: 'billing-pg16', storage_encrypted: true, deletion_protection: true });
    expect(stgCutover).toHaveResourceWithProperties(RdsClusterParameterGroup, { name: 'billing-pg16-frozen', family: 'aurora-postgresql15' });
    expect(Object.keys(resources(stgCutover, 'aws_rds_cluster_instance'))).toHaveLength(2);
    expect(resources(stgCutover, 'aws_db_instance')).toEqual({});
  });
});

describe('masking pipeline', () => {
  const pipeline = dev.stacks.masking!.pipeline;
  const bucketArn = reference(pipeline.bucket, 'arn');

  test('blocks all public access to the dump bucket', () => {
    expect(devMasking).toHaveResourceWithProperties(S3BucketPublicAccessBlock, {
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
  });

  test('encrypts dumps with its own KMS key', () => {
    expect(devMasking).toHaveResourceWithProperties(S3BucketServerSideEncryption, {
      rule: [{ apply_server_side_encryption_by_default: { sse_algorithm: 'aws:kms', kms_master_key_id: reference(pipeline.key.key, 'arn') }, bucket_key_enabled: true }],
    });
  });

  test('denies every request that does not use TLS, and lets only the staging account read', () => {
    const policy = statements(synthesizedOf(pipeline.bucketPolicy).policy);
    expect(bySid(policy, 'DenyInsecureTransport')).toEqual({
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: [bucketArn, `${bucketArn}/*`],
      Condition: { Bool: { 'aws:SecureTransport': false } },
    });
    const allows = policy.filter((statement) => statement.Effect === 'Allow');
    expect(allows.flatMap((statement) => asList(statement.Action)).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    for (const statement of allows) expect(statement.Principal).toEqual({ AWS: ['arn:aws:iam::444444444444:root'] });
  });

  test('expires dumps after the configured days', () => {
    const lifecycle = synthesizedOf(pipeline.expiry);
    expect(lifecycle.rule[0]).toMatchObject({ status: 'Enabled', expiration: [{ days: 3 }] });
  });

  test('the schedule role may start exactly the one CodeBuild project', () => {
    const projectArn = reference(pipeline.project, 'arn');
    const schedulerPolicy = synthesizedOf(pipeline.schedulerPolicy);
    expect(schedulerPolicy.role).toBe(reference(pipeline.schedulerRole, 'id'));
    expect(statements(schedulerPolicy.policy)).toEqual([{ Sid: 'StartTheOneProject', Effect: 'Allow', Action: 'codebuild:StartBuild', Resource: projectArn }]);
    expect(devMasking).toHaveResourceWithProperties(CloudwatchEventTarget, { arn: projectArn });
    const trust = statements(synthesizedOf(pipeline.schedulerRole).assume_role_policy);
    expect(trust[0].Principal).toEqual({ Service: 'events.amazonaws.com' });
  });

  test('the build role has no wildcard action and reaches only its own bucket, key, repository and secrets', () => {
    const policy = statements(synthesizedOf(pipeline.buildPolicy).policy);
    for (const statement of policy) {
      expect(asList(statement.Action).every((action) => !action.endsWith(':*') && action !== '*')).toBe(true);
    }
    const wildcardResources = policy.filter((statement) => asList(statement.Resource).includes('*')).map((statement) => statement.Sid);
    expect(wildcardResources.sort()).toEqual(['EcrLogin', 'RunInVpc']);
    expect(bySid(policy, 'ReadMaskingSecrets').Resource).toEqual(maskingSecretArns('dev'));
  });

  test.each([['dev', dev], ['prod', prod]] as const)('%s: the build may read exactly the secrets config/masking names for its environment (else the run fails closed)', (name, example) => {
    const policy = statements(synthesizedOf(example.stacks.masking!.pipeline.buildPolicy).policy);
    const named = maskingSecretArns(name);
    expect(named.length).toBeGreaterThanOrEqual(2); // the HMAC key and the source password at least
    expect(asList(bySid(policy, 'ReadMaskingSecrets').Resource).sort()).toEqual([...named].sort());
  });

  test('the build may delete staged dumps only (a failed leak check deletes its dump; published ones expire)', () => {
    const policy = statements(synthesizedOf(pipeline.buildPolicy).policy);
    const deletes = policy.filter((statement) => asList(statement.Action).includes('s3:DeleteObject'));
    expect(deletes).toEqual([{ Sid: 'DeleteStagedDumps', Effect: 'Allow', Action: 's3:DeleteObject', Resource: `${bucketArn}/*/staged/*` }]);
  });

  test('CodeBuild builds a pinned commit or tag, never a moving branch: the S3 source object is named after it', () => {
    for (const example of [dev, prod]) {
      const project = synthesizedOf(example.stacks.masking!.pipeline.project);
      expect(project.source.type).toBe('S3');
      expect(project.source.location).toMatch(/\/source\/([0-9a-f]{40}|v1\.0\.0)\.zip$/);
      expect(project.environment.environment_variable).toContainEqual({ name: 'SOURCE_VERSION', value: 'refs/tags/v1.0.0' });
    }
  });

  test('CodeBuild runs the buildspec file from the repository for this environment', () => {
    expect(devMasking).toHaveResourceWithProperties(CodebuildProject, {
      source: { type: 'S3', buildspec: 'aws/buildspec/mask-refresh.yml', location: `\${${pipeline.sourceBucket.terraformResourceType}.${dev.stacks.masking!.getLogicalId(pipeline.sourceBucket)}.bucket}/source/v1.0.0.zip` },
    });
    const project = synthesizedOf(pipeline.project);
    expect(project.environment.environment_variable).toContainEqual({ name: 'CUTOVER_ENV', value: 'dev' });
  });
});

describe('provider and backend', () => {
  test('the configured provider assumes the role and refuses other accounts', () => {
    expect(prodCutover).toHaveProviderWithProperties(AwsProvider, {
      region: 'eu-west-1',
      allowed_account_ids: ['111111111111'],
      assume_role: [{ role_arn: 'arn:aws:iam::111111111111:role/rds-cutover-deployer', session_name: 'rds-cutover' }],
      skip_credentials_validation: false,
    });
  });

  test('the offline variant skips every AWS check and keeps state locally', () => {
    const offline = synthesize(prod.environment, { offlineStateDirectory: '/scratch/state' }).json['rds-cutover-prod-cutover'];
    expect(offline).toHaveProviderWithProperties(AwsProvider, { skip_credentials_validation: true, skip_requesting_account_id: true, skip_metadata_api_check: 'true' });
    const parsed = JSON.parse(offline);
    expect(parsed.provider.aws[0].assume_role).toBeUndefined();
    expect(parsed.terraform.backend).toEqual({ local: { path: '/scratch/state/rds-cutover-prod-cutover.tfstate' } });
  });

  test('S3 state is encrypted and locked (lockfile or DynamoDB as configured)', () => {
    expect(JSON.parse(prodCutover).terraform.backend.s3).toMatchObject({ bucket: 'example-prod-terraform-state', key: 'rds-cutover/prod/rds-cutover-prod-cutover.tfstate', encrypt: true, use_lockfile: true });
    const stgBackend = JSON.parse(stgCutover).terraform.backend.s3;
    expect(stgBackend).toMatchObject({ dynamodb_table: 'terraform-locks', encrypt: true });
    expect(stgBackend.use_lockfile).toBeUndefined();
  });

  test('endpoints and skip flags from config reach the provider (emulators)', () => {
    const emulated = exampleWith('dev', (input) => {
      input.provider = { endpoints: { rds: 'http://localhost:4566', s3: 'http://localhost:4566' }, skipCredentialsValidation: true, s3UsePathStyle: true };
    });
    expect(synthesize(emulated).json['rds-cutover-dev-cutover']).toHaveProviderWithProperties(AwsProvider, {
      endpoints: [{ rds: 'http://localhost:4566', s3: 'http://localhost:4566' }],
      skip_credentials_validation: true,
      s3_use_path_style: true,
    });
  });

  test('default tags name the environment and the stack', () => {
    expect(devShare).toHaveProviderWithProperties(AwsProvider, {
      default_tags: [{ tags: expect.objectContaining({ 'rds-cutover:environment': 'dev', 'rds-cutover:stack': 'snapshot-share', project: 'rds-cutover' }) }],
    });
  });
});
