/**
 * Shared set-up of the tests that run terraform on the synthesized stacks against moto (an AWS
 * API emulator started by the test): the emulator, SDK clients on it, a VPC with two subnets,
 * the offline Terraform CLI config (provider from the local mirror), synth + init of an
 * environment's stacks, plans read as JSON, and the teardown (destroy what was applied, stop the
 * emulator, restore the environment, remove the scratch folder).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateSubnetCommand, CreateVpcCommand } from '@aws-sdk/client-ec2';
import type { InfraEnvironment } from '../../config/infra';
import { addEnvironmentStacks } from '../../stacks/app';
import { App } from '../../stacks/aws';
import { findProviderMirror, offlineTerraformEnvironment, terraformBinary, writeTerraformCliConfig } from '../../stacks/terraform/cli-config';
import { newClients, type AwsClients } from '../../lib/platforms/aws/clients';
import { locateMoto, MotoServer, MOTO_INSTALL_HINT } from '../../lib/rehearsal/aws-emulated/moto';

export const PROJECT_ROOT = resolve(__dirname, '../..');
export const REGION = 'us-east-1';
/** moto's default account: what the provider and ARNs see. */
export const ACCOUNT = '123456789012';

const moto = locateMoto(PROJECT_ROOT);

/** `describe` when moto is there, else `describe.skip` with a warning saying how to get it. */
export function describeWithMoto(what: string): jest.Describe {
  if (!moto) console.warn(`skipping ${what}: ${MOTO_INSTALL_HINT}`);
  return moto ? describe : describe.skip;
}

export interface Ran {
  code: number;
  output: string;
}

export function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => done({ code: 127, output: `${output}${error.message}` }));
    child.on('close', (code) => done({ code: code ?? 1, output }));
  });
}

/** One resource change of `terraform show -json PLAN`. */
export interface Change {
  address: string;
  type: string;
  change: { actions: string[]; importing?: { id: string }; before?: Record<string, unknown>; after?: Record<string, unknown>; after_unknown?: Record<string, unknown> };
}

/** Attribute names whose planned value differs from the current one (unknowns count as changes). */
export function changedAttributes(change: Change['change']): string[] {
  const before = change.before ?? {};
  const after = change.after ?? {};
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => change.after_unknown?.[key] === true || JSON.stringify(before[key] ?? null) !== JSON.stringify(after[key] ?? null)).sort();
}

/** The last lines of a failed command, or '' when it succeeded: `expect(outcome(ran)).toBe('')` shows why. */
export const failure = (ran: Ran, tail = 4000): string => (ran.code === 0 ? '' : ran.output.slice(-tail) || `exit ${ran.code}`);

export class TerraformWorld {
  readonly clients: AwsClients;
  /** Stack name → the directory it was last applied from (destroyed at close, newest stack first). */
  private readonly applied = new Map<string, string>();

  private constructor(
    readonly server: MotoServer,
    readonly scratch: string,
    readonly terraformEnv: NodeJS.ProcessEnv,
    readonly vpcId: string,
    readonly vpcCidr: string,
    readonly subnetIds: string[],
    private readonly savedEnvironment: NodeJS.ProcessEnv,
  ) {
    this.clients = newClients({ region: REGION });
  }

  /** Starts moto, points the SDK at it (process.env, restored at close) and makes a VPC with two subnets. */
  static async start(options: { scratchPrefix: string; vpcCidr: string }): Promise<TerraformWorld> {
    const savedEnvironment = { ...process.env };
    const scratch = mkdtempSync(join(tmpdir(), options.scratchPrefix));
    const server = await MotoServer.start(moto!);
    Object.assign(process.env, server.sdkEnvironment(REGION));
    const clients = newClients({ region: REGION });
    const vpcId = (await clients.ec2.send(new CreateVpcCommand({ CidrBlock: options.vpcCidr }))).Vpc!.VpcId!;
    const prefix = options.vpcCidr.split('.').slice(0, 2).join('.');
    const subnetIds: string[] = [];
    for (const [index, zone] of ['us-east-1a', 'us-east-1b'].entries()) {
      subnetIds.push((await clients.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `${prefix}.${index + 1}.0/24`, AvailabilityZone: zone }))).Subnet!.SubnetId!);
    }
    clients.ec2.destroy();
    mkdirSync(join(scratch, 'terraform'), { recursive: true });
    const terraformEnv = offlineTerraformEnvironment(writeTerraformCliConfig(join(scratch, 'terraform'), findProviderMirror()), savedEnvironment);
    return new TerraformWorld(server, scratch, terraformEnv, vpcId, options.vpcCidr, subnetIds, savedEnvironment);
  }

  /** The provider settings that send every listed service to the emulator. */
  provider(services: string[]) {
    return { endpoints: Object.fromEntries(services.map((service) => [service, this.server.url])), skipCredentialsValidation: true, skipRequestingAccountId: true, skipMetadataApiCheck: true, s3UsePathStyle: true };
  }

  terraform(directory: string, ...args: string[]): Promise<Ran> {
    return run(terraformBinary(), [...args, '-no-color'], directory, this.terraformEnv);
  }

  /**
   * Synthesizes `environment`'s stacks into `folder` (state shared by every folder of this world)
   * and runs `terraform init` in each stack's directory, one at a time (concurrent inits race on
   * the shared plugin cache). Returns stack name → directory, in creation order.
   */
  async synthAndInit(environment: InfraEnvironment, folder: string): Promise<Array<{ stack: string; directory: string }>> {
    const outdir = join(this.scratch, folder);
    const app = new App({ outdir });
    const stacks = addEnvironmentStacks(app, environment, { projectRoot: PROJECT_ROOT, offlineStateDirectory: join(this.scratch, 'state') });
    app.synth();
    const directories = stacks.all.map((stack) => ({ stack: stack.node.id, directory: join(outdir, 'stacks', stack.node.id) }));
    for (const { stack, directory } of directories) {
      const init = await this.terraform(directory, 'init', '-input=false');
      expect({ stack, init: failure(init, 3000) }).toEqual({ stack, init: '' });
    }
    return directories;
  }

  /** `terraform apply` (of the directory's config, or of a saved plan); what was applied is destroyed at close. */
  async apply(stack: string, directory: string, plan?: string): Promise<Ran> {
    const applied = await this.terraform(directory, 'apply', ...(plan ? [] : ['-auto-approve']), '-input=false', '-lock=false', ...(plan ? [plan] : []));
    this.applied.delete(stack); // keep creation order: re-inserted last
    this.applied.set(stack, directory); // partially applied resources are destroyed too
    return applied;
  }

  /** The stack's outputs as `npx cdktf output … --outputs-file` writes them: { output: value }. */
  async outputs(directory: string): Promise<Record<string, unknown>> {
    const printed = await this.terraform(directory, 'output', '-json');
    expect(failure(printed)).toBe('');
    return Object.fromEntries(Object.entries(JSON.parse(printed.output) as Record<string, { value: unknown }>).map(([name, { value }]) => [name, value]));
  }

  /** `terraform plan -out` + `show -json`: every planned resource change (no-ops included). */
  async plan(directory: string, name = 'next.tfplan'): Promise<Change[]> {
    const planned = await this.terraform(directory, 'plan', `-out=${name}`, '-input=false', '-lock=false');
    expect(failure(planned)).toBe('');
    const shown = await this.terraform(directory, 'show', '-json', name);
    expect(failure(shown)).toBe('');
    return (JSON.parse(shown.output) as { resource_changes?: Change[] }).resource_changes ?? [];
  }

  /** Destroys what was applied (newest first), stops the emulator, restores process.env, removes the scratch folder. Returns the destroy failures. */
  async close(): Promise<string[]> {
    const failures: string[] = [];
    for (const [stack, directory] of [...this.applied].reverse()) {
      const destroyed = await this.terraform(directory, 'destroy', '-auto-approve', '-input=false', '-lock=false');
      if (destroyed.code !== 0) failures.push(`${stack}: ${destroyed.output.slice(-2000)}`);
    }
    for (const client of Object.values(this.clients)) client.destroy();
    await this.server.stop();
    for (const key of Object.keys(process.env)) if (!(key in this.savedEnvironment)) delete process.env[key];
    Object.assign(process.env, this.savedEnvironment);
    rmSync(this.scratch, { recursive: true, force: true });
    expect(this.server.pids()).toEqual([]);
    return failures;
  }
}

/** Non-no-op changes, as `address: actions [changed attributes]`: what a reviewer reads in a diff. */
export function pendingChanges(changes: Change[]): string[] {
  return changes.filter((c) => c.change.actions.join() !== 'no-op').map((c) => `${c.address}: ${c.change.actions.join()} [${changedAttributes(c.change).join(', ')}]`);
}
