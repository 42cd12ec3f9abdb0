import { redact } from '../util/secrets';
import { spawnGuardedShell } from '../util/process-group';
import { HOOK_PHASES, type Facts, type HookPhase } from './step';

export type HookMap = Partial<Record<HookPhase, string[]>>;

/** Parse repeated `--hook PHASE=COMMAND` values; the error lists the valid phases. */
export function parseHooks(values: string[]): HookMap {
  const hooks: HookMap = {};
  for (const value of values) {
    const index = value.indexOf('=');
    const phase = value.slice(0, index) as HookPhase;
    const command = value.slice(index + 1).trim();
    if (index <= 0 || !HOOK_PHASES.includes(phase) || command === '') {
      throw new Error(`Invalid --hook "${value}": expected PHASE=COMMAND with PHASE one of ${HOOK_PHASES.join(', ')}`);
    }
    (hooks[phase] ??= []).push(command);
  }
  return hooks;
}

export interface HookFacts {
  runId: string;
  flow: string;
  environment: string;
  phase: HookPhase;
  dryRun: boolean;
  step?: string;
  facts: Facts;
}

/** The `CUTOVER_*` variables a hook sees. Facts never hold secrets; they are redacted anyway. */
export function hookEnvironment(facts: HookFacts): Record<string, string> {
  const env: Record<string, string> = {
    CUTOVER_RUN_ID: facts.runId,
    CUTOVER_FLOW: facts.flow,
    CUTOVER_ENVIRONMENT: facts.environment,
    CUTOVER_PHASE: facts.phase,
    CUTOVER_DRY_RUN: facts.dryRun ? '1' : '0',
    CUTOVER_FACTS: redact(JSON.stringify(facts.facts)),
  };
  if (facts.step) env.CUTOVER_STEP = facts.step;
  for (const [key, value] of Object.entries(facts.facts)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      env['CUTOVER_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]/g, '_').toUpperCase()] = redact(String(value));
    }
  }
  return env;
}

export interface HookOutcome {
  command: string;
  exitCode: number;
  durationMs: number;
  outputTail: string;
}

/**
 * Run one hook through `sh -c` with the run facts in its environment. The environment it
 * inherits is the operator's own, minus the variables that hold our database passwords.
 * The hook runs as its own process group that dies with the orchestrator (even on SIGKILL);
 * past the timeout the whole group is killed, and whatever it left running in the background
 * is killed when it exits (a background program holding its output must not stall the run).
 */
export function runHook(command: string, facts: HookFacts, options: { timeoutMs?: number; hideEnv?: string[] } = {}): Promise<HookOutcome> {
  const started = Date.now();
  const hidden = new Set(options.hideEnv ?? []);
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !hidden.has(key) && !/^CUTOVER_.*PASSWORD$/.test(key)));
  return new Promise((resolve) => {
    const timeoutMs = options.timeoutMs ?? 300000;
    const shell = spawnGuardedShell(command, { env: { ...inherited, ...hookEnvironment(facts) } });
    const child = shell.child;
    let output = '';
    let timedOut = false;
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const timer = setTimeout(() => {
      timedOut = true;
      shell.release();
    }, timeoutMs);
    const finish = (exitCode: number, extra = '') => {
      clearTimeout(timer);
      shell.release();
      // Read what is still in the pipes; the leftovers holding them are being killed, so they
      // close soon; the cap covers a holder that escaped the group.
      const done = () => {
        clearTimeout(cap);
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve({ command: redact(command), exitCode, durationMs: Date.now() - started, outputTail: redact((output.trim() + extra).trim()) });
      };
      const cap = setTimeout(done, 2000);
      if (child.stdout?.closed !== false && child.stderr?.closed !== false) done();
      else child.once('close', done);
    };
    child.once('exit', (code, signal) => finish(code ?? (signal ? 128 : 1), timedOut ? `\n(killed after the hook timeout of ${timeoutMs} ms)` : ''));
    child.once('error', (error) => finish(127, `\n${error.message}`));
  });
}
