/**
 * `--env aws-emulated` offers --load-rate and --load-connections (its harness runs the write
 * load): they reach the harness's load, and the AWS runner it calls is not handed them (it
 * refuses rehearsal options, as for a real AWS environment: the emulator used to start and the
 * run then stopped with "rehearsal options: use them with --env local"). What the emulated
 * rehearsal cannot take is refused before anything starts.
 */
import { loadEnvironment } from '../../config/cutover';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { awsRunnerArgs } from '../../lib/cli/aws-emulated';
import { checkEmulatedArgs, checkRunArgs, rehearsalLoad } from '../../lib/cli/settings';

describe('--env aws-emulated and the load flags', () => {
  const argv = ['--env', 'aws-emulated', '--execute', '--load-rate', '40', '--load-connections', '3'];

  test('GIVEN --load-rate and --load-connections WHEN the emulated rehearsal starts THEN its load uses them and the AWS runner it calls accepts its arguments', () => {
    const args = parseCutoverArgs(argv);
    expect(() => checkEmulatedArgs(args)).not.toThrow();
    expect(rehearsalLoad(loadEnvironment('local'), args)).toMatchObject({ ratePerSecond: 40, connections: 3 });
    // The emulated world's environment is an AWS one (platform aws), like prod.
    const awsEnvironment = { ...loadEnvironment('prod'), name: 'aws-emulated' };
    expect(() => checkRunArgs(awsEnvironment, args)).toThrow(/rehearsal options/); // what the runner used to get
    expect(() => checkRunArgs(awsEnvironment, awsRunnerArgs(args, awsEnvironment.name))).not.toThrow();
    expect(awsRunnerArgs(args, 'aws-emulated')).toMatchObject({ env: 'aws-emulated', execute: true, loadRate: undefined, loadConnections: undefined });
  });

  test('GIVEN --keep-sandbox WHEN the emulated rehearsal is asked for THEN it is refused before the emulator starts, naming what it takes', () => {
    expect(() => checkEmulatedArgs(parseCutoverArgs([...argv, '--keep-sandbox']))).toThrow(/--env aws-emulated takes --report, --load-rate, --load-connections.*not .*--keep-sandbox/);
  });
});
