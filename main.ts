/**
 * The CDKTF app: one set of stacks per infrastructure environment (config/infra/).
 * `npm run synth` / `cdktf synth` run this file; it only wires.
 */
import { loadInfraEnvironments } from './config/infra';
import { App } from './stacks/aws';
import { addEnvironmentStacks } from './stacks/app';

const app = new App();
for (const environment of loadInfraEnvironments()) {
  addEnvironmentStacks(app, environment, { projectRoot: __dirname });
}
app.synth();
