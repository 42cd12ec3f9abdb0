/**
 * The target-account stack (aws.targetAccount of the MySQL flow, seed 004): the target's own key
 * and the role the source account assumes, asserted on the synthesized Terraform.
 */
import { KEY_GRANT_ACTIONS, KEY_USE_ACTIONS } from '../../stacks/constructs/customer-managed-key';
import { TARGET_ROLE_RDS_ACTIONS } from '../../stacks/target-account-stack';
import { outputName } from '../../lib/infra/outputs';
import { asList, exampleWith, reference, synthesize, synthesizedOf, statements, type Statement } from './helpers';

const SHARE_KEY = 'arn:aws:kms:eu-west-1:111111111111:key/0000aaaa-1111-2222-3333-444455556666';
const OPERATOR = 'arn:aws:iam::111111111111:role/rds-cutover-operator';
const targetSection = { sourceAccountId: '111111111111', assumerArns: [OPERATOR], shareKeyArn: SHARE_KEY, externalId: 'orders-move-2026' };

// stg's account (222222222222) receives prod's (111111111111) database.
const stg = synthesize(exampleWith('stg', (input) => (input.targetAccount = targetSection)));
const stack = stg.stacks.targetAccount!;
const bySid = (list: Statement[], sid: string) => list.find((s) => s.Sid === sid)!;

describe('target-account stack', () => {
  test('GIVEN an environment with a targetAccount section THEN the stack exists and exports the key and the role for the scripts (targetAccountKeyArn, targetAccountRoleArn)', () => {
    expect(stack.node.id).toBe('rds-cutover-stg-target-account');
    const json = JSON.parse(stg.json['rds-cutover-stg-target-account']) as { output: Record<string, { value: string }> };
    expect(json.output[outputName('targetAccount', 'keyArn')].value).toBe(reference(stack.key.key, 'arn'));
    expect(json.output[outputName('targetAccount', 'roleArn')].value).toBe(reference(stack.role, 'arn'));
  });

  test('the role is assumable only by the named source-account principals, with the external id', () => {
    const trust = statements(synthesizedOf(stack.role).assume_role_policy);
    expect(trust).toEqual([{ Sid: 'SourceAccountOperators', Effect: 'Allow', Principal: { AWS: [OPERATOR] }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'sts:ExternalId': 'orders-move-2026' } } }]);
    expect(synthesizedOf(stack.role).name).toBe('rds-cutover-target');
  });

  test('the role uses the target key and the source account share key through RDS only, creates grants only for AWS resources, and has no RDS delete of instances or clusters', () => {
    const policy = statements(synthesizedOf(stack.node.findChild('role-policy') as never).policy);
    const keys = [reference(stack.key.key, 'arn'), SHARE_KEY];
    expect(bySid(policy, 'UseKeysThroughRds')).toEqual({ Sid: 'UseKeysThroughRds', Effect: 'Allow', Action: [...KEY_USE_ACTIONS], Resource: keys, Condition: { StringEquals: { 'kms:ViaService': 'rds.eu-west-1.amazonaws.com' } } });
    expect(bySid(policy, 'GrantsForRds')).toEqual({
      Sid: 'GrantsForRds',
      Effect: 'Allow',
      Action: [...KEY_GRANT_ACTIONS],
      Resource: keys,
      Condition: { StringEquals: { 'kms:ViaService': 'rds.eu-west-1.amazonaws.com' }, Bool: { 'kms:GrantIsForAWSResource': true } },
    });
    const actions = policy.flatMap((s) => asList(s.Action as string | string[]));
    expect(actions).toEqual(expect.arrayContaining([...TARGET_ROLE_RDS_ACTIONS]));
    expect(actions.filter((a) => a.includes('*') && !a.startsWith('kms:'))).toEqual([]);
    expect(actions.filter((a) => /^rds:Delete(DBInstance|DBCluster)$/.test(a) || a.startsWith('iam:') || a === 'kms:PutKeyPolicy')).toEqual([]);
    expect(policy.every((s) => s.Effect === 'Allow')).toBe(true);
  });

  test("the target key is the usual customer-managed key: rotation on, used by the account only through RDS, administered by the environment's administrators", () => {
    const key = synthesizedOf(stack.key.key);
    expect(key.enable_key_rotation).toBe(true);
    const policy = statements(key.policy);
    expect(bySid(policy, 'UseThroughServices').Condition).toEqual({ StringEquals: { 'kms:ViaService': ['rds.eu-west-1.amazonaws.com'], 'kms:CallerAccount': '222222222222' } });
    expect(bySid(policy, 'KeyAdministration').Principal).toEqual({ AWS: stg.environment.keyAdministratorArns });
  });

  test.each([
    ['the own account as source', (s: Record<string, unknown>) => (s.sourceAccountId = '222222222222'), 'targetAccount.sourceAccountId'],
    ['an assumer from a third account', (s: Record<string, unknown>) => (s.assumerArns = ['arn:aws:iam::333333333333:role/x']), 'targetAccount.assumerArns.0'],
    ['a share key of another account', (s: Record<string, unknown>) => (s.shareKeyArn = SHARE_KEY.replace('111111111111', '333333333333')), 'targetAccount.shareKeyArn'],
  ])('GIVEN %s THEN config validation refuses it naming the field', (_name, change, field) => {
    expect(() => exampleWith('stg', (input) => ((input.targetAccount = { ...targetSection }), change(input.targetAccount)))).toThrow(field);
  });

  test('GIVEN an environment without a targetAccount section THEN no target-account stack is made', () => {
    expect(synthesize(exampleWith('stg', () => undefined)).stacks.targetAccount).toBeUndefined();
  });
});
