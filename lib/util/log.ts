import { redact } from './secrets';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A logger that masks secrets and writes to stderr (stdout is kept for the plan and summary). */
export function createLogger(options: { verbose?: boolean; write?: (line: string) => void } = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: LogLevel, message: string) => {
    if (level === 'debug' && !options.verbose) return;
    const time = new Date().toISOString().slice(11, 23);
    write(redact(`${time} ${level.padEnd(5)} ${message}`));
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
