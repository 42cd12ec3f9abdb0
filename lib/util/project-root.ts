import { isAbsolute, join, resolve } from 'node:path';

/**
 * The project's root folder (where package.json, config/ and .rds-cutover/ are). Relative paths
 * in config (state folder, outputs file, CA bundle) resolve from here, not from the directory
 * the command was typed in, so `npm run cutover` behaves the same from any folder.
 */
export const PROJECT_ROOT = resolve(__dirname, '..', '..');

/** `path` as given when absolute; otherwise relative to the project root (or `root`). */
export function fromProjectRoot(path: string, root: string = PROJECT_ROOT): string {
  return isAbsolute(path) ? path : join(root, path);
}
