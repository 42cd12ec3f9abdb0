import { Readable } from 'node:stream';
import { KeyedHasher } from '../../lib/masking/keyed-hash';
import { DumpRewriter } from '../../lib/masking/dump-rewriter';
import { parseRules, type MaskingRules } from '../../lib/masking/rules';
import { tableMasking } from '../../lib/masking/transformers';

export const TEST_KEY = Buffer.from('0123456789abcdef0123456789abcdef', 'utf8');

export const RULES_JSON = {
  database: 'app',
  tables: {
    users: { columns: { id: 'keep', email: 'email', name: { transform: 'name' }, notes: 'keep', phone: 'phone', born: { transform: 'dateShift', maxDays: 30 } } },
    orders: { columns: { id: 'keep', user_id: 'keep', customer_email: 'email', total: 'keep' } },
    countries: { personalData: false, columns: { code: { transform: 'keep', reason: 'ISO country codes' } } },
  },
};

export const testRules = (): MaskingRules => parseRules(RULES_JSON, 'test rules');

export function rewriter(rules: MaskingRules = testRules(), key = TEST_KEY): DumpRewriter {
  const hasher = new KeyedHasher(key);
  return new DumpRewriter({ resolveTable: (table, columns) => tableMasking(rules, table, columns, hasher) });
}

/** Rewrite a whole dump, fed in chunks of the given sizes (cycled). */
export function rewriteInChunks(dump: Buffer, chunkSizes: number[], rules?: MaskingRules): Buffer {
  const r = rewriter(rules);
  const out: Buffer[] = [];
  let pos = 0;
  for (let n = 0; pos < dump.length; n++) {
    const size = chunkSizes[n % chunkSizes.length];
    out.push(r.push(dump.subarray(pos, pos + size)));
    pos += size;
  }
  out.push(r.finish());
  return Buffer.concat(out);
}

/** A small mariadb-dump-shaped dump with the nasty values the issue lists. */
export function sampleDump(options: { mysqlStyle?: boolean } = {}): string {
  const usersRows = [
    `(1,'alice@example.org','García','x\\'y\\\\z\\n),(;INSERT INTO','+44 20 7946 0018','1980-02-29')`,
    `(2,'ALICE@example.org','Garcia','it''s \\"quoted\\" ''twice''','020-7946-0019','1999-12-31 23:59:59')`,
    `(3,'bob@example.org',NULL,'😀 tab\there \\0 nul \\r\\n end \\\\','5550100','0000-00-00')`,
    `(4,'carol@example.org','Zoë','ends with backslash \\\\',NULL,NULL)`,
  ];
  const ordersRows = [`(10,1,'alice@example.org',12.50)`, `(11,3,'bob@example.org',-3)`, `(12,2,'Alice@Example.org',0.00)`];
  const rows = (list: string[]) => (options.mysqlStyle ? ` ${list.join(',')};\n` : `\n${list.join(',\n')};\n`);
  return [
    `${options.mysqlStyle ? '' : '/*M!999999\\- enable the sandbox mode */ \n'}-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB`,
    '/*!40101 SET NAMES utf8mb4 */;',
    'DROP TABLE IF EXISTS `users`;',
    'CREATE TABLE `users` (',
    '  `id` int(11) NOT NULL,',
    "  `email` varchar(100) NOT NULL COMMENT 'the login; also copied into orders',",
    '  `name` varchar(50) DEFAULT NULL,',
    '  `notes` text DEFAULT NULL,',
    '  `phone` varchar(30) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL,',
    '  `born` datetime DEFAULT NULL,',
    '  PRIMARY KEY (`id`)',
    ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;',
    'LOCK TABLES `users` WRITE;',
    `INSERT INTO \`users\` VALUES${rows(usersRows)}UNLOCK TABLES;`,
    'CREATE TABLE `orders` (',
    '  `id` int(11) NOT NULL,',
    '  `user_id` int(11) NOT NULL,',
    '  `customer_email` varchar(100) NOT NULL,',
    '  `total` decimal(10,2) NOT NULL,',
    '  PRIMARY KEY (`id`)',
    ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;',
    `INSERT INTO \`orders\` VALUES${rows(ordersRows)}`,
    'CREATE TABLE `countries` (',
    '  `code` char(2) NOT NULL',
    ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;',
    "INSERT INTO `countries` VALUES ('GB'),('FR');",
    '-- Dump completed on 2026-01-01  1:00:00',
    '',
  ].join('\n');
}

/** A Slack-like webhook on loopback: records each request, answers with `status()`. */
export async function startWebhook(status: () => number = () => 200): Promise<{ url: string; received: { body: string; contentType?: string }[]; close: () => Promise<void> }> {
  const { createServer } = await import('node:http');
  const received: { body: string; contentType?: string }[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ body, contentType: request.headers['content-type'] });
      const code = status();
      response.writeHead(code).end(code === 200 ? 'ok' : 'invalid_token');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/services/T000/B000/${'x'.repeat(24)}`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The dump as a stream of chunks of the given sizes (cycled). */
export function chunked(dump: string | Buffer, sizes: number[]): Readable {
  const bytes = typeof dump === 'string' ? Buffer.from(dump) : dump;
  const chunks: Buffer[] = [];
  for (let pos = 0, n = 0; pos < bytes.length; n++) {
    const size = sizes[n % sizes.length];
    chunks.push(bytes.subarray(pos, pos + size));
    pos += size;
  }
  return Readable.from(chunks);
}

/** A table of a generated dump: its CREATE TABLE body lines and row `n`'s VALUES tuple. */
export interface GeneratedTable {
  name: string;
  create: string[];
  row: (n: number) => string;
  /** @default INSERT INTO `name` VALUES */
  header?: string;
}

/**
 * A mariadb-dump-shaped dump: per table, `statements` INSERTs of `perStatement` rows each, one row
 * a line (MariaDB style) or all on the INSERT's line (MySQL style). `row` may replace any row.
 */
export function generatedDumpOf(
  options: { style: 'mariadb' | 'mysql'; statements: number; perStatement: number; row?: (table: string, n: number) => string | undefined; prelude?: string[]; end?: string },
  tables: GeneratedTable[],
): string {
  const rowsOf = (list: string[]) => (options.style === 'mysql' ? ` ${list.join(',')};` : `\n${list.join(',\n')};`);
  const lines = [...(options.prelude ?? []), '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB', '/*!40101 SET NAMES utf8mb4 */;'];
  for (const { name, create, row, header = `INSERT INTO \`${name}\` VALUES` } of tables) {
    lines.push(`DROP TABLE IF EXISTS \`${name}\`;`, `CREATE TABLE \`${name}\` (`, ...create, ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;', `LOCK TABLES \`${name}\` WRITE;`);
    let n = 0;
    for (let s = 0; s < options.statements; s++) {
      const list: string[] = [];
      for (let r = 0; r < options.perStatement; r++) {
        n++;
        list.push(options.row?.(name, n) ?? row(n));
      }
      lines.push(`${header}${rowsOf(list)}`);
    }
    lines.push('UNLOCK TABLES;');
  }
  lines.push(options.end ?? '-- Dump completed on 2026-01-01  1:00:00', '');
  return lines.join('\n');
}
