/**
 * What a resumed AWS switch needs from the platform: where the Route 53 record points now (read,
 * never changed), and the UPSERT's change id journaled so that a fresh process waits for the
 * same change before fencing (it used to live only in memory).
 */
import { ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { RunResources } from '../../../lib/runbook/resources';
import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { describeState, FENCE_SG, instance, livePlatform, mockedAws, SOURCE } from './helpers';
import { detachedContext } from '../../../lib/runbook/step';
import { recordingLogger } from './helpers';

const TARGET = 'orders-encrypted';
const TARGET_ADDRESS = `${TARGET}.abcdefghijkl.eu-west-1.rds.amazonaws.com`;

function awsWithRecord(value: string) {
  const aws = mockedAws();
  describeState(aws, {
    instances: {
      [TARGET]: [instance(TARGET, 'available')],
      orders: [SOURCE, { ...SOURCE, VpcSecurityGroups: [{ VpcSecurityGroupId: FENCE_SG, Status: 'active' }] }],
    },
  });
  aws.route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [{ Name: 'orders-db.prod.internal.example.com.', Type: 'CNAME', TTL: 15, ResourceRecords: [{ Value: `${value}.` }] }], IsTruncated: false, MaxItems: 1 });
  aws.route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C999', Status: 'PENDING', SubmittedAt: new Date() } });
  aws.route53.on(GetChangeCommand).resolves({ ChangeInfo: { Id: '/change/C123', Status: 'INSYNC', SubmittedAt: new Date() } });
  aws.rds.on(ModifyDBInstanceCommand).resolves({});
  return aws;
}

const context = (facts: Record<string, unknown>) => detachedContext({ runId: 'r1', dryRun: false, log: recordingLogger(), facts, resources: new RunResources() });

describe('AWS MySQL platform: resuming a switch', () => {
  test.each([
    [SOURCE.Endpoint!.Address!, 'source'],
    [TARGET_ADDRESS, 'target'],
    ['somewhere-else.example.com', 'unknown'],
  ])('endpointTarget reads the Route 53 record (%s → %s) and changes nothing', async (value, expected) => {
    const aws = awsWithRecord(value);
    const { platform } = livePlatform(aws);
    const state = await platform.endpointTarget(context({ targetId: TARGET }));
    expect(state.pointsTo).toBe(expected);
    expect(state.detail).toContain(value);
    expect(aws.mutating()).toEqual([]);
  });

  test('the UPSERT change id is journaled (context.record), and a fresh process fences only after that change is INSYNC, without a second UPSERT', async () => {
    const aws = awsWithRecord(SOURCE.Endpoint!.Address!);
    aws.route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C123', Status: 'PENDING', SubmittedAt: new Date() } });
    const facts: Record<string, unknown> = { targetId: TARGET };
    const recorded: Record<string, unknown>[] = [];
    const first = livePlatform(aws).platform;
    await first.switchEndpoint({ ...context(facts), record: (learned) => void recorded.push(learned) });
    expect(recorded).toEqual([{ route53ChangeId: '/change/C123' }]);

    // a new process: nothing in memory, the journaled id in the facts
    const resumed = livePlatform(aws).platform;
    await resumed.fenceSource(context({ targetId: TARGET, route53ChangeId: '/change/C123' }));
    expect(aws.route53.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(1);
    expect(aws.route53.commandCalls(GetChangeCommand).map((c) => c.args[0].input.Id)).toEqual(['/change/C123']);
    const sent = aws.sent();
    expect(sent.indexOf('route53.GetChange')).toBeLessThan(sent.indexOf('rds.ModifyDBInstance'));
  });

  test('killed between the UPSERT and its journal line: the fence UPSERTs the same value again (a no-op for the record) and waits for that change', async () => {
    const aws = awsWithRecord(TARGET_ADDRESS);
    const { platform } = livePlatform(aws);
    await platform.fenceSource(context({ targetId: TARGET }));
    const upserts = aws.route53.commandCalls(ChangeResourceRecordSetsCommand).map((c) => c.args[0].input.ChangeBatch!.Changes![0].ResourceRecordSet!.ResourceRecords);
    expect(upserts).toEqual([[{ Value: TARGET_ADDRESS }]]);
    expect(aws.route53.commandCalls(GetChangeCommand).map((c) => c.args[0].input.Id)).toEqual(['/change/C999']);
  });
});
