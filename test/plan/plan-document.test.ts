/**
 * The plan as a document for review (issue 15): `--plan-format markdown|json` on the example
 * AWS environment, offline. What a reviewer relies on: every step with its calls, the point of
 * no return at the exact call and after the last reversible change, a rollback for each stage,
 * the downtime broken down (with a rehearsal's measured figures when given), and no secret.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnvironment, type CutoverEnvironment } from '../../config/cutover';
import { parseCutoverArgs, UsageError, EXIT } from '../../lib/cli/cutover';
import { runAws } from '../../lib/cli/aws';
import { renderMarkdown, type PlanDocument } from '../../lib/plan/plan-document';
import { OUTPUTS_FIXTURE, recordingLogger } from '../platforms/aws/helpers';
import { PG_OUTPUTS_FIXTURE } from '../platforms/aws/postgres-helpers';

const scratch = mkdtempSync(join(tmpdir(), 'rds-cutover-plan-doc-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const REHEARSAL_REPORT = join(__dirname, '../report-page/fixtures/mysql-rehearsal-report.json');
/** What generatePassword() makes (util/secrets.ts): 'Cx' + 24 base64url characters. */
const GENERATED_PASSWORD = /Cx[A-Za-z0-9_-]{24}/;

function prod(): CutoverEnvironment {
  const environment = loadEnvironment('prod');
  return { ...environment, aws: { ...environment.aws!, outputsFile: OUTPUTS_FIXTURE } };
}

async function plan(extra: string[], environment = prod()) {
  const out: string[] = [];
  const log = recordingLogger();
  const code = await runAws({ environment, args: parseCutoverArgs(['--env', environment.name, '--offline', ...extra]), stateDir: mkdtempSync(join(scratch, 'state-')), log, out: (line) => out.push(line) }, {
    createClients: () => {
      throw new Error('offline: no client');
    },
  });
  return { code, out, log };
}

describe('--plan-format json', () => {
  let document: PlanDocument;
  let text: string;
  beforeAll(async () => {
    const file = join(scratch, 'plan.json');
    const { code } = await plan(['--plan-format', 'json', '--plan-out', file, '--rehearsal-report', REHEARSAL_REPORT]);
    expect(code).toBe(EXIT.ok);
    text = readFileSync(file, 'utf8');
    document = JSON.parse(text) as PlanDocument;
  });

  test('every runbook step is there in order, each with the calls it made; nothing stopped the recording', () => {
    expect(document.steps.map((step) => step.id)).toEqual([
      'aws.preflight', 'mysql.preflight', 'mysql.replica.create', 'mysql.replica.catch-up', 'mysql.replica.stop', 'mysql.target.clone',
      'mysql.replication.start', 'mysql.replication.catch-up', 'mysql.switch', 'mysql.verify.checksums', 'mysql.source.fence', 'mysql.replica.remove',
    ]);
    expect(document.stoppedAt).toBeUndefined();
    expect(document.recordedFromSteps).toBe(true);
    const numbers = document.steps.flatMap((step) => step.calls.map((call) => call.number));
    expect(numbers).toEqual(numbers.map((_, index) => index + 1));
    expect(document.steps.find((s) => s.id === 'mysql.switch')!.phases).toEqual(['freezing', 'frozen', 'caught-up', 'promoted', 'endpoint-moved', 'recycled']);
  });

  test('the point of no return is the Route 53 change inside mysql.switch: after the last change the abort path undoes (the target\'s promotion), before the fence', () => {
    const ponr = document.pointOfNoReturn!;
    expect(ponr.step).toBe('mysql.switch');
    expect(`${ponr.call.on}.${ponr.call.operation}`).toBe('route53.ChangeResourceRecordSets');
    const changes = document.steps.flatMap((step) => step.calls.filter((call) => call.effect === 'change').map((call) => ({ step: step.id, ...call })));
    // Reversible: everything before the switch, and the freeze/promote statements inside it.
    const lastReversible = changes.filter((call) => call.number < ponr.call.number).at(-1)!;
    expect(lastReversible).toMatchObject({ step: 'mysql.switch', on: 'target', operation: "ALTER USER 'orders_app'@'<host of orders_app>' ACCOUNT UNLOCK" });
    const fence = changes.find((call) => call.operation === 'ModifyDBInstance')!;
    expect(ponr.call.number).toBeGreaterThan(lastReversible.number);
    expect(ponr.call.number).toBeLessThan(fence.number);
  });

  test('a rollback for each stage: before the switch (what to delete, each command with the region it acts in), inside it before the point (automatic reopen), after it (forward only)', () => {
    expect(document.rollback.map((stage) => stage.stage)).toEqual(['before the switch', expect.stringMatching(/^inside mysql\.switch, before the point of no return/), expect.stringMatching(/^after the point of no return/)]);
    const before = document.rollback[0];
    expect(before.steps).not.toContain('mysql.switch');
    expect(before.operatorRuns.join('\n')).toContain('aws rds delete-db-instance --region eu-west-1 --db-instance-identifier orders-cutover-replica --skip-final-snapshot');
    expect(before.operatorRuns.join('\n')).toContain('aws rds delete-db-snapshot --region eu-west-1 --db-snapshot-identifier orders-cutover-seed');
    expect(before.operatorRuns.join('\n')).toContain("DROP USER IF EXISTS 'cutover_repl'@'10.10.0.0/255.255.0.0'");
    expect(document.rollback[2].operatorRuns.join('\n')).toContain('--execute --resume RUN_ID');
  });

  test('the downtime is broken down freeze → caught-up → promote → endpoint moved → reopened, from config and the rehearsal\'s figures', () => {
    expect(document.downtime.phases.map((phase) => phase.phase.split(' (')[0])).toEqual(['freeze', 'caught-up', 'promote', 'endpoint moved', 'reopened']);
    expect(document.downtime.budgetMs).toBe(10000);
    expect(document.downtime.phases[1].expected).toContain('--lag-threshold 1000 ms');
    expect(document.downtime.phases[3].expected).toContain('TTL 15 s');
    expect(document.downtime.phases.map((phase) => phase.rehearsalMs)).toEqual([31.2, 11.2, 57.3, 1.7, null]);
    expect(document.downtime.rehearsal).toMatchObject({ writeUnavailableMs: 337, switchDurationMs: 101.3 });
  });

  test('no secret: the replication password the flow generates is masked', () => {
    expect(text).toContain("IDENTIFIED BY '***'");
    expect(text).not.toMatch(GENERATED_PASSWORD);
  });
});

describe('--plan-format markdown', () => {
  test('on stdout the document alone: steps, the point of no return row right after its call, rollback and downtime sections, no secret', async () => {
    const { code, out, log } = await plan(['--plan-format', 'md']);
    expect(code).toBe(EXIT.ok);
    const markdown = out.join('\n');
    expect(markdown.split('\n')[0]).toBe('# Cutover plan: mysql.encrypt on prod');
    expect(markdown).not.toContain('Dry run (--offline)'); // the rest went to the log
    expect(log.lines.join('\n')).toContain('Dry run (--offline)');
    const lines = markdown.split('\n');
    const ponrRow = lines.findIndex((line) => line.includes('**POINT OF NO RETURN**'));
    expect(lines[ponrRow - 1]).toMatch(/^\| \d+ \| change \| `route53\.ChangeResourceRecordSets /);
    for (const heading of ['## Steps', '### 9. `mysql.switch` (action)', '## Rollback', '### before the switch', '## Expected downtime', '## Values known only at run time']) expect(lines).toContain(heading);
    expect(lines.indexOf('## Rollback')).toBeGreaterThan(ponrRow);
    expect(markdown).toContain('No rehearsal report given');
    expect(markdown).not.toMatch(GENERATED_PASSWORD);
  });

  test('bad plan flags are usage errors before anything starts', () => {
    expect(() => parseCutoverArgs(['--env', 'prod', '--plan-format', 'html'])).toThrow(UsageError);
    expect(() => parseCutoverArgs(['--env', 'prod', '--plan-format', 'html'])).toThrow(/--plan-format html is unknown: expected one of text, markdown, json/);
    expect(() => parseCutoverArgs(['--env', 'prod', '--plan-out', 'x.md'])).toThrow(/add --plan-format markdown/);
  });

  test('a rehearsal report of another flow, of a switch that did not happen, or of no rehearsal is refused naming the fix (a new user\'s trial: an aborted PostgreSQL rehearsal gave the MySQL plan "write unavailability 172.3 ms, switch ? ms")', async () => {
    const fixture = JSON.parse(readFileSync(REHEARSAL_REPORT, 'utf8')) as Record<string, unknown>;
    const write = (name: string, report: Record<string, unknown>) => {
      const file = join(scratch, name);
      writeFileSync(file, JSON.stringify(report));
      return file;
    };
    const otherFlow = write('pg.json', { ...fixture, engine: 'postgres', flow: 'postgres.logical' });
    await expect(plan(['--plan-format', 'json', '--rehearsal-report', otherFlow])).rejects.toThrow(/--rehearsal-report .*pg\.json is a rehearsal of flow postgres\.logical; this plan is flow mysql\.encrypt: give the report of a rehearsal of the same flow/);
    const aborted = write('aborted.json', { ...fixture, result: 'aborted', verdict: 'aborted' });
    await expect(plan(['--plan-format', 'json', '--rehearsal-report', aborted])).rejects.toThrow(/--rehearsal-report .*aborted\.json: that rehearsal did not succeed \(aborted\): its figures are not a switch's downtime; give the report of a successful rehearsal/);
    const { writes: _writes, ...noLoad } = fixture;
    const notRehearsal = write('run.json', noLoad);
    await expect(plan(['--plan-format', 'json', '--rehearsal-report', notRehearsal])).rejects.toThrow(/--rehearsal-report .*run\.json has no measured writes: it is not a rehearsal's report/);
  });

  test('a rehearsal report that cannot be read is named with the fix', async () => {
    await expect(plan(['--plan-format', 'json', '--rehearsal-report', join(scratch, 'missing.json')])).rejects.toThrow(/--rehearsal-report .*missing\.json: cannot read it as a report\.json/);
  });
});

describe('PostgreSQL plan documents: PostgreSQL\'s own switch phases, budget and point of no return', () => {
  async function pgDocument(method: 'logical' | 'dump'): Promise<PlanDocument> {
    const loaded = loadEnvironment('prod-pg');
    const environment = { ...loaded, aws: { ...loaded.aws!, outputsFile: PG_OUTPUTS_FIXTURE } };
    const file = join(scratch, `pg-${method}.json`);
    const { runAwsPostgres } = await import('../../lib/cli/aws-postgres');
    const code = await runAwsPostgres({ environment, args: parseCutoverArgs(['--env', 'prod-pg', '--engine', 'postgres', '--offline', '--method', method, '--plan-format', 'json', '--plan-out', file]), stateDir: mkdtempSync(join(scratch, 'state-')), log: recordingLogger(), out: () => undefined }, { createClients: () => { throw new Error('offline: no client'); } });
    expect(code).toBe(EXIT.ok);
    return JSON.parse(readFileSync(file, 'utf8')) as PlanDocument;
  }

  test('logical: the downtime is broken down in the PostgreSQL switch\'s own phases (no binlog, no promote), with the postgres section\'s budget and lag gate', async () => {
    const document = await pgDocument('logical');
    const names = document.downtime.phases.map((phase) => phase.phase.split(' (')[0]);
    expect(names).toEqual(['freeze', 'source closed to the application', 'tables compared', 'caught-up', 'sequences copied', 'subscription disabled', 'endpoint moved', 'clients on the target']);
    expect(JSON.stringify(document.downtime)).not.toMatch(/binlog|promote|app accounts locked/i);
    expect(document.downtime.budgetMs).toBe(120_000);
    expect(document.downtime.phases[0].expected).toContain('ModifyDBClusterParameterGroup default_transaction_read_only=1');
    expect(document.downtime.phases[3].expected).toContain('--lag-threshold 1000 ms');
    expect(document.downtime.phases[6].expected).toContain('TTL 15 s');
  });

  test('a PostgreSQL-on-AWS plan is recorded from the steps (issue 10): the document says so, and the SQL and tools the steps send are its calls, labelled with their steps', async () => {
    const document = await pgDocument('logical');
    expect(document.recordedFromSteps).toBe(true);
    const markdown = renderMarkdown(document);
    expect(markdown).toContain('Recorded from the steps themselves');
    expect(markdown).not.toContain('**Not recorded from the steps:**');
    const call = (step: string, pattern: RegExp) => document.steps.find((s) => s.id === step)?.calls.find((c) => pattern.test(c.operation));
    expect(call('postgres.subscription.create', /^CREATE SUBSCRIPTION "cutover_sub"/)).toMatchObject({ channel: 'sql', on: 'target', effect: 'change' });
    expect(call('postgres.copy.snapshot', /^pg_dump --format=directory/)).toMatchObject({ channel: 'process', on: 'source', effect: 'read' });
    expect(call('postgres.switch', /^ALTER ROLE "billing_app" LOGIN$/)).toMatchObject({ channel: 'sql', on: 'target' });
  });

  test('logical: the point of no return is the Route 53 change in postgres.switch; abandoning before it names the publication, slot, subscription and role to drop', async () => {
    const document = await pgDocument('logical');
    expect(document.pointOfNoReturn?.step).toBe('postgres.switch');
    expect(document.pointOfNoReturn?.call.operation).toBe('ChangeResourceRecordSets');
    expect(document.rollback.map((stage) => stage.stage.split(',')[0])).toEqual(['before the switch', 'inside postgres.switch', 'after the point of no return (call 83)']);
    expect(document.rollback[0].steps).not.toContain('postgres.switch');
    const abandon = document.rollback[0].operatorRuns.join('\n');
    for (const expected of ['DROP SUBSCRIPTION IF EXISTS cutover_sub', "pg_drop_replication_slot('cutover_slot')", 'DROP PUBLICATION IF EXISTS cutover_pub', 'DROP ROLE IF EXISTS cutover_repl']) expect(abandon).toContain(expected);
    expect(document.rollback[1].whatHappens).not.toMatch(/replicating|read-only again/);
    expect(document.rollback[1].whatHappens).toContain('default_transaction_read_only');
  });

  test('dump: the downtime is the frozen copy (bounded by copyTimeoutMs), the checksums and the endpoint move', async () => {
    const document = await pgDocument('dump');
    expect(document.downtime.phases.map((phase) => phase.phase.split(' (')[0])).toEqual(['freeze', 'sessions ended', 'copy', 'verify', 'endpoint moved', 'clients on the target']);
    expect(document.downtime.phases[2].expected).toContain(`${6 * 3_600_000} ms`);
    expect(document.downtime.budget).toMatch(/copy.*21600000 ms/);
  });
});

describe('RDS Proxy as the switch point: the endpoint phase is the target swap and the clients\' reconnect, not a DNS TTL', () => {
  test('GIVEN aws.switchPoint "proxy" THEN endpoint moved = deregister + register + poll through the proxy, and the reopen is the clients reconnecting to the same proxy endpoint', async () => {
    const environment = prod();
    const withProxy = { ...environment, aws: { ...environment.aws!, switchPoint: 'proxy' as const, proxy: { name: 'orders-proxy', targetGroupName: 'default', endpoint: 'orders-proxy.proxy-abcdefghijkl.eu-west-1.rds.amazonaws.com', port: 3306 } } };
    const file = join(scratch, 'proxy.json');
    const { code } = await plan(['--plan-format', 'json', '--plan-out', file], withProxy);
    expect(code).toBe(EXIT.ok);
    const document = JSON.parse(readFileSync(file, 'utf8')) as PlanDocument;
    const [moved, reopened] = document.downtime.phases.slice(-2);
    expect(moved.phase).toMatch(/^endpoint moved/);
    expect(moved.expected).toMatch(/DeregisterDBProxyTargets orders.*RegisterDBProxyTargets orders-encrypted/);
    expect(moved.expected).toContain('no DNS TTL');
    expect(moved.expected).not.toContain('Route 53');
    expect(reopened.expected).toMatch(/reconnect .*orders-proxy\.proxy-abcdefghijkl/);
    expect(document.pointOfNoReturn?.call.operation).toBe('RegisterDBProxyTargets');
  });
});

describe('a plan document whose stacks\' outputs could not be used says so (a new user\'s trial: the README\'s own command on a fresh checkout gave a document full of <dnsZoneId>-like values read as run-time values)', () => {
  const missingOutputs = join(scratch, 'no-such-outputs.json');

  test('MySQL (prod): a banner at the top names the outputs file and the problem, the unresolved values are listed apart from the run-time ones, and JSON carries them', async () => {
    const environment = { ...prod(), aws: { ...prod().aws!, outputsFile: missingOutputs } };
    const file = join(scratch, 'unresolved.md');
    const { code } = await plan(['--plan-format', 'markdown', '--plan-out', file], environment);
    expect(code).toBe(EXIT.ok);
    const markdown = readFileSync(file, 'utf8');
    const lines = markdown.split('\n');
    const banner = lines.findIndex((line) => line.startsWith("> **Incomplete plan: the stacks' outputs were not used**"));
    expect(banner).toBeGreaterThan(0);
    expect(banner).toBeLessThan(lines.indexOf('## Steps'));
    expect(lines[banner]).toContain(missingOutputs);
    expect(markdown).toContain("## Values missing from the stacks' outputs (not run-time values: --execute refuses without them)");
    expect(markdown).toMatch(/- aws\.dns \(or the stacks' output dnsZoneId, dnsRecordName, dnsTtlSeconds\)/);
    const runtime = markdown.slice(markdown.indexOf('## Values known only at run time'));
    expect(runtime).not.toContain('<dnsZoneId>');
    const json = join(scratch, 'unresolved.json');
    await plan(['--plan-format', 'json', '--plan-out', json], environment);
    const document = JSON.parse(readFileSync(json, 'utf8')) as PlanDocument;
    expect(document.unresolved?.outputsFile).toBe(missingOutputs);
    expect(document.unresolved?.missing.length).toBeGreaterThan(3);
  });

  test('PostgreSQL (prod-pg): no nested placeholder (it read <<databaseKind, databaseIdentifier>.Endpoint>)', async () => {
    const loaded = loadEnvironment('prod-pg');
    const environment = { ...loaded, aws: { ...loaded.aws!, outputsFile: missingOutputs } };
    const file = join(scratch, 'pg-unresolved.md');
    const { runAwsPostgres } = await import('../../lib/cli/aws-postgres');
    const code = await runAwsPostgres({ environment, args: parseCutoverArgs(['--env', 'prod-pg', '--engine', 'postgres', '--offline', '--plan-format', 'markdown', '--plan-out', file]), stateDir: mkdtempSync(join(scratch, 'state-')), log: recordingLogger(), out: () => undefined }, { createClients: () => { throw new Error('offline: no client'); } });
    expect(code).toBe(EXIT.ok);
    const markdown = readFileSync(file, 'utf8');
    expect(markdown).toContain("> **Incomplete plan: the stacks' outputs were not used**");
    expect(markdown).not.toMatch(/<</);
  });
});
