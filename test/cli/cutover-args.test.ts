import { parseCutoverArgs, runCutoverCli, statusLines, EXIT } from '../../lib/cli/cutover';
import { silentLogger } from '../../lib/util/log';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRunbook } from '../../lib/runbook/engine';
import type { Runbook } from '../../lib/runbook/step';

describe('cutover command line', () => {
  test('dry-run is the default; --execute must be explicit', () => {
    expect(parseCutoverArgs(['--env', 'local']).execute).toBe(false);
    expect(parseCutoverArgs(['--env', 'local', '--execute']).execute).toBe(true);
  });

  test('options are parsed into typed values', () => {
    const args = parseCutoverArgs(['--env', 'local', '--switch-timeout', '2500', '--hook', 'before-switch=true', '--hook', 'success=echo ok', '--fault', 'replication-stall', '--report', 'r.json']);
    expect(args).toMatchObject({ switchTimeoutMs: 2500, hooks: ['before-switch=true', 'success=echo ok'], fault: 'replication-stall', report: 'r.json' });
    expect(parseCutoverArgs(['status', '20261122-010203-abcdef'])).toMatchObject({ command: 'status', statusRunId: '20261122-010203-abcdef' });
  });

  test('switch-back and complete take the cutover run id; dry run by default; --delete-old only with complete', () => {
    expect(parseCutoverArgs(['switch-back', 'r1'])).toMatchObject({ command: 'switch-back', forwardRunId: 'r1', execute: false });
    expect(parseCutoverArgs(['switch-back', 'r1', '--execute', '--resume', 'r2'])).toMatchObject({ command: 'switch-back', forwardRunId: 'r1', execute: true, resume: 'r2' });
    expect(parseCutoverArgs(['complete', 'r1', '--execute'])).toMatchObject({ command: 'complete', deleteOld: false });
    expect(parseCutoverArgs(['complete', 'r1', '--execute', '--delete-old'])).toMatchObject({ command: 'complete', deleteOld: true });
    // complete is resumed from its journal like switch-back (a kill after DeleteDBInstance must not reconnect to the deleted source).
    expect(parseCutoverArgs(['complete', 'r1', '--execute', '--delete-old', '--resume', 'r2'])).toMatchObject({ command: 'complete', forwardRunId: 'r1', resume: 'r2', deleteOld: true });
    expect(parseCutoverArgs(['--env', 'local', '--execute', '--switch-back'])).toMatchObject({ command: 'run', switchBack: true });
    // switch-forth (after a switch-back) takes the same run id, and is resumed like switch-back
    expect(parseCutoverArgs(['switch-forth', 'r1', '--execute', '--resume', 'r3'])).toMatchObject({ command: 'switch-forth', forwardRunId: 'r1', execute: true, resume: 'r3' });
    expect(() => parseCutoverArgs(['switch-forth'])).toThrow(/switch-forth needs the run id/);
    expect(() => parseCutoverArgs(['switch-forth', 'r1', '--delete-old'])).toThrow(/--delete-old belongs to complete/);
    expect(parseCutoverArgs(['--env', 'local', '--engine', 'postgres', '--execute', '--switch-back'])).toMatchObject({ command: 'run', engine: 'postgres', method: 'logical', switchBack: true });
  });

  test.each([
    [['--env', 'local', '--password', 'x'], /never taken from the command line/],
    [['--env', 'local', '--switch-timeout', 'soon'], /--switch-timeout expects a positive whole number, got "soon"/],
    [['--env', 'local', '--fault', 'meteor'], /--fault meteor is unknown: expected one of replication-stall/],
    [['--env', 'local', '--hook', 'whenever=true'], /PHASE one of/],
    [['--env', 'local', '--engine', 'oracle'], /--engine oracle is unknown: expected one of mysql, postgres/],
    [['--env', 'local', '--bogus'], /Unknown option '--bogus'/],
    [['--execute'], /--env is required/],
    [['status'], /status needs a run id/],
    [['switch-back'], /switch-back needs the run id of the cutover whose switch built the way back/],
    [['complete', 'a', 'b'], /complete takes one run id/],
    [['--env', 'local', '--delete-old'], /--delete-old belongs to complete/],
    [['switch-back', 'r1', '--delete-old'], /--delete-old belongs to complete/],
    [['switch-back', 'r1', '--switch-back'], /--switch-back is a rehearsal option/],
    [['--env', 'local', '--engine', 'postgres', '--method', 'dump', '--switch-back'], /--switch-back needs --method logical: the dump method builds no way back/],
  ])('bad input %j gets an error that names the fix', (argv, message) => {
    expect(() => parseCutoverArgs(argv as string[])).toThrow(message);
  });

  test('bad input exits 2 and prints the plan of nothing', async () => {
    const out: string[] = [];
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runCutoverCli(['--env', 'local', '--switch-timeout', '0'], { out: (l) => out.push(l), log: silentLogger })).toBe(EXIT.usage);
    } finally {
      stderr.mockRestore();
    }
    expect(out).toEqual([]);
  });

  test('without --execute the local environment prints the plan and starts nothing', async () => {
    const out: string[] = [];
    expect(await runCutoverCli(['--env', 'local'], { out: (l) => out.push(l), log: silentLogger })).toBe(EXIT.ok);
    expect(out[0]).toBe('Flow mysql.encrypt');
    expect(out.join('\n')).toContain('Dry run: nothing was started or changed.');
  });

  test('a local rehearsal cannot be resumed: it says to rehearse again', async () => {
    const messages: string[] = [];
    const log = { ...silentLogger, error: (m: string) => messages.push(m) };
    expect(await runCutoverCli(['--env', 'local', '--execute', '--resume', '20261122-010203-abcdef'], { out: () => undefined, log })).toBe(EXIT.usage);
    expect(messages.join('\n')).toMatch(/cannot be resumed.*npm run rehearse/);
  });

  test('status of an unknown run is bad input (exit 2, issue 9 item 9) and says where runs are listed', async () => {
    const messages: string[] = [];
    const log = { ...silentLogger, error: (m: string) => messages.push(m) };
    expect(await runCutoverCli(['status', 'no-such-run', '--env', 'local'], { out: () => undefined, log })).toBe(EXIT.usage);
    expect(messages.join('\n')).toMatch(/No journal for run no-such-run/);
  });

  test('status shows where a failed run stands and how to resume it', async () => {
    // GIVEN a run whose second step failed, journaled in the state folder the CLI uses
    // (RDS_CUTOVER_STATE_DIR here; without it the project root's .rds-cutover: test/cli/project-root-paths.test.ts)
    const previous = process.env.RDS_CUTOVER_STATE_DIR;
    const stateDir = mkdtempSync(join(tmpdir(), 'rc-status-'));
    process.env.RDS_CUTOVER_STATE_DIR = stateDir;
    try {
      const runbook: Runbook = {
        flow: 'mysql.encrypt',
        summary: [],
        steps: [
          { id: 'mysql.preflight', kind: 'check', describe: () => ['x'], apply: async () => ({ dialect: 'mariadb' }) },
          { id: 'mysql.replica.create', kind: 'action', describe: () => ['x'], apply: async () => { throw new Error('no capacity'); } },
        ],
      };
      const run = await runRunbook({ runbook, environment: 'local', stateDir, dryRun: false, log: silentLogger });
      // WHEN status is asked for
      const out: string[] = [];
      const code = await runCutoverCli(['status', run.runId, '--env', 'local'], { out: (l) => out.push(l), log: silentLogger });
      // THEN it names the finished steps, the failure and the resume command
      expect(code).toBe(EXIT.failed);
      expect(out).toContain(`run ${run.runId}: flow mysql.encrypt on local, failed`);
      expect(out).toContain('finished steps: mysql.preflight');
      expect(out).toContain('failed at mysql.replica.create: no capacity');
      expect(out).toContain(`next: resume with: npx zx scripts/cutover.mjs --env local --execute --resume ${run.runId}`);
    } finally {
      if (previous !== undefined) process.env.RDS_CUTOVER_STATE_DIR = previous;
      else delete process.env.RDS_CUTOVER_STATE_DIR;
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('status of an emulated rehearsal (--env aws-emulated)', () => {
  test.each([['aws-emulated', 'mysql.encrypt', ''], ['aws-emulated-aurora', 'mysql.encrypt', ''], ['aws-emulated', 'postgres.logical', ' --engine postgres --method logical']])(
    'GIVEN a failed run of %s (%s) WHEN status RUN_ID --env is asked for THEN it reads the journal, says the emulated world is gone, and names the rehearsal to run again instead of --resume',
    async (environment, flow, engineFlags) => {
      const previous = process.env.RDS_CUTOVER_STATE_DIR;
      const stateDir = mkdtempSync(join(tmpdir(), 'rc-status-emulated-'));
      process.env.RDS_CUTOVER_STATE_DIR = stateDir;
      try {
        const runbook: Runbook = {
          flow,
          summary: [],
          steps: [
            { id: 'aws.preflight', kind: 'check', describe: () => ['x'], apply: async () => ({}) },
            { id: 'mysql.replica.create', kind: 'action', describe: () => ['x'], apply: async () => { throw new Error('no capacity'); } },
          ],
        };
        // The emulated rehearsal journals in the local environment's state folder, under its own name.
        const run = await runRunbook({ runbook, environment, stateDir, dryRun: false, log: silentLogger });
        const out: string[] = [];
        const code = await runCutoverCli(['status', run.runId, '--env', environment], { out: (l) => out.push(l), log: silentLogger });
        expect(code).toBe(EXIT.failed);
        expect(out).toContain(`run ${run.runId}: flow ${flow} on ${environment}, failed`);
        expect(out).toContain('failed at mysql.replica.create: no capacity');
        expect(out).toContain(`emulated: this is the journal of a rehearsal against the AWS emulator; the emulator and its local servers ended with it, so nothing of that run is left to inspect or resume`);
        expect(out).toContain(`next: run the emulated rehearsal again: npm run rehearse -- --env ${environment}${engineFlags}`);
        expect(out.join('\n')).not.toMatch(/--resume/);
      } finally {
        if (previous !== undefined) process.env.RDS_CUTOVER_STATE_DIR = previous;
        else delete process.env.RDS_CUTOVER_STATE_DIR;
        rmSync(stateDir, { recursive: true, force: true });
      }
    },
  );
});

test('GIVEN a local rehearsal that stopped inside the switch WHEN status is asked for THEN it does not offer --resume (a rehearsal\'s servers end with its process)', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-status-rehearsal-'));
  try {
    const runbook: Runbook = {
      flow: 'mysql.encrypt',
      summary: [],
      steps: [
        {
          id: 'mysql.switch',
          kind: 'action',
          describe: () => ['x'],
          apply: async (context) => {
            context.record({ switchPhase: 'frozen' });
            throw new Error('connection lost');
          },
        },
      ],
    };
    const run = await runRunbook({ runbook, environment: 'local', stateDir, dryRun: false, log: silentLogger, options: { rehearsal: true } });
    const { lines } = statusLines(stateDir, run.runId);
    expect(lines.join('\n')).toContain('last journaled sub-phase "frozen"');
    expect(lines.join('\n')).not.toMatch(/--resume/);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});

describe('bad input is refused before anything starts (exit 2)', () => {
  const { mkdtempSync, rmSync } = require('node:fs') as typeof import('node:fs');
  const { tmpdir } = require('node:os') as typeof import('node:os');
  const { join } = require('node:path') as typeof import('node:path');
  const { parseCutoverArgs: parse, UsageError: Usage } = require('../../lib/cli/cutover') as typeof import('../../lib/cli/cutover');
  const work = mkdtempSync(join(tmpdir(), 'rc-args-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  test.each([
    ['a report under /proc', ['--env', 'local', '--report', '/proc/self/report.json'], /kernel file system/],
    ['a report in a folder that does not exist', ['--env', 'local', '--report', join(work, 'missing', 'r.json')], /does not exist; create it first/],
    ['a report path that is a folder', ['--env', 'local', '--report', work], /is a folder; give a file name/],
    ['--lag-threshold larger than --switch-timeout', ['--env', 'local', '--lag-threshold', '5000', '--switch-timeout', '1000'], /--lag-threshold 5000 is larger than --switch-timeout 1000/],
  ])('%s', (_name, argv, message) => {
    expect(() => parse(argv)).toThrow(Usage);
    expect(() => parse(argv)).toThrow(message);
  });
  test('a config with lagThresholdMs above switchTimeoutMs is refused naming both fields', () => {
    const { parseEnvironment } = require('../../config/cutover') as typeof import('../../config/cutover');
    expect(() => parseEnvironment({ name: 'x', platform: 'local', mysql: { appUsers: ['app'], lagThresholdMs: 20000, switchTimeoutMs: 10000 } }, 'x.ts')).toThrow(/lagThresholdMs is larger than switchTimeoutMs/);
  });
});
