/**
 * The Route 53 change a switch sends says which way traffic goes: forward to the new database,
 * back to the old source (switch-back). The change's comment is what an operator reads in the
 * Route 53 console and in the dry run's call list; a switch back must not say "to the new instance".
 */
import { dnsUpsertInput } from '../../../lib/platforms/aws/switch';

const dns = { zoneId: 'Z1', recordName: 'db.example.internal', ttlSeconds: 5 };

describe('the Route 53 UPSERT names the side traffic goes to', () => {
  test('GIVEN the forward switch THEN the comment says the new database', () => {
    expect(dnsUpsertInput(dns, 'new.example', '20261201-050955-8a2d35').ChangeBatch.Comment).toBe('rds-cutover run 20261201-050955-8a2d35: switch to the new instance');
  });

  test('GIVEN a switch back THEN the comment says back to the old source, never "to the new instance"', () => {
    const comment = dnsUpsertInput(dns, 'old.example', '20261201-060000-aaaaaa', 'back').ChangeBatch.Comment;
    expect(comment).toBe('rds-cutover run 20261201-060000-aaaaaa: switch back to the old source');
    expect(comment).not.toMatch(/new instance/);
  });
});
