import { Journal, statusFromJournal } from '../runbook/journal';
import { EXIT_CODES as EXIT } from '../exit-codes';
import { UsageError } from './args';
import { EMULATED_ENVIRONMENT_NAMES } from './settings';

/** What each journaled switch sub-phase left behind (the MySQL flow's `switchPhase`). */
const SWITCH_PHASE_STATE: Record<string, string> = {
  freezing: 'the switch had started freezing the source: the source may be frozen (app accounts locked, read_only); target not promoted; endpoint on the source',
  frozen: 'source frozen (app accounts locked, read_only); target still a replica, not promoted; endpoint on the source',
  'caught-up': 'source frozen; target caught up with it but not promoted; endpoint on the source',
  promoted: 'source frozen; target PROMOTED (replication stopped, writable); endpoint NOT moved yet',
  'endpoint-moved': 'source frozen; target promoted; endpoint MOVED to the target (traffic on the target)',
  'reverse-started': 'source frozen; target promoted; replication target -> source started (the way back); endpoint NOT moved yet',
  recycled: 'source frozen; target promoted; endpoint on the target; clients recycled',
  'reverse-running': 'source frozen and replicating from the target (the way back runs); endpoint on the target (switch complete)',
  reopened: 'the switch aborted: source reopened for writes, traffic on the source, target still a replica',
};

/** `status RUN_ID`: where a run stands, what it left, and the exact next command. */
export function statusLines(stateDir: string, runId: string): { lines: string[]; exitCode: number } {
  const status = statusFromJournal(new Journal(stateDir, runId).read());
  const lines: string[] = [];
  const result = status.result === 'in-progress' ? 'IN PROGRESS OR KILLED (no run-end after the last start)' : status.result;
  lines.push(`run ${status.runId}: flow ${status.flow} on ${status.environment}, ${result}`);
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
  if (phase) lines.push(`switch: ${SWITCH_PHASE_STATE[phase] ?? phase} (last journaled sub-phase "${phase}"${resumable ? "; --resume reads the servers' and the endpoint's actual state" : ''})`);
  else if (status.flow !== 'aws.share-snapshot' && !status.finished.some((step) => /\.switch$/.test(step))) lines.push('switch: not started (the source takes writes, traffic on the source)');
  if (status.facts.checksumsVerified === false) lines.push(`checksums: NOT VERIFIED — ${String(status.facts.checksumsNotVerifiedReason)}`);
  if (status.lockHeld) lines.push(`lock: still held (${status.lockHeld})${status.result === 'in-progress' ? ': kept because the run is running or was killed' : ''}`);
  const engine = status.flow.startsWith('postgres.') ? ` --engine postgres --method ${status.flow.split('.')[1]}` : status.flow === 'aws.share-snapshot' ? ' --flow share-snapshot' : '';
  if (emulated) lines.push('emulated: this is the journal of a rehearsal against the AWS emulator; the emulator and its local servers ended with it, so nothing of that run is left to inspect or resume');
  if (status.result === 'success' || status.result === 'planned') {
    // nothing to do
  } else if (emulated) {
    lines.push(`next: run the emulated rehearsal again: npm run rehearse -- --env ${status.environment}${engine}`);
  } else if (rehearsal) {
    // A local rehearsal's sandbox (servers and files) is gone with its process: it cannot be resumed.
    lines.push(`next: a local rehearsal cannot be resumed (its sandbox is gone with the process); run it again: npx zx scripts/cutover.mjs --env ${status.environment}${engine} --execute`);
    if (status.lockHeld && status.result === 'in-progress') lines.push(`      if no rehearsal is running any more, release the lock first: npx zx scripts/cutover.mjs --env ${status.environment} --break-lock ${status.runId}`);
  } else {
    const resume =
      typeof status.options.forwardRunId === 'string'
        ? `npx zx scripts/cutover.mjs ${status.flow.endsWith('.complete') ? 'complete' : status.flow.endsWith('.switch-forth') ? 'switch-forth' : 'switch-back'} ${status.options.forwardRunId} --execute${status.flow.endsWith('.complete') ? '' : ` --resume ${status.runId}`}`
        : `npx zx scripts/cutover.mjs --env ${status.environment}${engine} --execute --resume ${status.runId}`;
    lines.push(status.result === 'in-progress' ? `next: if this run is not running any more (killed), resume it with: ${resume}` : `next: resume with: ${resume}`);
  }
  const exitCode =
    status.result === 'success' ? (status.facts.checksumsVerified === false ? EXIT.unverified : EXIT.ok) : status.result === 'planned' ? EXIT.ok : status.result === 'aborted' ? EXIT.aborted : status.result === 'interrupted' ? EXIT.interrupted : EXIT.failed;
  return { lines, exitCode };
}

/** Print a run's status; an unknown run is bad input (exit 2) that says where the runs are. */
export function printStatus(stateDir: string, runId: string, out: (line: string) => void): number {
  const journal = new Journal(stateDir, runId);
  if (!journal.exists()) throw new UsageError(`No journal for run ${runId} at ${journal.path}: check the id the run printed when it started. List runs with: ls ${stateDir}/runs`);
  const { lines, exitCode } = statusLines(stateDir, runId);
  for (const line of lines) out(line);
  return exitCode;
}
