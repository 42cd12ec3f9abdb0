import type { FlowRunnerInput } from './cutover';
import { UsageError } from './cutover';

/** The AWS platform (issue 5). Not built yet: says so instead of pretending. */
export async function runAws(input: FlowRunnerInput): Promise<number> {
  throw new UsageError(`Environment ${input.environment.name} targets AWS; the AWS platform is not available in this version yet. Rehearse with --env local.`);
}
