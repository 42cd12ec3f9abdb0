/**
 * One snapshot per stack and environment: any change to what `cdktf deploy` would do shows
 * up as a reviewed snapshot diff (`npx jest test/stacks -u` after checking it).
 */
import { INFRA_ENVIRONMENT_NAMES } from '../../config/infra';
import { synthesizeExample } from './helpers';

describe.each(INFRA_ENVIRONMENT_NAMES.map((name) => [name]))('environment %s', (name) => {
  const { json } = synthesizeExample(name);

  test.each(Object.keys(json).map((stack) => [stack]))('%s matches its snapshot', (stack) => {
    expect(JSON.parse(json[stack])).toMatchSnapshot();
  });
});
