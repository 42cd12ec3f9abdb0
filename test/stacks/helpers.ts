/** Shared set-up of the stack tests: synthesize one environment's stacks in memory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupJest } from 'cdktf/lib/testing/adapters/jest';
import { loadInfraEnvironment, parseInfraEnvironment, type InfraEnvironment, type InfraEnvironmentInput } from '../../config/infra';
import { dev } from '../../config/infra/dev';
import { prod } from '../../config/infra/prod';
import { stg } from '../../config/infra/stg';
import { addEnvironmentStacks, type EnvironmentStacks } from '../../stacks/app';
import { Testing, TerraformStack, type App, type TerraformResource } from '../../stacks/aws';

setupJest();

/** One scratch output directory per test file (Testing.app() would leave one per call). */
const scratchOutdir = mkdtempSync(join(tmpdir(), 'rds-cutover-stacks-test-'));
afterAll(() => rmSync(scratchOutdir, { recursive: true, force: true }));

export function testApp(): App {
  return Testing.app({ outdir: scratchOutdir });
}

/** A fixed project root, so local state paths in snapshots do not depend on the checkout. */
export const PROJECT_ROOT = '/project';

export const EXAMPLE_INPUTS: Readonly<Record<string, InfraEnvironmentInput>> = { prod, stg, dev };

export interface SynthesizedEnvironment {
  readonly environment: InfraEnvironment;
  readonly stacks: EnvironmentStacks;
  /** `Testing.synth` output of each stack, by stack name. */
  readonly json: Record<string, string>;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function synthesize(environment: InfraEnvironment, options: { offlineStateDirectory?: string } = {}): SynthesizedEnvironment {
  const stacks = addEnvironmentStacks(testApp(), environment, { projectRoot: PROJECT_ROOT, ...options });
  const json = Object.fromEntries(stacks.all.map((stack) => [stack.node.id, Testing.synth(stack)]));
  return { environment, stacks, json };
}

export function synthesizeExample(name: string): SynthesizedEnvironment {
  return synthesize(loadInfraEnvironment(name));
}

/** Parses an example environment with `change` applied to a deep copy of its input. */
export function exampleWith(name: string, change: (input: Json) => void): InfraEnvironment {
  const input = structuredClone(EXAMPLE_INPUTS[name]) as Json;
  change(input);
  return parseInfraEnvironment(input, `test:${name}`);
}

const synthesized = new WeakMap<TerraformStack, Json>();

function stackJson(stack: TerraformStack): Json {
  let json = synthesized.get(stack);
  if (!json) {
    json = JSON.parse(Testing.synth(stack)) as Json;
    synthesized.set(stack, json);
  }
  return json;
}

/** The resources of one type in a synthesized stack, by logical id. */
export function resources(stackJson: string, type: string): Record<string, Json> {
  return (JSON.parse(stackJson).resource?.[type] ?? {}) as Record<string, Json>;
}

/** The synthesized configuration of one resource (snake_case keys, tokens as `${...}`). */
export function synthesizedOf(element: TerraformResource): Json {
  const stack = TerraformStack.of(element);
  const found = stackJson(stack).resource?.[element.terraformResourceType]?.[stack.getLogicalId(element)];
  if (!found) throw new Error(`${element.node.path} is not in the synthesized stack`);
  return found as Json;
}

/** The Terraform expression for an attribute, e.g. "${aws_kms_key.storage-key_1234ABCD.arn}". */
export function reference(element: TerraformResource, attribute: string): string {
  return `\${${element.terraformResourceType}.${TerraformStack.of(element).getLogicalId(element)}.${attribute}}`;
}

export interface Statement {
  Sid: string;
  Effect: string;
  Principal?: '*' | { AWS?: string | string[]; Service?: string | string[] };
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

export function statements(policy: string): Statement[] {
  return (JSON.parse(policy) as { Statement: Statement[] }).Statement;
}

export const asList = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
