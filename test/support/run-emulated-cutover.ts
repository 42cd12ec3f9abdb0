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
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { runAws } from '../../lib/cli/aws';
import { runAwsPostgres } from '../../lib/cli/aws-postgres';
import { createLogger } from '../../lib/util/log';
import { emulatedClients } from '../../lib/rehearsal/aws-emulated/readiness';

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
// `--engine postgres`: the CLI's AWS PostgreSQL path (runAwsPostgres), else the MySQL family's (runAws).
const run = args.engine === 'postgres' ? runAwsPostgres : runAws;
run({ environment, args, stateDir, log, out: (line) => process.stdout.write(line + '\n') }, { createClients: (env, options) => emulatedClients(env.aws!, options) }).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(2);
  },
);
