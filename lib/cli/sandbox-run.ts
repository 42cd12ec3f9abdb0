import { closeFlowConnections, mysqlEncryptRunbook } from '../flows/mysql-encrypt';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { MysqlSandbox } from '../platforms/local/mysql-sandbox';
import { readSandboxState, sandboxFolder, sandboxLiveness } from '../platforms/local/sandbox-state';
import { UsageError } from './args';
import { checkRunArgs, mysqlSettings, type FlowRunnerInput } from './settings';
import { executeRun, finishPlan } from './finish';
import { LocalRunLock } from '../runbook/lock';

/**
 * `--env sandbox`: the real flow against the servers `npm run sandbox -- up` left running, as
 * against AWS: journal, `--resume RUN_ID` after a kill, hooks, report. No load is started: the
 * user's workload writes to the endpoint `npm run sandbox -- status` prints.
 */
export async function runOnSandbox(input: FlowRunnerInput): Promise<number> {
  const { environment, args, stateDir, log, out } = input;
  checkRunArgs(environment, args);
  const settings = mysqlSettings(environment, args);
  if (!args.execute) return finishPlan(mysqlEncryptRunbook(new LocalMysqlPlatform(), settings), out, ['Dry run: nothing was changed. Run it with --execute against the servers of npm run sandbox -- up --engine mysql.']);
  const folder = sandboxFolder(stateDir, 'mysql');
  const recorded = readSandboxState(folder);
  if (!recorded) throw new UsageError(`No sandbox is up in ${folder}: start one with npm run sandbox -- up --engine mysql (from the folder that holds .rds-cutover)`);
  const { dead } = sandboxLiveness(recorded.state);
  if (dead.includes('source') || dead.includes('haproxy')) {
    throw new UsageError(`The sandbox in ${folder} is stale (${dead.join(', ')} not running): npm run sandbox -- down, then npm run sandbox -- up --engine mysql`);
  }
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
