import { EXIT, UsageError } from './args';
import { checkCredentials, credentialProblem, passwordVariables, sourceIdentity } from './aws-credentials';
import { checkRunArgs, mysqlSettings, type FlowRunnerInput } from './settings';
import { checkLines, executeRun } from './finish';
import type { CutoverEnvironment } from '../../config/cutover';
import { mysqlEncryptRunbook, type MysqlFlowSettings } from '../flows/mysql-encrypt';
import { planText, runRunbook } from '../runbook/engine';
import { parseHooks } from '../runbook/hooks';
import type { RunLock } from '../runbook/lock';
import { RdsTagRunLock } from '../platforms/aws/run-lock';
import { RdsReader } from '../platforms/aws/rds-reader';
import { createAwsClients, destroyClients, type AwsClients } from '../platforms/aws/clients';
import { AwsGateway } from '../platforms/aws/gateway';
import type { Runbook } from '../runbook/step';
import { awsMysqlPlatform } from '../platforms/aws/aws-mysql-platform';
import { awsAuroraMysqlPlatform, type AwsAuroraMysqlPlatform } from '../platforms/aws/aws-aurora-mysql-platform';
import { auroraPreflightStep, withAwsPreflight, withAwsSteps } from '../platforms/aws/preflight';
import { auroraMysqlPlanVersion, rdsMysqlPlanVersion, recordAwsMysqlPlan, tlsPlanLines } from '../platforms/aws/plan';
import { recordingMysqlPlatform } from '../platforms/recording-mysql-platform';
import type { SqlRecorder } from '../engines/mysql/recording-connection';
import type { RecordedPlan } from '../runbook/plan-recording';
import { planCallLines, type DocumentSettings } from '../plan/plan-document';
import { planDocumentOutput } from './plan-output';
import { resolveAwsAuroraMysqlSettings, resolveAwsMysqlSettings, type AwsCommonSettings } from '../platforms/aws/settings';

/** What tests replace: the SDK clients (aws-sdk-client-mock stubs real ones) and the project root. */
export interface AwsRunnerDependencies {
  /** @default - clients built from the environment (region, profile, role; endpoints from the SDK's env vars) */
  createClients?: (environment: CutoverEnvironment, options: { readOnly: boolean }) => AwsClients;
  /** @default - the current directory (where `.rds-cutover/outputs-<env>.json` is looked up) */
  projectRoot?: string;
  /** @default 2000 - how long the tag lock waits before reading its tag back (see RdsTagRunLock) */
  lockSettleMs?: number;
}

/** Credential problems are the most common first failure; say how to fix them. */
function explainAwsError(error: Error, settings: AwsCommonSettings): Error {
  return credentialProblem(error, sourceIdentity(settings.aws, settings.environment)) ?? error;
}

/** What differs between the AWS flows; the runner does the rest (plan, checks, execute, report). */
export interface AwsFlow {
  engine: 'mysql' | 'postgres';
  resolved: AwsCommonSettings;
  /** The runbook on a platform that talks through `gateway`; with `recorder`, its SQL endpoints record instead of connecting (the plan). */
  runbook(gateway: AwsGateway, recorder?: SqlRecorder): Runbook;
  /** The dry-run plan: the runbook's own steps run against recording clients. */
  plan(clients: AwsClients | undefined, waits: { pollSeconds: number }): Promise<{ recorded: RecordedPlan; notes: string[] }>;
  cleanupLine: string;
  runOptions: Record<string, unknown>;
  /** Let go of what the flow holds beyond its runs (the target account's AWS clients); the runs' connections close when each run ends. */
  release?(): void;
  /** One run per environment: a lock both operators can see (a tag on the source). */
  lock?(gateway: AwsGateway, settleMs?: number): RunLock;
  /** What the plan document needs beyond the recorded calls (copy bound, what abandoning leaves). */
  document?: Pick<DocumentSettings, 'copyTimeoutMs' | 'abandon'>;
}

/** The run lock as a tag on the source instance or cluster (read with DescribeDB*, written with AddTagsToResource). */
export function sourceTagLock(gateway: AwsGateway, source: { kind: 'instance' | 'cluster'; id: string }, settleMs?: number): RunLock {
  const rds = new RdsReader(gateway);
  return new RdsTagRunLock(
    gateway,
    async () => {
      const arn = source.kind === 'instance' ? (await rds.instance(source.id))?.DBInstanceArn : (await rds.cluster(source.id))?.DBClusterArn;
      if (!arn) throw new Error(`Cannot take the run lock: the source ${source.kind} ${source.id} was not found (or has no ARN)`);
      return arn;
    },
    `source ${source.kind} ${source.id}`,
    { settleMs },
  );
}

/**
 * `--env <aws environment>`: the MySQL encryption flow on RDS. Dry run by default: the plan,
 * every AWS call the run would make (read-only calls sent only with credentials, none with
 * --offline) and the SQL. `--execute` runs the same runbook as the rehearsal through
 * runRunbook: journal, --resume, hooks, report, the same exit codes.
 */
export async function runAws(input: FlowRunnerInput, dependencies: AwsRunnerDependencies = {}): Promise<number> {
  const { environment, args } = input;
  const settings = mysqlSettings(environment, args);
  if (environment.aws && 'clusterId' in environment.aws.source) return runAwsAurora(input, settings, dependencies);
  const resolved = resolveAwsMysqlSettings(environment, { cleanup: args.cleanup, projectRoot: dependencies.projectRoot, switchTimeoutMs: args.switchTimeoutMs });
  // aws.targetAccount: the target account's own identity (profile or role), made once for the run.
  const targetAccount = resolved.targetAccount;
  let targetClients: AwsClients | undefined;
  const targetGateway = (gateway: AwsGateway): AwsGateway | undefined => {
    if (!targetAccount) return undefined;
    if (!args.offline) {
      const create = dependencies.createClients ?? ((env: CutoverEnvironment, options: { readOnly: boolean }) => createAwsClients(env.aws!, options));
      targetClients ??= create({ ...environment, aws: { ...environment.aws!, region: targetAccount.region, profile: targetAccount.profile, assumeRole: targetAccount.assumeRole } }, { readOnly: !args.execute });
    }
    return gateway.forAccount(targetClients);
  };
  const flow: AwsFlow = {
    engine: 'mysql',
    resolved,
    runbook: (gateway, recorder) => {
      const real = awsMysqlPlatform(resolved, gateway, targetGateway(gateway));
      const platform = recorder ? recordingMysqlPlatform(real, recorder) : real;
      return withAwsPreflight(mysqlEncryptRunbook(platform, settings), platform, gateway);
    },
    async plan(clients, waits) {
      // The dialect comes from SELECT VERSION() at run time; the plan answers it with the source's EngineVersion where it can read it.
      const planning = new AwsGateway({ mode: 'plan', clients, log: input.log, waits });
      const { version, note } = rdsMysqlPlanVersion(clients ? await awsMysqlPlatform(resolved, planning, targetGateway(planning)).seeding.sourceInstance() : undefined);
      const recorded = await recordAwsMysqlPlan({ runbook: (gateway, recorder) => flow.runbook(gateway, recorder), clients, waits, version, binlogRetentionHours: settings.minBinlogRetentionHours, databases: settings.databases });
      return { recorded, notes: [note] };
    },
    cleanupLine: resolved.cleanup ? 'Clean-up (--cleanup): the temporary replica and its unencrypted snapshot are deleted at the end; the old source is fenced, never deleted.' : 'Clean-up: nothing is deleted without --cleanup; the run prints the delete commands for the temporary replica and its snapshot.',
    runOptions: { platform: 'aws', region: resolved.aws.region, source: resolved.sourceInstanceId, target: resolved.targetInstanceId, cleanup: args.cleanup },
    release() {
      if (targetClients && !dependencies.createClients) destroyClients(targetClients);
    },
    lock: (gateway, settleMs) => sourceTagLock(gateway, { kind: 'instance', id: resolved.sourceInstanceId }, settleMs),
  };
  return runAwsFlow(input, flow, dependencies);
}

/**
 * The MySQL flow with an Aurora MySQL 3 source cluster (`aws.source.clusterId`): the same
 * runbook on AwsAuroraMysqlPlatform (cluster snapshot → encrypted restore → writer → start
 * coordinates from the restored cluster's crash-recovery event), with the Aurora checks in front.
 */
async function runAwsAurora(input: FlowRunnerInput, settings: MysqlFlowSettings, dependencies: AwsRunnerDependencies): Promise<number> {
  const { environment, args } = input;
  const resolved = resolveAwsAuroraMysqlSettings(environment, { cleanup: args.cleanup, projectRoot: dependencies.projectRoot });
  const runbookOn = (platform: AwsAuroraMysqlPlatform, gateway: AwsGateway) => withAwsSteps(mysqlEncryptRunbook(platform, settings), { before: [auroraPreflightStep(platform, gateway)] });
  const flow: AwsFlow = {
    engine: 'mysql',
    resolved,
    runbook: (gateway, recorder) => {
      const real = awsAuroraMysqlPlatform(resolved, gateway);
      return runbookOn(recorder ? recordingMysqlPlatform(real, recorder) : real, gateway);
    },
    async plan(clients, waits) {
      const { version, note } = auroraMysqlPlanVersion(clients ? await awsAuroraMysqlPlatform(resolved, new AwsGateway({ mode: 'plan', clients, log: input.log, waits })).seeding.sourceCluster() : undefined);
      const recorded = await recordAwsMysqlPlan({ runbook: (gateway, recorder) => flow.runbook(gateway, recorder), clients, waits, version, binlogRetentionHours: settings.minBinlogRetentionHours, databases: settings.databases });
      return { recorded, notes: [note] };
    },
    cleanupLine: resolved.cleanup
      ? "Clean-up (--cleanup): the source's unencrypted cluster snapshot is deleted at the end; the old cluster is fenced, never deleted."
      : "Clean-up: nothing is deleted without --cleanup; the run prints the delete command for the source's unencrypted cluster snapshot.",
    runOptions: { platform: 'aws', region: resolved.aws.region, source: resolved.sourceClusterId, target: resolved.targetClusterId, cleanup: args.cleanup },
    lock: (gateway, settleMs) => sourceTagLock(gateway, { kind: 'cluster', id: resolved.sourceClusterId }, settleMs),
  };
  return runAwsFlow(input, flow, dependencies);
}

/** Plan (default), or run with --execute, one AWS flow. Returns the exit code. */
export async function runAwsFlow(input: FlowRunnerInput, flow: AwsFlow, dependencies: AwsRunnerDependencies = {}): Promise<number> {
  const { environment, args, log, out } = input;
  checkRunArgs(environment, args);
  const resolved = flow.resolved;
  if (args.execute && resolved.missing.length > 0) {
    throw new UsageError(
      `Cannot run on ${environment.name}: no value for\n${resolved.missing.map((m) => `  - ${m}`).join('\n')}\n` +
        `Set them in config/cutover/${environment.name}.ts or write the stacks' outputs file${resolved.outputsProblem ? `:\n${resolved.outputsProblem}` : ''}. Nothing was changed.`,
    );
  }
  const createClients = dependencies.createClients ?? ((env: CutoverEnvironment, options: { readOnly: boolean }) => createAwsClients(env.aws!, options));
  const clients = args.offline ? undefined : createClients(environment, { readOnly: !args.execute });
  const waits = { pollSeconds: environment.aws!.waits.pollSeconds };
  const passwordEnv = passwordVariables(environment.aws!);
  try {
    const lock = clients && flow.lock ? flow.lock(new AwsGateway({ mode: 'live', clients, log, waits }), dependencies.lockSettleMs) : undefined;
    if (args.breakLock) {
      if (!lock) {
        throw new UsageError(
          clients
            ? `--break-lock: this flow takes no run lock on ${environment.name} (nothing to release); check what runs with: npx zx scripts/cutover.mjs status ${args.breakLock} --env ${environment.name}`
            : "--break-lock on AWS reads and removes a tag on the source: it needs credentials (drop --offline)",
        );
      }
      const released = await lock.breakLock(args.breakLock);
      out(`released the lock (${lock.where}) held by run ${released.runId} (host ${released.host}, pid ${released.pid}, started ${released.startedAt})`);
      return EXIT.ok;
    }
    if (!args.execute) {
      // Credentials first: a dry run's checks would report a missing, expired or refused identity
      // as a failed check in the SDK's words. (--execute: the lock's first call finds it, after a
      // resume's journal was checked, and explainAwsError names the fix.)
      if (clients) await checkCredentials(clients.sts, sourceIdentity(resolved.aws, resolved.environment));
      return await dryRun(input, flow, clients, passwordEnv);
    }
    return await executeRun(input, {
      runbook: flow.runbook(new AwsGateway({ mode: 'live', clients, log, waits })),
      engine: flow.engine,
      options: flow.runOptions,
      lock,
      handleSignals: true,
      hideEnvFromHooks: passwordEnv,
      engineFlags: flow.engine === 'postgres' ? ` --engine postgres --method ${args.method}` : '',
    });
  } catch (error) {
    throw explainAwsError(error as Error, resolved);
  } finally {
    flow.release?.();
    if (clients && !dependencies.createClients) destroyClients(clients);
  }
}

/** The switch budget and lag gate the run will use (command line over the flow's engine section). */
function switchBudget(args: FlowRunnerInput['args'], environment: CutoverEnvironment, engine: AwsFlow['engine']): { switchTimeoutMs: number; lagThresholdMs: number } {
  const section = (engine === 'postgres' ? environment.postgres : environment.mysql) ?? { switchTimeoutMs: 0, lagThresholdMs: 0 };
  return { switchTimeoutMs: args.switchTimeoutMs ?? section.switchTimeoutMs, lagThresholdMs: args.lagThresholdMs ?? section.lagThresholdMs };
}

async function dryRun(input: FlowRunnerInput, flow: AwsFlow, clients: AwsClients | undefined, passwordEnv: string[]): Promise<number> {
  const { environment, args, log } = input;
  let { out } = input;
  const resolved = flow.resolved;
  const waits = { pollSeconds: environment.aws!.waits.pollSeconds };
  // The plan is what the runbook's own steps recorded; the checks below read through their own gateway.
  const { recorded, notes } = await flow.plan(clients, waits);
  const lockNote = flow.lock ? ["--execute first takes the run lock: rds.AddTagsToResource on the source (removed with RemoveTagsFromResource at the end), outside the steps."] : [];
  const fromSteps = !recorded.entries.some((entry) => entry.type === 'call' && entry.step === '(outside a step)') && flow.engine === 'mysql';
  const { document, wroteToStdout, file } = planDocumentOutput(
    recorded,
    {
      environment: environment.name,
      ...switchBudget(args, environment, flow.engine),
      command: 'npx zx scripts/cutover.mjs',
      regions: { source: resolved.aws.region, ...('targetAccount' in resolved && resolved.targetAccount ? { target: (resolved.targetAccount as { region: string }).region } : {}) },
      notes: [...notes, ...lockNote],
      ...flow.document,
      ...(resolved.missing.length > 0 ? { unresolved: { outputsFile: resolved.outputsFile, problem: resolved.outputsProblem ?? 'values missing', missing: resolved.missing } } : {}),
      ...('proxy' in resolved && resolved.proxy ? { proxyEndpoint: (resolved.proxy as { endpoint: string }).endpoint } : {}),
    },
    args,
    out,
  );
  // A markdown/json document on stdout stays parseable: everything else goes to the log.
  if (wroteToStdout) out = (line: string) => log.info(line);
  if (file) log.info(`plan document: ${file}`);
  const runbook = flow.runbook(new AwsGateway({ mode: 'plan', clients, log, waits }));

  for (const line of planText(runbook)) out(line);
  out('');
  out(`${fromSteps ? 'Calls, in order, recorded from the steps themselves' : 'AWS calls, in order'} (${args.offline ? 'offline: none sent' : 'dry run: only the read calls were sent'}; CHANGE = changes something, sent only with --execute${fromSteps ? '; SQL is never sent in a dry run' : ''}):`);
  for (const line of planCallLines(document)) out(line);
  for (const note of document.notes) out(note);
  if (document.runtimeValues.length > 0) out(`Known only at run time: ${document.runtimeValues.map((name) => `<${name}>`).join(', ')}.`);
  out('');
  for (const line of tlsPlanLines(resolved.aws)) out(line);
  out('');
  if (resolved.missing.length > 0) {
    out(`Values shown as <…> come from the stacks' outputs file ${resolved.outputsFile}, which could not be used:`);
    out(`  ${(resolved.outputsProblem ?? 'missing values').split('\n').join('\n  ')}`);
    out(`  --execute needs them: ${resolved.missing.join('; ')}`);
    out('');
  }
  out(flow.cleanupLine);

  if (args.offline) {
    out('Dry run (--offline): planned from config and the stacks\' outputs alone; no AWS call was made and nothing was changed.');
    return EXIT.ok;
  }
  // With credentials: run the checks (AWS reads through read-only clients, SQL preflight on the source).
  const checkGateway = new AwsGateway({ mode: 'plan', clients, log, waits });
  const run = await runRunbook({ runbook: flow.runbook(checkGateway), environment: environment.name, stateDir: input.stateDir, dryRun: true, hooks: parseHooks(args.hooks), hideEnvFromHooks: passwordEnv, log });
  out('');
  for (const line of checkLines(run)) out(line);
  out('Dry run: only read-only AWS calls were made and nothing was changed. Run with --execute to perform the plan.');
  return run.result === 'planned' ? EXIT.ok : EXIT.failed;
}
