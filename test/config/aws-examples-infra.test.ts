import { environmentNames, loadEnvironment } from '../../config/cutover';
import { INFRA_ENVIRONMENT_NAMES, loadInfraEnvironment } from '../../config/infra';
import { environmentOutputsFile } from '../../lib/infra/outputs';

/**
 * RULE: an AWS example environment reads the stacks of exactly one infrastructure environment:
 * its outputs file is that environment's (`outputs-<infra>.json`), and it acts in that
 * environment's account and region. `prod-pg` is the PostgreSQL example and its target cluster
 * (`billing-pg16`) is declared by the `stg` example stacks: it names `stg` for all three, never a
 * mix (a cutover config reading one account's outputs while acting in another would fence,
 * tag and switch with the wrong ids). Found by this test: without `aws.outputsFile`, prod-share
 * (infraEnvironment prod) looked for outputs-prod-share.json, a file `cdktf output` never writes.
 */
test('every AWS example environment uses one infrastructure environment for outputs file, account and region', () => {
  const checked = environmentNames()
    .map(loadEnvironment)
    .filter((environment) => environment.platform === 'aws' && (INFRA_ENVIRONMENT_NAMES as readonly string[]).includes(environment.aws!.infraEnvironment ?? environment.name))
    .map((environment) => {
      const aws = environment.aws!;
      const infra = loadInfraEnvironment(aws.infraEnvironment ?? environment.name);
      const account = aws.assumeRole ? /^arn:aws:iam::(\d{12}):/.exec(aws.assumeRole.roleArn)?.[1] : infra.accountId;
      expect({ name: environment.name, outputsFile: environmentOutputsFile(aws, environment.name), account, region: aws.region }).toEqual({
        name: environment.name,
        outputsFile: `.rds-cutover/outputs-${infra.name}.json`,
        account: infra.accountId,
        region: infra.region,
      });
      return `${environment.name} -> ${infra.name}`;
    });
  expect(checked).toEqual(expect.arrayContaining(['prod -> prod', 'prod-aurora -> prod', 'prod-pg -> stg']));
});
