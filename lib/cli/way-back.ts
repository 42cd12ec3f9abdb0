import type { CutoverEnvironment } from '../../config/cutover';
import { loadEnvironment } from '../../config/cutover';
import { silentLogger, type Logger } from '../util/log';
import { planText, runRunbook } from '../runbook/engine';
import { parseHooks } from '../runbook/hooks';
import { Journal, statusFromJournal, type RunStatus } from '../runbook/journal';
import type { MysqlFlowSettings } from '../flows/mysql-encrypt';
import { MYSQL_FORWARD_FACTS_READ_BY_WAY_BACK, mysqlWayBackRunbook } from '../flows/mysql-switch-back';
import { isWayBackCommand, type WayBackCommand } from '../runbook/way-back-command';
import { LocalMysqlPlatform } from '../platforms/local/local-mysql-platform';
import { MysqlSandbox } from '../platforms/local/mysql-sandbox';
import { readSandboxState, sandboxFolder } from '../platforms/local/sandbox-state';
import { reportFromRun } from '../report';
import { EXIT, UsageError, type CutoverArgs } from './args';
import type { MysqlPlatform } from '../platforms/mysql-platform';
import { awsMysqlPlatform } from '../platforms/aws/aws-mysql-platform';
import { AwsGateway, type WaitSettings } from '../platforms/aws/gateway';
import { createAwsClients, destroyClients, type AwsClients } from '../platforms/aws/clients';
import { resolveAwsAuroraMysqlSettings, resolveAwsMysqlSettings, resolveAwsPostgresSettings, type AwsAuroraMysqlSettings, type AwsMysqlSettings } from '../platforms/aws/settings';
import { awsAuroraMysqlPlatform } from '../platforms/aws/aws-aurora-mysql-platform';
import { awsMysqlFenceAgainStep } from '../platforms/aws/aws-mysql-common';
import { AwsPostgresPlatform } from '../platforms/aws/aws-postgres-platform';
import { sourceTagLock, type AwsRunnerDependencies } from './aws';
import { finishRun } from './finish';
import { LocalRunLock, type RunLock } from '../runbook/lock';
import { EMULATED_ENVIRONMENT_NAMES, mysqlSettings, postgresSettings, stateDirFor } from './settings';
import type { Facts, Runbook, Step } from '../runbook/step';
import type { PostgresFlowSettings } from '../flows/postgres-common';
import { POSTGRES_FORWARD_FACTS_READ_BY_WAY_BACK, postgresWayBackRunbook } from '../flows/postgres-switch-back';
import { checkJournaledFacts } from '../runbook/facts-schema';
import { LocalPostgresPlatform } from '../platforms/local/local-postgres-platform';
import { PostgresSandbox } from '../platforms/local/postgres-sandbox';
import { withAwsSteps } from '../platforms/aws/preflight';
import { backWay, forwardWay } from '../flows/postgres-replication-way';
import { awsSourceFenceStep } from '../platforms/aws/postgres-runbook';
import { recordingPostgresPlatform } from '../platforms/recording-postgres-platform';
import { auroraMysqlPlanVersion, rdsMysqlPlanVersion, recordAwsMysqlPlan, recordAwsPostgresPlan } from '../platforms/aws/plan';
import { recordingMysqlPlatform } from '../platforms/recording-mysql-platform';
import type { RecordedPlan } from '../runbook/plan-recording';
import { buildPlanDocument, planCallLines, recordedPlanText, type DocumentSettings } from '../plan/plan-document';
import { recordLocalMysqlWayBackPlan } from '../rehearsal/mysql-rehearsal';
import { recordLocalPostgresWayBackPlan } from '../rehearsal/postgres-rehearsal';

/**
 * `switch-back RUN_ID` / `complete RUN_ID`: on the platform the run RUN_ID moved (its journal
 * names the environment). A local rehearsal's servers are gone with its process: refused.
 */
export async function runWayBack(args: CutoverArgs, defaultStateDir: string, log: Logger, out: (line: string) => void): Promise<number> {
  const forwardRunId = args.forwardRunId!;
  const forward = statusFromJournal(new Journal(defaultStateDir, forwardRunId).read());
  if (forward.flow !== 'mysql.encrypt' && forward.flow !== 'postgres.logical') {
    throw new UsageError(`${args.command} is built for the MySQL-family flow and PostgreSQL's logical method; run ${forwardRunId} is ${forward.flow}${forward.flow === 'postgres.dump' ? ' (the dump method builds no way back)' : ''}`);
  }
  if (args.env && args.env !== forward.environment) throw new UsageError(`Run ${forwardRunId} ran on --env ${forward.environment}, not ${args.env}: drop --env or pass --env ${forward.environment}`);
  // What the way back reads from the forward run's journal is checked before anything runs, as a resume checks its own.
  checkJournaledFacts(forward.flow === 'mysql.encrypt' ? MYSQL_FORWARD_FACTS_READ_BY_WAY_BACK : POSTGRES_FORWARD_FACTS_READ_BY_WAY_BACK, forward.facts, { runId: forwardRunId, flow: forward.flow, finished: forward.finished }, `give ${args.command} its facts`);
  if (forward.options.rehearsal === true) {
    throw new UsageError(`Run ${forwardRunId} was a local rehearsal: its servers are gone with its process. Rehearse the way back with npm run rehearse -- --switch-back, or use the persistent sandbox (npm run sandbox -- up; --env sandbox).`);
  }
  if ((EMULATED_ENVIRONMENT_NAMES as readonly string[]).includes(forward.environment)) {
    throw new UsageError(
      `Run ${forwardRunId} ran on --env ${forward.environment}: its emulator and local servers are gone with its process. ` +
        'The way back on the emulated AWS account is exercised by test/platforms/aws/emulated-proxy-way-back.integration.test.ts (switch-back and complete in the same emulated account).',
    );
  }
  const environment = loadEnvironment(forward.environment);
  const stateDir = stateDirFor(environment);
  if (forward.flow === 'postgres.logical') {
    const postgresInput = { environment, args, stateDir, log, out, settings: postgresSettings(environment, { ...args, method: 'logical' }), forwardRunId, forward };
    if (environment.platform === 'aws') return runPostgresWayBackOnAws(postgresInput);
    return runPostgresWayBackOnSandbox(postgresInput);
  }
  const settings = mysqlSettings(environment, args);
  if (environment.platform === 'aws') return runWayBackOnAws({ environment, args, stateDir, log, out, settings, forwardRunId, forward });
  if (environment.platform !== 'sandbox') {
    throw new UsageError(`${args.command} on ${environment.platform} environments is not built (a local rehearsal's servers are gone with its process); run ${forwardRunId} is on ${environment.name}.`);
  }
  return runWayBackOnSandbox({ environment, args, stateDir, log, out, settings, forwardRunId, forward });
}

/**
 * `switch-back RUN_ID`, `switch-forth RUN_ID` and `complete RUN_ID` on AWS for the MySQL family
 * (an RDS MySQL instance, DNS or RDS Proxy, or an Aurora MySQL 3 cluster, with
 * aws.reverseReplication): the same runbooks on the RDS MySQL / Aurora MySQL platform, which
 * read the forward run's facts (the old source's security groups before the fence, the target).
 * switch-forth ends as the forward run did, with the old source fenced again. Without --execute
 * the clients are read-only and only the plan and the checks run.
 */
export async function runWayBackOnAws(input: WayBackInput, dependencies: Pick<AwsRunnerDependencies, 'createClients' | 'projectRoot' | 'lockSettleMs'> = {}): Promise<number> {
  const { environment, args, log, forwardRunId, forward, settings } = input;
  const aurora = Boolean(environment.aws && 'clusterId' in environment.aws.source);
  const resolved = aurora ? resolveAwsAuroraMysqlSettings(environment, { cleanup: false, projectRoot: dependencies.projectRoot }) : resolveAwsMysqlSettings(environment, { cleanup: false, projectRoot: dependencies.projectRoot });
  if (!resolved.reverseReplication) {
    throw new UsageError(`Run ${forwardRunId} on ${environment.name} switched one way: aws.reverseReplication is off there, so the old source does not replicate from the target and there is no way back to take. Set aws.reverseReplication: true for the next move.`);
  }
  if (args.execute && resolved.missing.length > 0) throw new UsageError(`Cannot run on ${environment.name}: no value for ${resolved.missing.join(', ')}. Nothing was changed.`);
  const createClients = dependencies.createClients ?? ((env: CutoverEnvironment, options: { readOnly: boolean }) => createAwsClients(env.aws!, options));
  const clients = createClients(environment, { readOnly: !args.execute });
  const waits = { pollSeconds: environment.aws!.waits.pollSeconds };
  const gateway = new AwsGateway({ mode: args.execute ? 'live' : 'plan', clients, log, waits });
  const command = wayBackCommand(args.command);
  const way = awsMysqlWayBack(resolved, settings, { command, deleteOld: Boolean(args.deleteOld), forwardFacts: forward.facts });
  // The forward runs' lock on AWS: the tag on the source (same tag, same --break-lock), so a
  // switch-back, a complete and a forward --resume of this environment never overlap.
  const lock = args.execute ? sourceTagLock(new AwsGateway({ mode: 'live', clients, log, waits }), way.source, dependencies.lockSettleMs) : undefined;
  try {
    const recorded = args.execute || args.resume ? undefined : await recordAwsMysqlWayBackPlan(resolved, settings, { command, deleteOld: Boolean(args.deleteOld), forwardFacts: forward.facts, clients, waits });
    const calls = recorded ? [...recordedCallLines(recorded, { environment: environment.name, switchTimeoutMs: settings.switchTimeoutMs, lagThresholdMs: settings.lagThresholdMs, command: 'npx zx scripts/cutover.mjs' }), recorded.note] : undefined;
    return await runMysqlWayBack(input, way.platformOn(gateway), { platform: 'aws', region: resolved.aws.region, source: way.source.id, target: way.targetId, forwardRunId }, lock, { runbook: way.runbookOn, calls });
  } finally {
    if (!dependencies.createClients) destroyClients(clients);
  }
}

/**
 * The AWS MySQL-family way back as the run builds it: the RDS MySQL or the Aurora MySQL
 * platform, reading the forward run's facts (its fence, its target), and the command's runbook
 * on it (switch-forth ends as the forward run did: the old source fenced again); its source
 * (the lock's tag), its target, and what its plan's SELECT VERSION() answers.
 */
function awsMysqlWayBack(resolved: AwsMysqlSettings | AwsAuroraMysqlSettings, settings: MysqlFlowSettings, options: { command: WayBackCommand; deleteOld: boolean; forwardFacts: Facts }) {
  const family =
    'sourceClusterId' in resolved
      ? {
          build: (on: AwsGateway) => awsAuroraMysqlPlatform(resolved, on),
          source: { kind: 'cluster' as const, id: resolved.sourceClusterId },
          targetId: resolved.targetClusterId,
          planVersion: async (on: AwsGateway) => auroraMysqlPlanVersion(await awsAuroraMysqlPlatform(resolved, on).seeding.sourceCluster()),
        }
      : {
          build: (on: AwsGateway) => awsMysqlPlatform(resolved, on),
          source: { kind: 'instance' as const, id: resolved.sourceInstanceId },
          targetId: resolved.targetInstanceId,
          planVersion: async (on: AwsGateway) => rdsMysqlPlanVersion(await awsMysqlPlatform(resolved, on).seeding.sourceInstance()),
        };
  return {
    ...family,
    platformOn: (on: AwsGateway): MysqlPlatform => {
      const platform = family.build(on);
      platform.useForwardRun(options.forwardFacts);
      return platform;
    },
    runbookOn: (platform: MysqlPlatform) => withAfterSwitchForth(options.command, mysqlWayBackRunbook(options.command, platform, settings, { deleteOld: options.deleteOld }), [awsMysqlFenceAgainStep(platform)]),
  };
}

/**
 * The AWS MySQL-family way back's dry-run plan, recorded from its steps as the forward AWS
 * plans are (recordAwsMysqlPlan): the same runbook on a second platform over a planning gateway
 * (nothing sent but the read-only AWS reads; none without clients), its endpoints recording the
 * SQL, starting where the earlier runs left the move: for switch-back and complete, traffic on
 * the target and the old source replicating from it (the forward switch's way back); for
 * switch-forth, traffic on the old source and the target replicating from it (the switch-back's
 * way forth). `note`: which SQL dialect the plan shows.
 */
export async function recordAwsMysqlWayBackPlan(
  resolved: AwsMysqlSettings | AwsAuroraMysqlSettings,
  settings: MysqlFlowSettings,
  options: { command: WayBackCommand; deleteOld: boolean; forwardFacts: Facts; clients?: AwsClients; waits: WaitSettings },
): Promise<RecordedPlan & { note: string }> {
  const way = awsMysqlWayBack(resolved, settings, options);
  const { version, note } = await way.planVersion(new AwsGateway({ mode: 'plan', clients: options.clients, log: silentLogger, waits: options.waits }));
  const afterSwitchBack = options.command === 'switch-forth';
  const recorded = await recordAwsMysqlPlan({
    runbook: (planning, recorder) => way.runbookOn(recordingMysqlPlatform(way.platformOn(planning), recorder, { trafficOn: afterSwitchBack ? 'source' : 'target' })),
    clients: options.clients,
    waits: options.waits,
    version,
    binlogRetentionHours: settings.minBinlogRetentionHours,
    databases: settings.databases,
    replicating: [afterSwitchBack ? 'target' : 'source'],
  });
  return { ...recorded, note };
}

/** What lib/cli/cutover.ts hands over for `switch-back RUN_ID` / `complete RUN_ID` on the sandbox. */
export interface WayBackInput {
  environment: CutoverEnvironment;
  args: { command: string; execute: boolean; resume?: string; report?: string; hooks: string[]; deleteOld?: boolean };
  stateDir: string;
  log: Logger;
  out: (line: string) => void;
  settings: MysqlFlowSettings;
  forwardRunId: string;
  forward: RunStatus;
}

/**
 * `switch-back RUN_ID` and `complete RUN_ID` against the persistent sandbox: plan and read-only
 * checks without --execute; with it, a journaled run of its own (`--resume` its id after a kill).
 */
export async function runWayBackOnSandbox(input: WayBackInput): Promise<number> {
  const { args, stateDir, log, forwardRunId, forward } = input;
  if (args.resume && !args.execute) {
    log.error('--resume continues an executed run: add --execute');
    return EXIT.usage;
  }
  const folder = typeof forward.options.sandbox === 'string' ? forward.options.sandbox : sandboxFolder(stateDir, 'mysql');
  const recorded = readSandboxState(folder);
  if (!recorded) {
    log.error(`No sandbox is up in ${folder} (run ${forwardRunId} ran there): it was taken down, so there is nothing to switch back to`);
    return EXIT.usage;
  }
  // The dry run's plan is recorded from the steps on the sandbox's recording stand-in, as the forward dry run's is.
  const planLines = args.execute ? undefined : sandboxPlanLines(input, await recordLocalMysqlWayBackPlan(wayBackCommand(args.command), input.settings, { deleteOld: args.deleteOld }));
  const sandbox = MysqlSandbox.attach(folder, log);
  try {
    return await runMysqlWayBack(input, new LocalMysqlPlatform(sandbox), { platform: 'sandbox', sandbox: folder, forwardRunId }, args.execute ? new LocalRunLock(stateDir, input.environment.name) : undefined, { planLines });
  } finally {
    sandbox.detach();
  }
}

/** A way-back command's runbook with the steps a platform adds at the end of a switch-forth (AWS: the old source fenced again). */
function withAfterSwitchForth(command: WayBackCommand, runbook: Runbook, afterSwitchForth: Step[]): Runbook {
  return command === 'switch-forth' ? withAwsSteps(runbook, { after: afterSwitchForth }) : runbook;
}

/** Plan, checks, and with --execute the journaled run of `switch-back` or `complete` on a platform. */
async function runMysqlWayBack(
  input: WayBackInput,
  platform: MysqlPlatform,
  options: Record<string, unknown>,
  lock: RunLock | undefined,
  extra: { runbook?: (platform: MysqlPlatform) => Runbook; planLines?: string[]; calls?: string[] } = {},
): Promise<number> {
  const { args, log, settings, stateDir, forwardRunId } = input;
  if (args.resume && !args.execute) {
    log.error('--resume continues an executed run: add --execute');
    return EXIT.usage;
  }
  const deleteOld = Boolean(args.deleteOld);
  checkCompleteResume(args, stateDir, forwardRunId);
  const runbook = extra.runbook ? extra.runbook(platform) : mysqlWayBackRunbook(wayBackCommand(args.command), platform, settings, { deleteOld });
  return runWayBackRunbook(input, { runbook, engine: 'mysql', options: args.command === 'complete' ? { ...options, deleteOld } : options, lock, planLines: extra.planLines, calls: extra.calls });
}

/** A resumed complete does what the run it continues set out to do: deleting the old source (or not) is not changed halfway. */
function checkCompleteResume(args: WayBackInput['args'], stateDir: string, forwardRunId: string): void {
  if (args.command !== 'complete' || !args.resume) return;
  const journaled = new Journal(stateDir, args.resume).exists() ? statusFromJournal(new Journal(stateDir, args.resume).read()).options.deleteOld : undefined;
  if (journaled !== undefined && Boolean(journaled) !== Boolean(args.deleteOld)) {
    throw new UsageError(`Run ${args.resume} was started ${journaled ? 'with' : 'without'} --delete-old: resume it the same way (npx zx scripts/cutover.mjs complete ${forwardRunId} --execute${journaled ? ' --delete-old' : ''} --resume ${args.resume})`);
  }
}

/**
 * `switch-back RUN_ID`, `switch-forth RUN_ID` and `complete RUN_ID` for a PostgreSQL (logical)
 * run on RDS/Aurora PostgreSQL with aws.reverseReplication: the same runbooks as on the sandbox,
 * on AwsPostgresPlatform, which reads the forward run's facts (the old source's security groups
 * before the fence). Without --execute the clients are read-only: the plan is recorded call by
 * call from the steps, then the checks run.
 */
export async function runPostgresWayBackOnAws(input: Omit<WayBackInput, 'settings'> & { settings: PostgresFlowSettings }, dependencies: Pick<AwsRunnerDependencies, 'createClients' | 'projectRoot'> = {}): Promise<number> {
  const { environment, args, log, forwardRunId, forward, settings, stateDir } = input;
  if (args.resume && !args.execute) {
    log.error('--resume continues an executed run: add --execute');
    return EXIT.usage;
  }
  const resolved = resolveAwsPostgresSettings(environment, { cleanup: false, projectRoot: dependencies.projectRoot });
  if (!resolved.reverseReplication) {
    throw new UsageError(`Run ${forwardRunId} on ${environment.name} switched one way: aws.reverseReplication is off there, so the old source does not subscribe to the target and there is no way back to take. Set aws.reverseReplication: true for the next move.`);
  }
  if (forward.facts.wayBackOrigin == null) {
    throw new UsageError(`Run ${forwardRunId} on ${environment.name} built no way back (it ran without aws.reverseReplication, or before its switch): there is nothing to switch back with.`);
  }
  if (args.execute && resolved.missing.length > 0) throw new UsageError(`Cannot run on ${environment.name}: no value for ${resolved.missing.join(', ')}. Nothing was changed.`);
  checkCompleteResume(args, stateDir, forwardRunId);
  const createClients = dependencies.createClients ?? ((env: CutoverEnvironment, options: { readOnly: boolean }) => createAwsClients(env.aws!, options));
  const clients = createClients(environment, { readOnly: !args.execute });
  const gateway = new AwsGateway({ mode: args.execute ? 'live' : 'plan', clients, log, waits: { pollSeconds: environment.aws!.waits.pollSeconds } });
  const platformOn = (on: AwsGateway) => {
    const platform = new AwsPostgresPlatform(resolved, on, { method: 'logical', appUsers: settings.appUsers });
    platform.useForwardRun(forward.facts);
    return platform;
  };
  const deleteOld = Boolean(args.deleteOld);
  // switch-forth ends as the forward run did: the inbound-only fence group back on the old
  // source (checked to let the way back out), after the switch last reads it.
  const command = wayBackCommand(args.command);
  const runbookOn = (platform: AwsPostgresPlatform) => withAfterSwitchForth(command, postgresWayBackRunbook(command, platform, settings, { deleteOld }), [awsSourceFenceStep(platform)]);
  const runbook = runbookOn(platformOn(gateway));
  const options = { platform: 'aws', region: resolved.aws.region, source: resolved.source.id, target: resolved.target.id, forwardRunId };
  try {
    // The dry run's calls are recorded from the same runbook's steps, as the forward AWS plans
    // are: a second platform on a planning gateway, its endpoints recording (nothing sent but
    // the read-only AWS reads), seeing the forward run's facts as the run would.
    const recordedCalls = args.execute
      ? undefined
      : await recordAwsPostgresPlan({
          runbook: (planning, recorder) => runbookOn(recordingPostgresPlatform(platformOn(planning), recorder)),
          clients,
          waits: { pollSeconds: environment.aws!.waits.pollSeconds },
          versionNum: (settings.targetVersion ?? 15) * 10000,
          facts: forward.facts,
          // Where the earlier runs left replication: the way back after a forward switch (or a
          // switch-forth), the forward way after a switch-back.
          existingWays: [
            args.command === 'switch-forth'
              ? { publisher: 'source', subscriber: 'target', ...forwardWay(settings), enabled: true }
              : { publisher: 'target', subscriber: 'source', ...backWay(settings), enabled: true },
          ],
        });
    const calls = recordedCalls
      ? recordedCallLines(recordedCalls, { environment: environment.name, switchTimeoutMs: settings.switchTimeoutMs, lagThresholdMs: settings.lagThresholdMs, command: 'npx zx scripts/cutover.mjs' })
      : undefined;
    // The forward runs' lock on AWS: the tag on the source, as for the MySQL way back.
    const lock = args.execute ? sourceTagLock(new AwsGateway({ mode: 'live', clients, log, waits: { pollSeconds: environment.aws!.waits.pollSeconds } }), resolved.source) : undefined;
    return await runWayBackRunbook(input, { runbook, engine: 'postgres', options: args.command === 'complete' ? { ...options, deleteOld } : options, lock, calls });
  } finally {
    if (!dependencies.createClients) destroyClients(clients);
  }
}

/** The same for a PostgreSQL (logical) run on `npm run sandbox -- up --engine postgres`. */
async function runPostgresWayBackOnSandbox(input: Omit<WayBackInput, 'settings'> & { settings: PostgresFlowSettings }): Promise<number> {
  const { args, stateDir, log, forwardRunId, forward, settings } = input;
  if (args.resume && !args.execute) {
    log.error('--resume continues an executed run: add --execute');
    return EXIT.usage;
  }
  const folder = typeof forward.options.sandbox === 'string' ? forward.options.sandbox : sandboxFolder(stateDir, 'postgres');
  if (!readSandboxState(folder)) {
    log.error(`No sandbox is up in ${folder} (run ${forwardRunId} ran there): it was taken down, so there is nothing to switch back to`);
    return EXIT.usage;
  }
  checkCompleteResume(args, stateDir, forwardRunId);
  const planLines = args.execute ? undefined : sandboxPlanLines(input, await recordLocalPostgresWayBackPlan(wayBackCommand(args.command), settings, { deleteOld: args.deleteOld }));
  const sandbox = PostgresSandbox.attach(folder, log);
  const platform = new LocalPostgresPlatform(sandbox, { appUsers: settings.appUsers });
  const deleteOld = Boolean(args.deleteOld);
  const runbook = postgresWayBackRunbook(wayBackCommand(args.command), platform, settings, { deleteOld });
  const options = { platform: 'sandbox', sandbox: folder, forwardRunId };
  try {
    return await runWayBackRunbook(input, { runbook, engine: 'postgres', options: args.command === 'complete' ? { ...options, deleteOld } : options, lock: args.execute ? new LocalRunLock(stateDir, input.environment.name) : undefined, planLines });
  } finally {
    await sandbox.detach();
  }
}

function wayBackCommand(command: string): WayBackCommand {
  if (isWayBackCommand(command)) return command;
  throw new Error(`not a way-back command: ${command}`);
}

/** A sandbox way-back plan as its dry run prints it: the steps and every call, recorded from the steps (as the forward sandbox dry run prints its plan). */
function sandboxPlanLines(input: { environment: CutoverEnvironment; settings: { switchTimeoutMs: number; lagThresholdMs: number } }, recorded: RecordedPlan): string[] {
  return recordedPlanText(recorded, { environment: input.environment.name, switchTimeoutMs: input.settings.switchTimeoutMs, lagThresholdMs: input.settings.lagThresholdMs, command: 'npx zx scripts/cutover.mjs' });
}

/** A recorded way-back plan as the dry run prints it: every call, in order, grouped by step, the point of no return marked. */
function recordedCallLines(recorded: RecordedPlan, settings: DocumentSettings): string[] {
  const document = buildPlanDocument(recorded, settings);
  return [
    'Calls, in order, recorded from the steps themselves (dry run: only the read AWS calls were sent, SQL is never sent; CHANGE = changes something, sent only with --execute):',
    ...planCallLines(document),
    ...(document.runtimeValues.length > 0 ? [`Known only at run time: ${document.runtimeValues.map((name) => `<${name}>`).join(', ')}.`] : []),
  ];
}

/** Plan, run (or dry-run) and finish a switch-back or complete runbook: the part both engines share. */
async function runWayBackRunbook(
  input: Pick<WayBackInput, 'environment' | 'args' | 'stateDir' | 'log' | 'out' | 'forwardRunId'>,
  run_: { runbook: Runbook; engine: 'mysql' | 'postgres'; options: Record<string, unknown>; lock: RunLock | undefined; calls?: string[]; planLines?: string[] },
): Promise<number> {
  const { environment, args, stateDir, log, out, forwardRunId } = input;
  const { runbook, options } = run_;
  // A recorded plan where there is one (the dry run on the sandbox); the step list of the run (and of the AWS plans, whose calls follow).
  for (const line of run_.planLines ?? planText(runbook)) out(line);
  out('');
  if (run_.calls) {
    for (const line of run_.calls) out(line);
    out('');
  }
  const startedAt = new Date();
  const run = await runRunbook({
    runbook,
    environment: environment.name,
    stateDir,
    dryRun: !args.execute,
    resumeRunId: args.resume,
    hooks: parseHooks(args.hooks),
    log,
    options,
    // Ctrl-C stops at a step boundary, as in every executed run: the switch back finishes or
    // aborts within its budget instead of dying with the target frozen and the source closed.
    handleSignals: true,
    // One run per environment, the way back included: the forward runs' lock (a file on the
    // sandbox, the tag on the source on AWS): two switch-backs, or one beside a forward
    // --resume, must not overlap. Refused with RunLockHeld: lib/cli/cutover.ts answers it like
    // a forward run's refusal (exit 3).
    lock: run_.lock,
    lockCommand: `${args.command} ${forwardRunId}${args.command === 'complete' && args.deleteOld ? ' --delete-old' : ''}`,
  });
  if (!args.execute) {
    for (const problem of run.problems) out(`precondition: ${problem}`);
    out(run.problems.length > 0 ? `Dry run: ${args.command} would be refused (above). Nothing was changed.` : `Dry run: nothing was changed. Run it with: npx zx scripts/cutover.mjs ${args.command} ${forwardRunId} --execute${args.deleteOld ? ' --delete-old' : ''}`);
    return run.problems.length > 0 ? EXIT.failed : EXIT.ok;
  }
  // Both are resumed from their journal: a complete killed after DeleteDBInstance was sent must
  // not connect to the deleted source again (its way back is journaled as stopped) and keeps
  // its run id, which names the final snapshot.
  const resumable = { environment: environment.name, engineFlags: args.command === 'complete' && args.deleteOld ? ' --delete-old' : '', command: `${args.command} ${forwardRunId}` };
  return finishRun(reportFromRun(run, { engine: run_.engine, startedAt }), { report: args.report, stateDir, out, resumable });
}
