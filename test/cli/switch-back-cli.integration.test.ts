/**
 * `switch-back RUN_ID` and `complete RUN_ID` through the real CLI on a persistent sandbox under
 * write load: the dry run plans and checks without changing anything; a switch-back SIGKILLed
 * (RDS_CUTOVER_KILL_AT, a real kill -9 right after a journaled sub-phase) is finished by
 * `switch-back RUN_ID --execute --resume BACK_RUN_ID` by the forward switch's rules, 0 writes lost.
 * Before that, with the way back broken (a real duplicate-key error), `switch-back --execute`
 * refuses to start, says why, exits 3 and changes nothing.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, rows } from '../../lib/engines/mysql/connection';
import { summariseWrites, WriteLoad } from '../../lib/load/write-load';
import { mysqlWriteClient } from '../../lib/load/mysql-write-client';
import { Journal, statusFromJournal } from '../../lib/runbook/journal';
import { readSandboxState, sandboxFolder } from '../../lib/platforms/local/sandbox-state';
import { sandboxDown, sandboxUp } from '../../lib/cli/sandbox';
import { silentLogger } from '../../lib/util/log';
import { sleep, waitFor } from '../../lib/util/time';
import { runCutoverCli } from '../support/cutover-cli';

test('switch-back through the CLI: refused (exit 3, nothing changed) while the way back is broken; dry run changes nothing; kill -9 after the endpoint moved back, then --resume, finishes on the source with 0 writes lost; complete is then refused; switch-forth killed with SIGKILL and resumed finishes on the target', async () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-sb-')) // short: HAProxy binds its socket as <path>.<pid>.tmp, within 108 bytes;
  const stateDir = join(work, '.rds-cutover');
  let load: WriteLoad | undefined;
  try {
    // GIVEN a persistent sandbox under write load, cut over to the target by the CLI
    await sandboxUp(stateDir, 'mysql', silentLogger, 500);
    const folder = sandboxFolder(stateDir, 'mysql');
    const { state, secrets } = readSandboxState(folder)!;
    const app = { name: 'endpoint', host: '127.0.0.1', port: state.endpoint.port, user: state.endpoint.user, password: secrets.mysqlAppPassword };
    load = new WriteLoad({ connections: 2, ratePerSecond: 100, connect: () => mysqlWriteClient(app, 'app') });
    load.start();
    const forward = await runCutoverCli(['--env', 'sandbox', '--execute'], work);
    expect(forward.output).toMatch(/mysql\.encrypt on sandbox: SUCCESS/);
    expect(forward.code).toBe(0);
    const [runId] = readdirSync(join(stateDir, 'runs'));
    const root = (server: 'source' | 'target') => {
      const { port } = readSandboxState(folder)!.state.servers.find((s) => s.name === server)!;
      return connect({ name: server, host: '127.0.0.1', port, user: 'root', password: secrets.mysqlRootPassword }, { database: 'app' });
    };
    const sourceReplication = async () => {
      const source = await root('source');
      try {
        return (await rows<{ Last_SQL_Error: string; Slave_SQL_Running: string }>(source, 'SHOW SLAVE STATUS'))[0];
      } finally {
        await source.end();
      }
    };

    // WHEN the way back is broken on real servers (a root write on the old side, which read_only
    // does not stop, collides with a row the application then writes on the new side)
    const oldSide = await root('source');
    await oldSide.query("INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES (999999999999, 0, 0, 'root on the old side', NOW(6))");
    const appOnTarget = await connect(app, { database: 'app' });
    await appOnTarget.query("INSERT INTO cutover_load (id, client, seq, payload, written_at) VALUES (999999999999, 0, 0, 'app on the new side', NOW(6))");
    await appOnTarget.end();
    await waitFor('replication target -> source to break', async () => ((await sourceReplication())?.Last_SQL_Error ? true : undefined), { timeoutMs: 120000, intervalMs: 100 });
    // THEN switch-back --execute refuses to start and says why: exit 3, traffic stays on the target
    const refused = await runCutoverCli(['switch-back', runId, '--execute'], work);
    expect(refused.code).toBe(3);
    expect(refused.output).toMatch(/Switch-back refused: replication target -> source \(the way back\) is broken on the source: .*Duplicate entry '999999999999'/);
    expect(refused.output).toMatch(/Nothing was changed; traffic stays on the target/);
    const probe = await connect(app, { database: 'app' });
    const [onTarget] = await rows<{ port: number; readOnly: number }>(probe, 'SELECT @@port AS port, @@read_only AS readOnly');
    await probe.end();
    expect(Number(onTarget.port)).toBe(readSandboxState(folder)!.state.servers.find((s) => s.name === 'target')!.port);
    expect(Number(onTarget.readOnly)).toBe(0);
    // AND once a person repaired the way back (the old side's stray row removed, replication restarted)
    await oldSide.query('DELETE FROM cutover_load WHERE id = 999999999999');
    await oldSide.query('START SLAVE');
    await oldSide.end();
    await waitFor('replication target -> source to run again', async () => {
      const status = await sourceReplication();
      return status?.Slave_SQL_Running === 'Yes' && !status.Last_SQL_Error ? true : undefined;
    }, { timeoutMs: 120000, intervalMs: 100 });
    const runsBefore = readdirSync(join(stateDir, 'runs'));

    // WHEN switch-back is planned (no --execute): the plan and the checks, nothing changed
    const plan = await runCutoverCli(['switch-back', runId], work);
    expect(plan.code).toBe(0);
    expect(plan.output).toContain('mysql.switch-back [action, POINT OF NO RETURN]');
    expect(plan.output).toContain('Dry run: nothing was changed');
    expect(readdirSync(join(stateDir, 'runs'))).toEqual(runsBefore);

    // AND the executed switch-back is killed (SIGKILL) right after "endpoint-moved" (6th sub-phase)
    const killed = await runCutoverCli(['switch-back', runId, '--execute'], work, 'step-progress:mysql.switch-back:6');
    expect(killed.signal).toBe('SIGKILL');
    const backRunId = readdirSync(join(stateDir, 'runs')).find((id) => !runsBefore.includes(id))!;
    const killedStatus = statusFromJournal(new Journal(stateDir, backRunId).read());
    expect(killedStatus.result).toBe('in-progress');
    expect(killedStatus.facts.switchPhase).toBe('endpoint-moved');
    const status = await runCutoverCli(['status', backRunId], work);
    expect(status.output).toContain(`zx scripts/cutover.mjs switch-back ${runId} --execute --resume ${backRunId}`);

    // AND resumed
    const resumed = await runCutoverCli(['switch-back', runId, '--execute', '--resume', backRunId], work);
    // THEN it finished forward (traffic stays back on the source), honestly unverified checksums (exit 4)
    expect(resumed.output).toMatch(/mysql\.switch-back on sandbox: SUCCESS/);
    expect(resumed.code).toBe(4);
    // AND, like every executed run, it ends through the one finisher: report and report page
    expect(resumed.output).toMatch(new RegExp(`report page: .*runs/${backRunId}/report\\.html`));
    const after = statusFromJournal(new Journal(stateDir, backRunId).read());
    expect(after.facts.switchResumed).toBe('forward');
    expect(after.facts.switchPhase).toBe('reverse-running');

    // AND every acknowledged write is on the source, through the endpoint
    await sleep(1000);
    await load.stop();
    const admin = await connect({ ...app, user: 'root', password: secrets.mysqlRootPassword }, { database: 'app' });
    const present = new Set((await rows<{ id: string }>(admin, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
    const [server] = await rows<{ port: number }>(admin, 'SELECT @@port AS port');
    await admin.end();
    const source = readSandboxState(folder)!.state.servers.find((s) => s.name === 'source')!;
    expect(Number(server.port)).toBe(source.port);
    const writes = summariseWrites(load.attempts, present);
    expect(writes.acknowledged).toBeGreaterThan(100);
    expect(writes.lost).toBe(0);

    // AND complete is refused while traffic is on the source (exit 3), nothing deleted
    const complete = await runCutoverCli(['complete', runId, '--execute', '--delete-old'], work);
    expect(complete.code).toBe(3);
    expect(complete.output).toMatch(/Complete refused: traffic is not on the target/);
    expect(readSandboxState(folder)!.state.servers.some((s) => s.name === 'source')).toBe(true);

    // AND switch-forth (traffic to the target again) killed with SIGKILL after its "endpoint-moved", then resumed as status says
    const runsBeforeForth = readdirSync(join(stateDir, 'runs'));
    const killedForth = await runCutoverCli(['switch-forth', runId, '--execute'], work, 'step-progress:mysql.switch-forth:6');
    expect(killedForth.signal).toBe('SIGKILL');
    const forthRunId = readdirSync(join(stateDir, 'runs')).find((id) => !runsBeforeForth.includes(id))!;
    expect((await runCutoverCli(['status', forthRunId], work)).output).toContain(`zx scripts/cutover.mjs switch-forth ${runId} --execute --resume ${forthRunId}`);
    const forth = await runCutoverCli(['switch-forth', runId, '--execute', '--resume', forthRunId], work);
    // THEN it finished forward: traffic on the target, the way back running again (exit 4: snapshots gone with the killed process)
    expect(forth.output).toMatch(/mysql\.switch-forth on sandbox: SUCCESS/);
    expect(forth.code).toBe(4);
    expect(statusFromJournal(new Journal(stateDir, forthRunId).read()).facts.switchPhase).toBe('reverse-running');
    const forthReader = await connect({ ...app, user: 'root', password: secrets.mysqlRootPassword }, { database: 'app' });
    const [now] = await rows<{ port: number }>(forthReader, 'SELECT @@port AS port');
    await forthReader.end();
    expect(Number(now.port)).toBe(readSandboxState(folder)!.state.servers.find((s) => s.name === 'target')!.port);
  } finally {
    if (load && load.stoppedAt === 0) await load.stop().catch(() => undefined);
    await sandboxDown(stateDir, 'mysql').catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
  // A sandbox, a full cutover and two switch-back processes: minutes on a busy 2-core machine.
}, 1_200_000);
