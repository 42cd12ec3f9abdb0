/**
 * Runs `cutover --env <aws environment> …` (runAws, the CLI's AWS path; runAwsPostgres with
 * `--engine postgres`) in its own process, for
 * tests that kill it: `node --require tsx/cjs run-emulated-cutover.ts ENVIRONMENT.json ARGS…`.
 * The environment comes from a JSON file (an emulated account's ids are known only at run
 * time); the SDK's endpoint and credentials from the environment variables.
 * RDS_CUTOVER_TEST_KILL_AT=TEXT: the process SIGKILLs itself the moment it logs a line
 * containing TEXT (e.g. "waiting until snapshot"): a crash at exactly that point of the run.
 */
import { readFileSync } from 'node:fs';
import { parseEnvironment } from '../../config/cutover';
import { exitCodeOfError, parseCutoverArgs } from '../../lib/cli/cutover';
import { runAws } from '../../lib/cli/aws';
import { runAwsPostgres } from '../../lib/cli/aws-postgres';
import { createLogger } from '../../lib/util/log';
import { emulatedClients } from '../../lib/rehearsal/aws-emulated/readiness';
import { runPostgresWayBackOnAws, runWayBackOnAws } from '../../lib/cli/way-back';
import { mysqlSettings, postgresSettings } from '../../lib/cli/settings';
import { Journal, statusFromJournal } from '../../lib/runbook/journal';

const [environmentFile, stateDir, ...argv] = process.argv.slice(2);
const killAt = process.env.RDS_CUTOVER_TEST_KILL_AT;
const log = createLogger({
  write: (line) => {
    process.stderr.write(line + '\n');
    if (killAt && line.includes(killAt)) process.kill(process.pid, 'SIGKILL');
  },
});
const environment = parseEnvironment(JSON.parse(readFileSync(environmentFile, 'utf8')), environmentFile);
const args = parseCutoverArgs(argv);
const out = (line: string) => process.stdout.write(line + '\n');
const createClients = (env: typeof environment, options: { readOnly: boolean }) => emulatedClients(env.aws!, options);
// `switch-back RUN_ID` / `complete RUN_ID`: the way back in the same emulated account (the CLI
// cannot load an emulated environment by name: it exists only while its emulator runs).
// `--engine postgres`: the CLI's AWS PostgreSQL path (runAwsPostgres), else the MySQL family's (runAws).
// A PostgreSQL (logical) forward run: its way back on AwsPostgresPlatform.
const wayBack = () => {
  const forward = statusFromJournal(new Journal(stateDir, args.forwardRunId!).read());
  const common = { environment, args, stateDir, log, out, forwardRunId: args.forwardRunId!, forward };
  return forward.flow === 'postgres.logical'
    ? runPostgresWayBackOnAws({ ...common, settings: postgresSettings(environment, { ...args, method: 'logical' }) }, { createClients })
    : runWayBackOnAws({ ...common, settings: mysqlSettings(environment, args) }, { createClients });
};
const run = args.command === 'switch-back' || args.command === 'switch-forth' || args.command === 'complete' ? wayBack() : (args.engine === 'postgres' ? runAwsPostgres : runAws)({ environment, args, stateDir, log, out }, { createClients });
run.then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`${error.stack}\n`);
    // As the CLI answers it (lib/cli/cutover.ts): a lock held by another run exits 3.
    process.exit(exitCodeOfError(error));
  },
);
