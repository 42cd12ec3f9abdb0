/**
 * Runs `cutover --flow share-snapshot …` (the CLI's share runner, runShareSnapshot) in its own
 * process, for tests that kill it: `node --require tsx/cjs run-share-snapshot.ts ENVIRONMENT.json
 * STATE_DIR ARGS…`. The environment comes from a JSON file (the emulated accounts' key ARNs are
 * known only at run time); endpoint and base credentials from AWS_ENDPOINT_URL and AWS_*; the
 * target account's identity is the config's assume-role, sent to the emulator's STS.
 * Kill points: RDS_CUTOVER_KILL_AT (lib/runbook/kill-point.ts), read by the engine itself.
 */
import { readFileSync } from 'node:fs';
import { parseEnvironment } from '../../config/cutover';
import { parseCutoverArgs } from '../../lib/cli/cutover';
import { runShareSnapshot } from '../../lib/cli/aws-share-snapshot';
import { createLogger } from '../../lib/util/log';

const [environmentFile, stateDir, ...argv] = process.argv.slice(2);
const environment = parseEnvironment(JSON.parse(readFileSync(environmentFile, 'utf8')), environmentFile);
const log = createLogger({ write: (line) => process.stderr.write(line + '\n') });
runShareSnapshot({ environment, args: parseCutoverArgs(['--env', environment.name, ...argv]), stateDir, log, out: (line) => process.stdout.write(line + '\n') }).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(error.constructor.name === 'UsageError' ? 2 : 1);
  },
);
