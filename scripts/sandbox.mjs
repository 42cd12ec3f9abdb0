#!/usr/bin/env zx
// Entry point: a local sandbox that outlives the command (npm run sandbox -- up|status|down).
// Thin on purpose: lib/cli/sandbox.ts does the work.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const require = createRequire(import.meta.url);
const { runSandboxCommand } = require('../lib/cli/sandbox.ts');

const args = process.argv.slice(process.argv.findIndex((arg) => arg.endsWith('sandbox.mjs')) + 1);
process.exitCode = await runSandboxCommand(args);
