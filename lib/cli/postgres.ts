import type { FlowRunnerInput } from './cutover';
import { UsageError } from './cutover';

/** PostgreSQL flows (issue 3). Not built yet: says so instead of pretending. */
export async function runPostgres(_input: FlowRunnerInput): Promise<number> {
  throw new UsageError('--engine postgres is not available in this version yet. Use --engine mysql.');
}
