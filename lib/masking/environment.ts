import { z } from 'zod';

const secretReference = z
  .object({
    /** Environment variable holding the secret (wins when set). */
    env: z.string().regex(/^[A-Z][A-Z0-9_]*$/, { error: 'expected an environment variable name such as MASKING_HMAC_KEY' }).optional(),
    /** Secrets Manager secret (ARN or name). */
    secretArn: z.string().min(1).optional(),
    /** Field of a JSON secret (RDS secrets: "password"). */
    jsonKey: z.string().min(1).optional(),
  })
  .strict()
  .refine((value) => value.env !== undefined || value.secretArn !== undefined, { error: 'expected "env" or "secretArn" (or both)' });

const endpoint = z
  .object({
    /** A name for messages, e.g. "prod read replica". */
    name: z.string().min(1),
    host: z.string().min(1),
    /** @default 3306, or 5432 for engine "postgres" */
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1),
    password: secretReference,
    database: z.string().min(1),
  })
  .strict();

const environmentSchema = z
  .object({
    /** @default "mysql" (MariaDB and MySQL, dumped with mariadb-dump); "postgres" dumps with pg_dump */
    engine: z.enum(['mysql', 'postgres']).default('mysql'),
    /** Rules of the database, relative to the project root. */
    rulesFile: z.string().min(1),
    /** @default "zstd" when the zstd tool is installed, else "gzip" */
    compression: z.enum(['zstd', 'gzip']).optional(),
    /** The HMAC key: the same key gives the same masked values in every run. */
    hmacKey: secretReference.optional(),
    /** Dump from here: a read replica, never the primary. @default - the local sandbox's source */
    source: endpoint.optional(),
    /** Restored by --restore-staging (drop/create). @default - no staging restore */
    staging: endpoint.optional(),
    s3: z
      .object({
        /** Bucket name, or `bucketEnv` (CodeBuild sets MASKED_DUMP_BUCKET from the stack). */
        bucket: z.string().min(3).optional(),
        bucketEnv: z.string().optional(),
        /** @default "" - e.g. "app/" */
        prefix: z.string().default(''),
        region: z.string().optional(),
      })
      .strict()
      .optional(),
    notify: z.object({ slackWebhookEnv: z.string().regex(/^[A-Z][A-Z0-9_]*$/) }).strict().optional(),
    /**
     * How `--verify` holds commits while the dump's and the check's snapshots start (MySQL family,
     * lib/masking/source-snapshot.ts): `dialect` uses MariaDB's BACKUP STAGE (MySQL: FLUSH TABLES
     * WITH READ LOCK) and falls back to LOCK TABLES … READ when that is refused as "access denied";
     * `table-locks` goes straight to LOCK TABLES … READ on the database's tables (needs only
     * LOCK TABLES on it): for a server that refuses the dialect's hold in another way.
     * @default "dialect"
     */
    holdCommitsWith: z.enum(['dialect', 'table-locks']).optional(),
    /** The local world: MariaDB source and staging with generated personal data, and a local S3 server. */
    sandbox: z.object({ customers: z.number().int().min(10).default(2000) }).strict().optional(),
  })
  .strict()
  .superRefine((environment, context) => {
    if (environment.sandbox && environment.engine !== 'mysql') context.addIssue({ code: 'custom', path: ['engine'], message: 'the local sandbox runs MariaDB only' });
    if (!environment.sandbox) {
      for (const field of ['source', 'hmacKey', 's3'] as const) {
        if (environment[field] === undefined) context.addIssue({ code: 'custom', path: [field], message: `required unless the environment is a sandbox` });
      }
      if (environment.s3 && !environment.s3.bucket && !environment.s3.bucketEnv) context.addIssue({ code: 'custom', path: ['s3', 'bucket'], message: 'expected "bucket" or "bucketEnv"' });
    }
  });

export type MaskingEnvironment = z.infer<typeof environmentSchema>;
export type MaskingEndpoint = z.infer<typeof endpoint>;

/** Validate the named environment; the error lists every field, what was expected and how to fix it. */
export function parseMaskingEnvironment(all: Record<string, unknown>, name: string): MaskingEnvironment {
  if (!(name in all)) throw new Error(`--env ${name}: no such masking environment; choose one of ${Object.keys(all).join(', ')} (config/masking/environments.ts)`);
  const result = environmentSchema.safeParse(all[name]);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `  - ${issue.path.join('.') || '(environment)'}: ${issue.message}`);
    throw new Error(`config/masking/environments.ts: masking environment "${name}" is invalid:\n${problems.join('\n')}`);
  }
  return result.data;
}
