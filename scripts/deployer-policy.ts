/**
 * The deploying role's IAM policy, generated from what the environment's stacks synthesize
 * (stacks/deployer-policy.ts):
 *
 *   npm run deployer-policy -- --env prod [--out deployer-policy.json]
 *
 * Attach it to the role `cdktf deploy` runs as (docs/DEPLOY.md, step 0).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { INFRA_ENVIRONMENT_NAMES, loadInfraEnvironment } from '../config/infra';
import { environmentDeployerPolicy } from '../stacks/deployer-policy';

const usage = `usage: npm run deployer-policy -- --env <${INFRA_ENVIRONMENT_NAMES.join('|')}> [--out FILE]`;

function main(): number {
  const { values } = parseArgs({ options: { env: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.env || !(INFRA_ENVIRONMENT_NAMES as readonly string[]).includes(values.env)) {
    console.error(`--env: ${values.env ? `unknown environment "${values.env}"` : 'missing'}; expected one of ${INFRA_ENVIRONMENT_NAMES.join(', ')}\n${usage}`);
    return 2;
  }
  const text = `${JSON.stringify(environmentDeployerPolicy(loadInfraEnvironment(values.env)), null, 2)}\n`;
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
  return 0;
}

process.exitCode = main();
