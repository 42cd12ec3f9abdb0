/**
 * Declaring the stacks' outputs. Their names, schema and reader are runtime data and live in
 * lib/infra/outputs.ts, so that the scripts read them without loading cdktf.
 */
import { OUTPUT_GROUPS, outputName, type OutputGroup } from '../lib/infra/outputs';
import { TerraformOutput, type Construct } from './aws';

/** A literal or token, a list, or an object of them (Terraform outputs any value). */
type OutputValue = string | number | boolean | readonly string[] | { readonly [key: string]: OutputValue };

/**
 * Declares the outputs of one group on `stack`. Values are Terraform tokens or literals;
 * `undefined` leaves an optional output out.
 */
export function exportOutputs<G extends OutputGroup>(
  stack: Construct,
  group: G,
  values: { readonly [K in keyof (typeof OUTPUT_GROUPS)[G]['keys']]: OutputValue | undefined },
): void {
  for (const [key, value] of Object.entries(values) as [string, OutputValue | undefined][]) {
    if (value === undefined) continue;
    new TerraformOutput(stack, outputName(group, key), { value, description: `${group}.${key} for the cutover scripts` });
  }
}
