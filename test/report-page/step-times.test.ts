import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRunbook } from '../../lib/runbook/engine';
import type { Runbook } from '../../lib/runbook/step';
import { reportFromRun } from '../../lib/report';
import { silentLogger } from '../../lib/util/log';
import { sleep } from '../../lib/util/time';

describe('step times for the report page', () => {
  let stateDir: string;
  beforeEach(() => (stateDir = mkdtempSync(join(tmpdir(), 'rc-step-times-'))));
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  test('each executed step reports its wall-clock start, in order, so the page can draw steps as bands', async () => {
    // GIVEN a runbook of two actions, the first taking a while
    const runbook: Runbook = {
      flow: 'test.flow',
      summary: [],
      steps: [
        { id: 'test.first', kind: 'action', describe: () => [], apply: async () => { await sleep(30); return {}; } },
        { id: 'test.second', kind: 'action', describe: () => [], apply: async () => ({}) },
      ],
    };
    const before = Date.now();
    // WHEN it runs
    const run = await runRunbook({ runbook, environment: 'test', stateDir, dryRun: false, log: silentLogger });
    const report = reportFromRun(run, { engine: 'mysql', startedAt: new Date(before) });
    // THEN the report's steps carry their start (epoch ms), the second after the first ended
    const [first, second] = report.steps;
    expect(first.startedAt).toBeGreaterThanOrEqual(before - 1);
    expect(second.startedAt!).toBeGreaterThanOrEqual(first.startedAt! + first.durationMs - 1);
  });

  test('a dry run executes no action, so its planned steps have no start', async () => {
    const runbook: Runbook = { flow: 'test.flow', summary: [], steps: [{ id: 'test.only', kind: 'action', describe: () => [], apply: async () => ({}) }] };
    const run = await runRunbook({ runbook, environment: 'test', stateDir, dryRun: true, log: silentLogger });
    expect(run.steps[0].startedAt).toBeUndefined();
  });
});
