import { mysqlEncryptRunbook } from '../flows/mysql-encrypt';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { LocalPostgresPlatform } from '../platforms/local/local-postgres-platform';
import { MysqlSandbox } from '../platforms/local/mysql-sandbox';
import { PostgresSandbox } from '../platforms/local/postgres-sandbox';
import { readSandboxState, sandboxFolder, sandboxLiveness, type SandboxEngine } from '../platforms/local/sandbox-state';
import { postgresRunbook } from '../rehearsal/postgres-rehearsal';
import { LocalRunLock } from '../runbook/lock';
import { runRunbook } from '../runbook/engine';
import { localMysqlPlanLines } from './local-mysql';
import { localPostgresPlanLines } from './postgres';
import { parseHooks } from '../runbook/hooks';
import type { Runbook } from '../runbook/step';
import { EXIT, UsageError } from './args';
import { checkRunArgs, mysqlSettings, postgresSettings, type FlowRunnerInput } from './settings';
import { checkLines, executeRun } from './finish';

/**
 * `--env sandbox`: the real flow against the servers `npm run sandbox -- up [--engine postgres]`
 * left running, as against AWS: journal, `--resume RUN_ID` after a kill, hooks, the run lock,
 * report and report page. No load is started: the user's workload writes to the endpoint
 * `npm run sandbox -- status` prints.
 */
export async function runOnSandbox(input: FlowRunnerInput): Promise<number> {
  const { environment, args, stateDir, log } = input;
  checkRunArgs(environment, args);
  if (args.engine === 'postgres') return runPostgresOnSandbox(input);
  const settings = mysqlSettings(environment, args);
  const folder = attachableSandbox(stateDir, 'mysql', args.execute);
  const sandbox = MysqlSandbox.attach(folder, log);
  const runbook = mysqlEncryptRunbook(new LocalMysqlPlatform(sandbox), settings);
  if (!args.execute) {
    try {
      return await checkOnSandbox(input, runbook, 'mysql', await localMysqlPlanLines(environment.name, settings));
    } finally {
      sandbox.detach();
    }
  }
  try {
    // The same lock as a rehearsal's (<stateDir>/locks/<env>.lock): one run per environment;
    // a killed run keeps it, its --resume takes it back.
    return await executeRun(input, { runbook, engine: 'mysql', options: { platform: 'sandbox', sandbox: folder }, engineFlags: '', lock: new LocalRunLock(stateDir, environment.name), handleSignals: true });
  } finally {
    sandbox.detach();
  }
}

/** `--env sandbox --engine postgres [--method logical|dump]`: the same, against `npm run sandbox -- up --engine postgres`. */
async function runPostgresOnSandbox(input: FlowRunnerInput): Promise<number> {
  const { environment, args, stateDir, log } = input;
  const base = postgresSettings(environment, args);
  const folder = attachableSandbox(stateDir, 'postgres', args.execute);
  const sandbox = PostgresSandbox.attach(folder, log);
  // The dump method's files go beside the servers (a folder the postgres account can reach).
  const settings = { ...base, workDir: environment.postgres?.workDir ?? sandbox.baseDir };
  const runbook = postgresRunbook(args.method, new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers }), settings);
  if (!args.execute) {
    try {
      return await checkOnSandbox(input, runbook, 'postgres', await localPostgresPlanLines(environment.name, args.method, settings));
    } finally {
      await sandbox.detach();
    }
  }
  try {
    return await executeRun(input, {
      runbook,
      engine: 'postgres',
      options: { platform: 'sandbox', sandbox: folder, method: args.method },
      engineFlags: ` --engine postgres --method ${args.method}`,
      lock: new LocalRunLock(stateDir, environment.name),
      handleSignals: true,
    });
  } finally {
    await sandbox.detach();
  }
}

/**
 * The dry run on the sandbox: the plan (recorded from the steps on the sandbox's recording
 * stand-in, as `--env local` prints it), then the runbook's checks run against its servers
 * (read only, no journal, no lock), like an AWS dry run with credentials. Exit 0 when every
 * check passed, 1 when one failed.
 */
async function checkOnSandbox(input: FlowRunnerInput, runbook: Runbook, engine: SandboxEngine, planLines: string[]): Promise<number> {
  const { environment, args, stateDir, log, out } = input;
  for (const line of planLines) out(line);
  const run = await runRunbook({ runbook, environment: environment.name, stateDir, dryRun: true, hooks: parseHooks(args.hooks), log });
  out('');
  for (const line of checkLines(run)) out(line);
  out(`Dry run: preconditions checked on the sandbox's servers; nothing was changed. Run it with --execute (npm run sandbox -- status --engine ${engine} shows the servers).`);
  return run.result === 'planned' ? EXIT.ok : EXIT.failed;
}

/** The sandbox folder of an engine, checked to be up (else a usage error naming the command). */
function attachableSandbox(stateDir: string, engine: SandboxEngine, execute = true): string {
  const folder = sandboxFolder(stateDir, engine);
  const recorded = readSandboxState(folder);
  if (!recorded && !execute) throw new UsageError(`No sandbox is up in ${folder}: the dry run's preconditions were not checked (they read the sandbox's servers). Start one with npm run sandbox -- up --engine ${engine}, then run this again`);
  if (!recorded) throw new UsageError(`No sandbox is up in ${folder}: start one with npm run sandbox -- up --engine ${engine} (from the folder that holds .rds-cutover)`);
  const { dead } = sandboxLiveness(recorded.state);
  if (dead.includes('source') || dead.includes(recorded.state.endpoint.kind)) {
    throw new UsageError(`The sandbox in ${folder} is stale (${dead.join(', ')} not running): npm run sandbox -- down --engine ${engine}, then npm run sandbox -- up --engine ${engine}`);
  }
  return folder;
}
