import { runCutoverCli, EXIT } from '../../lib/cli/cutover';
import { parseEnvironment } from '../../config/cutover';
import { silentLogger, type Logger } from '../../lib/util/log';

async function cli(argv: string[]): Promise<{ code: number; out: string[]; errors: string[] }> {
  const out: string[] = [];
  const errors: string[] = [];
  const log: Logger = { ...silentLogger, error: (m) => errors.push(m) };
  const code = await runCutoverCli(argv, { out: (line) => out.push(line), log });
  return { code, out, errors };
}

describe('cutover --engine postgres', () => {
  test('without --execute it prints the plan of the chosen method and starts nothing', async () => {
    const { code, out } = await cli(['--env', 'local', '--engine', 'postgres', '--method', 'dump']);
    expect(code).toBe(EXIT.ok);
    expect(out[0]).toBe('Flow postgres.dump');
    expect(out).toContain('Dry run: nothing was started or changed. The local sandbox (and its preconditions) exist only while a rehearsal runs:');
  });

  test('the plan of an upgrade states the version rule that preflight enforces', async () => {
    const { out } = await cli(['--env', 'local', '--engine', 'postgres', '--target-version', '17']);
    expect(out.join('\n')).toContain("target version 17 must not be older than the source's");
  });
});

describe('postgres environment settings', () => {
  const base = { name: 'x', platform: 'local' };

  test('defaults fill the names and copy settings', () => {
    const environment = parseEnvironment({ ...base, postgres: { databases: ['app'], appUsers: ['app'] } }, 'test');
    expect(environment.postgres).toMatchObject({ replicationUser: 'cutover_repl', workflow: 'cutover', copyJobs: 2, lagThresholdMs: 1000, switchTimeoutMs: 10000 });
  });

  test('more than one database is refused with the way out', () => {
    expect(() => parseEnvironment({ ...base, postgres: { databases: ['a', 'b'], appUsers: ['app'] } }, 'config/cutover/x.ts')).toThrow(
      /postgres\.databases: one database per run \(logical replication is per database\): list one and run the cutover once per database; received \["a","b"\]/,
    );
  });

  test('a workflow name that would break replication commands is refused', () => {
    expect(() => parseEnvironment({ ...base, postgres: { databases: ['app'], appUsers: ['app'], workflow: 'Cut-Over' } }, 'test')).toThrow(/postgres\.workflow: expected a lower-case identifier/);
  });
});
