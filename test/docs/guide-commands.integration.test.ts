/**
 * RULE: the deploy guide works as typed. Every shell command in docs/DEPLOY.md and
 * stacks/README.md that needs no AWS account (synth, the offline plan, the deployer's IAM
 * policy, the offline dry run, --help, the local rehearsal) runs here exactly as written, through
 * bash, and must exit 0: a renamed npm script, a removed flag or a broken config fails this test.
 * Every other command carries `# needs AWS` in the guide (a block: on its first line), and that
 * mark may not hide a command that runs offline.
 * The commands run from a scratch folder whose entries link to the project's, so the files they
 * write relative to the current directory (deployer-policy.json, rehearsal.json, cdktf.out) land
 * there; `npm run plan` writes under the project's .rds-cutover/plan (removed again when this
 * test created it).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '../..');
const GUIDES = ['docs/DEPLOY.md', 'stacks/README.md'];
const NEEDS_AWS = /#.*needs AWS/;

/** Each guide's ```sh lines (continuations joined), with whether the line or its block is marked `# needs AWS`. */
function guideCommands(): { guide: string; line: string; needsAws: boolean }[] {
  return GUIDES.flatMap((guide) =>
    [...readFileSync(join(root, guide), 'utf8').matchAll(/```sh\n([\s\S]*?)```/g)].flatMap(([, block]) => {
      const lines = block.replace(/\\\n\s*/g, '').split('\n').filter((line) => line.trim() !== '');
      const blockNeedsAws = NEEDS_AWS.test(lines[0]) && lines[0].trim().startsWith('#');
      return lines
        .filter((line) => !line.trim().startsWith('#') && !/^(export )?\w+=/.test(line.trim())) // comments; variables for the lines after them
        .map((line) => ({ guide, line: line.replace(/\s+#.*$/, '').trim(), needsAws: blockNeedsAws || NEEDS_AWS.test(line) }));
    }),
  );
}

function run(line: string, cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', RDS_CUTOVER_STATE_DIR: join(cwd, '.rds-cutover') };
    for (const name of Object.keys(env)) if (/^(AWS_|RDS_CUTOVER_TEST_)/.test(name)) delete env[name]; // no credentials, no emulator
    const child = spawn('bash', ['-c', line], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code) => done({ code, output }));
  });
}

const OFFLINE = /^(npm run (synth|plan|deployer-policy|rehearse)\b|npx zx scripts\/cutover\.mjs .*(--offline|--help))/;

test('every command is either marked `# needs AWS` or offline; the mark hides no offline command and is on every AWS call', () => {
  const commands = guideCommands();
  expect(commands.length).toBeGreaterThan(30);
  for (const { guide, line, needsAws } of commands) {
    if (needsAws) expect({ guide, line, offline: OFFLINE.test(line) }).toEqual({ guide, line, offline: false });
    if (/^(aws |npx cdktf |docker |terraform )|--execute|--break-lock| status /.test(line) || /^for .*terraform/.test(line)) expect({ guide, line, needsAws }).toEqual({ guide, line, needsAws: true });
  }
});

describe('the offline commands, run as typed', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-guide-run-'));
  const planFolders = ['dev', 'prod', 'stg'].map((env) => join(root, '.rds-cutover', 'plan', env)).filter((folder) => !existsSync(folder));
  const terraformFolder = join(root, '.rds-cutover', 'terraform');
  const createdTerraformFolder = !existsSync(terraformFolder);
  beforeAll(() => {
    for (const entry of readdirSync(root)) if (!['.rds-cutover', 'cdktf.out', '.git'].includes(entry)) symlinkSync(join(root, entry), join(scratch, entry));
  });
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
    for (const folder of planFolders) rmSync(folder, { recursive: true, force: true });
    if (createdTerraformFolder) rmSync(terraformFolder, { recursive: true, force: true });
    for (const folder of [join(root, '.rds-cutover', 'plan'), join(root, '.rds-cutover')]) {
      try {
        rmdirSync(folder); // only when empty: what this test created, nothing of the operator's
      } catch {
        // not empty, or not there
      }
    }
  });

  const offline = [...new Set(guideCommands().filter((command) => !command.needsAws).map((command) => command.line))];
  test('there are offline commands to run: synth, plan, deployer policy, --help, a dry run, the rehearsal', () => {
    for (const expected of ['npm run synth', 'npm run plan -- --env', 'npm run deployer-policy', 'npx zx scripts/cutover.mjs --help', 'npx zx scripts/cutover.mjs --env prod --offline', 'npm run rehearse']) {
      expect(offline.some((line) => line.startsWith(expected))).toBe(true);
    }
  });
  test.each(offline)('%s', async (line) => {
    const { code, output } = await run(line, scratch);
    expect({ line, code, tail: code === 0 ? '' : output.split('\n').slice(-25).join('\n') }).toEqual({ line, code: 0, tail: '' });
    if (line.startsWith('npm run deployer-policy')) expect(JSON.parse(readFileSync(join(scratch, 'deployer-policy.json'), 'utf8')).Statement.length).toBeGreaterThan(5);
    if (line.startsWith('npm run rehearse')) expect(JSON.parse(readFileSync(join(scratch, 'rehearsal.json'), 'utf8')).verdict).toBe('success');
  }, 900_000);
});
