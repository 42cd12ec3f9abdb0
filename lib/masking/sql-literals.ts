/**
 * MySQL string literal escapes as mysqldump/mariadb-dump write them
 * (mysql_real_escape_string: \0 \n \r \\ \' \" \Z; a tab is written raw).
 * https://dev.mysql.com/doc/refman/8.0/en/string-literals.html#character-escape-sequences
 */
const BACKSLASH = 0x5c;
const QUOTE = 0x27;

const UNESCAPE: Record<number, number> = {
  0x30: 0x00, // \0
  0x27: 0x27, // \'
  0x22: 0x22, // \"
  0x62: 0x08, // \b
  0x6e: 0x0a, // \n
  0x72: 0x0d, // \r
  0x74: 0x09, // \t
  0x5a: 0x1a, // \Z
  0x5c: 0x5c, // \\
};

/** Decode the bytes between the quotes of a string literal (start inclusive, end exclusive). */
export function unescapeLiteral(data: Buffer, start: number, end: number): string {
  const backslash = data.indexOf(BACKSLASH, start);
  const quote = data.indexOf(QUOTE, start);
  if ((backslash === -1 || backslash >= end) && (quote === -1 || quote >= end)) return data.toString('utf8', start, end);
  const out = Buffer.allocUnsafe(end - start);
  let length = 0;
  for (let i = start; i < end; i++) {
    const byte = data[i];
    if (byte === BACKSLASH && i + 1 < end) {
      const next = data[++i];
      const mapped = UNESCAPE[next];
      if (mapped !== undefined) out[length++] = mapped;
      else if (next === 0x25 || next === 0x5f) {
        // \% and \_ keep their backslash (they exist for LIKE patterns).
        out[length++] = BACKSLASH;
        out[length++] = next;
      } else out[length++] = next;
    } else if (byte === QUOTE && i + 1 < end && data[i + 1] === QUOTE) {
      out[length++] = QUOTE; // '' inside a literal
      i++;
    } else out[length++] = byte;
  }
  return out.toString('utf8', 0, length);
}

const NEEDS_ESCAPE = /[\0\n\r\\'"\x1a]/;
const ESCAPES: Record<string, string> = { '\0': '\\0', '\n': '\\n', '\r': '\\r', '\\': '\\\\', "'": "\\'", '"': '\\"', '\x1a': '\\Z' };

/** A SQL string literal for a value, escaped the way mysqldump does. */
export function quoteLiteral(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return `'${value}'`;
  return `'${value.replace(/[\0\n\r\\'"\x1a]/g, (char) => ESCAPES[char])}'`;
}
