/**
 * The deploying role's policy is generated from the stacks (issue 15): every resource type any
 * example environment synthesizes has its statement, the state backend is covered (bucket
 * prefix; the DynamoDB lock table when configured), and a type the table does not know stops
 * generation naming the file to extend.
 */
import { loadInfraEnvironments, parseInfraEnvironment } from '../../config/infra';
import { prod } from '../../config/infra/prod';
import { DEPLOYER_ACTIONS, deployerPolicy, synthesizedTypes } from '../../stacks/deployer-policy';

jest.setTimeout(120_000);

describe('deployer policy from the synthesized stacks', () => {
  const environments = loadInfraEnvironments();
  const typesByEnvironment = Object.fromEntries(environments.map((environment) => [environment.name, Object.values(synthesizedTypes(environment)).flat()]));

  test('GIVEN every example environment THEN each resource type its stacks synthesize has actions in DEPLOYER_ACTIONS (a new type fails here, by name)', () => {
    const all = [...new Set(Object.values(typesByEnvironment).flat())].sort();
    expect(all.length).toBeGreaterThan(20);
    expect(all.filter((type) => !(type in DEPLOYER_ACTIONS))).toEqual([]);
  });

  test('GIVEN prod before its cutover run (restoredByCutover "pending": no instance declared yet) THEN the policy already covers aws_db_instance, which the deploy after the run imports and manages', () => {
    expect(prod.database?.restoredByCutover).toBe('pending');
    expect(typesByEnvironment.prod).toContain('aws_db_instance');
  });

  test('the generated document has one statement per synthesized type, each listing that type\'s actions, plus the provider identity and the state backend', () => {
    for (const environment of environments) {
      const types = [...new Set(typesByEnvironment[environment.name])];
      const policy = deployerPolicy(environment, types);
      const sids = policy.Statement.map((statement) => statement.Sid);
      expect(new Set(sids).size).toBe(sids.length);
      expect(policy.Statement.length).toBe(types.length + 1 + (environment.backend.type === 's3' ? 2 : 0) + (environment.backend.type === 's3' && environment.backend.locking.type === 'dynamodb' ? 1 : 0));
      const actions = new Set(policy.Statement.flatMap((statement) => statement.Action));
      for (const type of types) for (const action of DEPLOYER_ACTIONS[type]) expect(actions).toContain(action);
      expect(actions).toContain('sts:GetCallerIdentity');
      for (const action of actions) expect(action).toMatch(/^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$/); // no wildcards
    }
  });

  test('the state backend: the bucket\'s own prefix only; the DynamoDB lock table when locking is dynamodb', () => {
    const lockfile = deployerPolicy(parseInfraEnvironment(prod, 'prod'), ['aws_kms_key']);
    expect(lockfile.Statement.find((s) => s.Sid === 'StateObjects')!.Resource).toBe('arn:aws:s3:::example-prod-terraform-state/rds-cutover/prod/*');
    expect(lockfile.Statement.find((s) => s.Sid === 'StateLockTable')).toBeUndefined();
    const withTable = parseInfraEnvironment({ ...prod, backend: { ...prod.backend, locking: { type: 'dynamodb', table: 'terraform-locks' } } } as typeof prod, 'prod');
    expect(deployerPolicy(withTable, ['aws_kms_key']).Statement.find((s) => s.Sid === 'StateLockTable')).toMatchObject({ Action: expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem']), Resource: 'arn:aws:dynamodb:eu-west-1:111111111111:table/terraform-locks' });
  });

  test('a resource type the table does not know stops generation, naming it and the file', () => {
    expect(() => deployerPolicy(environments[0], ['aws_lambda_function'])).toThrow(/stacks\/deployer-policy\.ts has no actions for aws_lambda_function/);
  });
});
