/**
 * `--flow share-snapshot` (seed 004): plan (default) or run, with --execute, the cross-account
 * snapshot share on two AWS identities: the environment's `aws` credentials for the source
 * account, `aws.shareSnapshot.target` (assume-role or profile) for the target account.
 * The same engine as every flow: journal, --resume, hooks, report, run lock, exit codes.
 */
import { UsageError } from './args';
import { checkCredentials, passwordVariables, sourceIdentity } from './aws-credentials';
import { checkLines, finishRun } from './finish';
import type { CutoverEnvironment } from '../../config/cutover';
import type { Logger } from '../util/log';
import { LocalRunLock } from '../runbook/lock';
import { planText, runRunbook } from '../runbook/engine';
import { parseHooks } from '../runbook/hooks';
import { detachedContext } from '../runbook/step';
import { runInStep } from '../runbook/current-step';
import { RunResources } from '../runbook/resources';
import { EXIT_CODES as EXIT, reportFromRun } from '../report';
import { createAwsClients, destroyClients, type AwsClients } from '../platforms/aws/clients';
import { AwsGateway, formatCall, type RecordedCall } from '../platforms/aws/gateway';
import { shareSnapshotRunbook, type ShareGateways, type ShareSnapshotResolved } from '../platforms/aws/snapshot-share';
import { readInfraOutputs } from '../infra/outputs';
import { fromProjectRoot } from '../util/project-root';
import { environmentOutputsFile } from '../infra/outputs';
import { loadInfraEnvironment, type InfraEnvironment } from '../../config/infra';
import { runResourceTags } from '../platforms/aws/settings';
import { PLANNED_RUN_ID } from '../platforms/aws/run-tags';
import { planDocumentOutput, type PlanOutputArgs } from './plan-output';
import type { PlannedStep, RecordedPlan } from '../runbook/plan-recording';

type Side = 'source' | 'target';

/** What the CLI hands a runner (the same fields as cutover.ts's FlowRunnerInput). */
export interface FlowRunnerInput {
  environment: CutoverEnvironment;
  /** The parsed command line (cutover.ts's CutoverArgs; the fields this runner reads). */
  args: {
    execute: boolean;
    offline: boolean;
    cleanup: boolean;
    resume?: string;
    breakLock?: string;
    report?: string;
    hooks: string[];
    engine: string;
    loadCommand?: string;
    loadRate?: number;
    loadConnections?: number;
    fault?: string;
    keepSandbox: boolean;
    switchTimeoutMs?: number;
    lagThresholdMs?: number;
    planFormat: PlanOutputArgs['planFormat'];
    planOut?: string;
    rehearsalReport?: string;
  };
  stateDir: string;
  log: Logger;
  out: (line: string) => void;
}

/** What tests replace: the SDK clients of each side. */
export interface ShareRunnerDependencies {
  /** @default - clients from the environment (source: aws.region/profile/assumeRole; target: aws.shareSnapshot.target) */
  createClients?: (identity: { region: string; profile?: string; assumeRole?: { roleArn: string; externalId?: string; sessionName: string } }, options: { readOnly: boolean }, side: Side) => AwsClients;
  /** @default - the project root (where `.rds-cutover/outputs-<env>.json` is looked up) */
  projectRoot?: string;
}

/** The environment's share settings, with the share key from the snapshot-share stack's outputs when not configured. */
export function resolveShareSettings(environment: CutoverEnvironment, options: { cleanup: boolean; projectRoot?: string }): ShareSnapshotResolved {
  const aws = environment.aws;
  const file = `config/cutover/${environment.name}.ts`;
  if (environment.platform !== 'aws' || !aws) throw new UsageError(`--flow share-snapshot runs on AWS environments: ${environment.name} has platform "${environment.platform}" (use an environment with platform: 'aws' and an aws.shareSnapshot section)`);
  const share = aws.shareSnapshot;
  if (!share) throw new UsageError(`${file} has no aws.shareSnapshot section: add one (target: { accountId, assumeRole or profile, kmsKeyArn, restore, dbSubnetGroupName, vpcSecurityGroupIds, parameterGroupName, instanceClass }); see README "Cross-account snapshot share"`);
  const sourceKind = 'clusterId' in aws.source ? 'cluster' : 'instance';
  const restoreKind = 'clusterId' in share.target.restore ? 'cluster' : 'instance';
  if (sourceKind !== restoreKind) throw new UsageError(`${file}: aws.source is an ${sourceKind} but aws.shareSnapshot.target.restore names a${restoreKind === 'instance' ? 'n instance' : ' cluster'}: a ${sourceKind} snapshot restores as a${sourceKind === 'instance' ? 'n instance ({ instanceId })' : ' cluster ({ clusterId })'}`);
  if (restoreKind === 'instance' && !('clusterId' in share.target.restore) && share.target.optionGroupName === undefined) {
    // fine: the snapshot's option group is used
  }
  const infraName = aws.infraEnvironment ?? environment.name;
  let infra: InfraEnvironment | undefined;
  try {
    infra = loadInfraEnvironment(infraName);
  } catch {
    infra = undefined; // no infra environment of that name: aws.tags, if any, are the run's tags
  }
  let tags: Record<string, string>;
  try {
    tags = runResourceTags(environment.name, aws, infra, infraName);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  let shareKeyArn = share.shareKeyArn;
  if (!shareKeyArn) {
    const outputsFile = fromProjectRoot(environmentOutputsFile(aws, environment.name), options.projectRoot);
    try {
      shareKeyArn = readInfraOutputs(infraName, { file: outputsFile }).snapshotShare?.keyArn;
    } catch (error) {
      throw new UsageError(`${file}: no aws.shareSnapshot.shareKeyArn, and the stacks' outputs could not give snapshotShareKeyArn (${(error as Error).message.split('\n')[0]}): set shareKeyArn, or deploy the snapshot-share stack and write the outputs file`);
    }
    if (!shareKeyArn) throw new UsageError(`${file}: no aws.shareSnapshot.shareKeyArn, and config/infra/${infraName}.ts has no snapshotShare section: add snapshotShare.targetAccountIds [${share.target.accountId}] there and deploy, or set shareKeyArn`);
  }
  const restore = 'clusterId' in share.target.restore ? { kind: 'cluster' as const, id: share.target.restore.clusterId, writerInstanceId: share.target.restore.writerInstanceId } : { kind: 'instance' as const, id: share.target.restore.instanceId };
  return {
    environment: environment.name,
    region: aws.region,
    source: 'clusterId' in aws.source ? { kind: 'cluster', id: aws.source.clusterId } : { kind: 'instance', id: aws.source.instanceId },
    givenSnapshotId: share.snapshotId,
    shareKeyArn,
    shareCopyId: share.shareCopyId,
    target: { ...share.target, region: share.target.region ?? aws.region },
    restore,
    tags,
    cleanup: options.cleanup,
    waits: { snapshotSeconds: aws.waits.snapshotSeconds, instanceSeconds: aws.waits.instanceSeconds },
  };
}

function checkArgs(args: FlowRunnerInput['args']): void {
  if (args.offline && args.execute) throw new UsageError('--offline plans without reading AWS; it cannot be combined with --execute (drop --offline to run)');
  if (args.resume && !args.execute) throw new UsageError('--resume continues an executed run: add --execute');
  if (args.engine !== 'mysql' || args.loadCommand || args.loadRate || args.loadConnections || args.fault || args.keepSandbox || args.switchTimeoutMs || args.lagThresholdMs || args.rehearsalReport) {
    throw new UsageError('--flow share-snapshot takes --execute, --resume, --cleanup, --offline, --hook, --report, --break-lock and --plan-format/--plan-out; not --engine, the rehearsal (--load-*, --fault, --keep-sandbox, --rehearsal-report: nothing switches) or switch options');
  }
  if (args.execute && args.planFormat !== 'text') throw new UsageError('--plan-format writes the dry run\'s plan document: drop --execute to write it, or drop --plan-format to run');
}

/** The plan's AWS call list: which account each call goes to. */
export function shareCallLines(calls: Array<RecordedCall & { side: Side }>): string[] {
  return calls.map((call, index) => `  ${String(index + 1).padStart(2)}. [${call.side}] ${call.kind === 'write' ? 'CHANGE ' : call.kind === 'wait' ? 'wait   ' : 'read   '} ${formatCall(call)}  (${call.step})`);
}

export async function runShareSnapshot(input: FlowRunnerInput, dependencies: ShareRunnerDependencies = {}): Promise<number> {
  const { environment, args, log, out } = input;
  checkArgs(args);
  const settings = resolveShareSettings(environment, { cleanup: args.cleanup, projectRoot: dependencies.projectRoot });
  const aws = environment.aws!;
  const create = dependencies.createClients ?? ((identity, options) => createAwsClients(identity, options));
  const readOnly = !args.execute;
  const clients = args.offline
    ? undefined
    : {
        source: create({ region: aws.region, profile: aws.profile, assumeRole: aws.assumeRole }, { readOnly }, 'source'),
        target: create({ region: settings.target.region, profile: settings.target.profile, assumeRole: settings.target.assumeRole }, { readOnly }, 'target'),
      };
  const waits = { pollSeconds: aws.waits.pollSeconds };
  const gateways = (mode: 'live' | 'plan' | 'list'): ShareGateways => ({
    // 'list': the plan's call list, recorded without sending anything (reads of what earlier
    // steps would create could only fail); the checks read through 'plan' (read-only clients).
    source: new AwsGateway({ mode: mode === 'live' ? 'live' : 'plan', clients: mode === 'list' ? undefined : clients?.source, log, waits }),
    target: new AwsGateway({ mode: mode === 'live' ? 'live' : 'plan', clients: mode === 'list' ? undefined : clients?.target, log, waits }),
  });
  try {
    const lock = new LocalRunLock(input.stateDir, environment.name);
    if (args.breakLock) {
      const released = await lock.breakLock(args.breakLock);
      out(`released the lock (${lock.where}) held by run ${released.runId} (host ${released.host}, pid ${released.pid}, started ${released.startedAt})`);
      return EXIT.ok;
    }
    // Both identities before the checks, the lock or the journal (a resume's journal is checked
    // first): a credential problem is named with the settings of its side and the fix (exit 2).
    const checkIdentities = async (): Promise<void> => {
      if (!clients) return;
      const file = `config/cutover/${environment.name}.ts`;
      await checkCredentials(clients.source.sts, sourceIdentity(aws, environment.name));
      const target = settings.target;
      await checkCredentials(clients.target.sts, { side: `the target account ${target.accountId}`, region: target.region, profile: target.profile, profileField: 'aws.shareSnapshot.target.profile', assumeRoleArn: target.assumeRole?.roleArn, fields: 'aws.shareSnapshot.target.assumeRole or .profile', file });
    };
    if (!args.execute) {
      await checkIdentities();
      return await dryRun(input, settings, gateways);
    }
    const runbook = shareSnapshotRunbook(settings, gateways('live'));
    for (const line of planText(runbook)) out(line);
    out('');
    const startedAt = new Date();
    const run = await runRunbook({
      runbook,
      environment: environment.name,
      stateDir: input.stateDir,
      dryRun: false,
      resumeRunId: args.resume,
      hooks: parseHooks(args.hooks),
      hideEnvFromHooks: passwordVariables(aws),
      beforeStart: checkIdentities,
      log,
      options: { platform: 'aws', flow: 'share-snapshot', region: settings.region, source: settings.source.id, targetAccount: settings.target.accountId, restore: settings.restore.id, cleanup: args.cleanup },
      lock,
      handleSignals: true,
    });
    return finishRun(reportFromRun(run, { engine: 'mysql', startedAt }), {
      report: args.report,
      stateDir: input.stateDir,
      out,
      resumable: { environment: environment.name, engineFlags: ` --flow share-snapshot${args.cleanup ? ' --cleanup' : ''}` },
    });
  } finally {
    if (clients && !dependencies.createClients) {
      destroyClients(clients.source);
      destroyClients(clients.target);
    }
  }
}

async function dryRun(input: FlowRunnerInput, settings: ShareSnapshotResolved, gateways: (mode: 'plan' | 'list') => ShareGateways): Promise<number> {
  const { environment, args, log, out } = input;
  // The call list: every step run against recording gateways (writes and waits recorded, never sent).
  const plan = gateways('list');
  const planRunbook = shareSnapshotRunbook(settings, plan);
  const context = detachedContext({ runId: PLANNED_RUN_ID, dryRun: true, log: { ...log, info: () => undefined }, facts: {}, resources: new RunResources() });
  let stoppedAt: string | undefined;
  for (const step of planRunbook.steps) {
    try {
      // Run as the engine runs it: the step is what labels its calls (the gateways take no label).
      Object.assign(context.facts, (await runInStep(step.id, async () => step.apply(context))) ?? {});
    } catch (error) {
      // A failing check is reported below with every problem; the later steps are still listed.
      if (step.kind === 'check') continue;
      stoppedAt = `${step.id}: ${(error as Error).message.split('\n')[0]}`;
      break;
    }
  }
  const sides = new Map<RecordedCall, Side>([...plan.source.calls.map((c) => [c, 'source'] as const), ...plan.target.calls.map((c) => [c, 'target'] as const)]);
  const ordered = [...plan.source.calls, ...plan.target.calls].sort((a, b) => planRunbook.steps.findIndex((s) => s.id === a.step) - planRunbook.steps.findIndex((s) => s.id === b.step));
  // The same calls as a plan document (--plan-format markdown/json), each labelled with its account.
  const stoppedStep = stoppedAt?.split(':')[0];
  const stoppedIndex = stoppedStep ? planRunbook.steps.findIndex((s) => s.id === stoppedStep) : -1;
  const recorded: RecordedPlan = {
    flow: planRunbook.flow,
    summary: planRunbook.summary,
    steps: planRunbook.steps.map((step, index): PlannedStep => ({
      id: step.id,
      kind: step.kind,
      irreversible: Boolean(step.irreversible),
      hookBefore: step.hookBefore,
      hookAfter: step.hookAfter,
      describe: step.describe({}),
      status: stoppedIndex < 0 || index < stoppedIndex ? 'recorded' : index === stoppedIndex ? 'failed' : 'not-reached',
      ...(index === stoppedIndex && stoppedAt ? { error: stoppedAt } : {}),
    })),
    entries: ordered.map((call) => ({
      type: 'call' as const,
      step: call.step,
      channel: 'aws' as const,
      on: `[${sides.get(call)}] ${call.service}`,
      operation: call.command,
      input: call.input,
      effect: call.kind === 'write' ? ('change' as const) : call.kind,
      ...(call.note ? { note: call.note } : {}),
    })),
    runtimeValues: ['run-id'],
    ...(stoppedAt ? { stoppedAt } : {}),
  };
  const { wroteToStdout, file } = planDocumentOutput(
    recorded,
    {
      environment: environment.name,
      switchTimeoutMs: 0,
      lagThresholdMs: 0,
      command: 'npx zx scripts/cutover.mjs',
      commandFlags: ' --flow share-snapshot',
      regions: { source: settings.region, target: settings.target.region },
      notes: [`Accounts: [source] = ${settings.source.kind} ${settings.source.id}'s account (the environment's credentials), [target] = account ${settings.target.accountId}.`],
    },
    args,
    out,
  );
  // A markdown/json document on stdout stays parseable: everything else goes to the log.
  let print = out;
  if (wroteToStdout) print = (line: string) => log.info(line);
  if (file) log.info(`plan document: ${file}`);
  for (const line of planText(planRunbook)) print(line);
  print('');
  print(`AWS calls, in order ([source] = source account, [target] = account ${settings.target.accountId}; ${args.offline ? 'offline: none sent' : 'the checks below sent only read calls'}; CHANGE = sent only with --execute):`);
  for (const line of shareCallLines(ordered.map((call) => ({ ...call, side: sides.get(call)! })))) print(line);
  if (stoppedAt) print(`  (the list stops here: ${stoppedAt})`);
  print('');
  print(settings.cleanup ? 'Clean-up (--cleanup): the temporary copies (and the source snapshot the run took) are deleted at the end.' : 'Clean-up: nothing is deleted without --cleanup; the run prints the delete commands for the temporary copies.');
  if (args.offline) {
    print("Dry run (--offline): planned from config and the stacks' outputs alone; no AWS call was made and nothing was changed.");
    return EXIT.ok;
  }
  const run = await runRunbook({ runbook: shareSnapshotRunbook(settings, gateways('plan')), environment: environment.name, stateDir: input.stateDir, dryRun: true, hooks: parseHooks(args.hooks), hideEnvFromHooks: passwordVariables(environment.aws!), log });
  print('');
  for (const line of checkLines(run)) print(line);
  print('Dry run: only read-only AWS calls were made in both accounts and nothing was changed. Run with --execute to perform the plan.');
  return run.result === 'planned' ? EXIT.ok : EXIT.failed;
}
