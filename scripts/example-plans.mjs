#!/usr/bin/env zx
// Rewrites the committed example plans in docs/plans/ with the real CLI (dry runs that send
// nothing). Thin on purpose: the list and the runner are lib/plan/example-plans.ts.
//   npm run plans:examples
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const require = createRequire(import.meta.url);
const { EXAMPLE_PLANS, producePlan } = require('../lib/plan/example-plans.ts');
const { PROJECT_ROOT } = require('../lib/util/project-root.ts');

let failed = 0;
for (const plan of EXAMPLE_PLANS) {
  const { code } = await producePlan(plan, PROJECT_ROOT);
  console.log(`${code === 0 ? 'wrote ' : `FAILED (exit ${code})`} ${plan.file}`);
  if (code !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
