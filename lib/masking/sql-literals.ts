/**
 * MySQL string literal escapes as mysqldump/mariadb-dump write them
 * (mysql_real_escape_string: \0 \n \r \\ \' \" \Z; a tab is written raw).
 * https://dev.mysql.com/doc/refman/8.0/en/string-literals.html#character-escape-sequences
 */
const UNESCAPE: Record<string, string> = { '0': '\0', "'": "'", '"': '"', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a', '\\': '\\' };
const ESCAPE_SEQUENCE = /\\([\s\S])|''/g;
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Decode the content of a string literal (between its quotes) given as a latin1 string
 * (one character per byte) into the text it stands for (UTF-8 decoded).
 */
export function unescapeLiteral(raw: string): string {
  const unescaped =
    raw.indexOf('\\') === -1 && raw.indexOf("'") === -1
      ? raw
      : raw.replace(ESCAPE_SEQUENCE, (_, char: string | undefined) => {
          if (char === undefined) return "'"; // '' inside a literal
          // \% and \_ keep their backslash (they exist for LIKE patterns).
          return UNESCAPE[char] ?? (char === '%' || char === '_' ? `\\${char}` : char);
        });
  return NON_ASCII.test(unescaped) ? Buffer.from(unescaped, 'latin1').toString('utf8') : unescaped;
}

const NEEDS_ESCAPE = /[\0\n\r\\'"\x1a]/;
const ESCAPES: Record<string, string> = { '\0': '\\0', '\n': '\\n', '\r': '\\r', '\\': '\\\\', "'": "\\'", '"': '\\"', '\x1a': '\\Z' };

/** A SQL string literal for a value, escaped the way mysqldump does. */
export function quoteLiteral(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return `'${value}'`;
  return `'${value.replace(/[\0\n\r\\'"\x1a]/g, (char) => ESCAPES[char])}'`;
}
