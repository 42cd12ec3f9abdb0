import { connect, rows, type Connection } from '../../engines/mysql/connection';
import type { Logger } from '../../util/log';
import type { Compression } from '../compression';
import { leakCheck, originalsPlan, type LeakReport } from '../leak-check';
import { runKeys } from '../manifest';
import { decompressed, discardStagedDump, maskedDump, type DumpDestination } from '../pipeline';
import type { MaskingRules } from '../rules';
import { createS3Client, downloadStream, objectExists } from '../s3-store';
import { parseS3Url } from '../manifest';
import { isOrdinaryOutput } from '../transformers';
import { SANDBOX_BUCKET, type MaskingSandbox } from './sandbox';
import { DumpSnapshot } from '../source-snapshot';

/** One planted leak: where it was put, and whether the run reported it. */
interface Plant {
  kind: string;
  /** products.id of the planted row, or the new column's name. */
  where: string;
  found: (report: LeakReport) => boolean;
}

const PREFIX = 'plant-leaks/';

/**
 * The leak check's self-test (`npm run mask -- --env local --verify --plant-leaks`): plant
 * known leaks of each kind the check must catch into the sandbox's source, in the kept
 * columns of the table the rules mark free of personal data (products), then run the
 * real dump and leak check. Nothing is ever published: the staged dump is deleted whatever
 * the check says. `found` counts the plants the run reported, each at its own table,
 * column and row.
 */
export async function plantedLeakSelfTest(options: { sandbox: MaskingSandbox; rules: MaskingRules; key: Buffer; compression: Compression; log: Logger }): Promise<{ planted: number; found: number; published: boolean; lines: string[] }> {
  const { sandbox, rules, log } = options;
  const source = sandbox.target(sandbox.source);
  const destination: DumpDestination = { kind: 's3', client: createS3Client(), bucket: SANDBOX_BUCKET, prefix: PREFIX };
  const connection = await connect(source, { database: source.database });
  const lines: string[] = [];
  let planted = 0;
  let found = 0;
  try {
    // 1. A new column in a table marked free of personal data: the dump must stop, naming it.
    planted++;
    await connection.query('ALTER TABLE products ADD COLUMN buyer_email VARCHAR(190) NULL');
    await connection.query('UPDATE products SET buyer_email = (SELECT email FROM customers WHERE id = 21) WHERE id = 1');
    try {
      const staged = await maskedDump({ source, rules, key: options.key, compression: options.compression, destination, log });
      await discardStagedDump(destination, staged, log);
      lines.push('MISSED: new column products.buyer_email was dumped without stopping the run');
    } catch (error) {
      const reported = /table products: column buyer_email not classified/.test((error as Error).message);
      if (reported) found++;
      lines.push(`${reported ? 'found' : 'MISSED'}: new column products.buyer_email (${reported ? 'the dump stopped, naming it' : (error as Error).message})`);
    } finally {
      await connection.query('ALTER TABLE products DROP COLUMN buyer_email');
    }

    // 2. Leaks in kept columns: the dump goes through (the rules allow it), the check must report each.
    const plants = await plantRows(connection, rules);
    planted += plants.length;
    // As a real run does: the originals are read in the dump's own snapshot.
    const snapshot = await DumpSnapshot.open(source, log, { readInBackground: originalsPlan(rules) });
    const staged = await maskedDump({ source, rules, key: options.key, compression: options.compression, destination, log, snapshot }).catch(async (error: Error) => {
      await snapshot.close();
      throw error;
    });
    try {
      const report = await leakCheck({ source, rules, manifest: staged, dump: decompressed(await downloadStream(createS3Client(), parseS3Url(staged.object)), staged.compression), originals: snapshot });
      for (const plant of plants) {
        const reported = plant.found(report);
        if (reported) found++;
        lines.push(`${reported ? 'found' : 'MISSED'}: ${plant.kind} (products ${plant.where})`);
      }
      const unplanted = report.hits.filter((h) => !plants.some((p) => h.row === `id=${p.where}`));
      if (unplanted.length > 0) lines.push(`also reported (not planted): ${unplanted.map((h) => `${h.foundIn} ${h.row}`).join(', ')}`);
    } finally {
      await snapshot.close();
      // Never published, whatever the check said.
      await discardStagedDump(destination, staged, log);
      await connection.query('DELETE FROM products WHERE id >= 9100');
    }
  } finally {
    await connection.end();
  }
  const published = await objectExists(destination.client, { bucket: SANDBOX_BUCKET, key: runKeys(PREFIX, rules.database, new Date(), '').latest });
  lines.push(`planted ${planted} leaks, found ${found}; published: ${published}`);
  return { planted, found, published, lines };
}

async function plantRows(connection: Connection, rules: MaskingRules): Promise<Plant[]> {
  const nameRule = rules.tables.get('customers')?.columns.get('full_name');
  if (nameRule === undefined) throw new Error('--plant-leaks needs the sandbox rules (customers.full_name)');
  const customers = await rows<{ id: number; email: string; full_name: string }>(connection, 'SELECT id, email, full_name FROM customers WHERE id > 20 AND full_name IS NOT NULL ORDER BY id LIMIT 500');
  // Names the fake-name dictionary could also produce are not leaks (see isOrdinaryOutput).
  const named = customers.filter((c) => !isOrdinaryOutput(nameRule, c.full_name));
  const accented = named.find((c) => /[^\x00-\x7f]/.test(c.full_name));
  const plain = named.find((c) => c !== accented);
  if (!accented || !plain || customers.length < 4) throw new Error('--plant-leaks: the sandbox has too few customers; run with --customers 200 or more');
  const stripped = (text: string) => text.normalize('NFD').replace(/\p{M}/gu, '');
  const at = (id: number, column: string, kind: Plant['kind'], hitKind: 'original' | 'email' = 'original'): Plant => ({
    kind,
    where: String(id),
    found: (report) => report.hits.some((h) => h.foundIn === `products.${column}` && h.row === `id=${id}` && h.kind === hitKind),
  });
  const planted: [number, string, string | null, Buffer | null, Plant][] = [
    [9101, 'note', `Please call back ${customers[0].email} today`, null, at(9101, 'description', 'a customer email in kept text')],
    [9102, 'note', 'Forwarded by jane.doe@partner-firm.co.uk, ask her before shipping', null, at(9102, 'description', 'a third-party email in kept text', 'email')],
    [9103, 'gift', `Gift for ${plain.full_name}, deliver on Monday`, null, at(9103, 'description', 'a multi-word name in a sentence')],
    [9104, 'json', JSON.stringify({ order: { contact: customers[1].email } }).replace('@', '\\u0040'), null, at(9104, 'description', 'an email inside a JSON document (\\u escaped)')],
    [9105, 'blob', null, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]), Buffer.from(`owner=${customers[2].email};`), Buffer.from([0x00, 0x01])]), at(9105, 'thumbnail', 'an email inside a BLOB (dumped as hex)')],
    [9106, 'accents', `Delivered to ${stripped(accented.full_name).toUpperCase()} at the door`, null, at(9106, 'description', 'an accented name written without accents, upper case')],
    [9107, 'nfd', `Signed by ${accented.full_name.normalize('NFD')}`, null, at(9107, 'description', 'an accented name in decomposed (NFD) form')],
    // Text (not a BLOB) that spells a customer's email as a hex literal: the dump writes it as a
    // quoted string, which must be decoded like a BLOB's 0x… would be.
    [9108, 'hex-text', `0x${Buffer.from(customers[3].email).toString('hex').toUpperCase()}`, null, at(9108, 'description', "a customer email spelled as '0x…' hex in kept text")],
  ];
  for (const [id, name, description, thumbnail] of planted) {
    await connection.query('INSERT INTO products (id, name, description, thumbnail) VALUES (?, ?, ?, ?)', [id, `planted ${name}`, description, thumbnail]);
  }
  return planted.map((p) => p[4]);
}
