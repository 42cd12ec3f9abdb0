/**
 * Secret handling. Every secret the tool learns (from an env var, a secrets store or a
 * generated sandbox password) is registered here, and every line that leaves the process
 * (log, journal, report, hook environment) passes through `redact`.
 */
const registered = new Set<string>();
/** The registered forms, longest first (what `redact` replaces). */
let ordered: string[] = [];

export const REDACTED = '***';

/** Remember a secret so that `redact` masks it. Returns the secret for chaining. */
export function registerSecret(value: string): string {
  // Very short values would mask innocent text everywhere; refuse them instead.
  if (value.length < 4) {
    throw new Error('A secret shorter than 4 characters cannot be masked safely; use a longer password.');
  }
  // The forms it is printed in too: a workload echoing its environment base64-encoded, a URL, JSON.
  const bytes = Buffer.from(value);
  const forms = [value, bytes.toString('base64'), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url'), encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];
  for (const form of forms) if (form.length >= 4) registered.add(form);
  // Longest first: a form that contains another (padded base64) is masked whole.
  ordered = [...registered].sort((a, b) => b.length - a.length);
  return value;
}


/** Replace every registered secret (and anything that looks like `password=...`) in text. */
export function redact(text: string): string {
  let out = text;
  for (const secret of ordered) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  // Belt and braces for statements built by hand: MASTER_PASSWORD='x', IDENTIFIED BY 'x'.
  out = out.replace(/((?:MASTER|SOURCE)_PASSWORD\s*=\s*)'(?:[^'\\]|\\.)*'/gi, `$1'${REDACTED}'`);
  out = out.replace(/(IDENTIFIED\s+BY\s+)'(?:[^'\\]|\\.)*'/gi, `$1'${REDACTED}'`);
  return out;
}

/** Deep-redact a JSON-able value (strings anywhere inside are masked). */
export function redactValue<T>(value: T): T {
  return JSON.parse(redact(JSON.stringify(value))) as T;
}

/** Read a password from the named env var; the error names the variable to set. */
export function passwordFromEnv(envVar: string, purpose: string): string {
  const value = process.env[envVar];
  if (value === undefined || value === '') {
    throw new Error(`${purpose}: environment variable ${envVar} is not set. Export it (passwords are never taken from argv), e.g. read -rs ${envVar} && export ${envVar}`);
  }
  return registerSecret(value);
}

/** A random password for sandbox and replication users (registered as a secret). */
export function generatePassword(): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto');
  return registerSecret('Cx' + randomBytes(18).toString('base64url'));
}
