/**
 * A dry run changes nothing, and that includes the file system: `--report FILE` without
 * --execute writes no report (nor report page), and says so, for every kind of environment.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, runCutoverCli } from '../../lib/cli/cutover';
import { silentLogger } from '../../lib/util/log';

describe('a dry run with --report FILE', () => {
  let folder: string;
  beforeEach(() => (folder = mkdtempSync(join(tmpdir(), 'dry-run-report-'))));
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  test.each([
    ['local MySQL', ['--env', 'local']],
    ['local PostgreSQL', ['--env', 'local', '--engine', 'postgres', '--method', 'logical']],
    ['AWS, offline', ['--env', 'prod', '--offline']],
    ['AWS PostgreSQL, offline', ['--env', 'prod-pg', '--engine', 'postgres', '--method', 'logical', '--offline']],
  ])('%s: writes no report and no report page, and says why', async (_name, argv) => {
    // GIVEN a report path in an existing, writable folder
    const report = join(folder, 'report.json');
    const out: string[] = [];
    // WHEN the dry run is asked for a report
    const code = await runCutoverCli([...argv, '--report', report], { out: (line) => out.push(line), log: silentLogger });
    // THEN it plans, writes nothing, and tells the reader where a report would come from
    expect(code).toBe(EXIT.ok);
    expect(existsSync(report)).toBe(false);
    expect(existsSync(join(folder, 'report.html'))).toBe(false);
    expect(out.join('\n')).toContain(`--report ${report}: no report written (dry run); a report is written by the run with --execute`);
  });

  test('sandbox with no sandbox up: refused (its checks read the servers), no report and no report page', async () => {
    const report = join(folder, 'report.json');
    const previous = process.env.RDS_CUTOVER_STATE_DIR;
    process.env.RDS_CUTOVER_STATE_DIR = join(folder, '.rds-cutover');
    let code: number;
    try {
      code = await runCutoverCli(['--env', 'sandbox', '--report', report], { out: () => undefined, log: silentLogger });
    } finally {
      if (previous === undefined) delete process.env.RDS_CUTOVER_STATE_DIR;
      else process.env.RDS_CUTOVER_STATE_DIR = previous;
    }
    expect(code).toBe(EXIT.usage);
    expect(existsSync(report)).toBe(false);
    expect(existsSync(join(folder, 'report.html'))).toBe(false);
  });
});
