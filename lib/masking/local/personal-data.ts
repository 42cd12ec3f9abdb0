import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Connection } from '../../engines/mysql/connection';

/**
 * Generated personal data for the local pipeline, the tests and the benchmark: the `app`
 * database that config/masking/app.rules.json describes. Deterministic (seeded), with the
 * nasty values the parser must survive planted in both masked and kept columns.
 */
export const APP_SCHEMA = [
  `CREATE TABLE customers (
    id INT NOT NULL PRIMARY KEY,
    email VARCHAR(190) NOT NULL,
    full_name VARCHAR(200) NULL,
    phone VARCHAR(40) NULL,
    street VARCHAR(200) NULL,
    city VARCHAR(100) NULL,
    postcode VARCHAR(20) NULL,
    born_on DATE NULL,
    username VARCHAR(100) NOT NULL,
    password_hash VARCHAR(100) NOT NULL,
    api_token CHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    support_notes TEXT NULL,
    tier VARCHAR(20) NOT NULL,
    created_at DATETIME NOT NULL,
    UNIQUE KEY email (email),
    UNIQUE KEY username (username)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
  `CREATE TABLE orders (
    id INT NOT NULL PRIMARY KEY,
    customer_id INT NOT NULL,
    customer_email VARCHAR(190) NOT NULL,
    shipping_address VARCHAR(300) NULL,
    total_cents INT NOT NULL,
    status VARCHAR(20) NOT NULL,
    created_at DATETIME NOT NULL,
    KEY customer_email (customer_email)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
  `CREATE TABLE products (
    id INT NOT NULL PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    description TEXT NULL,
    thumbnail BLOB NULL
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
];

/** Values that break naive dump parsers; they must survive byte for byte where kept. */
export const NASTY_VALUES: (string | null)[] = [
  "O'Brien's \"quoted\" ''doubled''",
  'back\\slash at the end \\',
  '\\\\ two backslashes then a quote \\\'',
  'line one\nline two\r\nline three',
  'tab\there and a NUL \0 byte',
  // Accented words that are no customer's name in any order (the leak check finds names surname first too).
  'emoji 😀🚀 and accents Ça sérgé Ñandú',
  "a row separator ),( inside; INSERT INTO `orders` VALUES (1,'x');",
  '/*M!999999\\- enable the sandbox mode */',
  "ends with a quote '",
  '',
  null,
  'Ctrl-Z \x1a in the middle',
];

const FIRST = ['Amelia', 'Oliver', 'Isla', 'George', 'Ava', 'Noah', 'Mia', 'Arthur', 'Sophia', 'Muhammad', 'Lily', 'Leo', 'Freya', 'Oscar', 'Émile', 'Zoë', 'José', 'Siobhán', 'Łukasz', 'Nguyễn'];
const LAST = ['Smith', 'Jones', 'Taylor', 'Brown', "O'Connor", 'García', 'Müller', 'Nowak', 'Kowalczyk', 'Fernández', 'Okonkwo', 'Svensson', 'Dubois', 'Rossi'];
const CITY = ['London', 'Manchester', 'Leeds', 'Cardiff', 'Glasgow', 'Belfast', 'Bristol', 'Sheffield'];
const STREET = ['High Street', 'Station Road', 'Church Lane', "King's Road", 'Victoria Street', 'Mill Lane'];

/** mulberry32: a small seeded PRNG so every run generates the same data. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A field for LOAD DATA's default format (tab-separated, backslash escapes, \N for NULL). */
function field(value: string | number | null): string {
  if (value === null) return '\\N';
  return String(value).replace(/[\\\t\n\r\0]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' })[c]!);
}

async function writeRows(path: string, count: number, row: (i: number) => (string | number | null)[]): Promise<void> {
  const out = createWriteStream(path);
  let batch = '';
  for (let i = 1; i <= count; i++) {
    batch += row(i).map(field).join('\t') + '\n';
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
  out.end(batch);
  await once(out, 'finish');
}

export function customerEmail(i: number): string {
  const first = FIRST[i % FIRST.length].normalize('NFD').replace(/\p{M}/gu, '').replace(/\W/g, '').toLowerCase();
  return `${first}.${i}@mail-${i % 7}.example.org`;
}

/**
 * Create the `app` tables and load `customers` customers and twice as many orders through
 * server-side LOAD DATA (fast enough for the 1 M-row benchmark). Files go to `workDir`,
 * which the (local, root-run) server can read.
 */
export async function seedPersonalData(connection: Connection, options: { customers: number; workDir: string; seed?: number }): Promise<{ customers: number; orders: number; products: number }> {
  const next = random(options.seed ?? 42);
  const pick = <T>(list: T[]) => list[Math.floor(next() * list.length)];
  const customers = options.customers;
  const orders = customers * 2;
  for (const statement of APP_SCHEMA) await connection.query(statement);
  const day = (offset: number) => new Date(Date.UTC(1950, 0, 1) + offset * 86400000).toISOString().slice(0, 10);
  await writeRows(`${options.workDir}/customers.tsv`, customers, (i) => {
    // The first customers get the nasty values too, words in reverse order and with their id,
    // so they are their own personal data and not the products' descriptions (which the
    // leak check would rightly report as a copy of them).
    const planted = i <= NASTY_VALUES.length ? NASTY_VALUES[i - 1] : undefined;
    const nasty = planted === undefined ? undefined : planted === null ? null : `#${i} ${planted.split(' ').reverse().join(' ')}`;
    return [
      i,
      customerEmail(i),
      nasty !== undefined ? nasty : `${pick(FIRST)} ${pick(LAST)}`,
      i % 11 === 0 ? null : `+44 7${String(Math.floor(next() * 1e9)).padStart(9, '0')}`,
      `${1 + Math.floor(next() * 200)} ${pick(STREET)}`,
      pick(CITY),
      `SW${1 + (i % 20)} ${i % 10}AB`,
      i % 13 === 0 ? null : day(Math.floor(next() * 20000)),
      `user${i}_${Math.floor(next() * 1e6)}`,
      `$2b$10$${i.toString(36).padStart(53, 'x')}`,
      (i * 2654435761).toString(16).padStart(40, '0').slice(-40),
      nasty !== undefined ? nasty : i % 5 === 0 ? `Called about order; phone ${i}` : null,
      pick(['free', 'plus', 'pro']),
      `2024-01-01 00:00:00`,
    ];
  });
  await writeRows(`${options.workDir}/orders.tsv`, orders, (i) => {
    const customer = 1 + ((i * 7919) % customers);
    // Every fifth order has the email in another case: equal under the _ci collation, so it joins.
    const email = i % 5 === 0 ? customerEmail(customer).toUpperCase() : customerEmail(customer);
    return [i, customer, email, `${1 + (i % 200)} ${pick(STREET)}, ${pick(CITY)}`, Math.floor(next() * 100000), pick(['paid', 'shipped', 'refunded']), '2024-02-01 12:00:00'];
  });
  await writeRows(`${options.workDir}/products.tsv`, NASTY_VALUES.length * 2, (i) => [i, `product ${i}`, NASTY_VALUES[(i - 1) % NASTY_VALUES.length], i % 3 === 0 ? `GIF89a thumbnail ${i}` : null]);
  for (const table of ['customers', 'orders', 'products']) {
    await connection.query(`LOAD DATA INFILE ? INTO TABLE ${table} CHARACTER SET utf8mb4`, [`${options.workDir}/${table}.tsv`]);
  }
  return { customers, orders, products: NASTY_VALUES.length * 2 };
}
