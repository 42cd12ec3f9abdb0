/**
 * What the two recording clients (mysql/recording-connection.ts, postgres/recording-client.ts)
 * share: how a recorded statement is classified for the plan, the stand-ins for values only a
 * run can know, and the splitting of a multi-statement batch (the switch sends its freeze as
 * one) into the statements the plan lists. Each engine keeps its own quoting rules.
 */

/** What a statement does, for the plan: only `change` statements alter a server. */
export type SqlEffect = 'read' | 'change' | 'wait' | 'session';

/** Stand-ins for values only a run can know, and how the plan names them. */
export interface RuntimeValues {
  /** A number that stands for `name` in recorded statements and facts. */
  number(name: string): number;
  /** A string that stands for `name`. */
  text(name: string): string;
}

/** How a dialect quotes: where a `;` does not end a statement. */
export interface StatementQuoting {
  /** Characters that open (and close) a quoted string or identifier. */
  readonly quotes: string;
  /** A backslash inside quotes escapes the next character (MySQL's default sql_mode). */
  readonly backslashEscapes: boolean;
  /** `$tag$ … $tag$` quotes a body (PostgreSQL). */
  readonly dollarQuotes: boolean;
}

export const MYSQL_QUOTING: StatementQuoting = { quotes: '\'"`', backslashEscapes: true, dollarQuotes: false };
export const POSTGRES_QUOTING: StatementQuoting = { quotes: '\'"', backslashEscapes: false, dollarQuotes: true };

const DOLLAR_QUOTE = /^\$[A-Za-z_]*\$/;

/** Split a multi-statement batch at `;` outside quotes; a batch with no statement comes back whole. */
export function splitSqlStatements(text: string, quoting: StatementQuoting): string[] {
  const statements: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    const dollar = quoting.dollarQuotes && c === '$' && !quote ? DOLLAR_QUOTE.exec(text.slice(i))?.[0] : undefined;
    if (quote) {
      if (quoting.backslashEscapes && c === '\\') {
        current += c + (text[i + 1] ?? '');
        i += 1;
      } else if (text.startsWith(quote, i)) {
        current += quote;
        i += quote.length - 1;
        quote = undefined;
      } else current += c;
    } else if (quoting.quotes.includes(c)) {
      quote = c;
      current += c;
    } else if (dollar) {
      quote = dollar;
      current += dollar;
      i += dollar.length - 1;
    } else if (c === ';') {
      if (current.trim()) statements.push(current.trim());
      current = '';
    } else current += c;
  }
  if (current.trim()) statements.push(current.trim());
  return statements.length > 0 ? statements : [text];
}
