import { readFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runRunbook, planText } from '../../lib/runbook/engine';
import { Journal, statusFromJournal } from '../../lib/runbook/journal';
import { parseHooks } from '../../lib/runbook/hooks';
import { AbortRun, PreconditionFailed, type Runbook, type Step } from '../../lib/runbook/step';
import { silentLogger } from '../../lib/util/log';
import { registerSecret } from '../../lib/util/secrets';
import { tempDirsRemovedAfterAll } from '../support/temp-dirs';

/** A runbook whose steps record what they did into `calls`. */
function recordingRunbook(calls: string[], options: { failAt?: string; checkProblem?: string } = {}): Runbook {
  const step = (id: string, kind: Step['kind'], extra: Partial<Step> = {}): Step => ({
    id,
    kind,
    describe: () => [`do ${id}`],
    async apply() {
      calls.push(id);
      if (options.failAt === id) throw new Error(`${id} broke`);
      return { [`${id.replace(/\W/g, '_')}Done`]: true };
    },
    ...extra,
  });
  return {
    flow: 'test.flow',
    summary: ['a test flow'],
    steps: [
      step('test.check', 'check', {
        async apply() {
          calls.push('test.check');
          if (options.checkProblem) throw new PreconditionFailed(options.checkProblem);
          return { checked: true };
        },
      }),
      step('test.first', 'action'),
      step('test.switch', 'action', { hookBefore: 'before-switch', irreversible: true }),
      step('test.last', 'action'),
    ],
  };
}

// Each test's state folder, removed after the file (they were left in the temp dir: 14 a run).
const stateDir = tempDirsRemovedAfterAll('rc-engine-');

describe('runbook engine', () => {
  test('dry-run has no side effects: no action step applied, no journal written, checks still run', async () => {
    // GIVEN a runbook with one check and three actions
    const calls: string[] = [];
    const dir = stateDir();
    // WHEN it runs without --execute
    const result = await runRunbook({ runbook: recordingRunbook(calls), environment: 'test', stateDir: dir, dryRun: true, log: silentLogger });
    // THEN only the read-only check ran and nothing was written
    expect(calls).toEqual(['test.check']);
    expect(result.result).toBe('planned');
    expect(result.steps.map((s) => s.status)).toEqual(['checked', 'planned', 'planned', 'planned']);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('dry-run reports every failed precondition and ends failed without applying actions', async () => {
    const calls: string[] = [];
    const result = await runRunbook({ runbook: recordingRunbook(calls, { checkProblem: 'binlog_format is STATEMENT: set ROW' }), environment: 'test', stateDir: stateDir(), dryRun: true, log: silentLogger });
    expect(result.result).toBe('failed');
    expect(result.problems).toEqual(['test.check: binlog_format is STATEMENT: set ROW']);
    expect(calls).toEqual(['test.check']);
  });

  test('execute runs every step in order and journals facts', async () => {
    const calls: string[] = [];
    const dir = stateDir();
    const result = await runRunbook({ runbook: recordingRunbook(calls), environment: 'test', stateDir: dir, dryRun: false, log: silentLogger });
    expect(result.result).toBe('success');
    expect(calls).toEqual(['test.check', 'test.first', 'test.switch', 'test.last']);
    const status = statusFromJournal(new Journal(dir, result.runId).read());
    expect(status.result).toBe('success');
    expect(status.finished).toEqual(['test.check', 'test.first', 'test.switch', 'test.last']);
    expect(status.facts.test_firstDone).toBe(true);
  });

  test('resume skips the steps a failed run finished and continues at the first unfinished one', async () => {
    // GIVEN a run that failed at test.switch
    const dir = stateDir();
    const firstCalls: string[] = [];
    const failed = await runRunbook({ runbook: recordingRunbook(firstCalls, { failAt: 'test.switch' }), environment: 'test', stateDir: dir, dryRun: false, log: silentLogger });
    expect(failed.result).toBe('failed');
    expect(failed.error).toBe('test.switch broke');
    // WHEN it is resumed
    const calls: string[] = [];
    const resumed = await runRunbook({ runbook: recordingRunbook(calls), environment: 'test', stateDir: dir, dryRun: false, resumeRunId: failed.runId, log: silentLogger });
    // THEN finished steps are not run again and say so ('done-earlier', with the duration the journal
    // holds: a resumed run's report must not show work that was done as skipped), their facts are
    // available, the run knows when it first started, and the run completes
    expect(calls).toEqual(['test.switch', 'test.last']);
    expect(resumed.steps.map((s) => s.status)).toEqual(['done-earlier', 'done-earlier', 'done', 'done']);
    const journaled = new Journal(dir, failed.runId).read();
    const firstDone = journaled.find((e) => e.type === 'step-done' && e.step === 'test.first') as { durationMs: number };
    expect(resumed.steps[1].durationMs).toBe(firstDone.durationMs);
    expect(resumed.firstStartedAt).toBe((journaled[0] as { at: string }).at);
    expect(resumed.facts.test_firstDone).toBe(true);
    expect(resumed.result).toBe('success');
  });

  test('facts a step records mid-way are journaled at once and seen by the resumed attempt of that step', async () => {
    // GIVEN a step that records a sub-phase, then dies before it finishes
    const dir = stateDir();
    const seen: unknown[] = [];
    let crash = true;
    const runbook: Runbook = {
      flow: 'test.flow',
      summary: [],
      steps: [
        {
          id: 'test.switch',
          kind: 'action',
          describe: () => ['switch'],
          async apply(context) {
            seen.push(context.facts.frozenAt);
            context.record({ frozenAt: 42 });
            if (crash) throw new Error('killed between sub-phases');
            return { switched: true };
          },
        },
      ],
    };
    const failed = await runRunbook({ runbook, environment: 'test', stateDir: dir, dryRun: false, log: silentLogger });
    expect(failed.result).toBe('failed');
    // THEN the journal holds the sub-phase, and the status derived from it has the fact
    expect(statusFromJournal(new Journal(dir, failed.runId).read()).facts.frozenAt).toBe(42);
    // WHEN resumed, the step starts knowing where it stood
    crash = false;
    const resumed = await runRunbook({ runbook, environment: 'test', stateDir: dir, dryRun: false, resumeRunId: failed.runId, log: silentLogger });
    expect(seen).toEqual([undefined, 42]);
    expect(resumed.result).toBe('success');
  });

  test('a resume of a journal written by an older version under a step\'s former id counts that step as done (its duration kept); an old step without a successor is ignored', async () => {
    // GIVEN a run of an older version, whose first step had another id and which had a step since removed
    const dir = stateDir();
    const older: Runbook = {
      flow: 'test.flow',
      summary: [],
      steps: [
        { id: 'test.replica.create', kind: 'action', describe: () => ['old name'], apply: async () => ({ snapshotId: 's-1' }) },
        { id: 'test.replica.stop', kind: 'action', describe: () => ['removed since'], apply: async () => ({}) },
        { id: 'test.clone', kind: 'action', describe: () => ['clone'], apply: async () => { throw new Error('killed in the clone'); } },
      ],
    };
    const failed = await runRunbook({ runbook: older, environment: 'test', stateDir: dir, dryRun: false, log: silentLogger });
    expect(failed.result).toBe('failed');
    // WHEN this version, which calls the first step test.snapshot.create (formerly test.replica.create), resumes it
    const calls: string[] = [];
    const current: Runbook = {
      flow: 'test.flow',
      summary: [],
      steps: [
        { id: 'test.snapshot.create', formerIds: ['test.replica.create'], kind: 'action', describe: () => ['new name'], apply: async () => (calls.push('test.snapshot.create'), { snapshotId: 's-2' }) },
        { id: 'test.clone', kind: 'action', describe: () => ['clone'], apply: async (context) => (calls.push(`test.clone of ${String(context.facts.snapshotId)}`), {}) },
      ],
    };
    const resumed = await runRunbook({ runbook: current, environment: 'test', stateDir: dir, dryRun: false, resumeRunId: failed.runId, log: silentLogger });
    // THEN the renamed step is not run again, and the run goes on from where the old one stopped
    expect(calls).toEqual(['test.clone of s-1']);
    expect(resumed.steps.map((s) => [s.id, s.status])).toEqual([['test.snapshot.create', 'done-earlier'], ['test.clone', 'done']]);
    const oldDone = new Journal(dir, failed.runId).read().find((e) => e.type === 'step-done' && e.step === 'test.replica.create') as { durationMs: number };
    expect(resumed.steps[0].durationMs).toBe(oldDone.durationMs);
    expect(resumed.result).toBe('success');
  });

  test('resume refuses a different environment and a finished run', async () => {
    const dir = stateDir();
    const done = await runRunbook({ runbook: recordingRunbook([]), environment: 'test', stateDir: dir, dryRun: false, log: silentLogger });
    await expect(runRunbook({ runbook: recordingRunbook([]), environment: 'other', stateDir: dir, dryRun: false, resumeRunId: done.runId, log: silentLogger })).rejects.toThrow(/same --env/);
    await expect(runRunbook({ runbook: recordingRunbook([]), environment: 'test', stateDir: dir, dryRun: false, resumeRunId: done.runId, log: silentLogger })).rejects.toThrow(/already finished/);
  });

  test('a failing before-switch hook aborts before the irreversible step', async () => {
    const calls: string[] = [];
    const result = await runRunbook({
      runbook: recordingRunbook(calls),
      environment: 'test',
      stateDir: stateDir(),
      dryRun: false,
      hooks: parseHooks(['before-switch=exit 7']),
      log: silentLogger,
    });
    expect(result.result).toBe('aborted');
    expect(result.error).toMatch(/hook before-switch .* exited with 7/);
    expect(calls).toEqual(['test.check', 'test.first']);
  });

  test('a failing after-switch hook does not stop verification after the point of no return; the run ends failed', async () => {
    const calls: string[] = [];
    const runbook = recordingRunbook(calls);
    runbook.steps[2].hookAfter = 'after-switch';
    const result = await runRunbook({ runbook, environment: 'test', stateDir: stateDir(), dryRun: false, hooks: parseHooks(['after-switch=exit 4']), log: silentLogger });
    expect(calls).toEqual(['test.check', 'test.first', 'test.switch', 'test.last']);
    expect(result.result).toBe('failed');
    expect(result.error).toMatch(/hook after-switch .* exited with 4/);
  });

  test('hooks get run facts in CUTOVER_* variables, including CUTOVER_DRY_RUN', async () => {
    const dir = stateDir();
    const out = join(dir, 'hook.env');
    await runRunbook({ runbook: recordingRunbook([]), environment: 'staging', stateDir: dir, dryRun: true, hooks: parseHooks([`before-switch=env | grep ^CUTOVER_ | sort > ${out}`]), log: silentLogger });
    const env = readFileSync(out, 'utf8');
    expect(env).toContain('CUTOVER_DRY_RUN=1');
    expect(env).toContain('CUTOVER_PHASE=before-switch');
    expect(env).toContain('CUTOVER_ENVIRONMENT=staging');
    expect(env).toContain('CUTOVER_FLOW=test.flow');
    expect(env).toContain('CUTOVER_CHECKED=true');
  });

  test('an AbortRun from a step ends the run as aborted, not failed', async () => {
    const runbook: Runbook = {
      flow: 'test.abort',
      summary: [],
      steps: [{ id: 'test.gate', kind: 'action', describe: () => ['gate'], apply: async () => { throw new AbortRun('lag too high'); } }],
    };
    const result = await runRunbook({ runbook, environment: 'test', stateDir: stateDir(), dryRun: false, log: silentLogger });
    expect(result.result).toBe('aborted');
    expect(result.steps[0].status).toBe('aborted');
  });

  test('secrets never reach the journal', async () => {
    const secret = registerSecret('s3cr3t-journal-value');
    const dir = stateDir();
    const runbook: Runbook = {
      flow: 'test.secret',
      summary: [],
      steps: [{ id: 'test.leaky', kind: 'action', describe: () => ['x'], apply: async () => { throw new Error(`connect failed with password ${secret}`); } }],
    };
    const result = await runRunbook({ runbook, environment: 'test', stateDir: dir, dryRun: false, log: silentLogger });
    const journal = readFileSync(new Journal(dir, result.runId).path, 'utf8');
    expect(journal).not.toContain(secret);
    expect(journal).toContain('***');
    expect(result.error).not.toContain(secret);
  });

  test('a torn last journal line (crash mid-write) is tolerated', async () => {
    const dir = stateDir();
    const result = await runRunbook({ runbook: recordingRunbook([], { failAt: 'test.last' }), environment: 'test', stateDir: dir, dryRun: false, log: silentLogger });
    const journal = new Journal(dir, result.runId);
    writeFileSync(journal.path, readFileSync(journal.path, 'utf8') + '{"type":"step-st');
    expect(statusFromJournal(journal.read()).finished).toContain('test.switch');
  });

  test('plan text marks checks, actions, hooks and the point of no return', () => {
    const lines = planText(recordingRunbook([]));
    expect(lines).toContain(' 3. test.switch [action, POINT OF NO RETURN]');
    expect(lines).toContain('    (hook before-switch)');
    expect(lines).toContain(' 1. test.check [check]');
  });

  test('an unknown run id names where runs are listed', () => {
    const dir = stateDir();
    expect(() => new Journal(dir, 'nope').read()).toThrow(/List runs with: ls/);
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });
});

describe('parseHooks', () => {
  test('rejects an unknown phase and lists the valid ones', () => {
    expect(() => parseHooks(['before-cutover=true'])).toThrow(/PHASE one of startup, validated, before-switch, after-switch, success, failure/);
    expect(() => parseHooks(['before-switch='])).toThrow(/Invalid --hook/);
  });
  test('collects repeated hooks per phase', () => {
    expect(parseHooks(['success=a', 'success=b=c'])).toEqual({ success: ['a', 'b=c'] });
  });
});
