import { z } from 'zod';

/** PostgreSQL flow settings (issue 3 extends this). */
export const postgresSettingsSchema = z
  .object({
    /** Databases to move. */
    databases: z.array(z.string().min(1)).min(1, { error: 'name at least one database to move' }),
    /** Application roles whose sessions are ended at the freeze. */
    appUsers: z.array(z.string().min(1)).min(1, { error: 'name at least one application role' }),
    /** @default 1000 */
    lagThresholdMs: z.number().int().positive().default(1000),
    /** @default 10000 */
    switchTimeoutMs: z.number().int().positive().default(10000),
    /** @default 1800000 */
    catchUpTimeoutMs: z.number().int().positive().default(1_800_000),
  })
  .strict();
