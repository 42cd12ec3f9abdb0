import { passwordFromEnv, redact, redactValue, registerSecret } from '../../lib/util/secrets';

describe('secrets', () => {
  test('registered secrets are masked wherever they appear', () => {
    const secret = registerSecret('hunter2-long-secret');
    expect(redact(`password=hunter2-long-secret; again hunter2-long-secret`)).toBe('password=***; again ***');
    expect(redactValue({ nested: [`x hunter2-long-secret`] })).toEqual({ nested: ['x ***'] });
    expect(secret).toBe('hunter2-long-secret');
  });

  test('replication and user statements are masked even for unregistered passwords', () => {
    expect(redact("CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='not-registered\\'x', MASTER_LOG_POS=4")).toBe("CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='***', MASTER_LOG_POS=4");
    expect(redact("ALTER USER 'r'@'%' IDENTIFIED BY 'plain'")).toBe("ALTER USER 'r'@'%' IDENTIFIED BY '***'");
    expect(redact("SOURCE_PASSWORD = 'p'")).toBe("SOURCE_PASSWORD = '***'");
  });

  test('a secret is masked in the forms a workload or a client prints it: base64 (padded, unpadded, URL-safe), URL-encoded, JSON-escaped (a new user\'s trial found the base64 form in a report\'s output tail)', () => {
    const secret = registerSecret('pa/ss+wo"rd?42');
    const base64 = Buffer.from(secret).toString('base64');
    const text = [base64, base64.replace(/=+$/, ''), Buffer.from(secret).toString('base64url'), encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)].join(' | ');
    expect(redact(text)).toBe('*** | *** | *** | *** | ***');
    expect(redactValue({ tail: `env: ${secret}` })).toEqual({ tail: 'env: ***' });
  });

  test('a secret too short to mask safely is refused', () => {
    expect(() => registerSecret('abc')).toThrow(/shorter than 4/);
  });

  test('a missing password variable names the variable and how to set it', () => {
    delete process.env.CUTOVER_TEST_MISSING_PASSWORD;
    expect(() => passwordFromEnv('CUTOVER_TEST_MISSING_PASSWORD', 'source admin')).toThrow(/CUTOVER_TEST_MISSING_PASSWORD is not set.*never taken from argv/);
  });
});
