import { closeFlowConnections, mysqlEncryptRunbook } from '../flows/mysql-encrypt';
import { closePostgresConnections } from '../flows/postgres-common';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { LocalPostgresPlatform } from '../platforms/local/local-postgres-platform';
import { MysqlSandbox } from '../platforms/local/mysql-sandbox';
import { PostgresSandbox } from '../platforms/local/postgres-sandbox';
import { readSandboxState, sandboxFolder, sandboxLiveness, type SandboxEngine } from '../platforms/local/sandbox-state';
import { postgresRunbook } from '../rehearsal/postgres-rehearsal';
import { LocalRunLock } from '../runbook/lock';
import { UsageError } from './args';
import { checkRunArgs, mysqlSettings, postgresSettings, type FlowRunnerInput } from './settings';
import { executeRun, finishPlan } from './finish';

/**
 * `--env sandbox`: the real flow against the servers `npm run sandbox -- up [--engine postgres]`
 * left running, as against AWS: journal, `--resume RUN_ID` after a kill, hooks, the run lock,
 * report and report page. No load is started: the user's workload writes to the endpoint
 * `npm run sandbox -- status` prints.
 */
export async function runOnSandbox(input: FlowRunnerInput): Promise<number> {
  const { environment, args, stateDir, log, out } = input;
  checkRunArgs(environment, args);
  if (args.engine === 'postgres') return runPostgresOnSandbox(input);
  const settings = mysqlSettings(environment, args);
  if (!args.execute) return finishPlan(mysqlEncryptRunbook(new LocalMysqlPlatform(), settings), out, ['Dry run: nothing was changed. Run it with --execute against the servers of npm run sandbox -- up --engine mysql.']);
  const folder = attachableSandbox(stateDir, 'mysql');
  const sandbox = MysqlSandbox.attach(folder, log);
  const runtime = new Map<string, unknown>();
  const runbook = mysqlEncryptRunbook(new LocalMysqlPlatform(sandbox), settings);
  try {
    // The same lock as a rehearsal's (<stateDir>/locks/<env>.lock): one run per environment;
    // a killed run keeps it, its --resume takes it back.
    return await executeRun(input, { runbook, engine: 'mysql', runtime, options: { platform: 'sandbox', sandbox: folder }, engineFlags: '', lock: new LocalRunLock(stateDir, environment.name), handleSignals: true });
  } finally {
    await closeFlowConnections(runtime);
    sandbox.detach();
  }
}

/** `--env sandbox --engine postgres [--method logical|dump]`: the same, against `npm run sandbox -- up --engine postgres`. */
async function runPostgresOnSandbox(input: FlowRunnerInput): Promise<number> {
  const { environment, args, stateDir, log, out } = input;
  const base = postgresSettings(environment, args);
  if (!args.execute) return finishPlan(postgresRunbook(args.method, new LocalPostgresPlatform(), base), out, ['Dry run: nothing was changed. Run it with --execute against the servers of npm run sandbox -- up --engine postgres.']);
  const folder = attachableSandbox(stateDir, 'postgres');
  const sandbox = PostgresSandbox.attach(folder, log);
  const runtime = new Map<string, unknown>();
  // The dump method's files go beside the servers (a folder the postgres account can reach).
  const settings = { ...base, workDir: environment.postgres?.workDir ?? sandbox.baseDir };
  const runbook = postgresRunbook(args.method, new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers }), settings);
  try {
    return await executeRun(input, {
      runbook,
      engine: 'postgres',
      runtime,
      options: { platform: 'sandbox', sandbox: folder, method: args.method },
      engineFlags: ` --engine postgres --method ${args.method}`,
      lock: new LocalRunLock(stateDir, environment.name),
      handleSignals: true,
    });
  } finally {
    await closePostgresConnections(runtime);
    await sandbox.detach();
  }
}

/** The sandbox folder of an engine, checked to be up (else a usage error naming the command). */
function attachableSandbox(stateDir: string, engine: SandboxEngine): string {
  const folder = sandboxFolder(stateDir, engine);
  const recorded = readSandboxState(folder);
  if (!recorded) throw new UsageError(`No sandbox is up in ${folder}: start one with npm run sandbox -- up --engine ${engine} (from the folder that holds .rds-cutover)`);
  const { dead } = sandboxLiveness(recorded.state);
  if (dead.includes('source') || dead.includes(recorded.state.endpoint.kind)) {
    throw new UsageError(`The sandbox in ${folder} is stale (${dead.join(', ')} not running): npm run sandbox -- down --engine ${engine}, then npm run sandbox -- up --engine ${engine}`);
  }
  return folder;
}
