import { runRunbook } from '../../lib/runbook/engine';
import { ResourceKey, RunResources } from '../../lib/runbook/resources';
import type { Runbook, Step, StepContext } from '../../lib/runbook/step';
import { silentLogger } from '../../lib/util/log';
import { tempDirsRemovedAfterAll } from '../support/temp-dirs';

const stateDir = tempDirsRemovedAfterAll('rc-resources-');

/** A resource that counts its disposals in `disposed`. */
const key = (name: string) => new ResourceKey<{ name: string }>(name);
function hold(context: StepContext, name: string, disposed: string[]): void {
  context.resources.register(key(name), { name }, (value) => void disposed.push(value.name));
}

function runbook(steps: Array<Partial<Step> & { id: string }>): Runbook {
  return { flow: 'test.flow', summary: [], steps: steps.map((step) => ({ kind: 'action', describe: () => [step.id], apply: async () => ({}), ...step })) };
}

describe('run resources: registered with their disposer, disposed once in reverse order when the run ends', () => {
  test('GIVEN resources from two steps WHEN the run succeeds THEN each is disposed exactly once, last registered first, before runRunbook returns', async () => {
    const disposed: string[] = [];
    const run = await runRunbook({
      runbook: runbook([
        { id: 'test.open', apply: async (context) => (hold(context, 'pool', disposed), hold(context, 'snapshot.source', disposed), {}) },
        { id: 'test.use', apply: async (context) => (expect(context.resources.get(key('pool'))).toEqual({ name: 'pool' }), hold(context, 'snapshot.target', disposed), {}) },
      ]),
      environment: 'test', stateDir: stateDir(), dryRun: false, log: silentLogger,
    });
    expect(run.result).toBe('success');
    expect(disposed).toEqual(['snapshot.target', 'snapshot.source', 'pool']);
  });

  test('GIVEN a step that throws after registering WHEN the run fails THEN everything registered so far is disposed once, in reverse order', async () => {
    const disposed: string[] = [];
    const run = await runRunbook({
      runbook: runbook([
        { id: 'test.open', apply: async (context) => (hold(context, 'first', disposed), {}) },
        { id: 'test.break', apply: async (context) => { hold(context, 'second', disposed); throw new Error('boom'); } },
        { id: 'test.never', apply: async (context) => (hold(context, 'never', disposed), {}) },
      ]),
      environment: 'test', stateDir: stateDir(), dryRun: false, log: silentLogger,
    });
    expect(run.result).toBe('failed');
    expect(disposed).toEqual(['second', 'first']);
  });

  test('GIVEN an interrupt (SIGINT) during a step WHEN the run stops at the boundary THEN its resources are disposed once, in reverse order', async () => {
    const disposed: string[] = [];
    const run = await runRunbook({
      runbook: runbook([
        { id: 'test.copy', apply: async (context) => { hold(context, 'a', disposed); hold(context, 'b', disposed); process.emit('SIGINT', 'SIGINT'); return {}; } },
        { id: 'test.switch', apply: async (context) => (hold(context, 'never', disposed), {}) },
      ]),
      environment: 'test', stateDir: stateDir(), dryRun: false, log: silentLogger, handleSignals: true,
    });
    expect(run.result).toBe('interrupted');
    expect(disposed).toEqual(['b', 'a']);
  });

  test('GIVEN the caller passed the registry (to seed a test probe) WHEN it disposes again after the run THEN nothing is disposed twice', async () => {
    const disposed: string[] = [];
    const resources = new RunResources();
    const probe = new ResourceKey<(phase: string) => void>('test.probe');
    const seen: string[] = [];
    resources.set(probe, (phase) => void seen.push(phase));
    const run = await runRunbook({
      runbook: runbook([{ id: 'test.open', apply: async (context) => (context.resources.get(probe)?.('opened'), hold(context, 'pool', disposed), {}) }]),
      environment: 'test', stateDir: stateDir(), dryRun: false, log: silentLogger, resources,
    });
    expect(run.result).toBe('success');
    expect(seen).toEqual(['opened']);
    expect(await resources.disposeAll()).toEqual([]);
    expect(disposed).toEqual(['pool']);
    expect(resources.names()).toEqual([]);
  });

  test('GIVEN a dry-run whose check steps open connections THEN they are disposed when the plan is done', async () => {
    const disposed: string[] = [];
    const run = await runRunbook({
      runbook: runbook([{ id: 'test.check', kind: 'check', apply: async (context) => (hold(context, 'reader', disposed), {}) }]),
      environment: 'test', stateDir: stateDir(), dryRun: true, log: silentLogger,
    });
    expect(run.result).toBe('planned');
    expect(disposed).toEqual(['reader']);
  });

  test('a failing disposer does not keep the others open, and does not change the run result', async () => {
    const disposed: string[] = [];
    const run = await runRunbook({
      runbook: runbook([
        {
          id: 'test.open',
          apply: async (context) => {
            hold(context, 'first', disposed);
            context.resources.register(key('broken'), { name: 'broken' }, () => { throw new Error('already gone'); });
            hold(context, 'third', disposed);
            return {};
          },
        },
      ]),
      environment: 'test', stateDir: stateDir(), dryRun: false, log: silentLogger,
    });
    expect(run.result).toBe('success');
    expect(disposed).toEqual(['third', 'first']);
  });

  test('release disposes one resource now (once); forget drops it without disposing; a key taken twice is refused', async () => {
    const disposed: string[] = [];
    const resources = new RunResources();
    const context = { resources } as StepContext;
    hold(context, 'snapshot', disposed);
    hold(context, 'broken', disposed);
    expect(() => hold(context, 'snapshot', disposed)).toThrow('resource snapshot is already registered');
    await resources.release(key('snapshot'));
    await resources.release(key('snapshot'));
    expect(resources.forget(key('broken'))).toEqual({ name: 'broken' });
    expect(await resources.disposeAll()).toEqual([]);
    expect(disposed).toEqual(['snapshot']);
  });
});
