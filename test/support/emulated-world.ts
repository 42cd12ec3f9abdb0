/**
 * The emulated AWS integration tests' common setup: skip (saying how to get it) where moto
 * cannot be found; one world per describe block, started in beforeAll and stopped in afterAll
 * with nothing left (processes, state folder); the CLI run in its own process against it
 * (run-emulated-cutover.ts), so that a kill -9 and a resume are the real thing.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { locateMoto, MOTO_INSTALL_HINT } from '../../lib/rehearsal/aws-emulated/moto';
import { recordingLogger } from '../platforms/aws/helpers';
import { runEmulatedCutover, type CutoverProcessResult, type KillAt } from './emulated-cutover-process';

export const PROJECT_ROOT = resolve(__dirname, '../..');

/** `describe` where moto is found; elsewhere `describe.skip`, with a warning naming `what` is skipped and how to get moto. */
export function describeWithMoto(what: string): jest.Describe {
  if (locateMoto(PROJECT_ROOT)) return describe;
  console.warn(`skipping ${what}: ${MOTO_INSTALL_HINT}`);
  return describe.skip;
}

interface World {
  readonly environmentInput: object;
  pids(): number[];
  stop(): Promise<void>;
}

/**
 * Registers beforeAll/afterAll for one emulated world (call it inside the describe block, before
 * the block's own hooks: they see the world started). `start` gets the project root, a fresh
 * state folder and a recording logger. `cli(args, killAt)` runs the cutover CLI against the
 * world's environment (RDS_CUTOVER_TEST_KILL_AT: it SIGKILLs itself on that log line; `{ journal }`:
 * right after that journal entry, RDS_CUTOVER_KILL_AT).
 */
export function useEmulatedWorld<W extends World>(
  stateDirPrefix: string,
  start: (options: { projectRoot: string; stateDir: string; log: ReturnType<typeof recordingLogger> }) => Promise<W>,
  options: { startTimeoutMs?: number } = {},
) {
  const log = recordingLogger();
  const stateDir = mkdtempSync(join(tmpdir(), stateDirPrefix));
  const environmentFile = join(stateDir, 'environment.json');
  let world: W | undefined;

  beforeAll(async () => {
    world = await start({ projectRoot: PROJECT_ROOT, stateDir, log });
    writeFileSync(environmentFile, JSON.stringify(world.environmentInput));
  }, options.startTimeoutMs);

  afterAll(async () => {
    await world?.stop();
    rmSync(stateDir, { recursive: true, force: true });
    expect(world?.pids() ?? []).toEqual([]);
  });

  return {
    log,
    stateDir,
    get world(): W {
      if (!world) throw new Error('the emulated world is not started (use it inside a test or a later beforeAll)');
      return world;
    },
    cli(args: string[], killAt?: KillAt): Promise<CutoverProcessResult> {
      return runEmulatedCutover(environmentFile, stateDir, args, killAt);
    },
  };
}

/** How a run meant to be killed at a kill point ended: SIGKILL there, or (shown in the failure) its exit code and output tail. */
export interface KilledRun {
  at: KillAt;
  signal: string | null;
  code?: number | null;
  output?: string;
}

/**
 * Runs the cutover killed (-9) at each of `killPoints` in turn, each time resuming the run the
 * first one started (`--resume RUN_ID`: the run folder in `<stateDir>/runs` that was not there
 * before — a switch-back's own run beside its forward run), then once more to its end. Returns
 * that last run, its id and how each killed one ended.
 */
export async function killedAtEachThenFinished<K extends KillAt>(
  run: (resume: string[], killAt?: K) => Promise<CutoverProcessResult>,
  killPoints: K[],
  stateDir: string,
): Promise<{ last: CutoverProcessResult; killed: KilledRun[]; runId: string | undefined }> {
  const runsDir = join(stateDir, 'runs');
  const runs = () => (existsSync(runsDir) ? readdirSync(runsDir) : []);
  const before = new Set(runs());
  const killed: KilledRun[] = [];
  let runId: string | undefined;
  let resume: string[] = [];
  for (const killAt of killPoints) {
    const ended = await run(resume, killAt);
    killed.push({ at: killAt, signal: ended.signal, ...(ended.signal ? {} : { code: ended.code, output: `${ended.stdout.slice(-1500)}\n${ended.stderr.slice(-2500)}` }) });
    if (runId === undefined) {
      const started = runs().filter((id) => !before.has(id));
      if (started.length !== 1) throw new Error(`expected the killed run to leave one new run folder in ${runsDir}, found ${started.length} (${started.join(', ')})`);
      runId = started[0];
    }
    resume = ['--resume', runId];
  }
  const last = await run(resume);
  // Not killed at all: the one run it started.
  if (runId === undefined) runId = runs().find((id) => !before.has(id));
  return { last, killed, runId };
}
