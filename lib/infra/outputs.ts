/**
 * The stacks' outputs, declared once: the stacks export them with `exportOutputs`
 * (stacks/outputs.ts, the only part that needs cdktf), and the scripts read them back with `readInfraOutputs` from the file
 *
 *   npx cdktf output 'rds-cutover-<env>-*' --outputs-file .rds-cutover/outputs-<env>.json
 *
 * writes (`{ "<stack name>": { "<output>": value } }`), so nobody pastes ARNs.
 * Output names are `<group><Key>`, e.g. `databaseEndpoint`; the cutover basics have no prefix
 * (`fenceSecurityGroupId`, `storageKeyArn`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { fromProjectRoot } from '../util/project-root';
import { loadInfraEnvironment, type InfraEnvironment } from '../../config/infra';

export const STACK_PARTS = ['cutover', 'masking', 'snapshot-share', 'target-account'] as const;
export type StackPart = (typeof STACK_PARTS)[number];

/** `rds-cutover-<env>-<part>`: the name `cdktf deploy/output` and the plan use. */
export function stackName(environmentName: string, part: StackPart): string {
  return `rds-cutover-${environmentName}-${part}`;
}

const text = z.string().min(1);

/** Each group lives in one stack and is present when its config section is. */
export const OUTPUT_GROUPS = {
  cutover: {
    stack: 'cutover',
    /** The cutover basics are exported without a prefix: `fenceSecurityGroupId`. */
    keys: { storageKeyArn: text, storageKeyId: text, fenceSecurityGroupId: text },
  },
  database: {
    stack: 'cutover',
    keys: {
      kind: z.enum(['instance', 'cluster']),
      identifier: text,
      /** Absent while the cutover run has yet to restore the instance (`restoredByCutover: "pending"`). */
      arn: text.optional(),
      /** Absent while the cutover run has yet to restore the instance (`restoredByCutover: "pending"`). */
      endpoint: text.optional(),
      port: z.number().int(),
      securityGroupId: text,
      parameterGroupName: text,
      /** PostgreSQL engines only. */
      frozenParameterGroupName: text.optional(),
      /**
       * RDS instances only: the instance as the stack declares it, which the MySQL encrypt flow's
       * restore request carries (so the instance the run creates is the declared one).
       */
      restoreSettings: z
        .object({
          instanceClass: text,
          subnetGroupName: text,
          securityGroupIds: z.array(text).min(1),
          parameterGroupName: text,
          multiAz: z.boolean(),
          storageType: text,
          allocatedStorageGb: z.number().int(),
          port: z.number().int(),
          publiclyAccessible: z.boolean(),
          backupRetentionDays: z.number().int(),
          autoMinorVersionUpgrade: z.boolean(),
          deletionProtection: z.boolean(),
          copyTagsToSnapshot: z.boolean(),
          iamDatabaseAuthentication: z.boolean(),
          /** The stack's provider default tags, which Terraform gives the instance (tags_all). */
          tags: z.record(z.string(), z.string()),
        })
        .optional(),
    },
  },
  dns: {
    stack: 'cutover',
    keys: { zoneId: text, recordName: text, ttlSeconds: z.number().int() },
  },
  proxy: {
    stack: 'cutover',
    keys: {
      name: text,
      arn: text,
      endpoint: text,
      targetGroupName: text,
      securityGroupId: text,
      /** The scripts register this target when the target group is empty (see stacks/README.md). */
      initialTargetKind: z.enum(['instance', 'cluster']),
      initialTargetIdentifier: text,
    },
  },
  masking: {
    stack: 'masking',
    keys: {
      bucketName: text,
      bucketArn: text,
      keyArn: text,
      repositoryUrl: text,
      projectName: text,
      scheduleRuleName: text,
      sourceBucketName: text,
      sourceObjectKey: text,
      buildImageUrl: text,
      baseImageUrl: text,
      notificationTopicArn: text,
    },
  },
  snapshotShare: {
    stack: 'snapshot-share',
    keys: { keyArn: text, keyId: text, targetAccountIds: z.array(text) },
  },
  targetAccount: {
    stack: 'target-account',
    keys: { keyArn: text, roleArn: text },
  },
} as const satisfies Record<string, { stack: StackPart; keys: Record<string, z.ZodType> }>;

export type OutputGroup = keyof typeof OUTPUT_GROUPS;
type GroupValues<G extends OutputGroup> = z.output<z.ZodObject<(typeof OUTPUT_GROUPS)[G]['keys']>>;

/** An RDS instance as the cutover stack declares it (output `databaseRestoreSettings`). */
export type DatabaseRestoreSettings = NonNullable<GroupValues<'database'>['restoreSettings']>;

/** What the scripts get: one object per group, present when the environment configures it. */
export interface InfraOutputs {
  readonly environment: string;
  readonly cutover: GroupValues<'cutover'>;
  readonly database?: GroupValues<'database'>;
  readonly dns?: GroupValues<'dns'>;
  readonly proxy?: GroupValues<'proxy'>;
  readonly masking?: GroupValues<'masking'>;
  readonly snapshotShare?: GroupValues<'snapshotShare'>;
  readonly targetAccount?: GroupValues<'targetAccount'>;
}

/** The Terraform output name of a group's key: `databaseEndpoint`; the cutover basics have no prefix. */
export const outputName = (group: OutputGroup, key: string) => (group === 'cutover' ? key : `${group}${key[0].toUpperCase()}${key.slice(1)}`);

/** The groups an environment's stacks export, from its config. */
export function expectedOutputGroups(environment: InfraEnvironment): OutputGroup[] {
  return (['cutover', 'database', 'dns', 'proxy', 'masking', 'snapshotShare', 'targetAccount'] as const).filter(
    (group) => group === 'cutover' || environment[group] !== undefined,
  );
}

/** The conventional outputs file of an environment, relative to the project root. */
export function outputsFilePath(environmentName: string): string {
  return `.rds-cutover/outputs-${environmentName}.json`;
}

/**
 * The outputs file an AWS cutover environment reads: `aws.outputsFile`, else the one
 * `cdktf output 'rds-cutover-<infra>-*'` writes for its infrastructure environment
 * (`aws.infraEnvironment`, else the cutover environment's own name). Not the cutover
 * environment's name when the two differ: prod-share reads prod's stacks.
 */
export function environmentOutputsFile(aws: { outputsFile?: string; infraEnvironment?: string }, environmentName: string): string {
  return aws.outputsFile ?? outputsFilePath(aws.infraEnvironment ?? environmentName);
}

export class InfraOutputsError extends Error {
  constructor(readonly file: string, readonly problems: readonly string[]) {
    super(`${file}: ${problems.length === 1 ? problems[0] : `\n${problems.map((line) => `  - ${line}`).join('\n')}`}`);
    this.name = 'InfraOutputsError';
  }
}

export interface ReadInfraOutputsOptions {
  /** @default - `.rds-cutover/outputs-<env>.json` under `projectRoot` */
  readonly file?: string;
  /** @default - the project's root folder (lib/util/project-root.ts), whatever the current directory */
  readonly projectRoot?: string;
  /** @default - loaded from config/infra/<env>.ts */
  readonly environment?: InfraEnvironment;
}

/**
 * Reads and validates the outputs file of an environment.
 * @throws InfraOutputsError naming the missing file and the command that writes it, or
 *   each missing or malformed output with its stack
 */
export function readInfraOutputs(environmentName: string, options: ReadInfraOutputsOptions = {}): InfraOutputs {
  const environment = options.environment ?? loadInfraEnvironment(environmentName);
  const file = fromProjectRoot(options.file ?? outputsFilePath(environmentName), options.projectRoot);
  const writeIt = `run \`npx cdktf output '${stackName(environmentName, 'cutover').replace(/-cutover$/, '-*')}' --outputs-file ${options.file ?? outputsFilePath(environmentName)}\` after \`cdktf deploy\``;
  if (!existsSync(file)) throw new InfraOutputsError(file, [`not found; ${writeIt}`]);

  let content: unknown;
  try {
    content = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new InfraOutputsError(file, [`not valid JSON (${(error as Error).message}); ${writeIt}`]);
  }
  const byStack = (typeof content === 'object' && content !== null ? content : {}) as Record<string, Record<string, unknown> | undefined>;

  const problems: string[] = [];
  const result: Record<string, unknown> = { environment: environmentName };
  for (const group of expectedOutputGroups(environment)) {
    const { stack: part, keys } = OUTPUT_GROUPS[group];
    const name = stackName(environmentName, part);
    const stackOutputs = byStack[name] ?? {};
    const values: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(keys) as [string, z.ZodType][]) {
      const output = outputName(group, key);
      const parsed = schema.safeParse(stackOutputs[output]);
      if (parsed.success) values[key] = parsed.data;
      else if (stackOutputs[output] === undefined) problems.push(`stack "${name}" has no output "${output}"`);
      else problems.push(`stack "${name}" output "${output}": received ${JSON.stringify(stackOutputs[output])}; ${parsed.error.issues[0].message}`);
    }
    result[group] = values;
  }
  if (problems.length > 0) throw new InfraOutputsError(file, [...problems, `to refresh the file, ${writeIt}`]);
  return result as unknown as InfraOutputs;
}
