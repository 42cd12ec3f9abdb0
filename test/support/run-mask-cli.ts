/**
 * `npm run mask` (lib/masking/cli.ts main) in a child process, against environments the test
 * describes (MASKING_TEST_ENVIRONMENTS, JSON; secrets by env var name as in
 * config/masking/environments.ts), for tests that signal the run: `node --require tsx/cjs
 * run-mask-cli.ts --env NAME …`.
 */
import { main } from '../../lib/masking/cli';

main(process.argv.slice(2), undefined, JSON.parse(process.env.MASKING_TEST_ENVIRONMENTS ?? '{}') as Record<string, unknown>).then((code) => {
  process.exitCode = code;
});
