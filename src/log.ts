import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/** Upstream's levels (`""` = warnings and errors only) mapped onto pino's. */
const PINO_LEVELS: Record<LogLevel, pino.Level> = {
  '': 'warn',
  info: 'info',
  debug: 'debug',
  trace: 'trace',
  all: 'trace',
};

/**
 * The one root logger: JSON lines, `err` serialised, the authorization header
 * and anything token-like redacted. Components take `child({ component })`.
 * Without a destination it writes to stdout through `bufferedStdout`.
 */
export function createLogger(level: LogLevel, destination: DestinationStream = bufferedStdout()): Logger {
  return pino(
    {
      level: PINO_LEVELS[level],
      base: { service: 'wi-admission' },
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', '*.token', '*.key', 'token', 'key'],
        censor: '[redacted]',
      },
      serializers: { err: pino.stdSerializers.err },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/**
 * stdout, written in chunks (pino docs/asynchronous.md): lines collect until
 * 4 KiB or 250 ms, whichever comes first, and are written synchronously on
 * exit. A write(2) for every admission's line cost about a tenth of the
 * admission's CPU time. A process killed outright (SIGKILL, OOM) can lose
 * its last 250 ms of lines.
 */
function bufferedStdout(): DestinationStream {
  return pino.destination({ dest: 1, minLength: 4096, periodicFlush: 250 });
}

export type { Logger };
