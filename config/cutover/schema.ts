/**
 * The shape of one cutover environment: what the scripts (`zx scripts/cutover.mjs --env NAME`)
 * do there. Infrastructure for the same environment lives in config/infra/.
 * Validated on load; a bad value names the field, the value received and the fix.
 */
import { z } from 'zod';
import { postgresSettingsSchema } from './schemas/postgres';
import { awsSettingsSchema } from './schemas/aws';

const milliseconds = (what: string) => z.number({ error: `expected ${what} in milliseconds (a number)` }).int({ error: 'expected a whole number of milliseconds' }).positive({ error: 'expected a positive number of milliseconds' });

export const mysqlSettingsSchema = z
  .object({
    /** Databases to move and verify. @default - every non-system database */
    databases: z.array(z.string().min(1)).default([]),
    /** Application accounts frozen at the switch (locked, sessions killed). */
    appUsers: z.array(z.string().min(1), { error: 'expected a list of application account names, e.g. ["app"]' }).min(1, { error: 'name at least one application account to freeze at the switch' }),
    /** @default 'cutover_repl' */
    replicationUser: z.string().regex(/^[A-Za-z0-9_]{1,32}$/, { error: 'expected 1-32 letters, digits or underscores' }).default('cutover_repl'),
    /** Replication must be this close before the switch starts. @default 1000 */
    lagThresholdMs: milliseconds('the lag threshold').default(1000),
    /** Freeze-to-switched budget; past it the switch aborts and the source reopens. @default 10000 */
    switchTimeoutMs: milliseconds('the switch timeout').default(10000),
    /** How long a replica or the target may take to catch up. @default 1800000 (30 min) */
    catchUpTimeoutMs: milliseconds('the catch-up timeout').default(1_800_000),
    /** Binlogs must be kept at least this long. @default 24 */
    minBinlogRetentionHours: z.number().positive().default(24),
    /**
     * Where the target's start coordinates come from: `replica-stop` (the stopped temporary
     * replica's executed coordinates) or `binlog-scan` (the cloned target's own binlogs, for a
     * target restored from a snapshot of the source: the end of the source's last transaction,
     * confirmed on the source). The journal records which was used. @default 'replica-stop'
     */
    startCoordinatesMethod: z.enum(['replica-stop', 'binlog-scan'], { error: 'expected "replica-stop" or "binlog-scan"' }).default('replica-stop'),
    /**
     * While the target replicates, REVOKE the app accounts' write privileges there (SELECT kept;
     * what was revoked is journaled and granted back exactly at the promotion). For RDS, where
     * read_only is a parameter-group setting. @default false
     */
    readOnlyByGrants: z.boolean().default(false),
  })
  .strict()
  .refine((settings) => settings.lagThresholdMs <= settings.switchTimeoutMs, {
    error: 'lagThresholdMs is larger than switchTimeoutMs: the switch would start with more lag than it may take to catch up; lower lagThresholdMs or raise switchTimeoutMs',
    path: ['lagThresholdMs'],
  });

export const rehearsalSchema = z
  .object({
    /** Built-in load connections. @default 8 */
    loadConnections: z.number().int().min(1).max(64).default(8),
    /** Built-in load rate over all connections. @default 400 */
    loadRatePerSecond: z.number().int().min(1).max(20000).default(400),
    /** Keep writing this long after the switch before stopping the load. @default 3000 */
    loadTailMs: milliseconds('the load tail').default(3000),
    /** `--load-command`: time between SIGTERM to the workload's process group and SIGKILL. @default 5000 */
    loadCommandGraceMs: milliseconds('the load command grace period').max(600000, { error: 'at most 600000 ms (10 minutes)' }).default(5000),
    /** Sample customers seeded into the sandbox source (orders: three times as many). @default 20000 */
    seedRows: z.number().int().min(10).max(5_000_000).default(20000),
  })
  .strict();

export const environmentSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, { error: 'expected a lower-case environment name such as "prod"' }),
    /**
     * `local`: the rehearsal sandbox on this machine (started and stopped by each run);
     * `sandbox`: servers `npm run sandbox -- up` left running, used like AWS (journal, --resume, no built-in load);
     * `aws`: real RDS/Aurora.
     */
    platform: z.enum(['local', 'sandbox', 'aws'], { error: 'expected "local" (rehearsal sandbox), "sandbox" (npm run sandbox -- up) or "aws"' }),
    /** Where run journals and reports are kept. @default '.rds-cutover' */
    stateDir: z.string().min(1).default('.rds-cutover'),
    mysql: mysqlSettingsSchema.optional(),
    postgres: postgresSettingsSchema.optional(),
    /** Required when platform is `aws`. */
    aws: awsSettingsSchema.optional(),
    rehearsal: rehearsalSchema.default(() => rehearsalSchema.parse({})),
  })
  .strict()
  .refine((environment) => environment.platform !== 'aws' || environment.aws !== undefined, { error: 'platform "aws" needs an aws section (region, …)', path: ['aws'] });

export type CutoverEnvironmentInput = z.input<typeof environmentSchema>;
export type CutoverEnvironment = z.output<typeof environmentSchema>;

/** Render zod issues as "field: problem (received value)" lines. */
export function describeIssues(error: z.ZodError, input: unknown): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.join('.') || '(root)';
    let received: unknown = input;
    for (const key of issue.path) received = received && typeof received === 'object' ? (received as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined;
    const shown = received === undefined ? 'nothing' : JSON.stringify(received);
    const extra = issue.code === 'unrecognized_keys' ? ` (${(issue as { keys: string[] }).keys.join(', ')}: remove or fix the spelling)` : '';
    return `${path}: ${issue.message}${extra}; received ${shown}`;
  });
}
