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
      await connection.query('DELETE FROM customers WHERE id >= 9100');
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
  const customers = await rows<{ id: number; email: string; full_name: string; phone: string | null; street: string | null }>(connection, 'SELECT id, email, full_name, phone, street FROM customers WHERE id > 20 AND full_name IS NOT NULL ORDER BY id LIMIT 500');
  // Names the fake-name dictionary could also produce are not leaks (see isOrdinaryOutput).
  const named = customers.filter((c) => !isOrdinaryOutput(nameRule, c.full_name));
  const accented = named.find((c) => /[^\x00-\x7f]/.test(c.full_name));
  const plain = named.find((c) => c !== accented);
  // Rewritten forms: a two-word name (surname first), a UK mobile (other national forms), a street with an abbreviable word.
  const twoWords = named.find((c) => /^[A-Za-z]+ [A-Za-z]+$/.test(c.full_name) && c !== plain);
  const phone = customers.map((c) => c.phone).find((p): p is string => p !== null && /^\+44 7\d{9}$/.test(p));
  const streetRule = rules.tables.get('customers')?.columns.get('street');
  const street = customers.map((c) => c.street).find((s): s is string => s !== null && / (Street|Road|Lane)$/.test(s) && (streetRule === undefined || !isOrdinaryOutput(streetRule, s)));
  if (!accented || !plain || !twoWords || !phone || !street || customers.length < 6) throw new Error('--plant-leaks: the sandbox has too few customers; run with --customers 200 or more');
  const stripped = (text: string) => text.normalize('NFD').replace(/\p{M}/gu, '');
  const at = (id: number, column: string, kind: Plant['kind'], hitKind: 'original' | 'email' = 'original'): Plant => ({
    kind,
    where: String(id),
    found: (report) => report.hits.some((h) => h.foundIn === `products.${column}` && h.row === `id=${id}` && h.kind === hitKind),
  });
  const [first, last] = twoWords!.full_name.split(' ');
  const national = phone!.slice(4); // "7xxxxxxxxx" of "+44 7xxxxxxxxx"
  const base64 = (text: string) => Buffer.from(text).toString('base64');
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
    // Rewritten forms (a new user's trial): reordered, other national forms, abbreviated, base64.
    [9109, 'surname-first', `Account holder: ${last.toUpperCase()}, ${first}`, null, at(9109, 'description', 'a name written surname first ("SMITH, John")')],
    [9110, 'phone-national', `Call 0${national.slice(0, 4)} ${national.slice(4)} after six`, null, at(9110, 'description', 'a phone in national form ("07700 900123" for "+44 7700 900123")')],
    [9111, 'phone-0044', `Tel. 0044 ${national.slice(0, 4)} ${national.slice(4, 7)} ${national.slice(7)}`, null, at(9111, 'description', 'a phone with 0044 instead of +44')],
    [9112, 'phone-trunk', `Mobile +44 (0)${national.slice(0, 4)} ${national.slice(4)}`, null, at(9112, 'description', 'a phone written +44 (0)…')],
    [9113, 'street-abbreviated', `Ship to ${street!.replace(/ Street$/, ' St.').replace(/ Road$/, ' Rd').replace(/ Lane$/, ' Ln')}`, null, at(9113, 'description', 'a street with its street word abbreviated ("Rd" for "Road")')],
    [9114, 'base64-email', `ref=${base64(customers[4].email)}`, null, at(9114, 'description', 'a customer email inside a base64 run')],
    [9115, 'base64-name', `{"meta":"${base64(JSON.stringify({ buyer: twoWords!.full_name }))}"}`, null, at(9115, 'description', 'a name inside base64-encoded JSON')],
    [9108, 'hex-text', `0x${Buffer.from(customers[3].email).toString('hex').toUpperCase()}`, null, at(9108, 'description', "a customer email spelled as '0x…' hex in kept text")],
  ];
  // Surnames of several words written first ("de la Cruz, Anna", "VAN DER BERG, Jan"): the
  // generated names have one-word surnames, so two customers with such names are added (removed
  // again with the plants).
  const multiWordSurnames: [number, string, string, string][] = [
    [9191, 'Anna de la Cruz', 'surname-words-first', 'Account holder: de la Cruz, Anna'],
    [9192, 'Jan van der Berg', 'surname-words-first-upper', 'Payee VAN DER BERG, Jan (checked)'],
  ];
  for (const [id, fullName] of multiWordSurnames) {
    await connection.query("INSERT INTO customers (id, email, full_name, username, password_hash, api_token, tier, created_at) VALUES (?, ?, ?, ?, '-', ?, 'free', '2024-01-01 00:00:00')", [id, `planted.${id}@mail-0.example.org`, fullName, `planted${id}`, String(id).padStart(40, '0')]);
  }
  planted.push(
    [9116, multiWordSurnames[0][2], multiWordSurnames[0][3], null, at(9116, 'description', 'a surname of several words written first ("de la Cruz, Anna")')],
    [9117, multiWordSurnames[1][2], multiWordSurnames[1][3], null, at(9117, 'description', 'a surname with particles written first, upper case ("VAN DER BERG, Jan")')],
  );
  for (const [id, name, description, thumbnail] of planted) {
    await connection.query('INSERT INTO products (id, name, description, thumbnail) VALUES (?, ?, ?, ?)', [id, `planted ${name}`, description, thumbnail]);
  }
  return planted.map((p) => p[4]);
}
