/**
 * `npm run rehearse -- --env aws-emulated --engine postgres --method dump`: the rehearsal's own
 * path (rehearseAwsEmulatedPostgres: moto, the local PostgreSQL servers, the built-in write load,
 * runAwsPostgres with the emulated clients, the writes added to the report, everything stopped)
 * with the dump method (freeze by parameter group, copy of the frozen source, switch).
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, parseCutoverArgs } from '../../../lib/cli/cutover';
import { runAwsPostgres } from '../../../lib/cli/aws-postgres';
import { emulatedClients } from '../../../lib/rehearsal/aws-emulated/readiness';
import { rehearseAwsEmulatedPostgres } from '../../../lib/rehearsal/aws-emulated/rehearse-postgres';
import { recordingLogger } from './helpers';
import { describeWithMoto, PROJECT_ROOT as projectRoot } from '../../support/emulated-world';

describeWithMoto('the emulated AWS PostgreSQL rehearsal test')('npm run rehearse -- --env aws-emulated --engine postgres (moto, local PostgreSQL servers)', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'rds-cutover-emulated-pg-rehearse-'));

  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  test('GIVEN the built-in write load WHEN the dump method is rehearsed through the AWS code path THEN it ends SUCCESS (exit 0) with equal checksums and the report carries the writes with 0 lost', async () => {
    const log = recordingLogger();
    const lines: string[] = [];
    const out = (line: string) => lines.push(line);
    const reportFile = join(stateDir, 'report.json');
    const args = parseCutoverArgs(['--env', 'aws-emulated', '--engine', 'postgres', '--method', 'dump', '--execute', '--report', reportFile]);
    const code = await rehearseAwsEmulatedPostgres({
      projectRoot,
      stateDir,
      log,
      out,
      method: 'dump',
      load: { connections: 4, ratePerSecond: 200, tailMs: 1000 },
      reportFile,
      runAwsPostgres: (environment) => runAwsPostgres({ environment, args, stateDir, log, out }, { createClients: (env, options) => emulatedClients(env.aws!, options) }),
    });
    expect({ code, tail: [...lines.slice(-20), ...log.lines.filter((l) => !l.startsWith('debug')).slice(-20)].join('\n') }).toMatchObject({ code: EXIT.ok });
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { result: string; flow: string; checksums: { match: boolean; tables: unknown[] }; writes: { acknowledged: number; lost: number } };
    expect(report).toMatchObject({ result: 'success', flow: 'postgres.dump', checksums: { match: true } });
    expect(report.checksums.tables).toHaveLength(4);
    expect(report.writes.acknowledged).toBeGreaterThan(0);
    expect(report.writes.lost).toBe(0);
    expect(lines.find((l) => l.startsWith('writes (built-in load through the application endpoint)'))).toMatch(/, 0 lost$/);
    expect(lines.some((l) => l.startsWith('emulated data plane problems'))).toBe(false);
  });
});
