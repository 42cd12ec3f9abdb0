/**
 * The infrastructure environments, validated on load. Add an environment by writing
 * `config/infra/<name>.ts` and listing it here.
 */
import { dev } from './dev';
import { prod } from './prod';
import { InfraConfigError, parseInfraEnvironment, type InfraEnvironment, type InfraEnvironmentInput } from './schema';
import { stg } from './stg';

export * from './schema';

const sources: Readonly<Record<string, InfraEnvironmentInput>> = { prod, stg, dev };

export const INFRA_ENVIRONMENT_NAMES: readonly string[] = Object.keys(sources);

/**
 * Loads and validates one environment.
 * @throws InfraConfigError for an unknown name (listing the known ones) or an invalid file
 */
export function loadInfraEnvironment(name: string): InfraEnvironment {
  const raw = sources[name];
  if (raw === undefined) {
    throw new InfraConfigError('--env', [
      `received ${JSON.stringify(name)}; expected one of ${INFRA_ENVIRONMENT_NAMES.map((known) => `"${known}"`).join(', ')} (environments live in config/infra/)`,
    ]);
  }
  const environment = parseInfraEnvironment(raw, `config/infra/${name}.ts`);
  if (environment.name !== name) {
    throw new InfraConfigError(`config/infra/${name}.ts`, [
      `name: received ${JSON.stringify(environment.name)}; expected "${name}" (the file name and the name field must agree)`,
    ]);
  }
  return environment;
}

/** Loads and validates every environment; fails on the first invalid one. */
export function loadInfraEnvironments(): InfraEnvironment[] {
  return INFRA_ENVIRONMENT_NAMES.map(loadInfraEnvironment);
}
