import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Journal, statusFromJournal } from '../runbook/journal';
import type { RunLockHolder } from '../runbook/lock';
import { isAlive } from '../util/process-group';
import { EXIT_CODES as EXIT } from '../exit-codes';
import { UsageError } from './args';
import { EMULATED_ENVIRONMENT_NAMES } from './settings';
import { SWITCH_BACK, SWITCH_FORTH, switchAgainFacts, type PostgresSwitchDirection } from '../runbook/postgres-switch-direction';

/**
 * What each journaled switch sub-phase (the MySQL flows' `switchPhase`) left behind, named as the
 * switch sees the sides: `from` is the side frozen (traffic was on it), `to` the side promoted.
 * Forward: from the source to the target. A switch back (`switchDirection: back`): from the
 * target (the new side, where traffic was) to the source (the old side).
 */
function switchPhaseState(phase: string, from: string, to: string): string | undefined {
  const states: Record<string, string> = {
    freezing: `the switch had started freezing the ${from}: the ${from} may be frozen (app accounts locked, read_only); ${to} not promoted; endpoint on the ${from}`,
    frozen: `${from} frozen (app accounts locked, read_only); ${to} still a replica, not promoted; endpoint on the ${from}`,
    'caught-up': `${from} frozen; ${to} caught up with it but not promoted; endpoint on the ${from}`,
    promoted: `${from} frozen; ${to} PROMOTED (replication stopped, writable); endpoint NOT moved yet (on the ${from})`,
    'endpoint-moved': `${from} frozen; ${to} promoted; endpoint MOVED to the ${to} (traffic on the ${to})`,
    'reverse-started': `${from} frozen; ${to} promoted; replication ${to} -> ${from} started (the way ${from === 'source' ? 'back' : 'forth'}); endpoint NOT moved yet (on the ${from})`,
    recycled: `${from} frozen; ${to} promoted; endpoint on the ${to}; clients recycled`,
    'reverse-running': `${from} frozen and replicating from the ${to} (the way ${from === 'source' ? 'back' : 'forth'} runs); endpoint on the ${to} (switch complete)`,
    reopened: `the switch aborted: ${from} reopened for writes, traffic on the ${from}, ${to} still a replica`,
  };
  return states[phase];
}

/**
 * Where a PostgreSQL switch-back or switch-forth stands, from the sub-phases it journaled
 * (lib/flows/postgres-switch-back.ts); undefined before its freeze.
 */
function postgresSwitchAgainState(facts: Record<string, unknown>, direction: PostgresSwitchDirection): string | undefined {
  const fact = switchAgainFacts(direction);
  const { from, to } = direction;
  if (facts[fact.frozenAt] == null) return undefined;
  if (facts[fact.reopenedAt] != null) return `the switch ${direction.name} was undone: the ${from} reopened for writes, traffic on the ${from}`;
  if (facts[fact.nextRunningAt] != null) return `${from} frozen and fenced; endpoint on the ${to}; replication ${to} -> ${from} runs (switch complete)`;
  if (facts.endpointMovedAt != null) return `${from} frozen; ${to} open; endpoint MOVED to the ${to} (traffic on the ${to}); replication ${to} -> ${from} not running yet`;
  if (facts[fact.endpointMoveStartedAt] != null) return `${from} frozen; ${to} open; the endpoint move to the ${to} had begun (a resume finishes forward if pgbouncer points at the ${to})`;
  return `${from} frozen; ${to} not open yet; endpoint NOT moved (on the ${from})`;
}

/**
 * Where a forward PostgreSQL run (logical or dump) left the source, from the facts it journals as
 * reached (`sourceFrozenAt`, `sourceReopenedAt`, `endpointMoveStartedAt`, `endpointMovedAt`), while
 * its switch step is unfinished; undefined before any freeze. The dump method freezes in a step
 * of its own before the copy, so a run killed during the copy left the source frozen too.
 */
function postgresForwardState(facts: Record<string, unknown>): string | undefined {
  if (facts.sourceFrozenAt == null) return undefined;
  if (facts.sourceReopenedAt != null) return 'not started: the source was reopened for writes after its freeze (traffic on the source)';
  if (facts.endpointMovedAt != null) return 'the source is FROZEN; endpoint MOVED to the target (traffic on the target)';
  if (facts.endpointMoveStartedAt != null) return 'not done: the source is FROZEN; the endpoint move to the target had begun (a resume finishes forward if pgbouncer points at the target)';
  return 'not done: the source is FROZEN (application writes refused since the freeze); endpoint NOT moved (on the source)';
}

/** `status RUN_ID`: where a run stands, what it left, and the exact next command. */
export function statusLines(stateDir: string, runId: string): { lines: string[]; exitCode: number } {
  const status = statusFromJournal(new Journal(stateDir, runId).read());
  const lines: string[] = [];
  // The report's verdict when it was journaled (it counts the proof: lost writes, checksums, a crashed workload).
  const verdict = status.result === 'in-progress' ? undefined : status.verdict;
  const differs = verdict !== undefined && verdict.verdict !== status.result;
  const result = status.result === 'in-progress' ? 'IN PROGRESS OR KILLED (no run-end after the last start)' : differs ? `${verdict.label} (the runbook's result: ${status.result})` : status.result;
  lines.push(`run ${status.runId}: flow ${status.flow} on ${status.environment}, ${result}`);
  if (differs && verdict.error && !status.failed) lines.push(`why: ${verdict.error}`);
  if (verdict?.report) lines.push(`report: ${verdict.report}`);
  lines.push(`last entry ${status.lastEntryAt}`);
  lines.push(`finished steps: ${status.finished.length > 0 ? status.finished.join(', ') : 'none'}`);
  if (status.result === 'in-progress' && status.unfinishedStep) lines.push(`step in flight when it stopped (or now): ${status.unfinishedStep}`);
  if (status.interrupted) lines.push(`interrupted by ${status.interrupted.signal}${status.interrupted.step ? ` during ${status.interrupted.step}` : ''}${status.interrupted.before ? `; stopped before ${status.interrupted.before}` : ''}`);
  if (status.failed) lines.push(`failed at ${status.failed.step}: ${status.failed.error}`);
  const phase = typeof status.facts.switchPhase === 'string' ? status.facts.switchPhase : undefined;
  const rehearsal = status.options.rehearsal === true;
  // The emulated rehearsals (--env aws-emulated…) start moto and local servers and stop them at the end.
  const emulated = (EMULATED_ENVIRONMENT_NAMES as readonly string[]).includes(status.environment);
  // A rehearsal (local or emulated) is never resumed: its servers ended with its process.
  const resumable = !rehearsal && !emulated;
  // A switch back freezes the side traffic is on (the forward run's target) and moves it to the source.
  const back = status.facts.switchDirection === 'back' || status.flow.endsWith('.switch-back');
  const [from, to] = back ? ['target', 'source'] : ['source', 'target'];
  const postgresAgain = status.flow === 'postgres.switch-back' ? SWITCH_BACK : status.flow === 'postgres.switch-forth' ? SWITCH_FORTH : undefined;
  const postgresForward = (status.flow === 'postgres.logical' || status.flow === 'postgres.dump') && !status.finished.includes('postgres.switch');
  const postgresState = postgresAgain ? postgresSwitchAgainState(status.facts, postgresAgain) : postgresForward ? postgresForwardState(status.facts) : undefined;
  if (phase) lines.push(`switch: ${switchPhaseState(phase, from, to) ?? phase} (last journaled sub-phase "${phase}"${resumable ? "; --resume reads the servers' and the endpoint's actual state" : ''})`);
  else if (postgresState) lines.push(`switch: ${postgresState}${resumable ? " (--resume reads the servers' and pgbouncer's actual state)" : ''}`);
  else if (status.flow !== 'aws.share-snapshot' && !status.flow.endsWith('.complete') && !status.finished.some((step) => /\.switch(-back|-forth)?$/.test(step))) lines.push(`switch: not started (the ${from} takes writes, traffic on the ${from})`);
  if (status.facts.checksumsVerified === false) lines.push(`checksums: NOT VERIFIED — ${String(status.facts.checksumsNotVerifiedReason)}`);
  // A local lock file a hard stop dropped without a journal line (double Ctrl-C) is not held.
  const lockGone = status.lockHeld !== undefined && status.lockHeld.startsWith('/') && !existsSync(status.lockHeld);
  if (lockGone) lines.push(`lock: released (the lock file ${status.lockHeld} is gone; the journal recorded no release: the run was stopped hard)`);
  const lockHeld = lockGone ? undefined : status.lockHeld;
  const holder = lockHeld ? lockProcess(lockHeld, status.runId) : undefined;
  if (lockHeld) lines.push(`lock: still held (${lockHeld})${status.result === 'in-progress' ? (holder ? `: ${holder.text}` : ': kept because the run is running or was killed') : ''}`);
  const engine = status.flow.startsWith('postgres.') ? ` --engine postgres --method ${status.flow.split('.')[1]}` : status.flow === 'aws.share-snapshot' ? ' --flow share-snapshot' : '';
  if (emulated) lines.push('emulated: this is the journal of a rehearsal against the AWS emulator; the emulator and its local servers ended with it, so nothing of that run is left to inspect or resume');
  // A rehearsal whose runbook succeeded but whose proof failed is run again, like one that failed.
  const proofFailed = status.result === 'success' && (rehearsal || emulated) && verdict !== undefined && verdict.verdict !== 'success' && verdict.verdict !== 'not-verified';
  if ((status.result === 'success' && !proofFailed) || status.result === 'planned') {
    // nothing to do
  } else if (emulated) {
    lines.push(`next: run the emulated rehearsal again: npm run rehearse -- --env ${status.environment}${engine}`);
  } else if (rehearsal) {
    // A local rehearsal's sandbox (servers and files) is gone with its process: it cannot be resumed.
    // The same rehearsal again: the flags it journaled (a --switch-back rehearsal run without it rehearses another flow).
    const again = [
      status.options.switchBack === true ? ' --switch-back' : '',
      typeof status.options.fault === 'string' ? ` --fault ${status.options.fault}` : '',
      typeof status.options.targetVersion === 'number' ? ` --target-version ${status.options.targetVersion}` : '',
    ].join('');
    lines.push(`next: a local rehearsal cannot be resumed (its sandbox is gone with the process); run it again: npx zx scripts/cutover.mjs --env ${status.environment}${engine} --execute${again}`);
    if (lockHeld && status.result === 'in-progress') lines.push(`      if no rehearsal is running any more, release the lock first: npx zx scripts/cutover.mjs --env ${status.environment} --break-lock ${status.runId}`);
  } else {
    const resume =
      typeof status.options.forwardRunId === 'string'
        ? `npx zx scripts/cutover.mjs ${status.flow.endsWith('.complete') ? 'complete' : status.flow.endsWith('.switch-forth') ? 'switch-forth' : 'switch-back'} ${status.options.forwardRunId} --execute${status.flow.endsWith('.complete') ? '' : ` --resume ${status.runId}`}`
        : `npx zx scripts/cutover.mjs --env ${status.environment}${engine} --execute --resume ${status.runId}`;
    if (status.result === 'interrupted' && status.interrupted && !status.interrupted.before) lines.push('next: nothing to resume: the interrupt came during the last step, which finished');
    else if (status.result !== 'in-progress') lines.push(`next: resume with: ${resume}`);
    else if (holder?.running === true) lines.push(`next: wait for it to end (or stop it: kill -INT ${holder.pid}, it stops at a step boundary); then, if it did not finish, resume it with: ${resume}`);
    else if (holder?.running === false) lines.push(`next: resume it with: ${resume}`);
    else lines.push(`next: if this run is not running any more (killed), resume it with: ${resume}`);
  }
  const exitCode = verdict
    ? verdict.exitCode
    : status.result === 'success' ? (status.facts.checksumsVerified === false ? EXIT.unverified : EXIT.ok) : status.result === 'planned' ? EXIT.ok : status.result === 'aborted' ? EXIT.aborted : status.result === 'interrupted' ? EXIT.interrupted : EXIT.failed;
  return { lines, exitCode };
}

/**
 * Whether the process named in a local lock file (lib/runbook/lock.ts) still runs: its pid is
 * alive on this host and is the same process, i.e. it started before the lock was taken (a pid
 * reused by a later process started after). Undefined when this cannot be told (a tag lock on
 * AWS, another host, a lock that is gone or now held by another run).
 */
function lockProcess(where: string, runId: string): { running: boolean; pid: number; text: string } | undefined {
  if (!where.startsWith('/') || !existsSync(where)) return undefined;
  let holder: RunLockHolder;
  try {
    holder = JSON.parse(readFileSync(where, 'utf8')) as RunLockHolder;
  } catch {
    return undefined;
  }
  if (holder.runId !== runId || holder.host !== hostname() || !(holder.pid > 0)) return undefined;
  const pid = holder.pid;
  if (!isAlive(pid)) return { running: false, pid, text: `not running: the process is gone (pid ${pid} of host ${holder.host} no longer exists; the run was killed)` };
  const started = processStartMs(pid);
  const locked = Date.parse(holder.startedAt);
  // Clock ticks and the boot time are rounded: a margin of 2 s.
  if (started !== undefined && Number.isFinite(locked) && started > locked + 2000) {
    return { running: false, pid, text: `not running: the process is gone (pid ${pid} now belongs to another process, started ${new Date(started).toISOString()}, after the lock was taken)` };
  }
  return { running: true, pid, text: `running (pid ${pid} on ${holder.host}, lock taken ${holder.startedAt})` };
}

/** When a process started (ms since the epoch), from /proc: its start time in clock ticks after boot. */
function processStartMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]); // field 22 of the line: starttime
    const bootSeconds = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    if (!Number.isFinite(ticks) || !Number.isFinite(bootSeconds)) return undefined;
    return bootSeconds * 1000 + (ticks / CLOCK_TICKS_PER_SECOND) * 1000;
  } catch {
    return undefined;
  }
}

/** USER_HZ on Linux: 100 on every architecture Node runs on (sysconf(_SC_CLK_TCK)). */
const CLOCK_TICKS_PER_SECOND = 100;

/** Print a run's status; an unknown run is bad input (exit 2) that says where the runs are. */
export function printStatus(stateDir: string, runId: string, out: (line: string) => void): number {
  const journal = new Journal(stateDir, runId);
  if (!journal.exists()) throw new UsageError(`No journal for run ${runId} at ${journal.path}: check the id the run printed when it started. List runs with: ls ${stateDir}/runs`);
  const { lines, exitCode } = statusLines(stateDir, runId);
  for (const line of lines) out(line);
  return exitCode;
}
