import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from '../util/log';
import { registerSecret } from '../util/secrets';
import { defaultCompression } from './compression';
import { parseMaskingEnvironment, type MaskingEndpoint, type MaskingEnvironment } from './environment';
import { keyMaterial } from './keyed-hash';
import { describeLeakReport, leakCheck, type LeakReport } from './leak-check';
import { parseS3Url, runKeys, type MaskedDumpManifest } from './manifest';
import type { MysqlTarget } from './mysql-client';
import { notifySlack } from './notify';
import { decompressed, maskedDump, type DumpDestination } from './pipeline';
import { restoreDump } from './restore';
import { loadRules } from './rules';
import { createS3Client, downloadStream, getJson } from './s3-store';
import { readSecret } from './secrets-source';
import { MaskingSandbox, SANDBOX_BUCKET } from './local/sandbox';
import { maskingEnvironments } from '../../config/masking/environments';

export const USAGE = `Usage: zx scripts/mask-refresh.mjs --env NAME [options]

Dumps the source database, masks it in the stream with the rules of config/masking/,
compresses it and uploads it to S3 with a manifest. Nothing is destroyed unless asked.

  --env NAME            masking environment from config/masking/environments.ts (local, prod, …)
  --verify              leak check: sample originals of every masked column from the source and
                        prove none occurs in the masked dump; row counts must match the manifest
  --no-dump             skip the dump; --verify / --restore-staging use the latest one
  --restore-staging     DROP and re-create the staging database from the masked dump
                        (destructive, so never implied; the local sandbox's staging is restored always)
  --out FILE            write the masked dump (and FILE.manifest.json) to a local file instead of S3
  --sample N            originals sampled per masked column by --verify (default 500)
  --customers N         size of the local sandbox (default from the environment)
  --keep-sandbox        keep the local sandbox's files after the run
  --verbose             debug logging
  --help

Secrets (HMAC key, passwords, Slack webhook) come from environment variables or Secrets
Manager, never from argv; they are masked in every log line.`;

interface Options {
  env: string;
  verify: boolean;
  dump: boolean;
  restoreStaging: boolean;
  out?: string;
  sample: number;
  customers?: number;
  keepSandbox: boolean;
  verbose: boolean;
}

export class UsageError extends Error {}

export function parseOptions(argv: string[]): Options | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        env: { type: 'string' },
        verify: { type: 'boolean', default: false },
        'no-dump': { type: 'boolean', default: false },
        'restore-staging': { type: 'boolean', default: false },
        out: { type: 'string' },
        sample: { type: 'string' },
        customers: { type: 'string' },
        'keep-sandbox': { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (values.help) return 'help';
  if (!values.env) throw new UsageError(`--env is required (e.g. --env local)\n\n${USAGE}`);
  const positive = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} ${text}: expected a whole number of at least 1`);
    return n;
  };
  if (values['no-dump'] && !values.verify && !values['restore-staging']) throw new UsageError('--no-dump does nothing on its own: add --verify and/or --restore-staging');
  return {
    env: values.env,
    verify: values.verify,
    dump: !values['no-dump'],
    restoreStaging: values['restore-staging'],
    out: values.out === undefined ? undefined : resolve(values.out),
    sample: positive('sample', values.sample) ?? 500,
    customers: positive('customers', values.customers),
    keepSandbox: values['keep-sandbox'],
    verbose: values.verbose,
  };
}

/** Everything a run needs, resolved from the environment (or the sandbox). */
interface Resolved {
  source: MysqlTarget;
  staging?: MysqlTarget;
  key: Buffer;
  bucket?: string;
  prefix: string;
  webhook?: string;
}

async function resolveEndpoint(endpoint: MaskingEndpoint, engine: MaskingEnvironment['engine'], purpose: string): Promise<MysqlTarget> {
  const password = await readSecret(endpoint.password, `${purpose} password`);
  const port = endpoint.port ?? (engine === 'postgres' ? 5432 : 3306);
  return { name: endpoint.name, host: endpoint.host, port, user: endpoint.user, password, database: endpoint.database };
}

async function resolveEnvironment(environment: MaskingEnvironment, sandbox: MaskingSandbox | undefined): Promise<Resolved> {
  const webhookEnv = environment.notify?.slackWebhookEnv;
  const webhook = webhookEnv && process.env[webhookEnv] ? registerSecret(process.env[webhookEnv]!) : undefined;
  if (sandbox) {
    const keyText = process.env.MASKING_HMAC_KEY ? registerSecret(process.env.MASKING_HMAC_KEY) : sandbox.key;
    return { source: sandbox.target(sandbox.source), staging: sandbox.target(sandbox.staging), key: keyMaterial(keyText), bucket: SANDBOX_BUCKET, prefix: 'local/', webhook };
  }
  const s3 = environment.s3!;
  const bucket = s3.bucket ?? (s3.bucketEnv ? process.env[s3.bucketEnv] : undefined);
  return {
    source: await resolveEndpoint(environment.source!, environment.engine, 'source'),
    staging: environment.staging ? await resolveEndpoint(environment.staging, environment.engine, 'staging') : undefined,
    key: keyMaterial(await readSecret(environment.hmacKey!, 'masking HMAC key')),
    bucket,
    prefix: s3.prefix,
    webhook,
  };
}

function openDump(manifest: MaskedDumpManifest): Readable {
  if (manifest.object.startsWith('s3://')) {
    const location = parseS3Url(manifest.object);
    return decompressedLater(() => downloadStream(createS3Client(), location), manifest);
  }
  return decompressed(createReadStream(manifest.object), manifest.compression);
}

function decompressedLater(open: () => Promise<Readable>, manifest: MaskedDumpManifest): Readable {
  const out = new PassThrough();
  open().then(
    (body) => decompressed(body, manifest.compression).pipe(out),
    (error: Error) => out.destroy(error),
  );
  return out;
}

/** Run the masked refresh; returns the process exit code. */
export async function main(argv: string[], log: Logger = createLogger({ verbose: argv.includes('--verbose') })): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  let environment: MaskingEnvironment;
  let rules;
  try {
    environment = parseMaskingEnvironment(maskingEnvironments, options.env);
    rules = loadRules(resolve(__dirname, '..', '..', environment.rulesFile));
    if (options.restoreStaging && !environment.sandbox && !environment.staging) {
      throw new Error(`--restore-staging: environment "${options.env}" has no staging section in config/masking/environments.ts`);
    }
  } catch (error) {
    log.error((error as Error).message);
    return 2;
  }

  let sandbox: MaskingSandbox | undefined;
  let webhook: string | undefined;
  const notify = async (text: string) => {
    if (!webhook) return log.info(`notify: ${environment.notify ? `${environment.notify.slackWebhookEnv} is not set; ` : ''}not sending: ${text}`);
    await notifySlack(webhook, text).catch((error: Error) => log.warn(`notify: Slack webhook failed: ${error.message}`));
  };
  try {
    if (environment.sandbox) sandbox = await MaskingSandbox.start({ log, customers: options.customers ?? environment.sandbox.customers, keepFiles: options.keepSandbox });
    const resolved = await resolveEnvironment(environment, sandbox);
    webhook = resolved.webhook;
    const compression = environment.compression ?? defaultCompression();
    if (!options.out && !resolved.bucket) throw new Error(`no S3 bucket: set ${environment.s3?.bucketEnv ?? 's3.bucket'} (CodeBuild sets MASKED_DUMP_BUCKET), or pass --out FILE`);
    const lines: string[] = [];

    let manifest: MaskedDumpManifest;
    if (options.dump) {
      const destination: DumpDestination = options.out ? { kind: 'file', path: options.out } : { kind: 's3', client: createS3Client(), bucket: resolved.bucket!, prefix: resolved.prefix };
      manifest = await maskedDump({ source: resolved.source, rules, key: resolved.key, compression, destination, log, engine: environment.engine });
      if (options.out) writeFileSync(`${options.out}.manifest.json`, JSON.stringify(manifest, null, 2) + '\n');
      lines.push(`masked dump: ${manifest.object} (${manifest.bytes} bytes, ${Object.values(manifest.rows).reduce((a, b) => a + b, 0)} rows, rules ${manifest.rulesHash.slice(0, 12)})`);
    } else if (options.out) {
      manifest = JSON.parse(readFileSync(`${options.out}.manifest.json`, 'utf8')) as MaskedDumpManifest;
    } else {
      manifest = await getJson<MaskedDumpManifest>(createS3Client(), { bucket: resolved.bucket!, key: runKeys(resolved.prefix, rules.database, new Date(), '').latest });
      log.info(`using the latest masked dump: ${manifest.object} from ${manifest.finishedAt}`);
    }

    let report: LeakReport | undefined;
    if (options.verify) {
      report = await leakCheck({ source: resolved.source, rules, manifest, dump: openDump(manifest), samplePerColumn: options.sample });
      for (const line of describeLeakReport(report)) log.info(line);
      lines.push(`leak check: ${report.hits.length} hits in ${report.sampledValues} sampled originals; row counts ${report.rowCountMismatches.length ? 'DIFFER' : 'match'}`);
      if (!report.ok) throw new Error(`leak check failed: ${report.hits.length} hits, ${report.rowCountMismatches.length} row-count mismatches${report.sampledValues === 0 ? ', no values sampled' : ''}. The dump must not be used; fix the rules and run again.`);
    }
    if (options.restoreStaging || sandbox) {
      await restoreDump({ target: resolved.staging!, dump: openDump(manifest), log, engine: manifest.engine });
      lines.push(`staging: ${resolved.staging!.name} restored from ${manifest.object}`);
    }
    const summary = `mask-refresh ${options.env}: OK\n${lines.join('\n')}`;
    process.stdout.write(summary + '\n');
    await notify(summary);
    return 0;
  } catch (error) {
    const message = (error as Error).message;
    log.error(message);
    await notify(`mask-refresh ${options.env}: FAILED\n${message}`);
    return 1;
  } finally {
    await sandbox?.stop();
  }
}
