/**
 * The MySQL "NOT VERIFIED" hint (issue 9): a run resumed past the switch has lost the switch-time
 * snapshots, so its verification step cannot compare the two sides. It must not block the
 * clean-up, and its reason must give an operator everything needed to verify by hand: which side
 * is frozen, which one has taken writes since, and the exact switch point (binlog file:position
 * and the moment) to restore the written side to. No server is needed: the step returns before
 * it would connect.
 */
import { verifyChecksumsStep } from '../../lib/flows/mysql-encrypt';
import { RunResources } from '../../lib/runbook/resources';
import type { StepContext } from '../../lib/runbook/step';
import { silentLogger } from '../../lib/util/log';

const settings = { appUsers: ['app'], databases: ['app'] } as unknown as Parameters<typeof verifyChecksumsStep>[1];

function contextWith(facts: Record<string, unknown>): StepContext {
  return { runId: 'r1', dryRun: false, log: silentLogger, facts, resources: new RunResources(), record: () => undefined };
}

test('a resumed forward run without the switch-time snapshots: NOT VERIFIED, naming the frozen old source, the target that took writes, and the switch point (binlog file:position, ISO time) to restore the target to', async () => {
  const switchEndedAt = Date.UTC(2026, 11, 2, 1, 2, 3, 456);
  const step = verifyChecksumsStep('mysql.verify.checksums', settings, 'compare');
  const facts = await step.apply(contextWith({ finalBinlogFile: 'source-bin.000003', finalBinlogPosition: 4711, switchEndedAt }));
  expect(facts).toMatchObject({ checksumsVerified: false });
  const reason = String((facts as Record<string, unknown>).checksumsNotVerifiedReason);
  expect(reason).toContain('the run was resumed past the switch');
  expect(reason).toContain('the target has taken writes since');
  expect(reason).toContain('To verify: compare per-table checksums of the frozen old source with a point-in-time restore of the target at the switch (binlog source-bin.000003:4711, 2026-12-02T01:02:03.456Z)');
});

test('a resumed switch back: the sides named as that switch saw them (the target frozen, the source written), "at the switch back"', async () => {
  const step = verifyChecksumsStep('mysql.switch-back.verify.checksums', settings, 'compare');
  const facts = await step.apply(contextWith({ switchDirection: 'back', finalBinlogFile: 'target-bin.000002', finalBinlogPosition: 99 }));
  const reason = String((facts as Record<string, unknown>).checksumsNotVerifiedReason);
  expect(reason).toContain('the source has taken writes since');
  expect(reason).toContain('compare per-table checksums of the frozen target with a point-in-time restore of the source at the switch back (binlog target-bin.000002:99)');
});
