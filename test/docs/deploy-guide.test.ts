/**
 * docs/DEPLOY.md is a guide a new operator follows as typed (issue 15): every command in its
 * shell blocks is one the project accepts. cutover.mjs commands parse with the CLI's own parser
 * (RUN_ID filled with a sample), and the dry runs among them run for real (offline, against the
 * example config and the committed outputs fixture); npm scripts exist; cdktf commands name
 * stacks the app synthesizes, and `cdktf diff` names exactly one.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadEnvironment } from '../../config/cutover';
import { loadInfraEnvironments } from '../../config/infra';
import { parseCutoverArgs, EXIT } from '../../lib/cli/cutover';
import { runAws } from '../../lib/cli/aws';
import { OUTPUTS_FIXTURE, recordingLogger } from '../platforms/aws/helpers';
import { synthesizedTypes } from '../../stacks/deployer-policy';

const root = resolve(__dirname, '../..');
const guide = readFileSync(join(root, 'docs/DEPLOY.md'), 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-guide-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The lines of every ```sh block, comments dropped. */
function commands(): string[] {
  return [...guide.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n')).map((line) => line.replace(/\s+#.*$/, '').trim()).filter(Boolean);
}

/** Split like a shell would for these simple lines (single quotes only). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

const stackNames = loadInfraEnvironments().flatMap((environment) => [`rds-cutover-${environment.name}-cutover`, ...(environment.masking ? [`rds-cutover-${environment.name}-masking`] : []), ...(environment.snapshotShare ? [`rds-cutover-${environment.name}-snapshot-share`] : [])]);
const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);

test('the guide has the whole path: bootstrap, deployer policy, deploy, outputs, rehearsal, plan as markdown and json, execute, status, resume, rollback, deploy again, tear down', () => {
  const all = commands().join('\n');
  for (const expected of ['aws s3api create-bucket', 'aws dynamodb create-table', 'npm run deployer-policy', 'npx cdktf deploy', 'npx cdktf output', 'npm run rehearse', '--plan-format markdown', '--plan-format json', '--execute', 'status RUN_ID', '--resume RUN_ID', 'npx cdktf destroy']) expect(all).toContain(expected);
  for (const heading of [/## 0\. Once per account/, /## 5\. Roll back/, /## 6\. Clean up, deploy again/, /## 7\. Tear down/]) expect(guide).toMatch(heading);
  expect(guide).not.toContain('Not covered here yet');
  expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain('docs/DEPLOY.md');
});

test('every cutover.mjs and npm command parses with the CLI; every npm script exists', () => {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const checked: string[] = [];
  for (const line of commands()) {
    const argv = words(line.replace(/RUN_ID/g, '20261201-045000-abc123'));
    if (argv[0] === 'npx' && argv[1] === 'zx' && argv[2] === 'scripts/cutover.mjs') {
      const args = parseCutoverArgs(argv.slice(3).map((a) => (/\.(json|md)$/.test(a) && !a.includes('/') && a !== 'rehearsal.json' ? join(scratch, a) : a === 'rehearsal.json' ? join(scratch, a) : a)));
      if (args.env) expect(() => loadEnvironment(args.env!)).not.toThrow();
      checked.push(line);
    } else if (argv[0] === 'npm' && argv[1] === 'run') {
      expect(Object.keys(scripts)).toContain(argv[2]);
      if (scripts[argv[2]].includes('scripts/cutover.mjs')) parseCutoverArgs([...words(scripts[argv[2]]).slice(2), ...argv.slice(4)].map((a) => (a === 'rehearsal.json' ? join(scratch, a) : a)));
      checked.push(line);
    }
  }
  expect(checked.length).toBeGreaterThanOrEqual(10);
});

test('cdktf commands name stacks the app synthesizes; diff names exactly one stack (cdktf diff takes one)', () => {
  const cdktf = commands().filter((line) => line.startsWith('npx cdktf '));
  expect(cdktf.length).toBeGreaterThanOrEqual(3);
  for (const line of cdktf) {
    const [, , verb, stack] = words(line);
    expect(['diff', 'deploy', 'output', 'destroy']).toContain(verb);
    expect(stackNames.filter((name) => glob(stack).test(name)).length).toBeGreaterThan(0);
    if (verb === 'diff' || verb === 'destroy') expect(stack).not.toContain('*');
    if (line.includes('--outputs-file')) expect(line).toMatch(/--outputs-file \.rds-cutover\/outputs-prod\.json/);
  }
});

test('the guide\'s dry runs run (offline here: config + the committed outputs fixture), exit 0 and write the plan files', async () => {
  const environment = loadEnvironment('prod');
  const withOutputs = { ...environment, aws: { ...environment.aws!, outputsFile: OUTPUTS_FIXTURE } };
  const rehearsal = join(scratch, 'rehearsal.json');
  writeFileSync(rehearsal, readFileSync(join(root, 'test/report-page/fixtures/mysql-rehearsal-report.json')));
  const dryRuns = commands().filter((line) => line.startsWith('npx zx scripts/cutover.mjs --env prod') && !line.includes('--execute') && !line.includes('--break-lock'));
  expect(dryRuns.length).toBeGreaterThanOrEqual(3);
  for (const line of dryRuns) {
    const argv = words(line).slice(3).map((a) => (/^(plan\.md|plan\.json|rehearsal\.json)$/.test(a) ? join(scratch, a) : a));
    const offline = argv.includes('--offline') ? argv : [...argv, '--offline'];
    const code = await runAws({ environment: withOutputs, args: parseCutoverArgs(offline), stateDir: mkdtempSync(join(scratch, 'state-')), log: recordingLogger(), out: () => undefined }, { createClients: () => { throw new Error('offline'); } });
    expect({ line, code }).toEqual({ line, code: EXIT.ok });
  }
  expect(readFileSync(join(scratch, 'plan.md'), 'utf8')).toContain('POINT OF NO RETURN');
  expect(JSON.parse(readFileSync(join(scratch, 'plan.json'), 'utf8')).pointOfNoReturn.call.operation).toBe('ChangeResourceRecordSets');
});

test('the bootstrap names the state bucket, region and prefix config/infra/prod.ts configures; the lock table has the LockID key Terraform needs', () => {
  const prod = loadInfraEnvironments().find((environment) => environment.name === 'prod')!;
  if (prod.backend.type !== 's3') throw new Error('config/infra/prod.ts: the guide assumes an s3 backend');
  const aws = commands().filter((line) => line.startsWith('aws '));
  const buckets = aws.flatMap((line) => [...line.matchAll(/--bucket (\S+)/g)].map((m) => m[1]));
  expect(buckets.length).toBeGreaterThanOrEqual(4);
  expect(new Set(buckets)).toEqual(new Set([prod.backend.bucket]));
  for (const line of aws.filter((l) => l.includes('--region'))) expect(line).toContain(`--region ${prod.region}`);
  expect(guide).toContain(`keys under \`${prod.backend.keyPrefix}/\``);
  expect(aws.find((line) => line.startsWith('aws dynamodb create-table'))).toMatch(/AttributeName=LockID,AttributeType=S .*AttributeName=LockID,KeyType=HASH/);
  expect(aws.find((line) => line.startsWith('aws iam put-role-policy'))).toContain('file://deployer-policy.json');
  expect(commands()).toContain('npm run deployer-policy -- --env prod --out deployer-policy.json');
});

test('what a second deploy must not touch: no stack declares a proxy target (the scripts own it), and the guide says the record stays', () => {
  for (const environment of loadInfraEnvironments()) expect(Object.values(synthesizedTypes(environment)).flat()).not.toContain('aws_db_proxy_target');
  expect(guide).toMatch(/\*\*The DNS record: no change\.\*\*/);
  expect(guide).toMatch(/\*\*The RDS Proxy target: nothing to show\.\*\*/);
}, 120_000);
