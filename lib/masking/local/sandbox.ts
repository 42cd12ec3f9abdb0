import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../engines/mysql/connection';
import { ensureDebianPackages, MARIADB_REQUIREMENTS, type Requirement } from '../../platforms/local/debian-packages';
import { MariadbInstance } from '../../platforms/local/mariadb-instance';
import type { Logger } from '../../util/log';
import { ProcessGroup } from '../../util/process-group';
import { markRehearsalOwner, removeAbandonedRehearsals, REHEARSAL_OWNER_FILE } from '../../platforms/local/sandbox-state';
import { generatePassword, registerSecret } from '../../util/secrets';
import type { MysqlTarget } from '../mysql-client';
import { createBucket, createS3Client } from '../s3-store';
import { LocalS3Server } from './s3-server';
import { seedPersonalData } from './personal-data';

export const SANDBOX_BUCKET = 'masked-dumps-local';
/** MariaDB server and clients, and zstd (the default compression; Debian images may lack it). */
export const MASKING_REQUIREMENTS: Requirement[] = [...MARIADB_REQUIREMENTS.filter((r) => r.packageName.startsWith('mariadb-')), { binary: '/usr/bin/zstd', packageName: 'zstd' }];

/**
 * The local world of `--env local`: a MariaDB source with generated personal data, an empty
 * MariaDB staging server, and an S3-compatible server, all on loopback in a temp folder.
 * The S3 client reaches the local server through AWS_ENDPOINT_URL, as it would reach any
 * S3-compatible endpoint; fake credentials are set only if none are configured.
 */
export class MaskingSandbox {
  readonly baseDir = mkdtempSync(join(tmpdir(), 'rds-cutover-mask-'));
  /**
   * Ctrl-C (SIGINT/SIGTERM) stops the servers and removes the folder (the source's data, the
   * staged dump); SIGKILL cannot, so the folder names its owner and the next sandbox removes
   * it once that process is gone (as rehearsals do, sandbox-state.ts).
   */
  readonly group: ProcessGroup;
  readonly rootPassword = generatePassword();
  readonly source: MariadbInstance;
  readonly staging: MariadbInstance;
  readonly s3: LocalS3Server;
  /** A fresh random HMAC key for this sandbox (MASKING_HMAC_KEY wins if set). */
  readonly key = registerSecret(randomBytes(32).toString('hex'));

  private constructor(log: Logger, private readonly keepFiles: boolean) {
    markRehearsalOwner(this.baseDir);
    this.group = new ProcessGroup(keepFiles ? {} : { removeOnHardStop: this.baseDir });
    const common = { baseDir: this.baseDir, rootPassword: this.rootPassword, group: this.group, log };
    this.source = new MariadbInstance({ ...common, name: 'mask-source', serverId: 1 });
    this.staging = new MariadbInstance({ ...common, name: 'mask-staging', serverId: 2 });
    this.s3 = new LocalS3Server(join(this.baseDir, 's3'));
  }

  static async start(options: { log: Logger; customers: number; keepFiles?: boolean }): Promise<MaskingSandbox> {
    ensureDebianPackages(MASKING_REQUIREMENTS, options.log);
    const removed = await removeAbandonedRehearsals();
    if (removed.length > 0) options.log.info(`removed ${removed.length} sandbox folder(s) that killed runs left: ${removed.join(', ')}`);
    const sandbox = new MaskingSandbox(options.log, options.keepFiles ?? false);
    try {
      // One after the other: each picks a free port, and two concurrent picks may get the same one.
      await sandbox.s3.start();
      await sandbox.source.initialise();
      await sandbox.staging.initialise();
      const connection = await connect(sandbox.source.endpoint());
      try {
        await connection.query('CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci');
        await connection.query('USE app');
        const dataDir = join(sandbox.baseDir, 'seed');
        mkdirSync(dataDir);
        const counts = await seedPersonalData(connection, { customers: options.customers, workDir: dataDir });
        rmSync(dataDir, { recursive: true, force: true });
        options.log.info(`sandbox: source MariaDB 127.0.0.1:${sandbox.source.port} with ${counts.customers} customers, ${counts.orders} orders; staging 127.0.0.1:${sandbox.staging.port}; S3 ${sandbox.s3.endpoint}; files in ${sandbox.baseDir}`);
      } finally {
        await connection.end();
      }
      process.env.AWS_ENDPOINT_URL = sandbox.s3.endpoint;
      process.env.AWS_REGION ??= 'eu-west-1';
      process.env.AWS_ACCESS_KEY_ID ??= 'local';
      process.env.AWS_SECRET_ACCESS_KEY ??= 'local-secret';
      await createBucket(createS3Client(), SANDBOX_BUCKET);
      return sandbox;
    } catch (error) {
      // The first error is the one to report, not one from cleaning up after it.
      await sandbox.stop().catch((stopError: Error) => options.log.warn(`sandbox: clean-up after a failed start: ${stopError.message}`));
      throw error;
    }
  }

  target(instance: MariadbInstance): MysqlTarget {
    return { ...instance.endpoint(), name: instance.name, database: 'app' };
  }

  async stop(): Promise<void> {
    await this.s3.stop();
    await this.group.stopAll();
    // A kept folder is the user's (--keep-sandbox): without its owner file no later run removes it.
    if (this.keepFiles) rmSync(join(this.baseDir, REHEARSAL_OWNER_FILE), { force: true });
    else rmSync(this.baseDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}
