/**
 * `npm run plan -- --env NAME`: synthesizes the environment's stacks in their offline variant
 * (local state in a scratch directory, credential checks skipped; see stacks/app.ts), then runs
 * `terraform init` and `terraform plan` per stack with the project's CLI config, so the diff
 * of a fresh clone prints without AWS access or the registry.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadInfraEnvironment } from '../../config/infra';
import { addEnvironmentStacks } from '../app';
import { App } from '../aws';
import { findProviderMirror, offlineTerraformEnvironment, terraformBinary, writeTerraformCliConfig } from './cli-config';

export interface OfflinePlanOptions {
  readonly environmentName: string;
  /** Absolute project root. */
  readonly projectRoot: string;
  /** Only these stacks (full names). @default - every stack of the environment */
  readonly stackNames?: readonly string[];
  /** Stacks planned at once. @default 2 */
  readonly parallelism?: number;
  /** @default false */
  readonly color?: boolean;
  /** Receives each stack's complete output, in stack order. @default - process.stdout */
  readonly print?: (text: string) => void;
}

export interface StackPlan {
  readonly stack: string;
  readonly ok: boolean;
  /** Terraform's "Plan: …" line, or the failure reason. */
  readonly summary: string;
  readonly output: string;
  readonly durationMs: number;
}

interface CommandResult {
  readonly code: number;
  readonly output: string;
}

function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => resolvePromise({ code: 127, output: `${output}${command}: ${error.message}\n` }));
    child.on('close', (code) => resolvePromise({ code: code ?? 1, output }));
  });
}

interface StackRun {
  readonly stack: string;
  readonly directory: string;
  readonly started: number;
  init?: CommandResult;
}

async function initStack(stackRun: StackRun, env: NodeJS.ProcessEnv, colorFlag: readonly string[]): Promise<void> {
  stackRun.init = await run(terraformBinary(), ['init', '-input=false', ...colorFlag], stackRun.directory, env);
}

async function planStack(stackRun: StackRun, env: NodeJS.ProcessEnv, colorFlag: readonly string[]): Promise<StackPlan> {
  const { stack, directory, started, init } = stackRun;
  if (!init || init.code !== 0) {
    return { stack, ok: false, summary: `terraform init failed (exit ${init?.code})`, output: init?.output ?? '', durationMs: Date.now() - started };
  }
  // No state exists offline, so refreshing has nothing to read; -lock=false: local scratch state.
  const plan = await run(terraformBinary(), ['plan', '-input=false', '-lock=false', '-refresh=false', ...colorFlag], directory, env);
  const summary = plan.output.match(/Plan: .*|No changes\..*/)?.[0] ?? `terraform plan failed (exit ${plan.code})`;
  return { stack, ok: plan.code === 0, summary, output: plan.output, durationMs: Date.now() - started };
}

/** Runs `work` over `items` with at most `limit` at a time, keeping the input order in the result. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** Plans every stack of one environment offline; returns one result per stack. */
export async function planEnvironmentOffline(options: OfflinePlanOptions): Promise<StackPlan[]> {
  const { environmentName, projectRoot, parallelism = 2, color = false, print = (text: string) => process.stdout.write(text) } = options;
  const environment = loadInfraEnvironment(environmentName);
  const mirror = findProviderMirror();

  const workDirectory = join(projectRoot, '.rds-cutover', 'plan', environmentName);
  rmSync(workDirectory, { recursive: true, force: true });
  const outdir = join(workDirectory, 'cdktf.out');
  mkdirSync(outdir, { recursive: true });
  const app = new App({ outdir });
  const { all } = addEnvironmentStacks(app, environment, { projectRoot, offlineStateDirectory: join(workDirectory, 'state') });
  app.synth();

  const names = all.map((stack) => stack.node.id);
  const unknown = (options.stackNames ?? []).filter((name) => !names.includes(name));
  if (unknown.length > 0) {
    throw new Error(`--stack: received ${unknown.map((name) => `"${name}"`).join(', ')}; expected one of ${names.map((name) => `"${name}"`).join(', ')}`);
  }
  const selected = options.stackNames && options.stackNames.length > 0 ? names.filter((name) => options.stackNames!.includes(name)) : names;

  const terraformDirectory = join(projectRoot, '.rds-cutover', 'terraform');
  mkdirSync(terraformDirectory, { recursive: true });
  const env = offlineTerraformEnvironment(writeTerraformCliConfig(terraformDirectory, mirror));
  const colorFlag = color ? [] : ['-no-color'];
  const runs: StackRun[] = selected.map((stack) => ({ stack, directory: join(outdir, 'stacks', stack), started: Date.now() }));
  // One init at a time: concurrent inits race on the shared plugin cache (cdktf does the same).
  for (const stackRun of runs) await initStack(stackRun, env, colorFlag);
  const plans = await mapLimited(runs, parallelism, (stackRun) => planStack(stackRun, env, colorFlag));
  for (const plan of plans) {
    print(`\n=== ${plan.stack} (${(plan.durationMs / 1000).toFixed(1)} s) ===\n${plan.output}`);
  }
  return plans;
}
