/**
 * Offline `terraform plan` of one environment's stacks, with no AWS access and no registry:
 *
 *   npm run plan -- --env dev [--stack rds-cutover-dev-cutover] [--parallelism 2]
 *
 * The provider comes from a local mirror ($RDS_CUTOVER_TF_PLUGIN_MIRROR, else auto-detected).
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { INFRA_ENVIRONMENT_NAMES } from '../config/infra';
import { planEnvironmentOffline } from '../stacks/terraform/offline-plan';

const usage = `usage: npm run plan -- --env <${INFRA_ENVIRONMENT_NAMES.join('|')}> [--stack NAME]... [--parallelism N]`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string' },
      stack: { type: 'string', multiple: true },
      parallelism: { type: 'string', default: '2' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.env) {
    console.error(`--env: missing; expected one of ${INFRA_ENVIRONMENT_NAMES.map((name) => `"${name}"`).join(', ')}\n${usage}`);
    return 2;
  }
  const parallelism = Number(values.parallelism);
  if (!Number.isInteger(parallelism) || parallelism < 1) {
    console.error(`--parallelism: received ${JSON.stringify(values.parallelism)}; expected a whole number of at least 1`);
    return 2;
  }

  const started = Date.now();
  const plans = await planEnvironmentOffline({
    environmentName: values.env,
    projectRoot: join(__dirname, '..'),
    stackNames: values.stack,
    parallelism,
    color: process.stdout.isTTY === true,
  });
  console.log(`\nOffline plan of "${values.env}" (${((Date.now() - started) / 1000).toFixed(1)} s):`);
  for (const plan of plans) console.log(`  ${plan.ok ? 'ok    ' : 'FAILED'} ${plan.stack}: ${plan.summary}`);
  return plans.every((plan) => plan.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.message);
    process.exit(2);
  },
);
