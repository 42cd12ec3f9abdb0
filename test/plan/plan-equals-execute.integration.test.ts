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
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCutoverArgs, EXIT } from '../../lib/cli/cutover';
import { runAws } from '../../lib/cli/aws';
import { isReadOnlyCommand, type AwsClients } from '../../lib/platforms/aws/clients';
import { currentStepId } from '../../lib/runbook/current-step';
import { EmulatedWorld, emulatedClients, EMULATED_ENVIRONMENT } from '../../lib/rehearsal/aws-emulated/rehearse';
import type { PlanDocument } from '../../lib/plan/plan-document';
import { tapStatements } from '../../lib/engines/mysql/connection';
import { effectOf, splitStatements } from '../../lib/engines/mysql/recording-connection';
import { redact } from '../../lib/util/secrets';
import { describeWithMoto, useEmulatedWorld } from '../support/emulated-world';

interface Change {
  step: string;
  command: string;
  input: unknown;
}

/** `planned` equals `sent` where the plan has a value; a `<name>` in the plan stands for what the run sent (collected). */
interface Statement {
  step: string;
  server: string;
  statement: string;
  forEach?: string;
}

/** A planned statement as a pattern: each `<run-time value>` stands for any text. */
function statementPattern(planned: string): RegExp {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${planned.split(/<[^<>]+>/).map(escape).join('[\\s\\S]+?')}$`);
}

/**
 * Walk the planned statements and the sent ones together: each planned statement must be the
 * next one sent in the same step to the same server; one the plan sends "for each" row of an
 * earlier read stands for any number of them (0 when there was nothing to end). Returns the
 * first disagreement, with what surrounds it, or undefined.
 */
function firstDisagreement(planned: Statement[], sent: Statement[]): object | undefined {
  const same = (p: Statement, s: Statement | undefined) => s !== undefined && p.step === s.step && p.server === s.server && statementPattern(p.statement).test(s.statement);
  let j = 0;
  for (const [i, p] of planned.entries()) {
    if (p.forEach) {
      while (same(p, sent[j])) j += 1;
      continue;
    }
    if (!same(p, sent[j])) return { planned: planned.slice(Math.max(0, i - 2), i + 3), sent: sent.slice(Math.max(0, j - 2), j + 3), at: { planned: i, sent: j } };
    j += 1;
  }
  return j === sent.length ? undefined : { sentBeyondThePlan: sent.slice(j, j + 5) };
}

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

describeWithMoto('the plan == execute test')('plan == execute: the dry-run plan of the RDS MySQL flow is the sequence of changes --execute sends', () => {
  const emulated = useEmulatedWorld('rds-cutover-plan-exec-', (options) => EmulatedWorld.start(options));
  const { log, stateDir } = emulated;

  test('GIVEN the dry run\'s JSON plan and an --execute run with a middleware recording every command sent THEN the mutating commands agree in order, step and input, modulo the run-time values the plan names', async () => {
    const environment = emulated.world.environment;
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
    // ... and every SQL statement the flow's connections send, with the step the engine ran.
    const sentSql: Statement[] = [];
    const untap = tapStatements((server, text) => {
      const step = currentStepId();
      if (step === undefined) return; // the emulator's data plane and the lock, not the flow's steps
      // The emulated RDS says MySQL 8.0 (the plan is made for it) while its data plane is a local
      // MariaDB: account passwords go to MariaDB as their hash (IDENTIFIED BY PASSWORD '<hash>',
      // kept out of its binlog) where MySQL 8.0 is sent the password; the hash is a secret too,
      // redacted like the password. That one dialect difference is mapped back here.
      for (const statement of splitStatements(text)) if (effectOf(statement) === 'change') sentSql.push({ step, server, statement: redact(statement).replace(/IDENTIFIED BY PASSWORD '\*\*\*'/g, "IDENTIFIED BY '***'") });
    });
    const runOut: string[] = [];
    const runCode = await runAws(
      { environment, args: parseCutoverArgs(['--env', EMULATED_ENVIRONMENT, '--execute']), stateDir, log, out: (line) => runOut.push(line) },
      { createClients: (env, options) => recordSent(emulatedClients(env.aws!, options)) },
    );
    untap();
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

    // The SQL: every statement that changes a server, in order, step by step, on the same server,
    // equal to the plan's text except where the plan names a run-time value.
    const plannedSql: Statement[] = document.steps.flatMap((step) => step.calls.filter((call) => call.channel === 'sql' && call.effect === 'change').map((call) => ({ step: step.id, server: call.on, statement: call.operation, ...(call.forEach ? { forEach: call.forEach } : {}) })));
    expect(plannedSql.length).toBeGreaterThan(10);
    expect(new Set(sentSql.map((s) => s.server))).toEqual(new Set(plannedSql.map((s) => s.server)));
    expect(firstDisagreement(plannedSql, sentSql)).toBeUndefined();
  });
});
