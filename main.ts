/**
 * The CDKTF app: one set of stacks per infrastructure environment (config/infra/).
 * `npm run synth` / `cdktf synth` run this file; it only wires.
 */
import { loadInfraEnvironments } from './config/infra';
import { App } from './stacks/aws';
import { addEnvironmentStacks } from './stacks/app';

const app = new App();
const stackNames = loadInfraEnvironments().flatMap((environment) =>
  addEnvironmentStacks(app, environment, { projectRoot: __dirname }).all.map((stack) => stack.node.id),
);
app.synth();
console.log(`Synthesized ${stackNames.length} stacks into ${app.outdir}/stacks: ${stackNames.join(', ')}`);
