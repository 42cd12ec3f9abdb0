import { z } from 'zod';

const milliseconds = (what: string) => z.number({ error: `expected ${what} in milliseconds (a number)` }).int({ error: 'expected a whole number of milliseconds' }).positive({ error: 'expected a positive number of milliseconds' });
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,40}$/, { error: 'expected a lower-case identifier (letters, digits, underscores; at most 41 characters)' });

/** PostgreSQL flow settings of a cutover environment (`--engine postgres`). */
export const postgresSettingsSchema = z
  .object({
    /** The database to move. One per run: publication, slot and subscription are per database. */
    databases: z
      .array(z.string().min(1))
      .min(1, { error: 'name the database to move' })
      .max(1, { error: 'one database per run (logical replication is per database): list one and run the cutover once per database' }),
    /** Application roles whose sessions are ended at the freeze and whose logins are fenced on the old source. */
    appUsers: z.array(z.string().min(1)).min(1, { error: 'name at least one application role' }),
    /** Role the subscription replicates with (REPLICATION, fresh password per run). @default 'cutover_repl' */
    replicationUser: identifier.default('cutover_repl'),
    /** Prefix of the publication, slot and subscription names. @default 'cutover' */
    workflow: identifier.default('cutover'),
    /** @default 1000 */
    lagThresholdMs: milliseconds('the lag threshold').default(1000),
    /** @default 10000 */
    switchTimeoutMs: milliseconds('the switch timeout').default(10000),
    /** @default 1800000 */
    catchUpTimeoutMs: milliseconds('the catch-up timeout').default(1_800_000),
    /** pg_dump / pg_restore workers. @default 2 */
    copyJobs: z.number().int().min(1).max(64).default(2),
    /** Longest the copy may take (dump method: the downtime); past it the source reopens. @default 3600000 */
    copyTimeoutMs: milliseconds('the copy timeout').default(3_600_000),
    /** Major version of the new server (upgrade), e.g. 17. @default - the source's version */
    targetVersion: z.number().int().min(10).max(40).optional(),
    /** Where the directory-format dump is written. @default - the system temp folder */
    workDir: z.string().min(1).optional(),
  })
  .strict()
  .refine((settings) => settings.lagThresholdMs <= settings.switchTimeoutMs, {
    error: 'lagThresholdMs is larger than switchTimeoutMs: the switch would start with more lag than it may take to catch up; lower lagThresholdMs or raise switchTimeoutMs',
    path: ['lagThresholdMs'],
  });

export type PostgresSettings = z.output<typeof postgresSettingsSchema>;
