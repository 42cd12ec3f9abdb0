import { spawn } from 'node:child_process';
import { redact } from '../util/secrets';
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
 */
export function runHook(command: string, facts: HookFacts, options: { timeoutMs?: number; hideEnv?: string[] } = {}): Promise<HookOutcome> {
  const started = Date.now();
  const hidden = new Set(options.hideEnv ?? []);
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !hidden.has(key) && !/^CUTOVER_.*PASSWORD$/.test(key)));
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { env: { ...inherited, ...hookEnvironment(facts) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ command: redact(command), exitCode: code ?? (signal ? 128 : 1), durationMs: Date.now() - started, outputTail: redact(output.trim()) });
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ command: redact(command), exitCode: 127, durationMs: Date.now() - started, outputTail: error.message });
    });
  });
}
