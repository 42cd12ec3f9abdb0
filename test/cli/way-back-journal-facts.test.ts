/**
 * Typed facts for every flow a run can be resumed in (issue 10): a --resume of switch-back,
 * switch-forth, complete (both engines) or share-snapshot whose journal holds a fact of the
 * wrong type, or lacks one the journal's own lines say was recorded, is refused through the real
 * CLI: exit 2, the message names the fact and the fix, and nothing was changed (the journal
 * byte for byte, no lock taken, no server or AWS account reached: the sandbox's servers and the
 * accounts here do not exist, so any attempt would end with another error and exit 1).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCutoverCli, EXIT } from '../../lib/cli/cutover';
import { Journal, type JournalEntry } from '../../lib/runbook/journal';
import { sandboxFolder, writeSandboxState, type SandboxEngine } from '../../lib/platforms/local/sandbox-state';
import type { Facts } from '../../lib/runbook/step';
import type { Logger } from '../../lib/util/log';

const FORWARD_RUN = '20261201-210000-f0f0f0';
const RESUMED_RUN = '20261201-220000-b0b0b0';
const at = '2026-12-01T22:00:00.000Z';

const work: string[] = [];
const previousStateDir = process.env.RDS_CUTOVER_STATE_DIR;
afterAll(() => {
  for (const dir of work) rmSync(dir, { recursive: true, force: true });
  if (previousStateDir === undefined) delete process.env.RDS_CUTOVER_STATE_DIR;
  else process.env.RDS_CUTOVER_STATE_DIR = previousStateDir;
});

function writeJournal(stateDir: string, runId: string, entries: JournalEntry[]): string {
  const journal = new Journal(stateDir, runId);
  for (const entry of entries) journal.append(entry);
  journal.close();
  return journal.path;
}

/** A run that stopped in `failedIn` after the steps in `done` (each with its facts), `progress` journaled inside the failed step. */
function stoppedRun(flow: string, environment: string, options: Facts, done: Array<[string, Facts]>, failedIn: string, progress: Facts): JournalEntry[] {
  return [
    { type: 'run-start', at, runId: RESUMED_RUN, flow, environment, dryRun: false, options },
    ...done.flatMap(([step, facts]): JournalEntry[] => [
      { type: 'step-start', at, step },
      { type: 'step-done', at, step, durationMs: 5, facts },
    ]),
    { type: 'step-start', at, step: failedIn },
    ...(Object.keys(progress).length > 0 ? [{ type: 'step-progress' as const, at, step: failedIn, facts: progress }] : []),
    { type: 'step-failed', at, step: failedIn, durationMs: 5, error: 'killed', aborted: false },
    { type: 'run-end', at, result: 'failed', error: 'killed' },
  ];
}

/** A state folder with a persistent sandbox of `engine` recorded (its processes long gone) and a finished forward run on it. */
function sandboxWithForwardRun(engine: SandboxEngine, forwardFacts: Facts = {}): string {
  const stateDir = mkdtempSync(join(tmpdir(), 'rc-wayback-facts-'));
  work.push(stateDir);
  const folder = sandboxFolder(stateDir, engine);
  // Ports nobody listens on, pids no process has: a connection attempt would fail, not hang.
  const servers = ['source', 'target'].map((name, index) => ({ name, pid: 2 ** 22 + index, port: 1 + index, serverId: index + 1, version: 15 }));
  writeSandboxState({ engine, createdAt: at, folder, serversDir: folder, endpoint: { kind: engine === 'mysql' ? 'haproxy' : 'pgbouncer', host: '127.0.0.1', port: 3, pid: 2 ** 22 + 9, user: 'app', database: 'app' }, servers }, SECRETS);
  mkdirSync(join(folder, 'logs')); // as `sandbox up` leaves it (attaching makes it)
  const flow = engine === 'mysql' ? 'mysql.encrypt' : 'postgres.logical';
  writeJournal(stateDir, FORWARD_RUN, [
    { type: 'run-start', at, runId: FORWARD_RUN, flow, environment: 'sandbox', dryRun: false, options: { platform: 'sandbox', sandbox: folder } },
    ...(Object.keys(forwardFacts).length > 0
      ? ([
          { type: 'step-start', at, step: `${engine}.switch` },
          { type: 'step-done', at, step: `${engine}.switch`, durationMs: 5, facts: forwardFacts },
        ] as JournalEntry[])
      : []),
    { type: 'run-end', at, result: 'success' },
  ]);
  return stateDir;
}

/** The sandbox's generated passwords (read back and masked by attach; never used: nothing connects). */
const SECRETS = { mysqlRootPassword: 'facts-root-pw-1', mysqlAppPassword: 'facts-app-pw-1', postgresSuperuserPassword: 'facts-super-pw-1', postgresAppPassword: 'facts-app-pw-2', pgbouncerAdminPassword: 'facts-pooler-pw-1' };

function listTree(folder: string): string[] {
  return (readdirSync(folder, { recursive: true }) as string[]).sort();
}

/** The CLI in this process, with its state folder at `stateDir`; what it logged and printed. */
async function resume(stateDir: string, argv: string[]): Promise<{ code: number; said: string }> {
  process.env.RDS_CUTOVER_STATE_DIR = stateDir;
  const lines: string[] = [];
  const push = (line: string) => lines.push(line);
  const log: Logger = { debug: () => undefined, info: push, warn: push, error: push };
  const code = await runCutoverCli(argv, { out: push, log });
  return { code, said: lines.join('\n') };
}

/** The refusal's rule: exit 2, the fact and the fix named, the journal and the state folder as they were. */
async function expectRefused(stateDir: string, argv: string[], named: RegExp): Promise<void> {
  const journalFile = new Journal(stateDir, RESUMED_RUN).path;
  const journal = readFileSync(journalFile, 'utf8');
  const tree = listTree(stateDir);
  const { code, said } = await resume(stateDir, argv);
  expect(said).toMatch(named);
  expect(said).toMatch(/cannot be resumed: .*nothing was changed\. Check the run with `status`, correct the journal line, or start a new run/);
  expect(code).toBe(EXIT.usage);
  expect(readFileSync(journalFile, 'utf8')).toBe(journal);
  expect(listTree(stateDir)).toEqual(tree); // no lock, no report, no other run
}

describe('a resumed way back or share whose journal facts cannot be trusted is refused: exit 2, naming the fact and the fix, nothing changed', () => {
  test('GIVEN a MySQL switch-back journaled as caught-up but without the frozen side\'s final position WHEN resumed THEN refused naming finalBinlogFile', async () => {
    const stateDir = sandboxWithForwardRun('mysql');
    writeJournal(
      stateDir,
      RESUMED_RUN,
      stoppedRun('mysql.switch-back', 'sandbox', { platform: 'sandbox', forwardRunId: FORWARD_RUN }, [['mysql.switch-back.preflight', {}], ['mysql.switch-back.catch-up', { lagBeforeSwitchMs: 3 }]], 'mysql.switch-back', {
        switchPhase: 'caught-up',
        switchDirection: 'back',
      }),
    );
    await expectRefused(stateDir, ['switch-back', FORWARD_RUN, '--env', 'sandbox', '--execute', '--resume', RESUMED_RUN], /fact "finalBinlogFile" is missing \(switchPhase is "caught-up", journaled in the same line\); .*fact "finalBinlogPosition" is missing/);
  });

  test('GIVEN a MySQL switch-forth whose final position is a string WHEN resumed THEN refused naming finalBinlogPosition', async () => {
    const stateDir = sandboxWithForwardRun('mysql');
    writeJournal(
      stateDir,
      RESUMED_RUN,
      stoppedRun('mysql.switch-forth', 'sandbox', { platform: 'sandbox', forwardRunId: FORWARD_RUN }, [['mysql.switch-forth.preflight', {}], ['mysql.switch-forth.catch-up', { lagBeforeSwitchMs: 3 }]], 'mysql.switch-forth', {
        switchPhase: 'frozen',
        finalBinlogFile: 'mysql-bin.000004',
        finalBinlogPosition: '1234; STOP SLAVE',
      }),
    );
    await expectRefused(stateDir, ['switch-forth', FORWARD_RUN, '--env', 'sandbox', '--execute', '--resume', RESUMED_RUN], /fact "finalBinlogPosition" is "1234; STOP SLAVE": invalid input: expected number/);
  });

  test('GIVEN a MySQL complete whose sourceDeleted is the string "false" (it would read as true) WHEN resumed THEN refused naming sourceDeleted', async () => {
    const stateDir = sandboxWithForwardRun('mysql');
    writeJournal(
      stateDir,
      RESUMED_RUN,
      stoppedRun('mysql.complete', 'sandbox', { platform: 'sandbox', forwardRunId: FORWARD_RUN, deleteOld: false }, [['mysql.complete.preflight', {}]], 'mysql.reverse-replication.stop', { sourceDeleted: 'false' }),
    );
    await expectRefused(stateDir, ['complete', FORWARD_RUN, '--env', 'sandbox', '--execute', '--resume', RESUMED_RUN], /fact "sourceDeleted" is "false": invalid input: expected boolean/);
  });

  test('GIVEN a PostgreSQL switch-back whose freeze time is a date string WHEN resumed THEN refused naming switchBackFrozenAt', async () => {
    const stateDir = sandboxWithForwardRun('postgres');
    writeJournal(
      stateDir,
      RESUMED_RUN,
      stoppedRun('postgres.switch-back', 'sandbox', { platform: 'sandbox', forwardRunId: FORWARD_RUN }, [['postgres.switch-back.preflight', {}], ['postgres.switch-back.catch-up', { lagBeforeSwitchMs: 3 }]], 'postgres.switch-back', {
        switchBackStartedAt: 1764626400000,
        switchBackFrozenAt: '2026-12-01T22:00:00Z',
        switchBackTargetReopenedAt: null,
      }),
    );
    await expectRefused(stateDir, ['switch-back', FORWARD_RUN, '--env', 'sandbox', '--execute', '--resume', RESUMED_RUN], /fact "switchBackFrozenAt" is "2026-12-01T22:00:00Z": invalid input: expected number/);
  });

  test('GIVEN a PostgreSQL switch-forth journaled as moving the endpoint but without the pinned way back WHEN resumed THEN refused naming backStartLsn', async () => {
    const stateDir = sandboxWithForwardRun('postgres');
    writeJournal(
      stateDir,
      RESUMED_RUN,
      stoppedRun('postgres.switch-forth', 'sandbox', { platform: 'sandbox', forwardRunId: FORWARD_RUN }, [['postgres.switch-forth.preflight', {}], ['postgres.switch-forth.catch-up', { lagBeforeSwitchMs: 3 }]], 'postgres.switch-forth', {
        switchForthStartedAt: 1764626400000,
        switchForthFrozenAt: 1764626400010,
        switchForthSourceReopenedAt: null,
        targetCaughtUpLsn: '0/3000148',
        switchForthEndpointMoveStartedAt: 1764626400050,
      }),
    );
    await expectRefused(stateDir, ['switch-forth', FORWARD_RUN, '--env', 'sandbox', '--execute', '--resume', RESUMED_RUN], /fact "backStartLsn" is missing \(switchForthEndpointMoveStartedAt is 1764626400050, journaled in the same line\)/);
  });

  test('GIVEN a PostgreSQL complete whose wayBackRemoved is "yes" WHEN resumed THEN refused naming wayBackRemoved', async () => {
    const stateDir = sandboxWithForwardRun('postgres');
    writeJournal(
      stateDir,
      RESUMED_RUN,
      stoppedRun('postgres.complete', 'sandbox', { platform: 'sandbox', forwardRunId: FORWARD_RUN, deleteOld: false }, [['postgres.complete.preflight', {}], ['postgres.way-back.remove', { wayBackRemoved: 'yes' }]], 'postgres.source.delete', {}),
    );
    await expectRefused(stateDir, ['complete', FORWARD_RUN, '--env', 'sandbox', '--execute', '--resume', RESUMED_RUN], /fact "wayBackRemoved" is "yes": invalid input: expected boolean/);
  });

  test('GIVEN a share-snapshot whose share copy is done without its ARN WHEN resumed THEN refused naming shareCopyArn (the target account would copy a placeholder ARN)', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'rc-share-facts-'));
    work.push(stateDir);
    writeJournal(
      stateDir,
      RESUMED_RUN,
      stoppedRun(
        'aws.share-snapshot',
        'prod-share',
        { platform: 'aws', flow: 'share-snapshot' },
        [
          ['share.preflight', { sourceAccount: '111111111111', targetAccount: '222222222222', sourceEngine: 'mysql' }],
          ['share.snapshot.create', { sourceSnapshotId: 'orders-share-source-x', sourceSnapshotCreatedByRun: true }],
          ['share.snapshot.copy-to-share-key', { shareCopyId: 'orders-share-x' }],
          ['share.snapshot.share', { sharedWith: '222222222222' }],
        ],
        'share.target.copy',
        { targetCopyRequested: 'orders-seed-x' },
      ),
    );
    await expectRefused(stateDir, ['--env', 'prod-share', '--flow', 'share-snapshot', '--execute', '--resume', RESUMED_RUN], /fact "shareCopyArn" is missing \(share\.snapshot\.copy-to-share-key is done, and records it\)/);
  });
});

/** The way back's rule for the forward run it builds on: exit 2, the fact and the fix named, the state folder as it was (no run, no lock, no report). */
async function expectWayBackRefused(stateDir: string, argv: string[], named: RegExp): Promise<void> {
  const tree = listTree(stateDir);
  const { code, said } = await resume(stateDir, argv);
  expect(said).toMatch(named);
  expect(said).toMatch(new RegExp(`Run ${FORWARD_RUN} \\([a-z.]+\\) cannot give ${argv[0]} its facts: .*nothing was changed`));
  expect(code).toBe(EXIT.usage);
  expect(listTree(stateDir)).toEqual(tree);
}

describe("the forward run's facts a way back reads are checked before anything runs: exit 2, naming the fact, nothing changed", () => {
  test('GIVEN a forward MySQL run whose final binlog position was edited into a string WHEN switch-back --execute THEN refused naming finalBinlogPosition', async () => {
    const stateDir = sandboxWithForwardRun('mysql', { switchPhase: 'recycled', finalBinlogFile: 'mysql-bin.000004', finalBinlogPosition: '1234; STOP SLAVE' });
    await expectWayBackRefused(stateDir, ['switch-back', FORWARD_RUN, '--env', 'sandbox', '--execute'], /fact "finalBinlogPosition" is "1234; STOP SLAVE": invalid input: expected number/);
  });

  test("GIVEN a forward MySQL run whose old source's groups are one string (the fence's lift would read it letter by letter) WHEN switch-back is planned THEN refused naming sourcePreviousSecurityGroupIds", async () => {
    const stateDir = sandboxWithForwardRun('mysql', { sourcePreviousSecurityGroupIds: 'sg-0123456789abcdef0' });
    await expectWayBackRefused(stateDir, ['switch-back', FORWARD_RUN, '--env', 'sandbox'], /fact "sourcePreviousSecurityGroupIds" is "sg-0123456789abcdef0": invalid input: expected array/);
  });

  test('GIVEN a forward PostgreSQL run whose way back origin is a number WHEN switch-forth is planned THEN refused naming wayBackOrigin', async () => {
    const stateDir = sandboxWithForwardRun('postgres', { wayBackOrigin: 42 });
    await expectWayBackRefused(stateDir, ['switch-forth', FORWARD_RUN, '--env', 'sandbox'], /fact "wayBackOrigin" is 42: invalid input: expected string/);
  });

  test('GIVEN a forward PostgreSQL run whose endpoint move time is a date string WHEN complete --execute THEN refused naming endpointMoveStartedAt', async () => {
    const stateDir = sandboxWithForwardRun('postgres', { endpointMoveStartedAt: '2026-12-01T22:00:00Z' });
    await expectWayBackRefused(stateDir, ['complete', FORWARD_RUN, '--env', 'sandbox', '--execute'], /fact "endpointMoveStartedAt" is "2026-12-01T22:00:00Z": invalid input: expected number/);
  });
});
