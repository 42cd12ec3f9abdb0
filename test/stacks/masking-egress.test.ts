/**
 * The masking build reads production personal data: its network egress is limited to what it
 * needs (S3 and the AWS APIs through VPC endpoints, the database inside the VPC), its images
 * come from the stack's own ECR repositories, and its buildspec installs nothing. Asserted on
 * the synthesized Terraform and on the files CodeBuild runs (no Docker engine or CodeBuild
 * here: the Dockerfiles and the buildspec are checked for consistency, never executed).
 */
import { readFileSync } from 'node:fs';
import { SecurityGroup, VpcEndpoint } from '../../stacks/aws';
import { BUILD_INTERFACE_ENDPOINT_SERVICES, sourceObjectKey } from '../../stacks/constructs/masking-pipeline';
import { maskingEnvironments } from '../../config/masking/environments';
import { exampleWith, reference, resources, statements, synthesize, synthesizedOf, synthesizeExample, type Statement } from './helpers';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const dev = synthesizeExample('dev');
const prod = synthesizeExample('prod');
const maskingJson = (example: { json: Record<string, string>; environment: { name: string } }) => example.json[`rds-cutover-${example.environment.name}-masking`];

/** Every egress rule of the build's security group: separate rule resources, and no inline ones. */
function buildEgress(example: typeof dev): Json[] {
  const pipeline = example.stacks.masking!.pipeline;
  const group = synthesizedOf(pipeline.buildSecurityGroup);
  expect(group.egress).toBeUndefined();
  expect(group.ingress).toBeUndefined();
  const groupId = reference(pipeline.buildSecurityGroup, 'id');
  return Object.values(resources(maskingJson(example), 'aws_vpc_security_group_egress_rule')).filter((rule) => rule.security_group_id === groupId);
}

const errorOf = (action: () => unknown): string => {
  try {
    action();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected an error, none was thrown');
};

describe('build egress, locked down by default', () => {
  test.each([['dev (endpoints declared by the stack)', dev], ['prod (endpoints the VPC already has)', prod]] as const)('%s: no rule to 0.0.0.0/0 or ::/0, in rule resources or inline groups', (_name, example) => {
    const text = maskingJson(example);
    expect(text).not.toContain('0.0.0.0/0');
    expect(text).not.toContain('::/0');
    expect(buildEgress(example).length).toBeGreaterThan(0);
  });

  test('dev: each rule goes to the S3 gateway prefix list, the endpoints security group or the VPC range, nothing else', () => {
    const pipeline = dev.stacks.masking!.pipeline;
    const s3Gateway = pipeline.endpoints.find((endpoint) => synthesizedOf(endpoint).vpc_endpoint_type === 'Gateway')!;
    const rules = buildEgress(dev).map(({ ip_protocol, from_port, to_port, prefix_list_id, referenced_security_group_id, cidr_ipv4 }) => ({ ip_protocol, from_port, to_port, prefix_list_id, referenced_security_group_id, cidr_ipv4 }));
    expect(rules).toHaveLength(4);
    expect(rules).toEqual(expect.arrayContaining([
      { ip_protocol: 'tcp', from_port: 443, to_port: 443, prefix_list_id: reference(s3Gateway, 'prefix_list_id'), referenced_security_group_id: undefined, cidr_ipv4: undefined },
      { ip_protocol: 'tcp', from_port: 443, to_port: 443, prefix_list_id: undefined, referenced_security_group_id: reference(pipeline.endpointSecurityGroup!, 'id'), cidr_ipv4: undefined },
      { ip_protocol: 'tcp', from_port: 3306, to_port: 3306, prefix_list_id: undefined, referenced_security_group_id: undefined, cidr_ipv4: '10.30.0.0/16' },
      { ip_protocol: 'tcp', from_port: 5432, to_port: 5432, prefix_list_id: undefined, referenced_security_group_id: undefined, cidr_ipv4: '10.30.0.0/16' },
    ]));
  });

  test('prod: the existing endpoints security group and S3 prefix list from config; the group admits the build on 443', () => {
    const pipeline = prod.stacks.masking!.pipeline;
    const destinations = buildEgress(prod).map((rule) => rule.prefix_list_id ?? rule.referenced_security_group_id ?? rule.cidr_ipv4);
    expect(destinations.sort()).toEqual([prod.environment.network.vpcCidr, prod.environment.network.vpcCidr, 'pl-6da54004', 'sg-0a1b2c3d4e5f60071'].sort());
    expect(maskingJson(prod)).toHaveResourceWithProperties({ tfResourceType: 'aws_vpc_security_group_ingress_rule' } as never, {
      security_group_id: 'sg-0a1b2c3d4e5f60071',
      referenced_security_group_id: reference(pipeline.buildSecurityGroup, 'id'),
      from_port: 443,
      to_port: 443,
    });
    expect(pipeline.endpoints).toEqual([]);
  });

  test('existing endpoints without a prefix list id: the managed prefix list com.amazonaws.<region>.s3 is looked up', () => {
    const environment = exampleWith('prod', (input) => delete input.masking.vpcEndpoints.existing.s3PrefixListId);
    const json = JSON.parse(synthesize(environment).json['rds-cutover-prod-masking']);
    const lookups = Object.values(json.data.aws_ec2_managed_prefix_list) as Json[];
    expect(lookups).toEqual([{ name: 'com.amazonaws.eu-west-1.s3' }]);
    const s3Rule = (Object.values(json.resource.aws_vpc_security_group_egress_rule) as Json[]).find((rule) => rule.prefix_list_id !== undefined)!;
    expect(s3Rule.prefix_list_id).toMatch(/^\$\{data\.aws_ec2_managed_prefix_list\.[^.]+\.id\}$/);
  });

  test('dev: the stack declares the S3 gateway endpoint and one private-DNS interface endpoint per service the build calls', () => {
    const endpoints = Object.values(resources(maskingJson(dev), 'aws_vpc_endpoint'));
    const byService = Object.fromEntries(endpoints.map((endpoint) => [endpoint.service_name, endpoint]));
    expect(byService['com.amazonaws.eu-west-1.s3']).toMatchObject({ vpc_endpoint_type: 'Gateway', route_table_ids: ['rtb-0a1b2c3d4e5f60061'] });
    for (const service of BUILD_INTERFACE_ENDPOINT_SERVICES) {
      expect(byService[`com.amazonaws.eu-west-1.${service}`]).toMatchObject({ vpc_endpoint_type: 'Interface', private_dns_enabled: true, subnet_ids: dev.environment.network.subnetIds });
    }
    expect(endpoints).toHaveLength(BUILD_INTERFACE_ENDPOINT_SERVICES.length + 1);
    expect(maskingJson(dev)).toHaveResource(VpcEndpoint);
  });

  test('the endpoints security group admits the build only, on 443, and has no egress of its own', () => {
    const pipeline = dev.stacks.masking!.pipeline;
    const endpointGroup = reference(pipeline.endpointSecurityGroup!, 'id');
    const ingress = Object.values(resources(maskingJson(dev), 'aws_vpc_security_group_ingress_rule')).filter((rule) => rule.security_group_id === endpointGroup);
    expect(ingress).toEqual([expect.objectContaining({ ip_protocol: 'tcp', from_port: 443, to_port: 443, referenced_security_group_id: reference(pipeline.buildSecurityGroup, 'id') })]);
    expect(Object.values(resources(maskingJson(dev), 'aws_vpc_security_group_egress_rule')).filter((rule) => rule.security_group_id === endpointGroup)).toEqual([]);
  });
});

describe('the old open egress is an explicit, named opt-in', () => {
  test('dangerouslyAllowHttpsToInternet adds exactly one rule: HTTPS to 0.0.0.0/0', () => {
    const open = synthesize(exampleWith('dev', (input) => (input.masking.dangerouslyAllowHttpsToInternet = true)));
    const internet = buildEgress(open).filter((rule) => rule.cidr_ipv4 === '0.0.0.0/0');
    expect(internet).toEqual([expect.objectContaining({ ip_protocol: 'tcp', from_port: 443, to_port: 443 })]);
    expect(buildEgress(open)).toHaveLength(buildEgress(dev).length + 1);
  });

  test('it is off by default', () => {
    expect(dev.environment.masking!.dangerouslyAllowHttpsToInternet).toBe(false);
    expect(prod.environment.masking!.dangerouslyAllowHttpsToInternet).toBe(false);
  });
});

describe('images come from the stack\'s ECR repositories', () => {
  const pipeline = dev.stacks.masking!.pipeline;
  const project = synthesizedOf(pipeline.project);

  test('the build image is the build-image repository at the pinned release, pulled with the service role', () => {
    expect(project.environment.image).toBe(`${reference(pipeline.buildImageRepository, 'repository_url')}:v1.0.0`);
    expect(project.environment.image_pull_credentials_type).toBe('SERVICE_ROLE');
    expect(synthesizedOf(pipeline.buildImageRepository)).toMatchObject({ image_tag_mutability: 'IMMUTABLE', image_scanning_configuration: { scan_on_push: true } });
  });

  test('the role may pull from the build-image and base-image repositories only (login aside)', () => {
    const policy = statements(synthesizedOf(pipeline.buildPolicy).policy);
    const pull = policy.find((statement: Statement) => statement.Sid === 'PullBuildImages')!;
    expect(pull.Resource).toEqual([reference(pipeline.buildImageRepository, 'arn'), reference(pipeline.baseImageRepository, 'arn')]);
    const pullers = policy.filter((statement) => [statement.Action].flat().includes('ecr:BatchGetImage'));
    expect(pullers.flatMap((statement) => [statement.Resource].flat())).toEqual([reference(pipeline.buildImageRepository, 'arn'), reference(pipeline.baseImageRepository, 'arn'), reference(pipeline.repository, 'arn')]);
  });

  test('the dev image is built FROM the base-image repository (MARIADB_IMAGE), not Docker Hub', () => {
    expect(project.environment.environment_variable).toContainEqual({ name: 'MARIADB_IMAGE', value: `${reference(pipeline.baseImageRepository, 'repository_url')}:10.11` });
    const buildspec = readFileSync('aws/buildspec/mask-refresh.yml', 'utf8');
    expect(buildspec).toMatch(/docker build --build-arg MARIADB_IMAGE="\$MARIADB_IMAGE" /);
    expect(readFileSync('aws/dev-image/Dockerfile', 'utf8')).toMatch(/^FROM \$\{MARIADB_IMAGE\} AS load$/m);
  });

  test('the source is the pinned release in the stack\'s source bucket, readable (not writable) by the build', () => {
    expect(project.source).toEqual({ type: 'S3', location: `${reference(pipeline.sourceBucket, 'bucket')}/source/v1.0.0.zip`, buildspec: 'aws/buildspec/mask-refresh.yml' });
    expect(sourceObjectKey('0123456789abcdef0123456789abcdef01234567')).toBe('source/0123456789abcdef0123456789abcdef01234567.zip');
    const policy = statements(synthesizedOf(pipeline.buildPolicy).policy);
    const onSource = policy.filter((statement) => [statement.Resource].flat().some((resource) => String(resource).startsWith(reference(pipeline.sourceBucket, 'arn'))));
    expect(onSource).toEqual([{ Sid: 'ReadSource', Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: `${reference(pipeline.sourceBucket, 'arn')}/source/v1.0.0.zip` }]);
  });
});

describe('the build installs nothing: the buildspec and the build image agree', () => {
  const buildspec = readFileSync('aws/buildspec/mask-refresh.yml', 'utf8');
  const commands = buildspec.split('\n').filter((line) => !line.trim().startsWith('#')).join('\n');
  const buildImage = readFileSync('aws/build-image/Dockerfile', 'utf8');
  const devImage = readFileSync('aws/dev-image/Dockerfile', 'utf8').split('\n').filter((line) => !line.startsWith('#')).join('\n');

  test('no apt-get, yum, pip, npm install/ci, runtime-versions or git clone in the buildspec', () => {
    expect(commands).not.toMatch(/apt-get|\byum\b|\bpip3? install|npm (ci|install|i)\b|runtime-versions|git clone|curl |wget /);
  });

  test('npx never fetches a package: every npx call is --no-install', () => {
    const calls = commands.match(/npx [^\n]*/g) ?? [];
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) expect(call).toMatch(/^npx --no-install /);
  });

  test('the dev image build installs nothing either', () => {
    expect(devImage).not.toMatch(/apt-get|apk add|\byum\b/);
  });

  test('every tool the buildspec runs is installed in the build image', () => {
    const tools: Record<string, RegExp> = { mariadb: /mariadb-client/, zstd: /\bzstd\b/, jq: /\bjq\b/, aws: /\bawscli\b/, docker: /docker\.io/, dockerd: /docker\.io/ };
    for (const [tool, installed] of Object.entries(tools)) {
      if (new RegExp(`\\b${tool}\\b`).test(commands) || tool === 'mariadb') expect(buildImage).toMatch(installed);
    }
    expect(buildImage).toMatch(/node:20/);
    expect(buildImage).toMatch(/COPY package\.json package-lock\.json \.\//);
    expect(buildImage).toMatch(/RUN npm ci /);
    expect(buildImage).toMatch(/^WORKDIR \/opt\/rds-cutover$/m);
  });

  test('the buildspec uses the image\'s node_modules only with the same lock file', () => {
    expect(commands).toContain('cmp -s package-lock.json /opt/rds-cutover/package-lock.json ||');
    expect(commands).toContain('ln -sfn /opt/rds-cutover/node_modules node_modules');
    expect(commands.indexOf('cmp -s package-lock.json')).toBeLessThan(commands.indexOf('ln -sfn'));
  });

  test('the build image comes from ECR Public, not Docker Hub', () => {
    expect(buildImage).toMatch(/^ARG NODE_IMAGE=public\.ecr\.aws\//m);
  });
});

describe('notifications need no egress from the build', () => {
  test('build state changes go to the stack\'s SNS topic through EventBridge', () => {
    const pipeline = dev.stacks.masking!.pipeline;
    const json = JSON.parse(maskingJson(dev));
    const rules = Object.values(json.resource.aws_cloudwatch_event_rule) as Json[];
    const stateRule = rules.find((rule) => rule.event_pattern !== undefined)!;
    expect(JSON.parse(stateRule.event_pattern)).toEqual({
      source: ['aws.codebuild'],
      'detail-type': ['CodeBuild Build State Change'],
      detail: { 'project-name': ['rds-cutover-dev-mask-refresh'], 'build-status': ['FAILED', 'STOPPED', 'SUCCEEDED'] },
    });
    const targets = Object.values(json.resource.aws_cloudwatch_event_target) as Json[];
    expect(targets.map((target) => target.arn)).toContain(reference(pipeline.notificationTopic, 'arn'));
    const topicPolicy = statements((Object.values(json.resource.aws_sns_topic_policy)[0] as Json).policy);
    expect(topicPolicy).toEqual([expect.objectContaining({ Principal: { Service: 'events.amazonaws.com' }, Action: 'sns:Publish' })]);
  });

  test('Slack in config/masking without the open egress is refused, naming both fixes', () => {
    const environment = maskingEnvironments.dev as Json;
    environment.notify = { slackWebhookEnv: 'MASK_REFRESH_SLACK_WEBHOOK' };
    try {
      const message = errorOf(() => synthesize(dev.environment));
      expect(message).toContain('config/masking/environments.ts "dev" notifies Slack (notify.slackWebhookEnv MASK_REFRESH_SLACK_WEBHOOK), which the build cannot reach');
      expect(message).toContain('Remove notify from "dev" and subscribe to the build\'s SNS topic');
      expect(message).toContain('masking.dangerouslyAllowHttpsToInternet: true in config/infra/dev.ts');
      const opened = exampleWith('dev', (input) => (input.masking.dangerouslyAllowHttpsToInternet = true));
      expect(() => synthesize(opened)).not.toThrow();
    } finally {
      delete environment.notify;
    }
  });
});

describe('configuration errors name the fix', () => {
  test('no vpcEndpoints: both forms are spelled out', () => {
    const message = errorOf(() => exampleWith('dev', (input) => delete input.masking.vpcEndpoints));
    expect(message).toContain('masking.vpcEndpoints');
    expect(message).toContain('{ create: { routeTableIds: ["rtb-…"] } }');
    expect(message).toContain('{ existing: { securityGroupId: "sg-…" } }');
  });

  test('a bad route table or prefix list id names the expected form', () => {
    expect(errorOf(() => exampleWith('dev', (input) => (input.masking.vpcEndpoints = { create: { routeTableIds: ['main'] } })))).toContain('a route table id such as "rtb-0abc1234def567890"');
    expect(errorOf(() => exampleWith('dev', (input) => (input.masking.vpcEndpoints = { create: { routeTableIds: [] } })))).toContain('expected the route table ids of the build subnets');
    expect(errorOf(() => exampleWith('prod', (input) => (input.masking.vpcEndpoints.existing.s3PrefixListId = 'com.amazonaws.eu-west-1.s3')))).toContain('a managed prefix list id such as "pl-6da54004"');
  });

  test('the removed GitHub source field is refused (the build fetches an S3 object now)', () => {
    expect(errorOf(() => exampleWith('dev', (input) => (input.masking.sourceRepositoryUrl = 'https://github.com/example/rds-cutover.git')))).toContain('unknown field(s) "sourceRepositoryUrl"');
  });

  test('the opt-in is a boolean, not a string that reads as true', () => {
    expect(errorOf(() => exampleWith('dev', (input) => (input.masking.dangerouslyAllowHttpsToInternet = 'yes')))).toContain('masking.dangerouslyAllowHttpsToInternet');
  });
});

test('security groups in the masking stack declare no inline rules at all', () => {
  for (const example of [dev, prod]) {
    for (const group of Object.values(resources(maskingJson(example), 'aws_security_group'))) {
      expect(group.egress).toBeUndefined();
      expect(group.ingress).toBeUndefined();
    }
    expect(maskingJson(example)).toHaveResource(SecurityGroup);
  }
});
