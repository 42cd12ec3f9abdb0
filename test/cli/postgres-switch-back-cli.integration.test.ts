/**
 * `switch-back RUN_ID` and `complete RUN_ID` for a PostgreSQL (logical) run, through the real
 * CLI on the persistent PostgreSQL sandbox under write load: the dry run plans and checks
 * without changing anything; the executed switch-back moves traffic back with 0 writes lost
 * and checksums matching; complete is then refused (traffic on the source); `switch-forth RUN_ID`
 * SIGKILLed right after the endpoint moved to the target (RDS_CUTOVER_KILL_AT, a real kill -9) is
 * named by `status` with its resume command, and that resume finishes it on the target.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closePg, connectPg, pgRow, pgRows } from '../../lib/engines/postgres/connection';
import { summariseWrites, WriteLoad } from '../../lib/load/write-load';
import { postgresWriteClient } from '../../lib/load/postgres-write-client';
import { Journal, statusFromJournal } from '../../lib/runbook/journal';
import { readSandboxState, sandboxFolder } from '../../lib/platforms/local/sandbox-state';
import { sandboxDown, sandboxUp } from '../../lib/cli/sandbox';
import { silentLogger } from '../../lib/util/log';
import { sleep } from '../../lib/util/time';
import { runCutoverCli } from '../support/cutover-cli';

test('PostgreSQL switch-back through the CLI: dry run changes nothing; the executed switch-back puts traffic on the source with 0 writes lost and checksums matching; complete is then refused; switch-forth killed with SIGKILL after the endpoint moved is named by status and its resume finishes on the target, 0 lost', async () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-pgsb-'));
  const stateDir = join(work, '.rds-cutover');
  let load: WriteLoad | undefined;
  try {
    // GIVEN a persistent PostgreSQL sandbox under write load, cut over to the target by the CLI
    await sandboxUp(stateDir, 'postgres', silentLogger, 300);
    const folder = sandboxFolder(stateDir, 'postgres');
    const { state, secrets } = readSandboxState(folder)!;
    const app = { name: 'endpoint', host: '127.0.0.1', port: state.endpoint.port, user: state.endpoint.user, password: secrets.postgresAppPassword, database: 'app' };
    load = new WriteLoad({ connections: 2, ratePerSecond: 100, connect: () => postgresWriteClient(app) });
    load.start();
    const forward = await runCutoverCli(['--env', 'sandbox', '--engine', 'postgres', '--execute'], work);
    expect(forward.output).toMatch(/postgres\.logical on sandbox: SUCCESS/);
    expect(forward.code).toBe(0);
    const [runId] = readdirSync(join(stateDir, 'runs'));
    expect(statusFromJournal(new Journal(stateDir, runId).read()).facts.wayBack).toBe('running');

    // WHEN switch-back is planned (no --execute): the plan and the checks, nothing changed
    const plan = await runCutoverCli(['switch-back', runId], work);
    expect(plan.code).toBe(0);
    expect(plan.output).toContain('postgres.switch-back [action, POINT OF NO RETURN]');
    expect(plan.output).toContain('Dry run: nothing was changed');
    expect(readdirSync(join(stateDir, 'runs'))).toHaveLength(1);

    // AND executed
    const back = await runCutoverCli(['switch-back', runId, '--execute'], work);
    // THEN traffic is on the source, the checksums of both switch-time snapshots match
    expect(back.output).toMatch(/postgres\.switch-back on sandbox: SUCCESS/);
    expect(back.output).toMatch(/checksums: match/);
    expect(back.code).toBe(0);
    const portOf = (server: 'source' | 'target') => readSandboxState(folder)!.state.servers.find((s) => s.name === server)!.port;
    const endpointPort = async () => {
      const reader = await connectPg(app);
      try {
        return Number((await pgRow<{ port: string }>(reader, "SELECT current_setting('port') AS port"))!.port);
      } finally {
        await closePg(reader);
      }
    };
    expect(await endpointPort()).toBe(portOf('source'));

    // AND complete is refused while traffic is on the source (exit 3)
    const complete = await runCutoverCli(['complete', runId, '--execute'], work);
    expect(complete.code).toBe(3);
    expect(complete.output).toMatch(/Complete refused: traffic is not on the target/);

    // AND switch-forth (traffic to the target again) killed with SIGKILL right after its endpoint moved
    // (the third sub-phase it journals: frozen, endpoint move started, endpoint moved)
    const runsBeforeForth = readdirSync(join(stateDir, 'runs'));
    const killedForth = await runCutoverCli(['switch-forth', runId, '--execute'], work, 'step-progress:postgres.switch-forth:3');
    expect(killedForth.signal).toBe('SIGKILL');
    const forthRunId = readdirSync(join(stateDir, 'runs')).find((id) => !runsBeforeForth.includes(id))!;
    // THEN status says where it stopped and names the resume
    const status = (await runCutoverCli(['status', forthRunId], work)).output;
    expect(status).toContain('endpoint MOVED to the target');
    expect(status).toContain(`zx scripts/cutover.mjs switch-forth ${runId} --execute --resume ${forthRunId}`);
    // AND that resume finishes forward: traffic on the target, the way back running again
    // (exit 4: the switch-time snapshots were gone with the killed process)
    const forth = await runCutoverCli(['switch-forth', runId, '--execute', '--resume', forthRunId], work);
    expect(forth.output).toMatch(/postgres\.switch-forth on sandbox: SUCCESS/);
    expect(forth.code).toBe(4);
    expect(statusFromJournal(new Journal(stateDir, forthRunId).read()).facts.wayBack).toBe('running');
    expect(await endpointPort()).toBe(portOf('target'));

    // AND over the forward switch, the switch back and the interrupted switch forth every acknowledged write is there
    await sleep(1000);
    await load.stop();
    const reader = await connectPg(app);
    const present = new Set((await pgRows<{ id: string }>(reader, 'SELECT id::text AS id FROM cutover_load')).map((r) => r.id));
    await closePg(reader);
    const writes = summariseWrites(load.attempts, present);
    expect(writes.acknowledged).toBeGreaterThan(100);
    expect(writes.lost).toBe(0);
  } finally {
    if (load && load.stoppedAt === 0) await load.stop().catch(() => undefined);
    await sandboxDown(stateDir, 'postgres').catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
  // A sandbox, a full cutover and two more CLI processes: minutes on a busy 2-core machine.
}, 1_200_000);
