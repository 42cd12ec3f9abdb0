import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { environmentSchema, describeIssues, type CutoverEnvironment } from './schema';

export type { CutoverEnvironment } from './schema';

const HERE = __dirname;

/** `--env NAME` names no file in config/cutover/ (the command line adds a suggestion). */
export class EnvironmentNotFound extends Error {
  constructor(readonly environment: string, readonly known: string[], message: string) {
    super(message);
  }
}

/** An environment file that does not pass the schema (every bad field listed). */
export class InvalidEnvironment extends Error {}

export function environmentNames(): string[] {
  return readdirSync(HERE)
    .filter((file) => file.endsWith('.ts') && !['index.ts', 'schema.ts'].includes(file))
    .map((file) => file.replace(/\.ts$/, ''))
    .sort();
}

/** Validate an environment object; throws one error listing every bad field. */
export function parseEnvironment(input: unknown, source: string): CutoverEnvironment {
  const parsed = environmentSchema.safeParse(input);
  if (!parsed.success) {
    throw new InvalidEnvironment(`Invalid cutover environment in ${source}:\n${describeIssues(parsed.error, input).map((line) => `  - ${line}`).join('\n')}\nFix ${source} and run again; nothing was changed.`);
  }
  return parsed.data;
}

/** Load `config/cutover/<name>.ts`, validated. */
export function loadEnvironment(name: string): CutoverEnvironment {
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) throw new EnvironmentNotFound(name, environmentNames(), `Invalid --env "${name}": expected one of ${environmentNames().join(', ')}`);
  const file = join(HERE, `${name}.ts`);
  if (!existsSync(file)) throw new EnvironmentNotFound(name, environmentNames(), `Unknown environment "${name}": expected --env one of ${environmentNames().join(', ')} (files in config/cutover/)`);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  let module: { default?: unknown };
  try {
    module = require(file) as { default?: unknown };
  } catch (error) {
    // A file that does not even compile is bad configuration too (exit 2), not a crash (exit 1).
    const detail = (error instanceof Error ? error.message : String(error)).split('\n').filter((line) => line.trim() !== '').slice(0, 3).join(' ');
    throw new InvalidEnvironment(`config/cutover/${name}.ts does not load: ${detail}\nFix config/cutover/${name}.ts and run again; nothing was changed.`);
  }
  const environment = parseEnvironment(module.default, `config/cutover/${name}.ts`);
  if (environment.name !== name) throw new InvalidEnvironment(`config/cutover/${name}.ts: name is "${environment.name}" but the file is ${name}.ts; make them agree`);
  return environment;
}
