/**
 * Constructor-time checks in the spirit of aws-cdk-lib: the message names the construct,
 * the property, the value received and what was expected, and is raised at synth time.
 */
import type { Construct } from 'constructs';

export class InvalidPropsError extends Error {
  constructor(scope: Construct, property: string, received: unknown, expected: string) {
    super(`${scope.node.path}: ${property}: received ${JSON.stringify(received) ?? 'nothing'}; expected ${expected}`);
    this.name = 'InvalidPropsError';
  }
}

/** Throws InvalidPropsError unless `condition` holds. */
export function check(condition: boolean, scope: Construct, property: string, received: unknown, expected: string): void {
  if (!condition) throw new InvalidPropsError(scope, property, received, expected);
}

export const ACCOUNT_ID = /^\d{12}$/;
