/**
 * The plan a reviewer approves is what --execute does (issue 10). On an emulated AWS account
 * (moto, local MariaDB servers as the data plane, see emulated-mysql.integration.test.ts):
 * 1. the dry run writes its plan as JSON (--plan-format json --plan-out): the calls the
 *    runbook's own steps made against the recording clients;
 * 2. --execute runs the flow with an SDK middleware on every client that records each command
 *    actually sent, with the runbook step the engine was running;
 * and the mutating AWS commands of both must be the same sequence, step by step, with the same
 * input — except values only the run can know, which the plan names as `<…>` and which are
 * listed here explicitly.
 * Skipped, saying how to get it, where moto cannot be found.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseCutoverArgs, EXIT } from '../../lib/cli/cutover';
import { runAws } from '../../lib/cli/aws';
import { isReadOnlyCommand, type AwsClients } from '../../lib/platforms/aws/clients';
import { currentStepId } from '../../lib/runbook/current-step';
import { locateMoto, MOTO_INSTALL_HINT } from '../../lib/rehearsal/aws-emulated/moto';
import { EmulatedWorld, emulatedClients, EMULATED_ENVIRONMENT } from '../../lib/rehearsal/aws-emulated/rehearse';
import type { PlanDocument } from '../../lib/plan/plan-document';
import { recordingLogger } from '../platforms/aws/helpers';

const projectRoot = resolve(__dirname, '../..');
const moto = locateMoto(projectRoot);
if (!moto) console.warn(`skipping the plan == execute test: ${MOTO_INSTALL_HINT}`);
const describeWithMoto = moto ? describe : describe.skip;

interface Change {
  step: string;
  command: string;
  input: unknown;
}

/** `planned` equals `sent` where the plan has a value; a `<name>` in the plan stands for what the run sent (collected). */
function matchModuloRuntime(planned: unknown, sent: unknown, runtime: Map<string, Set<string>>): boolean {
  if (typeof planned === 'string' && /^<[^<>]+>$/.test(planned)) {
    runtime.set(planned, (runtime.get(planned) ?? new Set()).add(JSON.stringify(sent)));
    return true;
  }
  if (Array.isArray(planned)) return Array.isArray(sent) && planned.length === sent.length && planned.every((value, i) => matchModuloRuntime(value, sent[i], runtime));
  if (planned && typeof planned === 'object') {
    const keys = new Set([...Object.keys(planned), ...Object.keys((sent ?? {}) as object)]);
    return [...keys].every((key) => matchModuloRuntime((planned as Record<string, unknown>)[key], ((sent ?? {}) as Record<string, unknown>)[key], runtime));
  }
  return planned === sent;
}

describeWithMoto('plan == execute: the dry-run plan of the RDS MySQL flow is the sequence of changes --execute sends', () => {
  const log = recordingLogger();
  const stateDir = mkdtempSync(join(tmpdir(), 'rds-cutover-plan-exec-'));
  let world: EmulatedWorld;

  beforeAll(async () => {
    world = await EmulatedWorld.start({ projectRoot, stateDir, log });
  });

  afterAll(async () => {
    await world?.stop();
    rmSync(stateDir, { recursive: true, force: true });
    expect(world?.pids() ?? []).toEqual([]);
  });

  test('GIVEN the dry run\'s JSON plan and an --execute run with a middleware recording every command sent THEN the mutating commands agree in order, step and input, modulo the run-time values the plan names', async () => {
    const environment = world.environment;
    const out: string[] = [];
    const planFile = join(stateDir, 'plan.json');

    // 1. The plan (dry run with read-only credentials against the emulator).
    const planCode = await runAws(
      { environment, args: parseCutoverArgs(['--env', EMULATED_ENVIRONMENT, '--plan-format', 'json', '--plan-out', planFile]), stateDir, log, out: (line) => out.push(line) },
      { createClients: (env, options) => emulatedClients(env.aws!, options) },
    );
    const document = JSON.parse(readFileSync(planFile, 'utf8')) as PlanDocument;
    expect({ planCode, stoppedAt: document.stoppedAt }).toEqual({ planCode: EXIT.ok, stoppedAt: undefined });
    const planned: Change[] = document.steps.flatMap((step) => step.calls.filter((call) => call.channel === 'aws' && call.effect === 'change').map((call) => ({ step: step.id, command: `${call.on}.${call.operation}`, input: call.input })));

    // 2. The run, every command recorded as the SDK sends it.
    const sent: Array<Change & { step: string | undefined }> = [];
    const recordSent = (clients: AwsClients): AwsClients => {
      for (const [service, client] of Object.entries(clients)) {
        (client as AwsClients['rds']).middlewareStack.add(
          (next, context) => async (args) => {
            sent.push({ step: currentStepId() ?? '(outside a step)', command: `${service}.${String(context.commandName).replace(/Command$/, '')}`, input: JSON.parse(JSON.stringify(args.input)) });
            return next(args);
          },
          { step: 'initialize', name: 'recordSentCommands' },
        );
      }
      return clients;
    };
    const runOut: string[] = [];
    const runCode = await runAws(
      { environment, args: parseCutoverArgs(['--env', EMULATED_ENVIRONMENT, '--execute']), stateDir, log, out: (line) => runOut.push(line) },
      { createClients: (env, options) => recordSent(emulatedClients(env.aws!, options)) },
    );
    expect({ runCode, tail: runOut.slice(-15).join('\n') }).toMatchObject({ runCode: EXIT.ok });
    const runId = /run id ([\w-]+)/.exec(runOut.join('\n'))?.[1] ?? '';
    expect(runId).not.toBe('');

    // The run lock is taken and released around the steps (the plan says so in a note, not as steps).
    const lock = sent.filter((call) => call.step === '(outside a step)' && !isReadOnlyCommand(call.command.split('.')[1]));
    expect(lock.map((call) => call.command)).toEqual(['rds.AddTagsToResource', 'rds.RemoveTagsFromResource']);
    expect(document.notes.join('\n')).toContain('rds.AddTagsToResource on the source');

    const executed: Change[] = sent
      .filter((call) => call.step !== '(outside a step)' && !isReadOnlyCommand(call.command.split('.')[1]))
      .map((call) => ({ step: call.step, command: call.command, input: JSON.parse(JSON.stringify(call.input).split(runId).join('<run-id>')) }));

    // Same sequence of (step, command).
    expect(executed.map((c) => `${c.step} ${c.command}`)).toEqual(planned.map((c) => `${c.step} ${c.command}`));
    expect(planned.map((c) => c.command)).toEqual(
      expect.arrayContaining(['rds.CreateDBInstanceReadReplica', 'rds.CreateDBSnapshot', 'rds.CopyDBSnapshot', 'rds.RestoreDBInstanceFromDBSnapshot', 'route53.ChangeResourceRecordSets', 'rds.ModifyDBInstance']),
    );
    // Same input, except the values the plan could only name.
    const runtime = new Map<string, Set<string>>();
    planned.forEach((change, index) => {
      const matches = matchModuloRuntime(change.input, executed[index].input, runtime);
      expect({ command: change.command, matches, ...(matches ? {} : { planned: change.input, executed: executed[index].input }) }).toEqual({ command: change.command, matches: true });
    });
    // Made explicit: the only values a dry run could not know are the run id (tags, names) and the restored target's address.
    expect([...runtime.keys()].sort()).toEqual(['<orders-encrypted.Endpoint.Address>', '<run-id>']);
    expect([...(runtime.get('<run-id>') ?? [])]).toEqual(['"<run-id>"']);
  });
});
