import { parseArgs } from 'node:util';
import { existsSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadEnvironment } from '../../config/cutover';
import { createLogger, type Logger } from '../util/log';
import { redact } from '../util/secrets';
import { EXIT_CODES } from '../exit-codes';
import { didYouMean } from './suggest';
import { stateDirFor } from './settings';
import { isAlive } from '../util/process-group';
import { MysqlSandbox } from '../platforms/local/mysql-sandbox';
import { PostgresSandbox } from '../platforms/local/postgres-sandbox';
import {
  abandonedRehearsalFolders,
  readSandboxState,
  removeAbandonedRehearsals,
  removeSandboxFolders,
  sandboxFolder,
  sandboxLiveness,
  SANDBOX_ENGINES,
  type SandboxEngine,
} from '../platforms/local/sandbox-state';

export const SANDBOX_USAGE = `Usage:
  npm run sandbox -- up [--engine mysql|postgres] [--seed-rows N]   start servers that outlive this command
  npm run sandbox -- status [--engine mysql|postgres]      what runs, where, and the application endpoint
  npm run sandbox -- down [--engine mysql|postgres]        stop everything and delete the sandbox's files

The servers (the same as a rehearsal's: MariaDB source + HAProxy endpoint, or PostgreSQL 15
source + pgbouncer endpoint) are recorded in .rds-cutover/sandbox/<engine>/ and keep running
until "down". Run the real flow against them:
  npx zx scripts/cutover.mjs --env sandbox --execute [--engine postgres --method logical|dump]
  (and --resume RUN_ID after a kill)
Passwords are generated and kept in .rds-cutover/sandbox/<engine>/secrets.json (0600), never printed.
`;

/** The one table of exit codes (lib/exit-codes.ts). */
const EXIT = EXIT_CODES;

class SandboxUsageError extends Error {}

interface SandboxArgs {
  command: 'up' | 'status' | 'down' | 'help';
  engines: SandboxEngine[];
  seedRows?: number;
  verbose: boolean;
}

export function parseSandboxArgs(argv: string[]): SandboxArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { engine: { type: 'string' }, 'seed-rows': { type: 'string' }, verbose: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } });
  } catch (error) {
    throw new SandboxUsageError(`${(error as Error).message.split('\n')[0]}. See npm run sandbox -- --help.`);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help', engines: [], verbose: false };
  const command = positionals[0];
  if (command !== 'up' && command !== 'status' && command !== 'down') throw new SandboxUsageError(`Expected a command: up, status or down (got ${command ? `"${command}"` : 'none'}).${command ? didYouMean(command, ['up', 'status', 'down']) : ''} See npm run sandbox -- --help.`);
  if (positionals.length > 1) throw new SandboxUsageError(`Unexpected argument "${positionals[1]}". See npm run sandbox -- --help.`);
  if (values.engine !== undefined && !SANDBOX_ENGINES.includes(values.engine as SandboxEngine)) throw new SandboxUsageError(`--engine ${values.engine} is unknown: expected one of ${SANDBOX_ENGINES.join(', ')}`);
  let seedRows: number | undefined;
  if (values['seed-rows'] !== undefined) {
    seedRows = Number(values['seed-rows']);
    if (!Number.isInteger(seedRows) || seedRows < 10) throw new SandboxUsageError(`--seed-rows expects a whole number >= 10, got "${values['seed-rows']}"`);
  }
  const engines = values.engine ? [values.engine as SandboxEngine] : command === 'up' ? (['mysql'] as SandboxEngine[]) : [...SANDBOX_ENGINES];
  return { command, engines, seedRows, verbose: values.verbose as boolean };
}

/** Lines describing the sandboxes under a state dir (and rehearsal folders crashed runs left). */
export function sandboxStatusLines(stateDir: string, engines: readonly SandboxEngine[] = SANDBOX_ENGINES): string[] {
  const lines: string[] = [];
  for (const engine of engines) {
    const folder = sandboxFolder(stateDir, engine);
    const recorded = existsSync(folder) ? readSandboxState(folder) : undefined;
    if (!recorded) {
      lines.push(existsSync(folder) ? `${engine} sandbox: incomplete (no sandbox.json) in ${folder}: npm run sandbox -- down --engine ${engine}` : `${engine} sandbox: not up`);
      continue;
    }
    const { state } = recorded;
    const { dead } = sandboxLiveness(state);
    const health = dead.length === 0 ? 'up' : `STALE (${dead.join(', ')} not running): npm run sandbox -- down --engine ${engine}, then up`;
    lines.push(`${engine} sandbox: ${health}, since ${state.createdAt}, files in ${folder}${state.serversDir !== folder ? ` (servers in ${state.serversDir})` : ''}`);
    lines.push(`  application endpoint (${state.endpoint.kind}): ${state.endpoint.host}:${state.endpoint.port}, user ${state.endpoint.user}, database ${state.endpoint.database}, password: ${join(folder, 'secrets.json')} (${engine === 'mysql' ? 'mysqlAppPassword' : 'postgresAppPassword'})`);
    for (const server of state.servers) lines.push(`  ${server.name.padEnd(8)} 127.0.0.1:${server.port}  pid ${server.pid}${dead.includes(server.name) ? ' (not running)' : ''}`);
    lines.push(`  ${state.endpoint.kind.padEnd(8)} 127.0.0.1:${state.endpoint.port}  pid ${state.endpoint.pid}${dead.includes(state.endpoint.kind) ? ' (not running)' : ''}`);
  }
  const abandoned = abandonedRehearsalFolders();
  if (abandoned.length > 0) lines.push(`left by killed rehearsals (the next rehearsal or npm run sandbox -- down removes them): ${abandoned.join(', ')}`);
  return lines;
}

/** Bring a sandbox up in its folder (a stale one there is removed first). */
export async function sandboxUp(stateDir: string, engine: SandboxEngine, log: Logger, seedRows?: number): Promise<'started' | 'already-up'> {
  const folder = sandboxFolder(stateDir, engine);
  const recorded = existsSync(folder) ? readSandboxState(folder) : undefined;
  if (recorded && sandboxLiveness(recorded.state).dead.length === 0) return 'already-up';
  if (existsSync(folder)) {
    log.info(`removing the stale sandbox in ${folder}`);
    await sandboxDown(stateDir, engine);
  }
  if (engine === 'postgres') {
    const sandbox = await PostgresSandbox.start({ log, seedRows, persistentFolder: folder });
    await sandbox.detach();
  } else {
    const sandbox = await MysqlSandbox.start({ log, seedRows, persistentFolder: folder });
    sandbox.detach();
  }
  return 'started';
}

/** Stop a sandbox's servers (whoever started them) and delete its folder; true if there was one. */
export async function sandboxDown(stateDir: string, engine: SandboxEngine): Promise<boolean> {
  const folder = sandboxFolder(stateDir, engine);
  if (!existsSync(folder)) return false;
  const recorded = readSandboxState(folder);
  const folders = [folder];
  if (recorded?.state.engine === 'postgres') {
    // Fast shutdown first (a SIGTERM is PostgreSQL's "smart" one: it waits for every client).
    const sandbox = PostgresSandbox.attach(folder, createLogger({ verbose: false }));
    for (const instance of sandbox.instances.values()) if (instance.pid !== undefined && isAlive(instance.pid)) await instance.fastShutdown();
    await sandbox.detach();
    if (recorded.state.serversDir !== folder) folders.push(recorded.state.serversDir);
  }
  await removeSandboxFolders(folders);
  try {
    rmdirSync(dirname(folder)); // .rds-cutover/sandbox, when no other engine's sandbox is left
  } catch {
    /* not empty */
  }
  return true;
}

/** `npm run sandbox -- up|status|down`: returns the exit code. */
export async function runSandboxCommand(argv: string[], io: { out?: (line: string) => void; log?: Logger } = {}): Promise<number> {
  const out = io.out ?? ((line: string) => process.stdout.write(redact(line) + '\n'));
  let args: SandboxArgs;
  try {
    args = parseSandboxArgs(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return EXIT.usage;
  }
  if (args.command === 'help') {
    out(SANDBOX_USAGE);
    return EXIT.ok;
  }
  const log = io.log ?? createLogger({ verbose: args.verbose });
  const stateDir = stateDirFor(loadEnvironment('sandbox'));
  try {
    if (args.command === 'up') {
      for (const engine of args.engines) {
        const outcome = await sandboxUp(stateDir, engine, log, args.seedRows);
        if (outcome === 'already-up') out(`${engine} sandbox is already up (npm run sandbox -- down first for a fresh one)`);
      }
      for (const line of sandboxStatusLines(stateDir, args.engines)) out(line);
      out(`run the flow: npx zx scripts/cutover.mjs --env sandbox --execute${args.engines.includes('postgres') ? ' [--engine postgres --method logical|dump]' : ''}`);
    } else if (args.command === 'status') {
      for (const line of sandboxStatusLines(stateDir, args.engines)) out(line);
    } else {
      for (const engine of args.engines) out((await sandboxDown(stateDir, engine)) ? `${engine} sandbox: stopped and removed` : `${engine} sandbox: nothing to remove`);
      const removed = await removeAbandonedRehearsals();
      if (removed.length > 0) out(`removed folders of killed rehearsals: ${removed.join(', ')}`);
    }
    return EXIT.ok;
  } catch (error) {
    log.error(redact((error as Error).message));
    return EXIT.failed;
  }
}
