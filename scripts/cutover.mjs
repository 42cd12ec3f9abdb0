#!/usr/bin/env zx
// Entry point: plan, run or rehearse a database cutover. Thin on purpose: the library in
// lib/ does the work (TypeScript, CommonJS); tsx's require hook loads it without a build step.
//   zx scripts/cutover.mjs --env local --execute     (= npm run rehearse)
//   zx scripts/cutover.mjs --help
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const require = createRequire(import.meta.url);
const { runCutoverCli } = require('../lib/cli/cutover.ts');

const args = process.argv.slice(process.argv.findIndex((arg) => arg.endsWith('cutover.mjs')) + 1);
process.exitCode = await runCutoverCli(args);
