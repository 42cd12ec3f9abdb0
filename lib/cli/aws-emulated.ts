import { resolve } from 'node:path';
import { loadEnvironment } from '../../config/cutover';
import { emulatedClients, EMULATED_ENVIRONMENTS, MotoMissing, rehearseAwsEmulated } from '../rehearsal/aws-emulated/rehearse';
import { UsageError, type CutoverArgs } from './args';
import { checkEmulatedArgs, rehearsalLoad, stateDirFor } from './settings';
import { runAws } from './aws';
import type { Logger } from '../util/log';

/**
 * `--env aws-emulated --execute` (npm run rehearse -- --env aws-emulated): the RDS MySQL flow
 * through the AWS code path against moto, with local servers as the data plane;
 * `--env aws-emulated-aurora`: the same with an Aurora MySQL 3 source cluster;
 * `--env aws-emulated --engine postgres [--method logical|dump] [--target-version N]`: the
 * PostgreSQL flow on RDS for PostgreSQL the same way, with local PostgreSQL servers (another
 * target major: an upgrade); `--env aws-emulated-aurora --engine postgres`: on Aurora PostgreSQL.
 */
/**
 * What the AWS runner gets: the command line without the load flags, which are the emulated
 * rehearsal's own (its harness runs the write load through the application endpoint); the AWS
 * runner refuses them, as it does for a real AWS environment.
 */
export function awsRunnerArgs(args: CutoverArgs, environmentName: string): CutoverArgs {
  return { ...args, env: environmentName, loadRate: undefined, loadConnections: undefined };
}

export async function rehearseEmulatedAws(args: CutoverArgs, log: Logger, out: (line: string) => void): Promise<number> {
  checkEmulatedArgs(args);
  const local = loadEnvironment('local');
  // The emulated environments have no config file: the state folder is the local one's (project root, or RDS_CUTOVER_STATE_DIR).
  const stateDir = stateDirFor(local);
  log.info(`state folder: ${stateDir} (journal, report, the emulated stacks' outputs)`);
  try {
    if (args.engine === 'postgres') {
      // Loaded only for PostgreSQL (pg, the PostgreSQL platform and flows).
      const { rehearseAwsEmulatedPostgres } = require('../rehearsal/aws-emulated/rehearse-postgres') as typeof import('../rehearsal/aws-emulated/rehearse-postgres');
      const { runAwsPostgres } = require('./aws-postgres') as typeof import('./aws-postgres');
      return await rehearseAwsEmulatedPostgres({
        projectRoot: resolve(__dirname, '../..'),
        stateDir,
        log,
        out,
        method: args.method,
        source: args.env === 'aws-emulated-aurora' ? 'aurora-postgres' : 'rds-postgres',
        targetVersion: args.targetVersion,
        load: rehearsalLoad(local, args),
        reportFile: args.report ? resolve(args.report) : undefined,
        runAwsPostgres: (environment) =>
          runAwsPostgres(
            { environment, args: awsRunnerArgs(args, environment.name), stateDir, log, out },
            { createClients: (env, clientOptions) => emulatedClients(env.aws!, clientOptions) },
          ),
      });
    }
    return await rehearseAwsEmulated({
      projectRoot: resolve(__dirname, '../..'),
      stateDir,
      log,
      out,
      load: rehearsalLoad(local, args),
      reportFile: args.report ? resolve(args.report) : undefined,
      source: EMULATED_ENVIRONMENTS[args.env ?? 'aws-emulated'],
      runAws: (environment) =>
        runAws(
          { environment, args: awsRunnerArgs(args, environment.name), stateDir, log, out },
          { createClients: (env, clientOptions) => emulatedClients(env.aws!, clientOptions) },
        ),
    });
  } catch (error) {
    if (error instanceof MotoMissing) throw new UsageError(error.message);
    throw error;
  }
}
