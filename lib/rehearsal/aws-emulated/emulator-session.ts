import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../util/log';
import { sleep } from '../../util/time';
import { WriteLoadProcess, type LoadWorkerStart } from '../../load/write-load-process';
import { summariseWrites } from '../../load/write-load';
import { writeReport, type CutoverReport } from '../../report';
import { locateMoto, MotoServer, MOTO_INSTALL_HINT } from './moto';

/** `--env aws-emulated`: not a config file, an account made in the emulator for the run. */
export const EMULATED_ENVIRONMENT = 'aws-emulated';
export const EMULATED_REGION = 'us-east-1';

export class MotoMissing extends Error {
  constructor() {
    super(`--env ${EMULATED_ENVIRONMENT} needs ${MOTO_INSTALL_HINT}`);
    this.name = 'MotoMissing';
  }
}

/**
 * moto started, and this process's environment pointed at it (the SDK's endpoint and fake
 * credentials, plus the world's own variables such as passwords) for this process and the ones
 * it starts; `end()` stops moto and puts every variable back. Both emulated worlds (RDS MySQL /
 * Aurora in rehearse.ts, RDS for PostgreSQL in rehearse-postgres.ts) start and end this way.
 */
export class EmulatorSession {
  private readonly saved: Record<string, string | undefined> = {};

  private constructor(readonly server: MotoServer) {}

  /** Throws MotoMissing (with how to install it) when no moto is found. */
  static async start(options: { projectRoot: string; log: Logger; crossAccountSnapshots?: boolean; variables?: Record<string, string> }): Promise<EmulatorSession> {
    const command = locateMoto(options.projectRoot);
    if (!command) throw new MotoMissing();
    options.log.info(`AWS emulator: ${command.from}`);
    const session = new EmulatorSession(await MotoServer.start(command, { crossAccountSnapshots: options.crossAccountSnapshots }));
    session.set({ ...session.server.sdkEnvironment(EMULATED_REGION), ...options.variables });
    return session;
  }

  /** Set variables for this process and its children until `end()`. */
  set(variables: Record<string, string>): void {
    for (const [key, value] of Object.entries(variables)) {
      if (!(key in this.saved)) this.saved[key] = process.env[key];
      process.env[key] = value;
    }
  }

  pids(): number[] {
    return this.server.pids();
  }

  async end(): Promise<void> {
    await this.server.stop();
    for (const [key, value] of Object.entries(this.saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}


/**
 * The rehearsal around one emulated run: the built-in write load through the application's
 * endpoint, the run, a tail of writes, then every acknowledged write looked up where the
 * application writes now (`presentIds`); the writes go into the run's report. Exit code: the
 * run's, or 1 when it succeeded but a write was lost or the data plane failed. The world is
 * stopped in every case.
 */
export async function rehearseUnderLoad(options: {
  world: { plane: { readonly errors: Error[] }; stop(): Promise<void> };
  /** Where the application writes (the world's application endpoint). */
  application: Omit<LoadWorkerStart, 'connections' | 'ratePerSecond'> & { password: string };
  /** The first line printed: what stands in for what. */
  intro: string;
  stateDir: string;
  out: (line: string) => void;
  load: { connections: number; ratePerSecond: number; tailMs: number };
  reportFile?: string;
  run: () => Promise<number>;
  presentIds: () => Promise<Set<string>>;
}): Promise<number> {
  const { world, out } = options;
  let load: WriteLoadProcess | undefined;
  try {
    out(options.intro);
    load = new WriteLoadProcess({ ...options.application, connections: options.load.connections, ratePerSecond: options.load.ratePerSecond });
    await load.start();
    const code = await options.run();
    await sleep(options.load.tailMs);
    await load.stop();
    // Where the application writes now must hold every acknowledged write.
    const writes = summariseWrites(load.attempts, await options.presentIds());
    out(`writes (built-in load through the application endpoint): ${writes.attempted} attempted, ${writes.acknowledged} acknowledged, ${writes.failed} failed, ${writes.lost} lost`);
    const reportFile = options.reportFile ?? latestReport(options.stateDir);
    if (reportFile) {
      const report = JSON.parse(readFileSync(reportFile, 'utf8')) as CutoverReport;
      writeReport(reportFile, { ...report, writes: { attempted: writes.attempted, acknowledged: writes.acknowledged, failed: writes.failed, lost: writes.lost } });
    }
    if (world.plane.errors.length > 0) out(`emulated data plane problems: ${world.plane.errors.map((e) => e.message).join('; ')}`);
    return code === 0 && (writes.lost > 0 || world.plane.errors.length > 0) ? 1 : code;
  } finally {
    await load?.stop().catch(() => load?.kill());
    await world.stop();
  }
}

/** The report the run wrote last (runs/<id>/report.json). */
export function latestReport(stateDir: string): string | undefined {
  const runs = join(stateDir, 'runs');
  if (!existsSync(runs)) return undefined;
  const candidates = readdirSync(runs)
    .map((id) => join(runs, id, 'report.json'))
    .filter((file) => existsSync(file))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return candidates[0];
}
