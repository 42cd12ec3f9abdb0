import { existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { ProcessGroup } from '../../util/process-group';
import { freePort } from '../../util/ports';
import { waitFor } from '../../util/time';

/** Overrides where moto is found: a `moto-server PORT` script or a `moto_server` binary. */
export const MOTO_ENV_VAR = 'RDS_CUTOVER_MOTO';

/** How to get moto when none is found (the message of a skipped test). */
export const MOTO_INSTALL_HINT =
  "moto (AWS API emulator) not found: set RDS_CUTOVER_MOTO to a moto-server script, put the shared copy at ../shared/tools/moto/moto-server above the project, or `pip install 'moto[server]'` (moto_server on the PATH; CI has the shared copy)";

export interface MotoCommand {
  /** `script`: takes the port as its only argument; `binary`: moto_server's own flags. */
  kind: 'script' | 'binary';
  path: string;
  /** Where it came from, for the test log. */
  from: string;
}

function onPath(name: string, environment: NodeJS.ProcessEnv): string | undefined {
  for (const directory of (environment.PATH ?? '').split(delimiter)) {
    const candidate = join(directory, name);
    if (directory && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Find moto: RDS_CUTOVER_MOTO, else `shared/tools/moto/moto-server` in the project root or a
 * folder above it (the project's checkout and its worktrees sit at different depths), else
 * `moto_server` on the PATH — last, because the image's moto 5.2.1 lacks the fixes of the shared
 * copy (unique DbiResourceId, user parameter sources, private hosted zones).
 */
export function locateMoto(projectRoot: string, environment: NodeJS.ProcessEnv = process.env): MotoCommand | undefined {
  const configured = environment[MOTO_ENV_VAR];
  if (configured) {
    if (!existsSync(configured)) throw new Error(`${MOTO_ENV_VAR}=${configured} does not exist: point it at a moto-server script or a moto_server binary`);
    return { kind: /moto_server$/.test(configured) ? 'binary' : 'script', path: configured, from: MOTO_ENV_VAR };
  }
  for (let directory = resolve(projectRoot); ; directory = dirname(directory)) {
    const candidate = join(directory, 'shared', 'tools', 'moto', 'moto-server');
    if (existsSync(candidate)) return { kind: 'script', path: candidate, from: `the shared copy ${candidate}` };
    if (dirname(directory) === directory) break;
  }
  const binary = onPath('moto_server', environment);
  return binary ? { kind: 'binary', path: binary, from: `moto_server on the PATH (${binary}; lacks the shared copy's fixes)` } : undefined;
}

/** What moto-cross-account/sitecustomize.py prints on stderr once its patch is installed. */
const CROSS_ACCOUNT_PATCH_LOADED = 'rds-cutover: cross-account snapshot copies enabled in moto';

/** One moto server on a free loopback port, in its own process group; `stop()` ends it. */
export class MotoServer {
  private constructor(
    readonly url: string,
    readonly command: MotoCommand,
    private readonly group: ProcessGroup,
  ) {}

  /**
   * @param options.crossAccountSnapshots - let an account copy a snapshot another account shared
   *   with it by ARN (moto looks the ARN up in the caller's own account): moto-cross-account/sitecustomize.py
   */
  static async start(command: MotoCommand, options: { crossAccountSnapshots?: boolean } = {}): Promise<MotoServer> {
    const port = await freePort();
    const group = new ProcessGroup();
    const args = command.kind === 'script' ? [String(port)] : ['-H', '127.0.0.1', '-p', String(port)];
    // The shared moto-server unpacks itself once into the temp dir and reuses that copy: give it
    // the machine's temp dir, not a test run's private one (which is removed, so it would unpack
    // 100 MB again every run and count as left behind).
    const outerTmp = process.env.RDS_CUTOVER_OUTER_TMPDIR;
    const env = {
      ...process.env,
      ...(outerTmp ? { TMPDIR: outerTmp } : {}),
      ...(options.crossAccountSnapshots ? { PYTHONPATH: [join(__dirname, 'moto-cross-account'), process.env.PYTHONPATH].filter(Boolean).join(delimiter) } : {}),
    };
    const child = group.start('moto', command.path, args, { env });
    // The patch says at python's start-up whether it took (before the server answers).
    let startupOutput = '';
    const collect = (chunk: Buffer) => {
      if (startupOutput.length < 100_000) startupOutput += chunk.toString('utf8');
    };
    child.stderr?.on('data', collect);
    const url = `http://127.0.0.1:${port}`;
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`moto exited with code ${code} while starting:\n${group.tail(child)}`))));
    exited.catch(() => undefined);
    try {
      await Promise.race([
        waitFor('moto to answer', async () => ((await fetch(`${url}/moto-api/data.json`).catch(() => undefined))?.ok ? true : undefined), { timeoutMs: 120000, intervalMs: 200 }),
        exited,
      ]);
      if (options.crossAccountSnapshots && !startupOutput.includes(CROSS_ACCOUNT_PATCH_LOADED)) {
        const said = startupOutput.split('\n').find((line) => line.includes('rds-cutover:')) ?? 'nothing (sitecustomize.py was not imported: another sitecustomize earlier on the path?)';
        throw new Error(`the cross-account snapshot patch did not take in ${command.from}: it said ${said.trim()}. Fix lib/rehearsal/aws-emulated/moto-cross-account/sitecustomize.py for this moto, or point ${MOTO_ENV_VAR} at the shared copy (../shared/tools/moto/moto-server)`);
      }
    } catch (error) {
      await group.stopAll();
      throw error;
    } finally {
      child.stderr?.off('data', collect);
    }
    return new MotoServer(url, command, group);
  }

  /** The environment the SDK (and the CLI) read: endpoint and fake credentials. */
  sdkEnvironment(region: string): Record<string, string> {
    return { AWS_ENDPOINT_URL: this.url, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: region, AWS_EC2_METADATA_DISABLED: 'true' };
  }

  pids(): number[] {
    return this.group.pids();
  }

  async stop(): Promise<void> {
    await this.group.stopAll(10000);
  }
}
