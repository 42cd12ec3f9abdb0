import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { runRunbook } from '../../lib/runbook/engine';
import { JournalFactsRefused, checkJournaledFacts } from '../../lib/runbook/facts-schema';
import { Journal } from '../../lib/runbook/journal';
import type { Runbook } from '../../lib/runbook/step';
import { MYSQL_ENCRYPT_FACTS } from '../../lib/flows/mysql-encrypt';
import { POSTGRES_SWITCH_FACTS } from '../../lib/flows/postgres-common';
import { silentLogger } from '../../lib/util/log';

const created: string[] = [];
afterAll(() => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

/** A flow whose first step records start coordinates and whose second fails once (so the run can be resumed). */
function coordinatesRunbook(calls: string[], failSecond: { fail: boolean }): Runbook {
  return {
    flow: 'test.coordinates',
    summary: [],
    facts: { shape: { startBinlogFile: z.string(), startBinlogPosition: z.number().int().nonnegative() }, requiredAfter: { 'test.coordinates': ['startBinlogFile', 'startBinlogPosition'] } },
    steps: [
      { id: 'test.coordinates', kind: 'action', describe: () => ['record'], apply: async () => (calls.push('coordinates'), { startBinlogFile: 'mysql-bin.000003', startBinlogPosition: 1234 }) },
      {
        id: 'test.replicate',
        kind: 'action',
        describe: () => ['use'],
        apply: async (context) => {
          calls.push(`replicate from ${String(context.facts.startBinlogFile)}:${String(context.facts.startBinlogPosition)}`);
          if (failSecond.fail) throw new Error('replication did not start');
          return {};
        },
      },
    ],
  };
}

/** Runs the flow once (it fails in its second step), then rewrites the journal with `edit` (if given). */
async function failedRunWithJournal(edit?: (journal: string) => string): Promise<{ stateDir: string; runId: string; journalFile: string; calls: string[] }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-facts-'));
  created.push(stateDir);
  const calls: string[] = [];
  const first = await runRunbook({ runbook: coordinatesRunbook(calls, { fail: true }), environment: 'test', stateDir, dryRun: false, log: silentLogger });
  expect(first.result).toBe('failed');
  const journalFile = join(stateDir, 'runs', first.runId, 'journal.jsonl');
  if (edit) {
    const original = readFileSync(journalFile, 'utf8');
    const edited = edit(original);
    expect(edited).not.toBe(original);
    writeFileSync(journalFile, edited);
  }
  return { stateDir, runId: first.runId, journalFile, calls };
}

describe('facts read back from the journal on --resume are checked against the flow schema', () => {
  test('GIVEN a journal whose start position is a string WHEN the run is resumed THEN it is refused naming the fact, before any step runs or anything is journaled', async () => {
    const { stateDir, runId, journalFile, calls } = await failedRunWithJournal((journal) => journal.replace('"startBinlogPosition":1234', '"startBinlogPosition":"1234; DROP"'));
    const before = readFileSync(journalFile, 'utf8');
    calls.length = 0;
    const resumed = runRunbook({ runbook: coordinatesRunbook(calls, { fail: false }), environment: 'test', stateDir, dryRun: false, log: silentLogger, resumeRunId: runId });
    await expect(resumed).rejects.toThrow(JournalFactsRefused);
    await expect(resumed).rejects.toThrow(/fact "startBinlogPosition" is "1234; DROP"/);
    await expect(resumed).rejects.toThrow(/nothing was changed/);
    expect(calls).toEqual([]);
    expect(readFileSync(journalFile, 'utf8')).toBe(before);
    expect(new Journal(stateDir, runId).read().some((entry) => entry.type === 'run-resume')).toBe(false);
  });

  test('GIVEN a journal where the step that records the coordinates is done but they are missing WHEN resumed THEN refused naming the missing fact', async () => {
    const { stateDir, runId, calls } = await failedRunWithJournal((journal) => journal.replace(/"facts":\{"startBinlogFile":"mysql-bin.000003","startBinlogPosition":1234\}/, '"facts":{}'));
    calls.length = 0;
    await expect(runRunbook({ runbook: coordinatesRunbook(calls, { fail: false }), environment: 'test', stateDir, dryRun: false, log: silentLogger, resumeRunId: runId })).rejects.toThrow(
      /fact "startBinlogFile" is missing \(test\.coordinates is done, and records it\); .*fact "startBinlogPosition" is missing/,
    );
    expect(calls).toEqual([]);
  });

  test('GIVEN an intact journal WHEN resumed THEN the facts pass and the run finishes from where it stopped', async () => {
    const { stateDir, runId, calls } = await failedRunWithJournal();
    calls.length = 0;
    const resumed = await runRunbook({ runbook: coordinatesRunbook(calls, { fail: false }), environment: 'test', stateDir, dryRun: false, log: silentLogger, resumeRunId: runId });
    expect(resumed.result).toBe('success');
    expect(calls).toEqual(['replicate from mysql-bin.000003:1234']);
  });

  test('the MySQL encrypt flow declares its coordinates: a string position or an unknown switch phase is refused, other facts pass', () => {
    const run = { runId: 'r1', flow: 'mysql.encrypt', finished: ['mysql.preflight', 'mysql.target.clone'] };
    expect(() => checkJournaledFacts(MYSQL_ENCRYPT_FACTS, { startBinlogFile: 'mysql-bin.000003', startBinlogPosition: 1234, switchPhase: 'frozen', finalBinlogFile: 'mysql-bin.000003', finalBinlogPosition: 2048, somethingForTheReport: [1] }, run)).not.toThrow();
    expect(() => checkJournaledFacts(MYSQL_ENCRYPT_FACTS, { startBinlogFile: 'mysql-bin.000003', startBinlogPosition: '1234' }, run)).toThrow(/fact "startBinlogPosition" is "1234"/);
    expect(() => checkJournaledFacts(MYSQL_ENCRYPT_FACTS, { startBinlogFile: 'mysql-bin.000003', startBinlogPosition: 4, switchPhase: 'half-way' }, run)).toThrow(/fact "switchPhase" is "half-way"/);
    expect(() => checkJournaledFacts(MYSQL_ENCRYPT_FACTS, {}, run)).toThrow(/fact "startBinlogFile" is missing \(mysql.target.clone is done/);
  });

  test('the MySQL switch journals the final position in the line that says it froze: a journal past the freeze without it is refused, one still freezing passes', () => {
    const run = { runId: 'r1', flow: 'mysql.encrypt', finished: ['mysql.preflight', 'mysql.target.clone'] };
    const start = { startBinlogFile: 'mysql-bin.000003', startBinlogPosition: 1234 };
    expect(() => checkJournaledFacts(MYSQL_ENCRYPT_FACTS, { ...start, switchPhase: 'freezing' }, run)).not.toThrow();
    expect(() => checkJournaledFacts(MYSQL_ENCRYPT_FACTS, { ...start, switchPhase: 'promoted', finalBinlogFile: 'mysql-bin.000004', finalBinlogPosition: 99 }, run)).not.toThrow();
    expect(() => checkJournaledFacts(MYSQL_ENCRYPT_FACTS, { ...start, switchPhase: 'promoted', finalBinlogFile: 'mysql-bin.000004' }, run)).toThrow(/fact "finalBinlogPosition" is missing \(switchPhase is "promoted", journaled in the same line\)/);
  });

  test('the PostgreSQL switch facts: "frozen and not reopened" must be numbers (null only for a source not reopened)', () => {
    const run = { runId: 'r2', flow: 'postgres.logical', finished: [] };
    expect(() => checkJournaledFacts(POSTGRES_SWITCH_FACTS, { sourceFrozenAt: 1764625000000, sourceReopenedAt: null, endpointMoveStartedAt: 1764625001000 }, run)).not.toThrow();
    expect(() => checkJournaledFacts(POSTGRES_SWITCH_FACTS, { sourceFrozenAt: '2026-12-01T21:00:00Z', sourceReopenedAt: null }, run)).toThrow(/fact "sourceFrozenAt" is "2026-12-01T21:00:00Z"/);
    expect(() => checkJournaledFacts(POSTGRES_SWITCH_FACTS, { sourceFrozenAt: 1764625000000, endpointMoveStartedAt: true }, run)).toThrow(/fact "endpointMoveStartedAt" is true/);
  });
});
