import { splitStatements } from '../../lib/engines/mysql/recording-connection';
import { splitPgStatements } from '../../lib/engines/postgres/recording-client';

/**
 * The dry run records a multi-statement batch (the switch sends its freeze as one) statement
 * by statement: a `;` inside a quoted string, identifier or (PostgreSQL) dollar quote does not
 * split it, and each side keeps its own quoting rules.
 */
describe('recorded statements: a batch split at the semicolons outside quotes', () => {
  test('MySQL: quotes, backticks and backslash escapes hide a semicolon', () => {
    expect(splitStatements("SET GLOBAL read_only = ON; SELECT 'a;b', `x;y` FROM t;  KILL 7 ;")).toEqual(["SET GLOBAL read_only = ON", "SELECT 'a;b', `x;y` FROM t", 'KILL 7']);
    expect(splitStatements("SELECT 'it\\'s; here'; SELECT \"q;\"")).toEqual(["SELECT 'it\\'s; here'", 'SELECT "q;"']);
    expect(splitStatements('SELECT 1')).toEqual(['SELECT 1']);
    expect(splitStatements(' ; ')).toEqual([' ; ']);
  });

  test('PostgreSQL: quotes and dollar quotes hide a semicolon; a backslash is an ordinary character', () => {
    expect(splitPgStatements("ALTER SYSTEM SET x = 'on'; SELECT pg_reload_conf()")).toEqual(["ALTER SYSTEM SET x = 'on'", 'SELECT pg_reload_conf()']);
    expect(splitPgStatements("DO $body$ BEGIN PERFORM 1; END $body$; SELECT 'a\\'; SELECT 2")).toEqual(['DO $body$ BEGIN PERFORM 1; END $body$', "SELECT 'a\\'", 'SELECT 2']);
    expect(splitPgStatements('SELECT "a;b" FROM t; SELECT $$x;y$$')).toEqual(['SELECT "a;b" FROM t', 'SELECT $$x;y$$']);
    expect(splitPgStatements(' ; ')).toEqual([' ; ']);
  });
});
