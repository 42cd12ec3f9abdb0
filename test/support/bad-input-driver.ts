/**
 * Runs the real `runCutoverCli` once per case, in a process of its own (started by
 * test/cli/bad-input.test.ts with tsx, as scripts/cutover.mjs does), and reports per case what
 * the tests cannot see from inside Jest: every module the case loaded (Node's require cache,
 * emptied of the case's modules after each case so the next one starts the same) and every
 * attempt to start a program (child_process calls are refused and recorded: nothing starts).
 *
 *   node --require tsx/cjs test/support/bad-input-driver.ts CASES.json  →  one JSON line
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

interface Case {
  name: string;
  argv: string[];
}

const childProcess = require('node:child_process') as Record<string, unknown>;
let started: string[] = [];
for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
  childProcess[name] = (...args: unknown[]) => {
    started.push(`${name} ${String(args[0])}`);
    throw new Error(`bad-input driver: ${name} ${String(args[0])} refused (bad input must start nothing)`);
  };
}

async function main(): Promise<void> {
  const cases = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Case[];
  const cli = resolve(__dirname, '..', '..', 'lib', 'cli', 'cutover.ts');
  const baseline = new Set(Object.keys(require.cache));
  const results = [];
  for (const testCase of cases) {
    started = [];
    const stderr: string[] = [];
    const out: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    const log = { debug: () => undefined, info: (m: string) => stderr.push(m), warn: (m: string) => stderr.push(m), error: (m: string) => stderr.push(m) };
    let code: number | string;
    try {
      const { runCutoverCli } = require(cli) as typeof import('../../lib/cli/cutover');
      code = await runCutoverCli(testCase.argv, { out: (line) => out.push(line), log });
    } catch (error) {
      code = `threw: ${(error as Error).message}`;
    } finally {
      process.stderr.write = write;
    }
    const loaded = Object.keys(require.cache).filter((file) => !baseline.has(file));
    for (const file of loaded) delete require.cache[file];
    results.push({ name: testCase.name, code, stderr: stderr.join('\n'), out: out.join('\n'), loaded: loaded.map((file) => file.replace(resolve(__dirname, '..', '..') + '/', '')), started });
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ driverError: String((error as Error).stack ?? error) }) + '\n');
  process.exitCode = 1;
});
