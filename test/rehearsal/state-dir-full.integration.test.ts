/**
 * The state folder full mid-run (issue 9, item 7: "the temp dir full"). The rule: a journal
 * that cannot be written stops the run at a safe point — never frozen with traffic on the
 * frozen side, never both sides writable — the summary says why and how to go on, the exit
 * code is non-zero, and once there is room again `--resume` finishes with 0 lost writes.
 *
 * How the fault is made real without root: the real CLI (`--env sandbox --execute`, its own
 * process, under write load) lowers its own RLIMIT_FSIZE to 0 right after a chosen journal
 * entry is fsynced (RDS_CUTOVER_FILE_LIMIT_AT, lib/runbook/kill-point.ts). From then on the
 * kernel refuses every write that would grow a regular file with EFBIG — the journal's next
 * line, the report — exactly where a full disk answers ENOSPC, and at an exact point (a
 * filled loop device or tmpfs needs root and fills at a moment one cannot choose). Pipes and
 * sockets still work, as on a full disk. The resumes run in new processes: room again.
 */
import { runFaultPoint } from '../../bench/fault-matrix';
import { SWITCH_PHASES } from '../../lib/flows/mysql-encrypt';

jest.setTimeout(900_000);

const afterPhase = (phase: (typeof SWITCH_PHASES)[number]) => `step-progress:mysql.switch:${SWITCH_PHASES.indexOf(phase) + 1}`;
const small = { seedRows: 500, load: { connections: 2, ratePerSecond: 100 } };

describe('the state folder full mid-run (MySQL, real CLI on a sandbox under load)', () => {
  test('full right after the freeze began: the switch undoes the freeze, exit 3, the summary names the journal and the fix; the source takes writes; --resume with room finishes, 0 lost, never both writable', async () => {
    // GIVEN the journal's `freezing` line on disk and then no more room
    const outcome = await runFaultPoint({ engine: 'mysql', fileLimitAt: afterPhase('freezing'), ...small });
    const faulted = outcome.faulted!;
    // THEN that attempt stopped by itself, reopened the source and said why
    expect(faulted.signal).toBeNull();
    expect(faulted.code).toBe(3);
    expect(faulted.output).toMatch(/mysql\.encrypt on sandbox: ABORTED \(Switch aborted: the run's journal \S+journal\.jsonl could not be written \(EFBIG[^)]*\)/);
    expect(faulted.output).toMatch(/The source was reopened for writes and traffic never moved/);
    expect(faulted.output).toMatch(/Fix: free space in \S+ \(or raise the file size limit\), then --resume/);
    // and the report it could not write is named as not written, after the summary
    expect(faulted.output).toMatch(/report: NOT WRITTEN \S+report\.json \(EFBIG/);
    expect(faulted.left).toEqual({ on: 'source', writable: true });
    // and with room again the run finishes: nothing lost, never both writable
    expect(outcome.note).not.toMatch(/harness error|never filled|died by/);
    expect(outcome.lost).toBe(0);
    expect(outcome.bothWritable).toBe(0);
    expect(outcome.outcome).toBe('recovered');
  });

  test('full right after the endpoint moved: the switch completes on the target (the source stays frozen, as after every switch), the run stops there, exit 1 naming what is done; --resume finishes, 0 lost, never both writable', async () => {
    const outcome = await runFaultPoint({ engine: 'mysql', fileLimitAt: afterPhase('endpoint-moved'), ...small });
    const faulted = outcome.faulted!;
    expect(faulted.signal).toBeNull();
    expect(faulted.code).toBe(1);
    // (the first file the full disk refuses here is the promoted target's my.cnf, then the journal)
    expect(faulted.output).toMatch(/mysql\.encrypt on sandbox: FAILED \(.*EFBIG.*The switch finished: traffic is on the target, the source stays frozen \(as after every switch\).*--resume finishes them/);
    expect(faulted.output).toMatch(/the run's journal \S+journal\.jsonl could not be written \(EFBIG/);
    expect(faulted.output).toMatch(/Fix: free space in \S+ \(or raise the file size limit\), then --resume/);
    expect(faulted.left).toEqual({ on: 'target', writable: true });
    expect(outcome.note).not.toMatch(/harness error|never filled|died by/);
    expect(outcome.lost).toBe(0);
    expect(outcome.bothWritable).toBe(0);
    expect(outcome.outcome).toBe('recovered');
  });
});
