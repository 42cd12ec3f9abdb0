import { createReadStream, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from '../util/log';
import { registerSecret } from '../util/secrets';
import { defaultCompression } from './compression';
import { parseMaskingEnvironment, type MaskingEndpoint, type MaskingEnvironment } from './environment';
import { keyMaterial } from './keyed-hash';
import { describeLeakReport, leakCheck, originalsPlan, type LeakReport } from './leak-check';
import { parseS3Url, runKeys, type MaskedDumpManifest } from './manifest';
import { removeLeftoverClientOptionFiles, type MysqlTarget } from './mysql-client';
import { notifySlack } from './notify';
import { decompressed, discardStagedDump, maskedDump, publishMaskedDump, type DumpDestination } from './pipeline';
import { plantedLeakSelfTest } from './local/plant-leaks';
import { DumpSnapshot } from './source-snapshot';
import { defaultMaskingThreads } from './parallel-masking';
import { defaultScanThreads } from './leak-scan';
import { PgDumpSnapshot } from './pg-snapshot';
import { reachSource } from './reach-source';
import { engineTools } from './engines';
import type { OriginalsReader } from './originals';
import { restoreDump } from './restore';
import { loadRules } from './rules';
import { createS3Client, downloadStream, getJson } from './s3-store';
import { readSecret, secretSourceOf } from './secrets-source';
import { MaskingSandbox, SANDBOX_BUCKET } from './local/sandbox';
import { maskingEnvironments } from '../../config/masking/environments';

export const USAGE = `Usage: npx zx scripts/mask-refresh.mjs --env NAME [options]

Dumps the source database, masks it in the stream with the rules of config/masking/,
compresses it and uploads it to S3 with a manifest. Nothing is destroyed unless asked.

  --env NAME            masking environment from config/masking/environments.ts (local, prod, …)
  --verify              (the default) leak check of the staged dump before anything is published:
                        every original value of every personal column is looked for in the whole
                        masked dump; row counts must match. Only a passing check writes the
                        manifest and latest.json; a failing one deletes the staged dump and notifies
  --no-verify           only with --out: keep an unchecked dump in a local file (never published)
  --no-dump             skip the dump; check (and with --restore-staging restore) the latest
                        published one, which must carry a passed leak check
  --restore-staging     DROP and re-create the staging database from the masked dump
                        (destructive, so never implied; the local sandbox's staging is restored always)
  --out FILE            write the masked dump (and FILE.manifest.json) to a local file instead of S3
  --customers N         size of the local sandbox (default from the environment)
  --keep-sandbox        keep the local sandbox's files after the run
  --plant-leaks         (--env local only) self-test of the leak check: plant known leaks of each
                        kind in the sandbox, run dump + check, and exit 0 only when every one was
                        reported and nothing was published; last line {"planted":N,"found":N,"published":false}
  --verbose             debug logging
  --help

Secrets (HMAC key, passwords, Slack webhook) come from environment variables or Secrets
Manager, never from argv; they are masked in every log line.`;

interface Options {
  env: string;
  verify: boolean;
  dump: boolean;
  restoreStaging: boolean;
  plantLeaks: boolean;
  out?: string;
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
        'no-verify': { type: 'boolean', default: false },
        'plant-leaks': { type: 'boolean', default: false },
        'no-dump': { type: 'boolean', default: false },
        'restore-staging': { type: 'boolean', default: false },
        out: { type: 'string' },
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
  if (values.verify && values['no-verify']) throw new UsageError('--verify and --no-verify: choose one (the leak check runs by default)');
  if (values['no-verify'] && (!values.out || values['no-dump'] || values['restore-staging'])) {
    throw new UsageError('--no-verify: nothing is published or restored without the leak check; it is allowed only to write an unchecked dump to a local file: --no-verify --out FILE');
  }
  if (values['plant-leaks'] && (values['no-dump'] || values.out || values['restore-staging'] || values['no-verify'])) throw new UsageError('--plant-leaks runs its own dump and leak check in the sandbox: use it with --env local only (and --verify, --customers, --keep-sandbox)');
  return {
    env: values.env,
    verify: !values['no-verify'],
    dump: !values['no-dump'],
    restoreStaging: values['restore-staging'],
    plantLeaks: values['plant-leaks'],
    out: values.out === undefined ? undefined : resolve(values.out),
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

/** The decompressed dump a manifest names (S3 or a file), failing unless its bytes are the ones the manifest describes. */
export function openDump(manifest: MaskedDumpManifest): Readable {
  if (manifest.object.startsWith('s3://')) {
    const location = parseS3Url(manifest.object);
    return decompressedLater(() => downloadStream(createS3Client(), location), manifest);
  }
  return decompressed(createReadStream(manifest.object), manifest.compression, manifest);
}

function decompressedLater(open: () => Promise<Readable>, manifest: MaskedDumpManifest): Readable {
  const out = new PassThrough();
  open().then(
    (body) => {
      const dump = decompressed(body, manifest.compression, manifest);
      dump.once('error', (error) => out.destroy(error));
      dump.pipe(out);
    },
    (error: Error) => out.destroy(error),
  );
  return out;
}

/**
 * The originals of a dump published earlier (`--no-dump --verify`): read from the source as it
 * is now, and said so in the report with the dump's age. A value changed since the dump is
 * checked in its new form only; the dump's own check (in its snapshot, before publishing) is
 * the one that read what it holds.
 */
export function originalsReadLater(source: MysqlTarget, manifest: MaskedDumpManifest, now = new Date()): OriginalsReader {
  const hours = Math.max(0, (now.getTime() - Date.parse(manifest.finishedAt)) / 3600000);
  const age = hours < 48 ? `${Math.round(hours * 10) / 10} h` : `${Math.round(hours / 24)} days`;
  const checked = manifest.verification?.checkedAt ? `; the dump passed its own check in its snapshot at ${manifest.verification.checkedAt}` : '';
  return {
    describe: `now, ${age} after the dump finished (${manifest.finishedAt}), not in its snapshot: a value changed since is checked in its new form only${checked}`,
    readValues: (table, columns, onValue) => engineTools(manifest.engine ?? 'mysql').readValues(source, table, columns, onValue),
  };
}

/** Run the masked refresh; returns the process exit code. */
export async function main(argv: string[], log: Logger = createLogger({ verbose: argv.includes('--verbose') }), environments: Record<string, unknown> = maskingEnvironments): Promise<number> {
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
    environment = parseMaskingEnvironment(environments, options.env);
    rules = loadRules(resolve(__dirname, '..', '..', environment.rulesFile));
    if (options.restoreStaging && !environment.sandbox && !environment.staging) {
      throw new Error(`--restore-staging: environment "${options.env}" has no staging section in config/masking/environments.ts`);
    }
    // Read here, before any secret, server or dump: read where they are used, a nonsense value
    // stopped the run only after the whole dump was staged (the scan), or hung it with
    // mariadb-dump started and never stopped (the masking threads).
    defaultMaskingThreads();
    defaultScanThreads();
  } catch (error) {
    log.error((error as Error).message);
    return 2;
  }

  // Killed runs of earlier versions left the database password in an options file in the temp dir.
  const leftovers = removeLeftoverClientOptionFiles();
  if (leftovers.length > 0) log.warn(`removed ${leftovers.length} folder(s) holding a database password that killed masking runs of an earlier version left in the temp dir: ${leftovers.join(', ')}`);

  // Ctrl-C (SIGINT) or SIGTERM: say so and exit at once. The dump client and zstd die with this
  // process (parent-death signal), its sessions on the source end (commits held for the check's
  // snapshot are released), and nothing is published: publishing is the last step of a passed
  // check. The sandbox (--env local) has its own handler (ProcessGroup) that also stops its servers.
  // A dump staged and not yet published (during the leak check) is deleted first, so it does not
  // wait for the retention to expire; a second signal exits without waiting for that.
  // What the message says follows where the signal landed: a file dump's partial file is removed
  // (it holds masked but unchecked rows); a dump being published is let finish (at most 10 s) so
  // the message can say whether latest.json names it; after publishing it says so, and a staging
  // restore it cut short is named (before, every signal said "nothing was published").
  let staged: { destination: DumpDestination; manifest: MaskedDumpManifest } | undefined;
  let dumping = false;
  let publishing: Promise<MaskedDumpManifest> | undefined;
  let written: MaskedDumpManifest | undefined;
  let restoring: string | undefined;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    const nothing = `nothing was published (${options.out ? `${options.out} was not written` : 'latest.json still names the last good dump'})`;
    const exit = (what: string, outcome = nothing) => {
      const done = written ? `the dump ${written.object} was ${written.verification?.ok ? `published${options.out ? '' : ' (latest.json names it)'}` : 'written, unchecked (--no-verify)'} before the signal` : outcome;
      const restore = restoring
        ? ` The restore of staging "${restoring}" was interrupted: it may hold a partial load until it is restored again (--no-dump --restore-staging restores the latest published dump).`
        : '';
      process.stderr.write(
        `\n${signal} received: mask-refresh ${options.env} stopped; ${done}. ` +
          `The dump client and its sessions on the source ended with it${what ? `; ${what}` : '.'}${restore} Run it again when ready.\n`,
      );
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    const within10s = <T>(work: Promise<T>) =>
      Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 10 s')), 10_000).unref())]);
    const unsure = (why: string) => `publishing this run's dump did not finish (${why}): latest.json names the last good dump or this one (both passed their leak check)`;
    if (stopping) {
      if (publishing) return exit('', unsure('a second signal'));
      return exit(staged && !options.out ? `the staged dump ${staged.manifest.object} was not deleted (a second signal): it expires with the dumps' retention.` : '');
    }
    if (options.out && dumping) {
      const partial = `${options.out}.partial`;
      const removed = existsSync(partial);
      rmSync(partial, { force: true });
      return exit(removed ? `the partial file ${partial} was removed.` : '');
    }
    if (publishing) {
      stopping = true;
      return void within10s(publishing).then(
        (manifest) => {
          written ??= manifest;
          exit('');
        },
        (error: Error) => exit('', unsure(error.message)),
      );
    }
    if (!staged) return exit(dumping ? "an unfinished staged upload is removed by the bucket's lifecycle rule." : '');
    stopping = true;
    const { destination, manifest } = staged;
    const quietLog = { ...log, info: () => undefined };
    within10s(discardStagedDump(destination, manifest, quietLog)).then(
      () => exit(`the staged dump ${manifest.object} was deleted.`),
      (error: Error) => exit(`the staged dump ${manifest.object} could not be deleted (${error.message}): it expires with the dumps' retention.`),
    );
  };
  const stagedAt = (destination?: DumpDestination, manifest?: MaskedDumpManifest) => (staged = destination && manifest ? { destination, manifest } : undefined);
  const handleSignals = !environment.sandbox;
  if (handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  let sandbox: MaskingSandbox | undefined;
  let webhook: string | undefined;
  const notify = async (text: string) => {
    if (!webhook) return log.info(`notify: ${environment.notify ? `${environment.notify.slackWebhookEnv} is not set; ` : ''}not sending: ${text}`);
    await notifySlack(webhook, text).catch((error: Error) => log.warn(`notify: Slack webhook failed: ${error.message}`));
  };
  try {
    if (options.plantLeaks && !environment.sandbox) throw new UsageError(`--plant-leaks plants leaks into a sandbox only; environment "${options.env}" is not one (use --env local)`);
    if (environment.sandbox) sandbox = await MaskingSandbox.start({ log, customers: options.customers ?? environment.sandbox.customers, keepFiles: options.keepSandbox });
    const resolved = await resolveEnvironment(environment, sandbox);
    webhook = resolved.webhook;
    const compression = environment.compression ?? defaultCompression();
    if (!options.out && !resolved.bucket) throw new Error(`no S3 bucket: set ${environment.s3?.bucketEnv ?? 's3.bucket'} (CodeBuild sets MASKED_DUMP_BUCKET), or pass --out FILE`);
    if (!sandbox && (options.dump || options.verify)) {
      await reachSource(resolved.source, environment.engine ?? 'mysql', `of environment "${options.env}" in config/masking/environments.ts`, secretSourceOf(environment.source!.password));
    }
    // The staging server too, before the dump: a refused login found at the restore came after
    // the whole dump, check and publishing. The server only: the restore creates the database.
    if (!sandbox && options.restoreStaging) {
      await reachSource(resolved.staging!, environment.engine ?? 'mysql', `of environment "${options.env}" in config/masking/environments.ts`, secretSourceOf(environment.staging!.password), {
        role: 'staging',
        database: undefined,
      });
    }
    const lines: string[] = [];
    if (options.plantLeaks) {
      const result = await plantedLeakSelfTest({ sandbox: sandbox!, rules, key: resolved.key, compression, log });
      for (const line of result.lines) log.info(line);
      process.stdout.write(JSON.stringify({ planted: result.planted, found: result.found, published: result.published }) + '\n');
      return result.planted > 0 && result.found === result.planted && !result.published ? 0 : 1;
    }

    let manifest: MaskedDumpManifest;
    let report: LeakReport | undefined;
    const check = async (candidate: MaskedDumpManifest, originals?: OriginalsReader) => {
      const result = await leakCheck({ source: resolved.source, rules, manifest: candidate, dump: openDump(candidate), originals });
      for (const line of describeLeakReport(result)) log.info(line);
      lines.push(`leak check: ${result.hitCount} hits in ${result.scannedValues} values against ${result.originals} originals (${result.patterns} patterns) in ${result.seconds} s; row counts ${result.rowCountMismatches.length ? 'DIFFER' : 'match'}`);
      return result;
    };
    const failure = (result: LeakReport, what: string) =>
      `leak check failed: ${result.hitCount} hits, ${result.rowCountMismatches.length} row-count mismatches${result.patterns === 0 ? ', no original values read' : ''}. ${what}; fix the rules (or the data) and run again.`;
    if (options.dump) {
      const destination: DumpDestination = options.out ? { kind: 'file', path: options.out } : { kind: 's3', client: createS3Client(), bucket: resolved.bucket!, prefix: resolved.prefix };
      // The check's originals are read in the dump's own snapshot: MySQL family by holding
      // commits while both start, PostgreSQL by exporting one to pg_dump and the check.
      const engine = environment.engine ?? 'mysql';
      const snapshot = options.verify && engine === 'mysql' ? await DumpSnapshot.open(resolved.source, log, { readInBackground: originalsPlan(rules), holdWith: environment.holdCommitsWith }) : undefined;
      const exported = options.verify && engine === 'postgres' ? await PgDumpSnapshot.open(resolved.source) : undefined;
      try {
        // Staged: nothing reads it as a dump until publishMaskedDump (after a passing check).
        dumping = true;
        const staged = await maskedDump({ source: resolved.source, rules, key: resolved.key, compression, destination, log, engine: environment.engine, snapshot, exportedSnapshot: exported?.id }).finally(() => (dumping = false));
        stagedAt(destination, staged);
        lines.push(`masked dump: staged ${staged.object} (${staged.bytes} bytes, ${Object.values(staged.rows).reduce((a, b) => a + b, 0)} rows, rules ${staged.rulesHash.slice(0, 12)})`);
        let published = false;
        try {
          if (!options.verify) {
            // Only with --out (parseOptions): a local file for the operator, not a published dump.
            renameSync(staged.object, options.out!);
            manifest = { ...staged, object: options.out! };
            writeFileSync(`${options.out}.manifest.json`, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
            lines.push(`NOT VERIFIED (--no-verify): ${options.out} is an unchecked dump; never share it`);
            published = true;
            written = manifest;
          } else {
            report = await check(staged, snapshot ?? exported);
            await snapshot?.close();
            await exported?.close();
            if (!report.ok) throw new Error(failure(report, 'The staged dump was deleted and nothing was published'));
            // A signal that came during the check is deleting the staged dump: never publish it.
            if (stopping) throw new Error('stopped by a signal during the leak check; nothing was published');
            // From here the staged object is the source of the published copy: a signal leaves it alone.
            stagedAt(undefined);
            publishing = publishMaskedDump(destination, staged, report, log);
            try {
              manifest = await publishing;
            } finally {
              publishing = undefined;
            }
            published = true;
            written = manifest;
            // A signal that came while publishing waited for it and now exits: restore nothing.
            if (stopping) throw new Error(`stopped by a signal while publishing; ${manifest.object} was published`);
            lines.push(`published: ${manifest.object}${options.out ? '' : ' (latest.json points at it)'}`);
          }
        } finally {
          // Still staged while this delete runs: a signal now names it (deleted, or left to the retention).
          if (!published) await discardStagedDump(destination, staged, log).catch((error: Error) => log.warn(`could not delete the staged dump ${staged.object}: ${error.message}`));
          stagedAt(undefined);
        }
      } finally {
        await snapshot?.close();
        await exported?.close();
      }
    } else {
      manifest = options.out
        ? (JSON.parse(readFileSync(`${options.out}.manifest.json`, 'utf8')) as MaskedDumpManifest)
        : await getJson<MaskedDumpManifest>(createS3Client(), { bucket: resolved.bucket!, key: runKeys(resolved.prefix, rules.database, new Date(), '').latest });
      log.info(`using the latest masked dump: ${manifest.object} from ${manifest.finishedAt}`);
      if (manifest.verification?.ok !== true) {
        throw new Error(`${manifest.object} carries no passed leak check in its manifest (written before checks gated publishing, or by --no-verify): it is never restored or re-used; run a new dump`);
      }
      if (options.verify) {
        // A published dump's snapshot is gone: its originals can only be read as they are now.
        // It passed its own check, in its snapshot, before it was published; this one is said to be later.
        report = await check(manifest, originalsReadLater(resolved.source, manifest));
        if (!report.ok) throw new Error(failure(report, `The published dump ${manifest.object} must not be used (nothing was restored)`));
      }
    }
    if (options.restoreStaging || sandbox) {
      if (manifest.verification?.ok !== true) throw new Error(`refusing to restore ${manifest.object}: it did not pass the leak check`);
      restoring = resolved.staging!.name;
      try {
        await restoreDump({ target: resolved.staging!, dump: openDump(manifest), log, engine: manifest.engine });
      } catch (error) {
        // Said with the error (and in the notification): a dump published by this run stays
        // published, and staging may be half loaded.
        const before = written?.verification?.ok ? `The dump ${written.object} was published before this${options.out ? '' : ' (latest.json names it)'}; the` : 'The';
        throw new Error(
          `${(error as Error).message}\n${before} restore of staging "${resolved.staging!.name}" did not finish: it may hold a partial load until it is restored again (--no-dump --restore-staging restores the latest published dump).`,
        );
      } finally {
        restoring = undefined;
      }
      lines.push(`staging: ${resolved.staging!.name} restored from ${manifest.object}`);
    }
    const summary = `mask-refresh ${options.env}: OK\n${lines.join('\n')}`;
    process.stdout.write(summary + '\n');
    await notify(summary);
    return 0;
  } catch (error) {
    const message = (error as Error).message;
    log.error(message);
    if (error instanceof UsageError) return 2;
    await notify(`mask-refresh ${options.env}: FAILED\n${message}`);
    return 1;
  } finally {
    await sandbox?.stop();
    if (handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
