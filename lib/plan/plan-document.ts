import { readFileSync } from 'node:fs';
import { redact, redactValue } from '../util/secrets';
import type { PlanCall, PlanEntry, RecordedPlan } from '../runbook/plan-recording';
import { stepListText } from '../runbook/engine';

/**
 * The recorded plan as a document for review (issue 15): every step with the calls it made,
 * the point of no return at the exact call, the rollback at each stage, and the expected
 * downtime broken down. Built only from what the steps recorded (recordPlan) plus the
 * environment's timeouts and, if given, a rehearsal report's measured figures.
 */

export { PLAN_FORMATS, type PlanFormat } from './formats';

export interface DocumentCall {
  /** 1-based position in the whole run. */
  number: number;
  channel: 'aws' | 'sql' | 'process';
  on: string;
  operation: string;
  input?: object;
  effect: PlanCall['effect'];
  note?: string;
  forEach?: string;
}

export interface DocumentStep {
  number: number;
  id: string;
  kind: 'check' | 'action';
  describe: string[];
  hookBefore?: string;
  hookAfter?: string;
  status: 'recorded' | 'failed' | 'not-reached';
  error?: string;
  calls: DocumentCall[];
  /** Sub-phases the step journals, in order (the switch: freezing, frozen, …). */
  phases: string[];
}

export interface PointOfNoReturn {
  step: string;
  /** The call after which the run only goes forward. */
  call: DocumentCall;
  why: string;
}

export interface RollbackStage {
  stage: string;
  /** Steps this stage covers. */
  steps: string[];
  whatHappens: string;
  operatorRuns: string[];
}

export interface DowntimePhase {
  phase: string;
  /** What bounds it on AWS, from the configuration or the recorded calls. */
  expected: string;
  /** The rehearsal's measured figure, where a report was given. */
  rehearsalMs?: number | null;
}

export interface PlanDocument {
  flow: string;
  environment: string;
  summary: string[];
  steps: DocumentStep[];
  pointOfNoReturn?: PointOfNoReturn;
  rollback: RollbackStage[];
  downtime: { phases: DowntimePhase[]; budgetMs: number; /** The window the budget bounds, in words. */ budget: string; rehearsal?: { file: string; writeUnavailableMs?: number | null; switchDurationMs?: number | null; lagAtSwitchMs?: number | null } };
  runtimeValues: string[];
  /** The stacks' outputs could not be used: the `<…>` values from them are unknown to this plan (not run-time values). */
  unresolved?: UnresolvedOutputs;
  stoppedAt?: string;
  /** false: listed from the platform's operations in the flow's order, not recorded from the steps. */
  recordedFromSteps: boolean;
  notes: string[];
}

export interface UnresolvedOutputs {
  outputsFile: string;
  problem: string;
  /** Each value the config and the outputs did not give, with where it would come from. */
  missing: string[];
}

export interface DocumentSettings {
  environment: string;
  switchTimeoutMs: number;
  lagThresholdMs: number;
  /** The command prefix shown for follow-up commands. */
  command: string;
  /** Flags the follow-up commands need besides --env (share-snapshot: " --flow share-snapshot"). @default - none */
  commandFlags?: string;
  /** A rehearsal report (report.json) whose measured switch figures go next to the expectations. */
  rehearsalReport?: string;
  /** How the document names that report (default: its path). */
  rehearsalReportLabel?: string;
  notes?: string[];
  /** PostgreSQL dump: the copy's bound (the copy runs while the source is frozen). */
  copyTimeoutMs?: number;
  /** RDS Proxy as the switch point: the endpoint the application keeps using. */
  proxyEndpoint?: string;
  /** What abandoning before the switch leaves that no recorded call shows (PostgreSQL: publication, slot, subscription, role). */
  abandon?: string[];
  /** Set when the stacks' outputs could not be used (the plan still shows their values as `<…>`). */
  unresolved?: UnresolvedOutputs;
  /**
   * The regions the AWS calls act in: the rollback's delete commands carry `--region`, so a person
   * running them does not depend on their shell's default region. `target`: calls labelled
   * `[target]` (another account, maybe another region). @default - commands without --region
   */
  regions?: { source: string; target?: string };
}

/** The run's sub-phase whose recording means traffic moved (MySQL: switchPhase endpoint-moved; PostgreSQL: endpointMovedAt). */
function movesTraffic(facts: Record<string, unknown>): boolean {
  return facts.switchPhase === 'endpoint-moved' || 'endpointMovedAt' in facts;
}

export function buildPlanDocument(plan: RecordedPlan, settings: DocumentSettings): PlanDocument {
  const calls: Array<DocumentCall & { step: string }> = [];
  const phasesByStep = new Map<string, string[]>();
  let pointOfNoReturn: PointOfNoReturn | undefined;
  plan.entries.forEach((entry: PlanEntry) => {
    if (entry.type === 'call') {
      calls.push({ number: calls.length + 1, step: entry.step, channel: entry.channel, on: entry.on, operation: entry.operation, ...(entry.input ? { input: redactValue(entry.input) } : {}), effect: entry.effect, ...(entry.note ? { note: entry.note } : {}), ...(entry.forEach ? { forEach: entry.forEach } : {}) });
      return;
    }
    const phase = typeof entry.facts.switchPhase === 'string' ? entry.facts.switchPhase : Object.keys(entry.facts).find((key) => /At$/.test(key));
    if (phase) phasesByStep.set(entry.step, [...(phasesByStep.get(entry.step) ?? []), phase]);
    if (!pointOfNoReturn && movesTraffic(entry.facts)) {
      // The last change before the flow journaled "traffic moved" is the call that moved it.
      const last = [...calls].reverse().find((call) => call.effect === 'change' && call.step === entry.step);
      if (last) {
        const { step, ...call } = last;
        pointOfNoReturn = { step, call, why: 'From this call on traffic goes to the target: the flow never reopens the old source after it (a failure only goes forward: --resume finishes the switch).' };
      }
    }
  });
  // Plans not recorded from the steps (PostgreSQL on AWS) journal no sub-phases: the switch point's own call marks it.
  if (!pointOfNoReturn) {
    const irreversible = new Set(plan.steps.filter((step) => step.irreversible).map((step) => step.id));
    const deregistered = calls.findIndex((call) => call.operation === 'DeregisterDBProxyTargets' && irreversible.has(call.step));
    const moved = calls.find((call, index) => call.effect === 'change' && irreversible.has(call.step) && (call.operation === 'ChangeResourceRecordSets' || (call.operation === 'RegisterDBProxyTargets' && deregistered >= 0 && index > deregistered)));
    if (moved) {
      const { step, ...call } = moved;
      pointOfNoReturn = { step, call, why: 'From this call on traffic goes to the target: the flow never reopens the old source after it (a failure only goes forward: --resume finishes the switch).' };
    }
  }
  const steps: DocumentStep[] = plan.steps.map((step, index) => ({
    number: index + 1,
    id: step.id,
    kind: step.kind,
    describe: step.describe,
    ...(step.hookBefore ? { hookBefore: step.hookBefore } : {}),
    ...(step.hookAfter ? { hookAfter: step.hookAfter } : {}),
    status: step.status,
    ...(step.error ? { error: step.error } : {}),
    calls: calls.filter((call) => call.step === step.id).map(({ step: _step, ...call }) => call),
    phases: phasesByStep.get(step.id) ?? [],
  }));
  return redactValue({
    flow: plan.flow,
    environment: settings.environment,
    summary: plan.summary,
    steps,
    ...(pointOfNoReturn ? { pointOfNoReturn } : {}),
    rollback: rollbackStages(plan.flow, steps, pointOfNoReturn, settings),
    downtime: downtime(plan.flow, calls, settings),
    runtimeValues: plan.runtimeValues,
    ...(settings.unresolved && settings.unresolved.missing.length > 0 ? { unresolved: settings.unresolved } : {}),
    ...(plan.stoppedAt ? { stoppedAt: plan.stoppedAt } : {}),
    recordedFromSteps: plan.recordedFromSteps !== false,
    notes: settings.notes ?? [],
  });
}

/** What a change call leaves behind, and how to remove it by hand (in `region` when known). */
function leftBehind(call: DocumentCall, region: string | undefined): string | undefined {
  const input = (call.input ?? {}) as Record<string, unknown>;
  if (call.channel === 'sql') {
    const user = /^CREATE USER IF NOT EXISTS (\S+)/i.exec(call.operation)?.[1];
    return user ? `on the ${call.on}: DROP USER IF EXISTS ${user}` : undefined;
  }
  return region ? awsCommand(call.operation, input)?.replace(/^aws rds (\S+)/, `aws rds $1 --region ${region}`) : awsCommand(call.operation, input);
}

function awsCommand(operation: string, input: Record<string, unknown>): string | undefined {
  switch (operation) {
    case 'CreateDBInstanceReadReplica':
    case 'RestoreDBInstanceFromDBSnapshot':
    case 'CreateDBInstance':
      return `aws rds delete-db-instance --db-instance-identifier ${String(input.DBInstanceIdentifier)} --skip-final-snapshot`;
    case 'CreateDBSnapshot':
      return `aws rds delete-db-snapshot --db-snapshot-identifier ${String(input.DBSnapshotIdentifier)}`;
    case 'CopyDBSnapshot':
      return `aws rds delete-db-snapshot --db-snapshot-identifier ${String(input.TargetDBSnapshotIdentifier)}`;
    case 'CreateDBClusterSnapshot':
      return `aws rds delete-db-cluster-snapshot --db-cluster-snapshot-identifier ${String(input.DBClusterSnapshotIdentifier)}`;
    case 'CopyDBClusterSnapshot':
      return `aws rds delete-db-cluster-snapshot --db-cluster-snapshot-identifier ${String(input.TargetDBClusterSnapshotIdentifier)}`;
    case 'ModifyDBSnapshotAttribute':
      return Array.isArray(input.ValuesToAdd)
        ? `aws rds modify-db-snapshot-attribute --db-snapshot-identifier ${String(input.DBSnapshotIdentifier)} --attribute-name ${String(input.AttributeName)} --values-to-remove ${(input.ValuesToAdd as string[]).join(' ')}   (the share)`
        : undefined;
    case 'RestoreDBClusterFromSnapshot':
      return `aws rds delete-db-cluster --db-cluster-identifier ${String(input.DBClusterIdentifier)} --skip-final-snapshot (after deleting its instances)`;
    default:
      return undefined;
  }
}

/** What the flow's stages mean, in its own terms (the MySQL switch and the PostgreSQL ones undo different things). */
function stageTexts(flow: string, settings: DocumentSettings) {
  if (flow.startsWith('postgres.')) {
    return {
      before:
        flow === 'postgres.logical'
          ? 'The source takes writes the whole time and traffic never moves. A failure or Ctrl-C stops the run at a step boundary (journaled, resumable). On the source only the publication, the replication slot and the replication role are added; the target database is filled.'
          : 'The source takes writes and nothing on it changes; the target database is created (empty). A failure or Ctrl-C stops the run at a step boundary (journaled, resumable).',
      inside:
        flow === 'postgres.logical'
          ? `Automatic: the switch aborts within --switch-timeout ${settings.switchTimeoutMs} ms: the source's parameter group gets default_transaction_read_only back (writes accepted again), the subscription is enabled again, traffic never moved (exit 3).`
          : 'Not automatic: a failure before the endpoint moves stops the run with the source still frozen (read-only) and traffic on it. --resume switches again; to give up instead, reopen the source by hand (its parameter group back to default_transaction_read_only=0, ApplyMethod immediate) and drop the target database.',
      after: 'Traffic is on the target; the old source stays read-only (its parameter group) and its application roles lose LOGIN. The tool only goes forward from here: a failure or kill is finished by --resume (it reads where the record points first).',
    };
  }
  return {
    before: 'The source takes writes the whole time and traffic never moves. A failure or Ctrl-C stops the run at a step boundary (journaled, resumable); nothing on the source changes except the replication account.',
    inside: `Automatic: the switch aborts within --switch-timeout ${settings.switchTimeoutMs} ms, the target steps back (read-only again, replicating), the source is reopened for writes and traffic never moved (exit 3).`,
    after: 'Traffic is on the target; the old source stays frozen (app accounts locked). The tool only goes forward from here: a failure or kill is finished by --resume (it reads the endpoint and both servers first).',
  };
}

function rollbackStages(flow: string, steps: DocumentStep[], ponr: PointOfNoReturn | undefined, settings: DocumentSettings): RollbackStage[] {
  const switchIndex = steps.findIndex((step) => step.id === ponr?.step);
  // The dump method freezes the source before its switch step: the copy and its check run frozen.
  const freezeIndex = flow === 'postgres.dump' ? steps.findIndex((step) => step.id === 'postgres.source.freeze') : -1;
  const writableUntil = freezeIndex >= 0 ? freezeIndex : switchIndex;
  const before = writableUntil < 0 ? steps : steps.slice(0, writableUntil);
  const frozen = freezeIndex >= 0 && switchIndex > freezeIndex ? steps.slice(freezeIndex, switchIndex) : [];
  const after = switchIndex < 0 ? [] : steps.slice(switchIndex + 1);
  const created = before.flatMap((step) =>
    step.calls
      .filter((call) => call.effect === 'change')
      .map((call) => {
        // Calls labelled with an account ("[target] rds") are undone in that account (and its region).
        const account = /^\[(\w+)\]/.exec(call.on)?.[1];
        const line = leftBehind(call, account === 'target' ? (settings.regions?.target ?? settings.regions?.source) : settings.regions?.source);
        return line && account ? `[${account}] ${line}` : line;
      })
      .filter((line): line is string => line !== undefined),
  );
  const status = `${settings.command} status RUN_ID --env ${settings.environment}`;
  const resume = `${settings.command} --env ${settings.environment}${settings.commandFlags ?? ''} --execute --resume RUN_ID`;
  if (flow === 'aws.share-snapshot') {
    return [
      {
        stage: 'at every step (nothing switches traffic)',
        steps: steps.map((step) => step.id),
        whatHappens: 'The source is only snapshotted; the application stays on it throughout and never moves. A failure or Ctrl-C stops the run at a step boundary (journaled, resumable). The copy in the target account is a new database as of the snapshot; abandoning means deleting what the run created and removing the share.',
        // Newest first: the restored instance before the copies it came from, the share before its snapshot.
        operatorRuns: [status, `${resume}   (go on after fixing the cause)`, 'or abandon and delete what the run created, newest first (each in the account named):', ...[...created].reverse().map((line) => `  ${line}`)],
      },
    ];
  }
  const texts = stageTexts(flow, settings);
  const stages: RollbackStage[] = [
    {
      stage: 'before the switch',
      steps: before.map((step) => step.id),
      whatHappens: texts.before,
      operatorRuns: [status, `${resume}   (go on after fixing the cause)`, 'or abandon the move and delete what the run created:', ...[...created, ...(settings.abandon ?? [])].map((line) => `  ${line}`)],
    },
  ];
  if (frozen.length > 0) {
    stages.push({
      stage: 'source frozen, before the switch (the copy and its check)',
      steps: frozen.map((step) => step.id),
      whatHappens: `Writes fail read-only from the freeze on. Automatic: a failed copy (or one past ${settings.copyTimeoutMs ?? '?'} ms) or a checksum difference reopens the source (default_transaction_read_only back) and traffic never moved (exit 3). The copy refuses a half-filled target: drop and recreate the target database before running again.`,
      operatorRuns: [status, resume],
    });
  }
  if (ponr) {
    stages.push({
      stage: `inside ${ponr.step}, before the point of no return (call ${ponr.call.number})`,
      steps: [ponr.step],
      whatHappens: texts.inside,
      operatorRuns: [status, `then --resume RUN_ID to switch again, or abandon as above`],
    });
    stages.push({
      stage: `after the point of no return (call ${ponr.call.number})`,
      steps: [ponr.step, ...after.map((step) => step.id)],
      whatHappens: texts.after,
      operatorRuns: [status, resume, 'switch-back (replicating the new side into the old one) is not built for this flow yet: going back means a new cutover in the other direction.'],
    });
  }
  return stages;
}

interface RehearsalFigures {
  flow?: string;
  result?: string;
  verdict?: string;
  writes?: unknown;
  writeUnavailableMs?: number | null;
  switchDurationMs?: number | null;
  lagAtSwitchMs?: number | null;
  facts?: { switchPhasesMs?: Record<string, number> };
}

/**
 * A rehearsal's figures stand beside a plan only when they measure the same switch: a report of
 * the same flow, of a rehearsal (writes measured), that succeeded (an aborted one's gap is not a
 * switch's downtime). Anything else is refused with the fix, never printed as "switch ? ms".
 */
function readRehearsal(file: string, flow: string): RehearsalFigures {
  let report: RehearsalFigures;
  try {
    report = JSON.parse(readFileSync(file, 'utf8')) as RehearsalFigures;
  } catch (error) {
    throw new Error(`--rehearsal-report ${file}: cannot read it as a report.json (${(error as Error).message.split('\n')[0]}); give the report.json a rehearsal wrote (npm run rehearse -- --report FILE)`);
  }
  if (report.flow !== flow) {
    throw new Error(`--rehearsal-report ${file} is a rehearsal of flow ${report.flow ?? '(none named)'}; this plan is flow ${flow}: give the report of a rehearsal of the same flow (npm run rehearse -- --engine … --method … --report FILE)`);
  }
  if (!report.writes) throw new Error(`--rehearsal-report ${file} has no measured writes: it is not a rehearsal's report; give the report.json a rehearsal wrote (npm run rehearse -- --report FILE)`);
  const outcome = report.verdict ?? report.result;
  if (outcome !== 'success') {
    throw new Error(`--rehearsal-report ${file}: that rehearsal did not succeed (${outcome ?? 'no result'}): its figures are not a switch's downtime; give the report of a successful rehearsal`);
  }
  return report;
}

/** The switch point's two phases: the endpoint moving, and the clients arriving on the target. */
function switchPointPhases(calls: DocumentCall[], settings: DocumentSettings, measured: Record<string, number>, reopenedName: string): DowntimePhase[] {
  const dns = calls.find((call) => call.operation === 'ChangeResourceRecordSets');
  const ttl = (dns?.input as { ChangeBatch?: { Changes?: Array<{ ResourceRecordSet?: { TTL?: number } }> } } | undefined)?.ChangeBatch?.Changes?.[0]?.ResourceRecordSet?.TTL;
  const deregister = calls.find((call) => call.operation === 'DeregisterDBProxyTargets');
  const register = deregister ? calls.find((call) => call.operation === 'RegisterDBProxyTargets' && call.number > deregister.number) : undefined;
  const recycle = calls.filter((call) => call.operation === 'UpdateService');
  const recycleWait = calls.find((call) => call.effect === 'wait' && call.operation === 'DescribeServices');
  const ecs = recycle.length > 0 ? `ECS ${recycle.length} service(s) redeployed (forceNewDeployment) so no pool keeps the old ${register ? 'sessions' : 'address'}${recycleWait?.note ? `; ${recycleWait.note}` : ''}` : '';
  const ids = (call: DocumentCall | undefined) => ((call?.input as { DBInstanceIdentifiers?: string[]; DBClusterIdentifiers?: string[] } | undefined)?.DBInstanceIdentifiers ?? (call?.input as { DBClusterIdentifiers?: string[] } | undefined)?.DBClusterIdentifiers ?? []).join(', ');
  if (register) {
    const proxy = settings.proxyEndpoint ?? 'the proxy endpoint';
    return [
      {
        phase: 'endpoint moved (RDS Proxy target swap)',
        expected: `DeregisterDBProxyTargets ${ids(deregister)}, RegisterDBProxyTargets ${ids(register)}, then SELECT @@hostname, @@server_id, @@port on a new connection through ${proxy} each time until it answers as the new instance answers directly (the registration goes REGISTERING → AVAILABLE; bounded by --switch-timeout); the application keeps the proxy's endpoint: no DNS TTL and no client DNS cache`,
        rehearsalMs: measured.switchEndpoint ?? null,
      },
      {
        phase: `${reopenedName} (client reconnect)`,
        expected: `clients reconnect to the same endpoint ${proxy} and get connections to the new instance; sessions they held through the proxy to the old one do not move (whether the proxy ends them at deregistration is not measured on AWS yet: pools must retry)${ecs ? `; ${ecs}` : ''}`,
        rehearsalMs: measured.resume ?? null,
      },
    ];
  }
  return [
    {
      phase: 'endpoint moved',
      expected: dns ? `one Route 53 call; clients resolve the new address only after their cached answer expires: TTL ${ttl ?? '?'} s plus client-side DNS caches (JVM, pools)` : "the platform's switch call",
      rehearsalMs: measured.switchEndpoint ?? null,
    },
    {
      phase: `${reopenedName} (writes accepted on the target through the endpoint)`,
      expected: ecs || 'clients reconnect through the endpoint',
      rehearsalMs: measured.resume ?? null,
    },
  ];
}

/** The parameter-group change that freezes a PostgreSQL source on AWS, as recorded. */
function postgresFreeze(calls: DocumentCall[]): string {
  const call = calls.find((c) => /^ModifyDB(Cluster)?ParameterGroup$/.test(c.operation) && JSON.stringify(c.input ?? {}).includes('default_transaction_read_only'));
  return call
    ? `${call.operation} default_transaction_read_only=1 (immediate), then polled until the server reports it: RDS applies it in seconds, not milliseconds; from here application writes fail read-only (no pooler on AWS to queue them)`
    : 'the source made read-only for new transactions';
}

function downtime(flow: string, calls: DocumentCall[], settings: DocumentSettings): PlanDocument['downtime'] {
  if (flow === 'aws.share-snapshot') {
    return { phases: [], budgetMs: 0, budget: 'none: nothing switches traffic. The source keeps taking writes; the target account gets a copy as of the snapshot (on a Single-AZ source the snapshot itself suspends I/O briefly, as every RDS snapshot does).' };
  }
  const rehearsal = settings.rehearsalReport ? readRehearsal(settings.rehearsalReport, flow) : undefined;
  const measured = rehearsal?.facts?.switchPhasesMs ?? {};
  const sum = (...keys: string[]) => (keys.some((key) => measured[key] !== undefined) ? Math.round(keys.reduce((total, key) => total + (measured[key] ?? 0), 0) * 10) / 10 : null);
  let phases: DowntimePhase[];
  let budget = `--switch-timeout ${settings.switchTimeoutMs} ms from the freeze to the endpoint moved (past it: abort, source reopened).`;
  if (flow === 'postgres.logical') {
    phases = [
      { phase: 'freeze (source read-only)', expected: postgresFreeze(calls), rehearsalMs: sum('pause', 'freeze') },
      { phase: 'source closed to the application (its roles NOLOGIN, their sessions ended and gone)', expected: 'ALTER ROLE … NOLOGIN and one pg_terminate_backend statement, then polled until the sessions exited (a commit in flight finishes first)', rehearsalMs: measured.endSessions ?? null },
      { phase: 'tables compared (both sides\' tables and columns, again after the freeze)', expected: 'two catalog reads', rehearsalMs: measured.tablesCompared ?? null },
      { phase: 'caught-up (the walsender reports the final WAL position written on the target)', expected: `about the lag at the gate: at most --lag-threshold ${settings.lagThresholdMs} ms when the switch starts; abort past --switch-timeout ${settings.switchTimeoutMs} ms`, rehearsalMs: sum('finalLsn', 'targetCatchUp') },
      { phase: 'sequences copied (logical replication does not carry them)', expected: 'one statement for all sequences, forward only', rehearsalMs: measured.sequences ?? null },
      { phase: 'subscription disabled (and the target\'s snapshot for the checksums opened)', expected: 'a few statements', rehearsalMs: measured.disableSubscription ?? null },
      ...switchPointPhases(calls, settings, measured, 'clients on the target'),
    ];
  } else if (flow === 'postgres.dump') {
    budget = `the copy: at most ${settings.copyTimeoutMs ?? '?'} ms (copyTimeoutMs) from the freeze, then --switch-timeout ${settings.switchTimeoutMs} ms for the endpoint (past either: abort, source reopened).`;
    phases = [
      { phase: 'freeze (source read-only)', expected: postgresFreeze(calls), rehearsalMs: measured.freeze ?? null },
      { phase: 'sessions ended (application sessions inside a transaction begun writable)', expected: 'one pg_terminate_backend statement', rehearsalMs: measured.endSessions ?? null },
      { phase: 'copy (the whole database while frozen: schema, data streams, indexes, sequences)', expected: `grows with the database size: the rehearsal's copy scaled to the production size; bounded by copyTimeoutMs ${settings.copyTimeoutMs ?? '?'} ms`, rehearsalMs: measured.copy ?? null },
      { phase: 'verify (per-table checksums before the target opens)', expected: 'reads every row of both sides: grows with the size too', rehearsalMs: measured.verify ?? null },
      ...switchPointPhases(calls, settings, measured, 'clients on the target'),
    ];
  } else {
    phases = [
      { phase: 'freeze (app accounts locked, their sessions killed, final binlog position read)', expected: 'a few statements; bounded by --switch-timeout', rehearsalMs: measured.freeze ?? null },
      { phase: 'caught-up (target executes up to the final position)', expected: `about the lag at the gate: at most --lag-threshold ${settings.lagThresholdMs} ms when the switch starts; abort past --switch-timeout ${settings.switchTimeoutMs} ms`, rehearsalMs: measured.targetCatchUp ?? null },
      { phase: 'promote (replication stopped on the target, app accounts unlocked)', expected: 'a few statements', rehearsalMs: measured.promoteTarget ?? null },
      ...switchPointPhases(calls, settings, measured, 'reopened').map((phase) => (phase.phase.startsWith('reopened') ? { ...phase, rehearsalMs: null } : phase)),
    ];
  }
  return {
    phases,
    budgetMs: flow === 'postgres.dump' ? (settings.copyTimeoutMs ?? 0) + settings.switchTimeoutMs : settings.switchTimeoutMs,
    budget,
    ...(rehearsal && settings.rehearsalReport ? { rehearsal: { file: settings.rehearsalReportLabel ?? settings.rehearsalReport, writeUnavailableMs: rehearsal.writeUnavailableMs ?? null, switchDurationMs: rehearsal.switchDurationMs ?? null, lagAtSwitchMs: rehearsal.lagAtSwitchMs ?? null } } : {}),
  };
}

// ---- rendering ---------------------------------------------------------------------------

function mark(call: DocumentCall): string {
  return call.effect === 'change' ? 'CHANGE' : call.effect === 'wait' ? 'wait  ' : call.effect === 'session' ? 'session' : 'read  ';
}

export function callText(call: DocumentCall): string {
  const body = call.channel === 'aws' ? `${call.on}.${call.operation} ${call.input ? JSON.stringify(call.input) : '{}'}` : `${call.on}: ${call.operation.replace(/\s+/g, ' ')}`;
  const extra = [call.note ? `— ${call.note}` : '', call.forEach ? `— for each ${call.forEach}` : ''].filter(Boolean).join(' ');
  return redact(`${body}${extra ? `  ${extra}` : ''}`);
}

const PONR_LINE = 'POINT OF NO RETURN';

/** The calls of the plan as text lines, grouped by step, the point of no return marked at its call. */
export function planCallLines(document: PlanDocument): string[] {
  const lines: string[] = [];
  for (const step of document.steps) {
    if (step.calls.length === 0) continue;
    lines.push(`  ${step.id}`);
    for (const call of step.calls) {
      lines.push(`    ${String(call.number).padStart(2)}. ${mark(call).padEnd(6)} ${callText(call)}`);
      if (document.pointOfNoReturn?.call.number === call.number) lines.push(`        ^^^ ${PONR_LINE}: ${document.pointOfNoReturn.why}`);
    }
  }
  if (document.stoppedAt) lines.push(`  (the list stops here: ${document.stoppedAt})`);
  return lines;
}

/**
 * A local dry run's text plan: the steps (what each says it does), then every call the steps
 * recorded, in order, grouped by step (statements, client tools, the local servers' and the
 * pooler's operations), and the values only a run knows.
 */
export function recordedPlanText(plan: RecordedPlan, settings: DocumentSettings): string[] {
  const document = buildPlanDocument(plan, settings);
  return [
    ...stepListText(plan),
    '',
    'Calls, in order, recorded from the steps themselves (nothing was started, sent or written; CHANGE = changes something, done only with --execute):',
    ...planCallLines(document),
    ...(document.runtimeValues.length > 0 ? [`Known only at run time: ${document.runtimeValues.map((name) => `<${name}>`).join(', ')}.`] : []),
  ];
}

export function renderMarkdown(document: PlanDocument): string {
  const out: string[] = [];
  out.push(`# Cutover plan: ${document.flow} on ${document.environment}`, '');
  for (const line of document.summary) out.push(`- ${line}`);
  out.push(
    '',
    document.recordedFromSteps
      ? 'Recorded from the steps themselves: the same code `--execute` runs, against clients that record instead of sending. `CHANGE` = changes something (sent only with `--execute`).'
      : "**Not recorded from the steps:** the calls below are the platform's operations listed in the flow's order, and the SQL is in the Notes; the run's own order can differ where this listing is wrong. `CHANGE` = changes something (sent only with `--execute`).",
    '',
  );
  if (document.unresolved) {
    out.push(
      `> **Incomplete plan: the stacks' outputs were not used** (${document.unresolved.outputsFile}: ${document.unresolved.problem.split('\n').join(' ')}). ` +
        "The `<…>` values that come from them are unknown to this plan, not run-time values, and `--execute` refuses without them (listed under \"Values missing from the stacks' outputs\"). Deploy the stacks and write their outputs first (stacks/README.md), then plan again.",
      '',
    );
  }
  if (document.pointOfNoReturn) out.push(`**Point of no return:** call ${document.pointOfNoReturn.call.number} in \`${document.pointOfNoReturn.step}\`: \`${callText(document.pointOfNoReturn.call)}\`.`, '');
  else out.push('**Point of no return:** none: no call in this plan moves traffic; every step is undone by deleting what it created (Rollback).', '');
  if (document.stoppedAt) out.push(`> The recording stopped at ${document.stoppedAt}`, '');
  out.push('## Steps', '');
  for (const step of document.steps) {
    if (step.hookBefore) out.push(`_hook ${step.hookBefore}_`, '');
    out.push(`### ${step.number}. \`${step.id}\` (${step.kind}${step.status === 'recorded' ? '' : `, ${step.status}`})`, '');
    for (const line of step.describe) out.push(`> ${line}`);
    out.push('');
    if (step.phases.length > 0) out.push(`Sub-phases journaled: ${step.phases.map((p) => `\`${p}\``).join(' → ')}`, '');
    if (step.calls.length > 0) {
      out.push('| # | effect | call |', '| --- | --- | --- |');
      for (const call of step.calls) {
        out.push(`| ${call.number} | ${call.effect} | \`${callText(call).replace(/\|/g, '\\|').replace(/`/g, "'")}\` |`);
        if (document.pointOfNoReturn?.call.number === call.number) out.push(`| | **${PONR_LINE}** | ${document.pointOfNoReturn.why} |`);
      }
      out.push('');
    }
    if (step.error) out.push(`**Stopped here:** ${step.error}`, '');
    if (step.hookAfter) out.push(`_hook ${step.hookAfter}_`, '');
  }
  out.push('## Rollback', '');
  for (const stage of document.rollback) {
    out.push(`### ${stage.stage}`, '', stage.whatHappens, '', `Steps: ${stage.steps.map((s) => `\`${s}\``).join(', ')}`, '', '```sh', ...stage.operatorRuns, '```', '');
  }
  out.push('## Expected downtime', '', `Budget: ${document.downtime.budget}`, '');
  if (document.downtime.phases.length > 0) {
    out.push('| phase | expected on AWS | rehearsal (ms) |', '| --- | --- | --- |');
    for (const phase of document.downtime.phases) out.push(`| ${phase.phase} | ${phase.expected} | ${phase.rehearsalMs ?? '—'} |`);
    out.push('');
  }
  if (document.downtime.phases.length === 0) {
    // Nothing switches: no phases to measure, no rehearsal to compare.
  } else if (document.downtime.rehearsal) {
    const r = document.downtime.rehearsal;
    out.push(`Rehearsal ${r.file}: write unavailability ${r.writeUnavailableMs ?? '?'} ms, switch ${r.switchDurationMs ?? '?'} ms, lag at switch ${r.lagAtSwitchMs ?? '?'} ms (local servers: AWS adds the switch point's own time, above).`, '');
  } else out.push('No rehearsal report given (--rehearsal-report FILE adds its measured figures).', '');
  if (document.unresolved) out.push("## Values missing from the stacks' outputs (not run-time values: --execute refuses without them)", '', ...document.unresolved.missing.map((name) => `- ${name}`), '');
  if (document.runtimeValues.length > 0) out.push('## Values known only at run time', '', ...document.runtimeValues.map((name) => `- \`<${name}>\``), '');
  if (document.notes.length > 0) out.push('## Notes', '', ...document.notes.map((note) => `- ${note}`), '');
  return redact(out.join('\n'));
}

export function renderJson(document: PlanDocument): string {
  return redact(JSON.stringify(document, null, 2));
}
