#!/usr/bin/env zx
// Masked refresh of staging and dev (seed 003). Thin on purpose: parse argv, load config,
// call the library (lib/masking/cli.ts, TypeScript compiled as CommonJS; tsx's require hook
// loads it without a build step).
//   npm run mask -- --env local            the whole pipeline on sandbox servers
//   npx zx scripts/mask-refresh.mjs --help
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const require = createRequire(import.meta.url);
const { main } = require('../lib/masking/cli.ts');

process.exitCode = await main(process.argv.slice(process.argv.findIndex((arg) => arg.endsWith('mask-refresh.mjs')) + 1));
