/**
 * Offline Terraform: a CLI config of the project's own that installs providers only from a
 * local filesystem mirror (never the registry), a shared plugin cache so each stack's
 * `terraform init` links instead of copying ~700 MB, and the environment for terraform
 * processes (fake credentials: the stacks' offline variant skips every credential check).
 * https://developer.hashicorp.com/terraform/cli/config/config-file#provider-installation
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Overrides the mirror auto-detection. */
export const MIRROR_ENV_VAR = 'RDS_CUTOVER_TF_PLUGIN_MIRROR';
/** Overrides the terraform binary (default: `terraform` on PATH). */
export const TERRAFORM_ENV_VAR = 'RDS_CUTOVER_TERRAFORM';

/** The provider the bindings were generated for (@cdktf/provider-aws 20.1.0 = hashicorp/aws 5.100.0). */
export const AWS_PROVIDER = { source: 'registry.terraform.io/hashicorp/aws', version: '5.100.0' } as const;

const MIRROR_CANDIDATES = [
  '/opt/tf-plugins',
  '/usr/local/share/terraform/plugins',
  '/usr/share/terraform/plugins',
  join(homedir(), '.terraform.d', 'plugins'),
  join(homedir(), '.local', 'share', 'terraform', 'plugins'),
];

/** True when `directory` holds the AWS provider version, unpacked or packed (zip) layout. */
export function mirrorHasAwsProvider(directory: string): boolean {
  const providerDirectory = join(directory, AWS_PROVIDER.source);
  if (existsSync(join(providerDirectory, AWS_PROVIDER.version))) return true;
  return existsSync(providerDirectory) && readdirSync(providerDirectory).some((file) => file.startsWith(`terraform-provider-aws_${AWS_PROVIDER.version}_`) && file.endsWith('.zip'));
}

/**
 * The provider mirror: `$RDS_CUTOVER_TF_PLUGIN_MIRROR` if set, else the first well-known
 * directory that has the AWS provider.
 * @throws Error naming the variable to set and how to fill a mirror
 */
export function findProviderMirror(environment: NodeJS.ProcessEnv = process.env): string {
  const wanted = `${AWS_PROVIDER.source}/${AWS_PROVIDER.version}`;
  const override = environment[MIRROR_ENV_VAR];
  if (override) {
    const directory = resolve(override);
    if (!mirrorHasAwsProvider(directory)) {
      throw new Error(`${MIRROR_ENV_VAR}=${override}: no ${wanted} in it; expected a directory laid out like \`terraform providers mirror\` writes it`);
    }
    return directory;
  }
  const found = MIRROR_CANDIDATES.find(mirrorHasAwsProvider);
  if (found === undefined) {
    throw new Error(
      `no Terraform provider mirror with ${wanted} found (looked in ${MIRROR_CANDIDATES.join(', ')}); ` +
        `set ${MIRROR_ENV_VAR} to one, or create it on a connected machine with \`terraform providers mirror DIR\` in a synthesized stack directory`,
    );
  }
  return found;
}

/**
 * Writes the CLI config into `directory` (created if needed) and returns its path.
 * Only the mirror is an installation source, so nothing is fetched from the network.
 */
export function writeTerraformCliConfig(directory: string, mirror: string): string {
  const pluginCache = join(directory, 'plugin-cache');
  mkdirSync(pluginCache, { recursive: true });
  const file = join(directory, 'terraformrc');
  writeFileSync(
    file,
    [
      '# Written by rds-cutover (stacks/terraform/cli-config.ts): providers from the local mirror only.',
      `plugin_cache_dir = ${JSON.stringify(pluginCache)}`,
      // Lets init fill the lock file from the cache; the mirror is the only source anyway.
      'plugin_cache_may_break_dependency_lock_file = true',
      'provider_installation {',
      '  filesystem_mirror {',
      `    path    = ${JSON.stringify(mirror)}`,
      '    include = ["registry.terraform.io/*/*"]',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  return file;
}

/**
 * Environment for offline terraform processes: the CLI config, fake static credentials (the
 * offline stacks skip credential validation, account-id lookup and the metadata API), and no
 * inherited AWS profile or role that could make the provider call out.
 */
export function offlineTerraformEnvironment(cliConfigFile: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (!key.startsWith('AWS_') && !key.startsWith('TF_')) environment[key] = value;
  }
  return {
    ...environment,
    TF_CLI_CONFIG_FILE: cliConfigFile,
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    CHECKPOINT_DISABLE: '1',
    AWS_ACCESS_KEY_ID: 'offline-plan-fake-key',
    AWS_SECRET_ACCESS_KEY: 'offline-plan-fake-secret',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/** The terraform binary to run. */
export function terraformBinary(environment: NodeJS.ProcessEnv = process.env): string {
  return environment[TERRAFORM_ENV_VAR] || 'terraform';
}
