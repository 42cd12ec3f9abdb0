/**
 * The PostgreSQL way back on AWS killed (-9) inside its switch (issue 12: "a resume after kill -9
 * during switch-back follows the rules of the forward switch"): `switch-back RUN_ID --execute`
 * and `switch-forth RUN_ID --execute` on an emulated RDS for PostgreSQL account (moto's control
 * plane, local PostgreSQL servers as the data plane, lib/rehearsal/aws-emulated), the exact CLI
 * path in its own process, killed by the fault-injection hook (RDS_CUTOVER_KILL_AT,
 * lib/runbook/kill-point.ts) right after each journal entry of its switch step (every sub-phase
 * it journals, and the step's end), then `--resume RUN_ID` of that switch's own run.
 * The kill points come from the journals of a clean switch-back and switch-forth, so a new
 * sub-phase is picked up by itself. Under a write load through the application's endpoint.
 * The rules, for every point: the resumed run finishes (result success, the same steps done as a
 * clean run), no acknowledged write is lost, the two sides are never writable for the
 * application at once (sampled all along), and no AWS call is sent with a plan placeholder.
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../../lib/cli/cutover';
import { WriteLoadProcess } from '../../../lib/load/write-load-process';
import { summariseWrites } from '../../../lib/load/write-load';
import { closePg, connectPg, pgRow, pgRows, type PgClient } from '../../../lib/engines/postgres/connection';
import { Journal, statusFromJournal } from '../../../lib/runbook/journal';
import { killPointOf } from '../../../lib/runbook/kill-point';
import { PLANNED_CHANGE_ID } from '../../../lib/platforms/aws/switch';
import { sleep, waitFor } from '../../../lib/util/time';
import { EmulatedPostgresWorld } from '../../../lib/rehearsal/aws-emulated/rehearse-postgres';
import { outputTail, type CutoverProcessResult } from '../../support/emulated-cutover-process';
import { describeWithMoto, killedAtEachThenFinished, useEmulatedWorld } from '../../support/emulated-world';

type Side = 'source' | 'target';
type Command = 'switch-back' | 'switch-forth';

/** The kill points of one step in a run's journal: each sub-phase it journaled (`step-progress:<step>:<n>`) and its end. */
function switchKillPoints(stateDir: string, runId: string, step: string): string[] {
  const progress = new Map<string, number>();
  const points: string[] = [];
  for (const entry of new Journal(stateDir, runId).read()) {
    let count = 0;
    if (entry.type === 'step-progress') {
      count = (progress.get(entry.step) ?? 0) + 1;
      progress.set(entry.step, count);
    }
    const point = killPointOf(entry, count);
    if (point && (point.startsWith(`step-progress:${step}:`) || point === `step-done:${step}`) && !points.includes(point)) points.push(point);
  }
  return points;
}

/**
 * Samples, every ~50 ms, whether the application could write on each side: the server default
 * not read-only and its role allowed to log in. The side traffic leaves is frozen before the
 * other opens, so the side that opens is read first: "both writable" in one sample means both were.
 */
class WritabilitySampler {
  bothWritable: string[] = [];
  samples = 0;
  private running = true;
  private readonly clients = new Map<Side, PgClient>();
  private readonly loop: Promise<void>;

  constructor(private readonly connect: (side: Side) => Promise<PgClient>, private readonly role: string, private readonly opensFirst: () => Side) {
    this.loop = this.run();
  }

  private async writable(side: Side): Promise<boolean> {
    try {
      let client = this.clients.get(side);
      if (!client) {
        client = await this.connect(side);
        this.clients.set(side, client);
      }
      const row = await pgRow<{ ro: string; login: boolean | null }>(client, "SELECT current_setting('default_transaction_read_only') AS ro, (SELECT rolcanlogin FROM pg_roles WHERE rolname = $1) AS login", [this.role]);
      return row?.ro !== 'on' && row?.login === true;
    } catch {
      const broken = this.clients.get(side);
      this.clients.delete(side);
      await closePg(broken).catch(() => undefined);
      return false; // unreachable: the application cannot write there either
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      const first = this.opensFirst();
      const firstWritable = await this.writable(first);
      const otherWritable = await this.writable(first === 'source' ? 'target' : 'source');
      this.samples += 1;
      if (firstWritable && otherWritable && this.bothWritable.length < 20) this.bothWritable.push(new Date().toISOString());
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const client of this.clients.values()) await closePg(client).catch(() => undefined);
  }
}

describeWithMoto('the emulated AWS PostgreSQL way-back resume test')('PostgreSQL switch-back and switch-forth on an emulated RDS account (moto), killed (-9) at each journaled sub-phase of their switch, then --resume', () => {
  const emulated = useEmulatedWorld('rds-cutover-emulated-pg-back-kill-', (options) => EmulatedPostgresWorld.start({ ...options, seedRows: 300, reverseReplication: true }), { startTimeoutMs: 300000 });
  const { log, stateDir } = emulated;
  let forwardRunId = '';

  const ok = (outcome: CutoverProcessResult) => ({ code: outcome.code, ...(outcome.code === EXIT.ok ? {} : { tail: outputTail(outcome) }) });
  const loadIds = async (side: Side) => {
    const client = await emulated.world.plane.superuser(side);
    try {
      return new Set((await pgRows<{ id: string }>(client, 'SELECT id FROM cutover_load')).map((r) => String(r.id)));
    } finally {
      await closePg(client);
    }
  };

  /** What one switch-back or switch-forth (killed at `killAt`, then resumed; or clean) left. */
  interface Leg {
    command: Command;
    killAt: string | null;
    killedBy: Array<string | null>;
    code: number | null;
    result: string;
    finished: string[];
    acknowledged: number;
    lost: number;
    placeholderSent: boolean;
    tail: string;
  }

  /**
   * One switch under a fresh write load: the load table emptied first (a new load numbers its
   * rows as the one before), the run killed at `killAt` and resumed, then every acknowledged
   * write looked for on the side traffic moved to.
   */
  async function leg(command: Command, killAt: string | undefined): Promise<Leg> {
    const { plane } = emulated.world;
    const to: Side = command === 'switch-back' ? 'source' : 'target';
    const app = await connectPg({ name: 'app', ...plane.appEndpoint() });
    await app.query('DELETE FROM cutover_load').finally(() => closePg(app));
    await waitFor(`the emptied load table on the ${to} (through the running way)`, async () => ((await loadIds(to)).size === 0 ? true : undefined), { timeoutMs: 60000, intervalMs: 200 });

    const outputs: CutoverProcessResult[] = [];
    const load = new WriteLoadProcess({ engine: 'postgres', ...plane.appEndpoint(), connections: 4, ratePerSecond: 150 });
    await load.start();
    let outcome: Awaited<ReturnType<typeof killedAtEachThenFinished>>;
    try {
      outcome = await killedAtEachThenFinished(
        async (resume, at) => {
          const ended = await emulated.cli([command, forwardRunId, '--execute', ...resume], at);
          outputs.push(ended);
          return ended;
        },
        killAt ? [{ journal: killAt }] : [],
        stateDir,
      );
      await sleep(1500); // writes keep landing where the record points now
    } finally {
      await load.stop().catch((error: Error) => log.error(`load: ${error.message}`));
    }
    const status = statusFromJournal(new Journal(stateDir, outcome.runId!).read());
    const writes = summariseWrites(load.attempts, await loadIds(to));
    return {
      command,
      killAt: killAt ?? null,
      killedBy: outcome.killed.map((k) => k.signal),
      code: outcome.last.code,
      result: status.result,
      finished: status.finished,
      acknowledged: writes.acknowledged,
      lost: writes.lost,
      placeholderSent: outputs.some((o) => `${o.stdout}\n${o.stderr}`.includes(PLANNED_CHANGE_ID)),
      tail: outcome.last.code === EXIT.ok || outcome.last.code === EXIT.unverified ? '' : outputTail(outcome.last),
    };
  }

  test('GIVEN aws.reverseReplication WHEN the logical flow runs with --execute THEN it ends SUCCESS (the run the way back belongs to)', async () => {
    const outcome = await emulated.cli(['--env', 'aws-emulated', '--engine', 'postgres', '--method', 'logical', '--execute']);
    expect(ok(outcome)).toEqual({ code: EXIT.ok });
    forwardRunId = readdirSync(join(stateDir, 'runs'))[0];
  }, 600000);

  test('GIVEN a clean switch-back and switch-forth WHEN each is killed (-9) at each journal entry of its switch step and resumed THEN every run finishes with the steps of a clean run, 0 writes lost, never both sides writable, no plan placeholder sent to AWS', async () => {
    expect(forwardRunId).not.toBe('');
    const { plane } = emulated.world;
    // Traffic is on the target after the forward run: it opens first in a switch-back.
    let opensFirst: Side = 'source';
    const sampler = new WritabilitySampler((side) => plane.superuser(side), plane.ids.appRole, () => opensFirst);
    const legs: Leg[] = [];
    try {
      // The clean pair gives the kill points (and the steps a finished run has done).
      legs.push(await leg('switch-back', undefined));
      opensFirst = 'target';
      legs.push(await leg('switch-forth', undefined));
      opensFirst = 'source';
      const backPoints = switchKillPoints(stateDir, readdirSync(join(stateDir, 'runs')).find((id) => statusFromJournal(new Journal(stateDir, id).read()).flow === 'postgres.switch-back')!, 'postgres.switch-back');
      const forthPoints = switchKillPoints(stateDir, readdirSync(join(stateDir, 'runs')).find((id) => statusFromJournal(new Journal(stateDir, id).read()).flow === 'postgres.switch-forth')!, 'postgres.switch-forth');
      log.info(`kill points: switch-back ${backPoints.join(', ')}; switch-forth ${forthPoints.join(', ')}`);
      // At least the freeze, the endpoint's move and its end, in each direction.
      expect(backPoints.length).toBeGreaterThanOrEqual(4);
      expect(forthPoints.length).toBeGreaterThanOrEqual(4);
      for (let i = 0; i < Math.max(backPoints.length, forthPoints.length); i += 1) {
        legs.push(await leg('switch-back', backPoints[i]));
        opensFirst = 'target';
        legs.push(await leg('switch-forth', forthPoints[i]));
        opensFirst = 'source';
      }
    } finally {
      await sampler.stop();
    }
    const [cleanBack, cleanForth] = legs;
    const finishedBy = { 'switch-back': cleanBack.finished, 'switch-forth': cleanForth.finished };
    // The killed run ended by the kill; its resume finished (exit 4 = finished, checksums honestly not verified: the switch-time snapshots died with it).
    const seen = legs.map((l) => ({ command: l.command, killAt: l.killAt, killedBy: l.killedBy, finished: l.code === EXIT.ok || l.code === EXIT.unverified, result: l.result, steps: l.finished, lost: l.lost, placeholderSent: l.placeholderSent, tail: l.tail }));
    const rule = legs.map((l) => ({ command: l.command, killAt: l.killAt, killedBy: l.killAt ? ['SIGKILL'] : [], finished: true, result: 'success', steps: finishedBy[l.command], lost: 0, placeholderSent: false, tail: '' }));
    expect(seen).toEqual(rule);
    expect(cleanBack.finished).toEqual(expect.arrayContaining(['postgres.switch-back', 'postgres.switch-back.way-back.remove']));
    expect(legs.every((l) => l.acknowledged > 0)).toBe(true);
    expect({ samples: sampler.samples > 0, bothWritable: sampler.bothWritable }).toEqual({ samples: true, bothWritable: [] });
    expect(plane.errors).toEqual([]);
  }, 3600000);
});
