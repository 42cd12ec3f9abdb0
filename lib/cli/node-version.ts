import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The Node versions the project supports are package.json's "engines.node" (one source). A
 * running Node older than that gets a warning that says what to install; it is not fatal: the
 * command may still work, and refusing would only hide what does not.
 */
export function nodeVersionWarning(running: string = process.versions.node, range: string | undefined = enginesRange()): string | undefined {
  const minimum = range?.match(/^\s*>=\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/);
  if (!minimum) return undefined;
  const wanted = [Number(minimum[1]), Number(minimum[2] ?? 0), Number(minimum[3] ?? 0)];
  const have = running.replace(/^v/, '').split('.').map((part) => Number.parseInt(part, 10) || 0);
  for (let index = 0; index < 3; index++) {
    if ((have[index] ?? 0) > wanted[index]) return undefined;
    if ((have[index] ?? 0) < wanted[index]) {
      return `warning: Node ${running} is older than this project supports (package.json "engines": node ${range!.trim()}). Install Node ${wanted.join('.')} or newer (e.g. nvm install ${wanted[0]}); continuing, but a failure may come from the old Node.`;
    }
  }
  return undefined;
}

function enginesRange(): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node;
  } catch {
    return undefined;
  }
}
