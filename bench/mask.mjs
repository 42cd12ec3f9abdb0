#!/usr/bin/env zx
// npm run bench:mask [-- --customers N | --full]: see bench/mask.ts.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
createRequire(import.meta.url)('./mask.ts');
